/** The Node provider: node:crypto (OpenSSL, synchronous) for Ed25519, P-256 and SHA-256; SM2 via sm-crypto. */

import * as nodeCrypto from "node:crypto";
import { Algorithm, type CryptoProvider, type VerifyFn } from "../core/keys.js";
import { nobleVerifier } from "./noble.js";
import { sm2Verifier } from "./sm2.js";

function nodeVerifier(algorithm: Algorithm, spki: Uint8Array, raw: Uint8Array): VerifyFn {
  if (algorithm === Algorithm.SM2) return sm2Verifier(raw);
  let key: nodeCrypto.KeyObject;
  try {
    key = nodeCrypto.createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch {
    return nobleVerifier(algorithm, raw);
  }
  if (algorithm === Algorithm.ED25519) {
    return (sig, data) => {
      try {
        return nodeCrypto.verify(null, data, key, sig);
      } catch {
        return false;
      }
    };
  }
  const withEncoding = { key, dsaEncoding: "ieee-p1363" as const };
  return (sig, data) => {
    try {
      return nodeCrypto.verify("sha256", data, withEncoding, sig);
    } catch {
      return false;
    }
  };
}

export const nodeProvider: CryptoProvider = {
  name: "node",
  verifier: nodeVerifier,
  sha256: (data) => new Uint8Array(nodeCrypto.createHash("sha256").update(data).digest()),
};
