/**
 * Keys: the algorithm is a property of a key (beside it in the trust set), never of a code.
 *
 * A `CryptoProvider` turns a parsed public key into a verify function once, when the trust
 * set is opened; the per-code hot path then costs one call. The Node CLI supplies node:crypto,
 * the browser WebCrypto, both with @noble/curves behind them for what the runtime lacks; SM2
 * (with SM3 and the default user id) goes through sm-crypto everywhere.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { p256 } from "@noble/curves/nist.js";
import { CityCreditError, invalidArgument } from "./errors.js";
import { concatBytes, equalBytes } from "./bytes.js";

export const enum Algorithm {
  ED25519 = 1,
  P256 = 2,
  SM2 = 3,
}

export const SLUGS: Record<number, string> = { 1: "ed25519", 2: "p256", 3: "sm2" };

/** `verify(signature, data)`: never throws on a bad signature. */
export type VerifyFn = (signature: Uint8Array, data: Uint8Array) => boolean | Promise<boolean>;

export interface CryptoProvider {
  readonly name: string;
  /** A verify function for a parsed public key (raw: Ed25519 32 bytes, EC an SEC1 point). */
  verifier(algorithm: Algorithm, spki: Uint8Array, raw: Uint8Array): VerifyFn | Promise<VerifyFn>;
  sha256(data: Uint8Array): Uint8Array;
}

export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
export const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;

function bigOf(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function bytes32(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** Compare the 32 big-endian bytes of `sig` at `at` with `bound`: <0, 0 or >0 (no BigInt on the hot path). */
function compare32(sig: Uint8Array, at: number, bound: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = sig[at + i]! - bound[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function isZero32(sig: Uint8Array, at: number): boolean {
  for (let i = 0; i < 32; i++) if (sig[at + i] !== 0) return false;
  return true;
}

const BOUNDS = new Map<bigint, { n: Uint8Array; half: Uint8Array }>();

function boundsOf(order: bigint) {
  let b = BOUNDS.get(order);
  if (b === undefined) BOUNDS.set(order, (b = { n: bytes32(order), half: bytes32(order >> 1n) }));
  return b;
}

/** 64 bytes of r‖s with 0 < r < n and 0 < s < n (and s ≤ n/2 where high S is a malleable twin). */
export function inRangeRS(signature: Uint8Array, order: bigint, lowS: boolean): boolean {
  if (signature.length !== 64) return false;
  const { n, half } = boundsOf(order);
  if (isZero32(signature, 0) || compare32(signature, 0, n) >= 0) return false;
  if (isZero32(signature, 32) || compare32(signature, 32, n) >= 0) return false;
  return !lowS || compare32(signature, 32, half) <= 0;
}

/** A device's P-256 signature: 0 < r < n, 0 < s ≤ n/2 (the reference's presentation rule). */
export function deviceRangeOk(signature: Uint8Array): boolean {
  return inRangeRS(signature, P256_N, true);
}

export const kidForSpki = (spki: Uint8Array, hash: (d: Uint8Array) => Uint8Array = sha256): Uint8Array =>
  hash(spki).subarray(0, 8);

// --- SubjectPublicKeyInfo (strict DER) ---------------------------------------------------------------

const OID_ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const OID_EC = Uint8Array.of(0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
const OID_P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const OID_SM2 = Uint8Array.of(0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d);

class Der {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  /** One TLV of `tag` (definite, minimal length); returns its value. */
  take(tag: number): Uint8Array {
    const b = this.bytes;
    if (this.pos + 2 > b.length || b[this.pos] !== tag) throw new Error("unexpected DER tag");
    let len = b[this.pos + 1]!;
    let at = this.pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || at + n > b.length || b[at] === 0) throw new Error("bad DER length");
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | b[at + i]!;
      if (len < 0x80) throw new Error("non-minimal DER length");
      at += n;
    }
    if (at + len > b.length) throw new Error("truncated DER");
    this.pos = at + len;
    return b.subarray(at, at + len);
  }
  done(): boolean {
    return this.pos === this.bytes.length;
  }
}

/** The key inside an SPKI for `algorithm`: Ed25519 32 bytes, P-256 or SM2 an SEC1 point on the curve. */
export function parseSpki(algorithm: Algorithm, spki: Uint8Array): Uint8Array {
  const slug = SLUGS[algorithm] ?? String(algorithm);
  const what = algorithm === Algorithm.ED25519 ? "an Ed25519" : algorithm === Algorithm.P256 ? "a P-256" : "an SM2";
  try {
    const outer = new Der(spki);
    const body = new Der(outer.take(0x30));
    if (!outer.done()) throw new Error("trailing bytes");
    const alg = body.take(0x30);
    const bits = body.take(0x03);
    if (!body.done() || bits.length < 2 || bits[0] !== 0) throw new Error("bad key bits");
    const key = bits.subarray(1);
    if (algorithm === Algorithm.ED25519) {
      if (!equalBytes(alg, OID_ED25519) || key.length !== 32) throw new Error("not Ed25519");
      return key;
    }
    const curve = algorithm === Algorithm.P256 ? OID_P256 : OID_SM2;
    if (!equalBytes(alg, concatBytes(OID_EC, curve))) throw new Error("wrong curve");
    if (algorithm === Algorithm.P256) p256.Point.fromBytes(key).assertValidity();
    else if (!sm2PointValid(key)) throw new Error("not on the curve");
    return key;
  } catch {
    throw invalidArgument(`not a valid ${slug} public key: the SPKI is not ${what} public key`);
  }
}

// SM2 curve (GB/T 32918.5): y² = x³ + ax + b over p.
const SM2_P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const SM2_A = SM2_P - 3n;
const SM2_B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

/** The uncompressed SEC1 form of an SM2 point, or null when it is not on the curve. */
export function sm2Uncompressed(point: Uint8Array): Uint8Array | null {
  const p = SM2_P;
  let x: bigint;
  let y: bigint;
  if (point.length === 65 && point[0] === 4) {
    x = bigOf(point.subarray(1, 33));
    y = bigOf(point.subarray(33));
  } else if (point.length === 33 && (point[0] === 2 || point[0] === 3)) {
    x = bigOf(point.subarray(1));
    if (x >= p) return null;
    const rhs = (((x * x) % p) * x + SM2_A * x + SM2_B) % p;
    y = modPow(rhs, (p + 1n) / 4n, p);
    if ((y * y) % p !== rhs) return null;
    if (Number(y & 1n) !== (point[0]! & 1)) y = p - y;
  } else return null;
  if (x >= p || y >= p) return null;
  if ((y * y) % p !== ((((x * x) % p) * x + SM2_A * x + SM2_B) % p + p) % p) return null;
  const out = new Uint8Array(65);
  out[0] = 4;
  const hex = x.toString(16).padStart(64, "0") + y.toString(16).padStart(64, "0");
  for (let i = 0; i < 64; i++) out[1 + i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

const sm2PointValid = (point: Uint8Array): boolean => sm2Uncompressed(point) !== null;

/** SPKI DER for a raw device key (Ed25519 32 bytes, or a compressed P-256 point). */
export function spkiForRaw(algorithm: Algorithm, raw: Uint8Array): Uint8Array {
  if (algorithm === Algorithm.ED25519) {
    return concatBytes(Uint8Array.of(0x30, 0x2a, 0x30, 0x05), OID_ED25519, Uint8Array.of(0x03, 0x21, 0x00), raw);
  }
  const alg = concatBytes(OID_EC, OID_P256);
  const bits = concatBytes(Uint8Array.of(0x03, raw.length + 1, 0x00), raw);
  const inner = concatBytes(Uint8Array.of(0x30, alg.length), alg, bits);
  return concatBytes(Uint8Array.of(0x30, inner.length), inner);
}

/** A city's public key, parsed and ready to verify. */
export interface VerifyingKey {
  readonly algorithm: Algorithm;
  readonly spki: Uint8Array;
  readonly kid: Uint8Array;
  readonly verify: VerifyFn;
}

/** Parse and prepare a key; a malformed one is CC_INVALID_ARGUMENT (the caller words the refusal). */
export async function verifyingKey(provider: CryptoProvider, algorithm: Algorithm, spki: Uint8Array): Promise<VerifyingKey> {
  const raw = parseSpki(algorithm, spki);
  let inner: VerifyFn;
  try {
    inner = await provider.verifier(algorithm, spki, raw);
  } catch (e) {
    if (e instanceof CityCreditError) throw e;
    throw invalidArgument(`not a valid ${SLUGS[algorithm]} public key: ${String(e)}`);
  }
  let verify: VerifyFn = inner;
  if (algorithm === Algorithm.P256) {
    verify = (sig, data) => inRangeRS(sig, P256_N, true) && inner(sig, data);
  } else if (algorithm === Algorithm.SM2) {
    verify = (sig, data) => inRangeRS(sig, SM2_N, false) && inner(sig, data);
  }
  return { algorithm, spki, kid: kidForSpki(spki, provider.sha256), verify };
}
