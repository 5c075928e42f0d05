/**
 * The browser's provider: WebCrypto (`crypto.subtle`) for Ed25519 and P-256 where the runtime
 * has them (asynchronous), @noble/curves where it does not; SM2 through sm-crypto.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { Algorithm, type CryptoProvider, type VerifyFn } from "../core/keys.js";
import { nobleVerifier } from "./noble.js";
import { sm2Verifier } from "./sm2.js";

type Subtle = SubtleCrypto;

function subtle(): Subtle | null {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  return c && c.subtle ? c.subtle : null;
}

const buf = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

async function webVerifier(algorithm: Algorithm, spki: Uint8Array): Promise<VerifyFn | null> {
  const s = subtle();
  if (s === null) return null;
  const params: EcKeyImportParams | Algorithm_ =
    algorithm === Algorithm.ED25519 ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
  const verifyParams: AlgorithmIdentifier | EcdsaParams =
    algorithm === Algorithm.ED25519 ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
  let key: CryptoKey;
  try {
    key = await s.importKey("spki", buf(spki), params, false, ["verify"]);
  } catch {
    return null; // not supported here (or a point WebCrypto will not import): the portable code takes it
  }
  return async (sig, data) => {
    try {
      return await s.verify(verifyParams, key, buf(sig), buf(data));
    } catch {
      return false;
    }
  };
}

type Algorithm_ = { name: string };

export const webCryptoProvider: CryptoProvider = {
  name: "webcrypto",
  async verifier(algorithm, spki, raw) {
    if (algorithm === Algorithm.SM2) return sm2Verifier(raw);
    return (await webVerifier(algorithm, spki)) ?? nobleVerifier(algorithm, raw);
  },
  sha256: (data) => sha256(data),
};
