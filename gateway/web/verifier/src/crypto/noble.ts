/** The portable provider: @noble/curves and @noble/hashes (synchronous, any runtime). */

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { Algorithm, type CryptoProvider, type VerifyFn } from "../core/keys.js";
import { sm2Verifier } from "./sm2.js";

export function nobleVerifier(algorithm: Algorithm, raw: Uint8Array): VerifyFn {
  if (algorithm === Algorithm.ED25519) {
    // zip215 off: RFC 8032 strictness, as OpenSSL (the reference's backend) verifies.
    return (sig, data) => {
      try {
        return ed25519.verify(sig, data, raw, { zip215: false });
      } catch {
        return false;
      }
    };
  }
  if (algorithm === Algorithm.P256) {
    const point = p256.Point.fromBytes(raw);
    point.assertValidity();
    return (sig, data) => {
      try {
        return p256.verify(sig, data, raw, { lowS: false, prehash: true, format: "compact" });
      } catch {
        return false;
      }
    };
  }
  return sm2Verifier(raw);
}

export const nobleProvider: CryptoProvider = {
  name: "noble",
  verifier: (algorithm, _spki, raw) => nobleVerifier(algorithm, raw),
  sha256: (data) => sha256(data),
};
