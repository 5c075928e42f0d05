/**
 * The phone's device key (proto/SPEC.md 3.2, 5.1): made by WebCrypto as a NON-extractable key, so its
 * private half never leaves the browser's key store, not even to this page. Ed25519 where the browser has
 * it, else ECDSA P-256. What the issuer registers is the raw public key: Ed25519's 32 bytes, or P-256's
 * 33-byte compressed point (WebCrypto exports the 65-byte uncompressed one; compressing is a prefix byte).
 *
 * P-256 signatures come out of WebCrypto as raw r‖s but with either S; the alliance accepts only low S
 * (SPEC 4.5), so an S above n/2 is replaced by n − S, which is the same signature's other encoding.
 */

export type DeviceAlgorithm = "ed25519" | "p256";

export interface DeviceKey {
  algorithm: DeviceAlgorithm;
  /** Non-extractable; storable in IndexedDB as it is (structured clone keeps it non-extractable). */
  privateKey: CryptoKey;
  /** The raw public key as the issuer registers it (Ed25519 32 bytes, P-256 33 bytes compressed). */
  publicRaw: Uint8Array;
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

export class DeviceKeyError extends Error {}

export function subtle(): SubtleCrypto {
  const found = globalThis.crypto?.subtle;
  if (!found) {
    throw new DeviceKeyError("this browser offers no WebCrypto here: open the page over HTTPS " +
      "(此浏览器在此无法使用 WebCrypto：请通过 HTTPS 打开本页)");
  }
  return found;
}

/** A new device key: `prefer` picks the algorithm; without it Ed25519 where available, else P-256. */
export async function createDeviceKey(prefer?: DeviceAlgorithm): Promise<DeviceKey> {
  const crypto = subtle();
  if (prefer !== "p256") {
    try {
      const pair = await crypto.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as CryptoKeyPair;
      const raw = new Uint8Array(await crypto.exportKey("raw", pair.publicKey));
      return { algorithm: "ed25519", privateKey: pair.privateKey, publicRaw: raw };
    } catch (e) {
      if (prefer === "ed25519") throw new DeviceKeyError(`this browser cannot make Ed25519 keys (${String(e)})`);
    }
  }
  const pair = await crypto.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const raw = new Uint8Array(await crypto.exportKey("raw", pair.publicKey));
  return { algorithm: "p256", privateKey: pair.privateKey, publicRaw: compressP256(raw) };
}

/** SEC 1 compression of an uncompressed P-256 point (04 ‖ X ‖ Y → 02/03 ‖ X). */
export function compressP256(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 0x04) throw new DeviceKeyError("not an uncompressed P-256 point");
  const out = new Uint8Array(33);
  out[0] = 0x02 | (point[64]! & 1);
  out.set(point.subarray(1, 33), 1);
  return out;
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

function fromBigInt(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
  return out;
}

/** A raw P-256 signature r‖s with S in the lower half (SPEC 4.5). */
export function lowS(signature: Uint8Array): Uint8Array {
  if (signature.length !== 64) throw new DeviceKeyError(`a P-256 signature is 64 bytes, not ${signature.length}`);
  const s = toBigInt(signature.subarray(32));
  if (s <= P256_HALF_N) return signature;
  const out = new Uint8Array(64);
  out.set(signature.subarray(0, 32));
  out.set(fromBigInt(P256_N - s, 32), 32);
  return out;
}

/** The device's 64-byte signature over `message`. */
export async function deviceSign(key: DeviceKey, message: Uint8Array): Promise<Uint8Array> {
  const crypto = subtle();
  const data = message as Uint8Array<ArrayBuffer>;
  if (key.algorithm === "ed25519") {
    return new Uint8Array(await crypto.sign({ name: "Ed25519" }, key.privateKey, data));
  }
  return lowS(new Uint8Array(await crypto.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, data)));
}

export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}
