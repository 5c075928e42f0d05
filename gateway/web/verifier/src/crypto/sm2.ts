/** SM2 with SM3 and the default user id "1234567812345678", through sm-crypto (raw r‖s). */

import smCrypto from "sm-crypto";
import { sm2Uncompressed, type VerifyFn } from "../core/keys.js";
import { toHex } from "../core/bytes.js";

export function sm2Verifier(point: Uint8Array): VerifyFn {
  const full = sm2Uncompressed(point);
  if (full === null) throw new Error("not an SM2 point");
  const publicHex = toHex(full);
  return (signature, data) => {
    try {
      return smCrypto.sm2.doVerifySignature(Array.from(data) as unknown as string, toHex(signature), publicHex, {
        der: false,
        hash: true,
      });
    } catch {
      return false;
    }
  };
}
