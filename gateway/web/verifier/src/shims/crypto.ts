/**
 * The part of node:crypto @tufjs/models calls, for the browser bundle (esbuild aliases `crypto`
 * here): `createHash`, `createPublicKey` (PEM or SPKI DER, Ed25519 and P-256) and a synchronous
 * `verify` (TUF metadata is verified when the trust set is opened) over @noble/curves.
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { sha224, sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { Algorithm, parseSpki } from "../core/keys.js";
import { toHex } from "../core/bytes.js";

const HASHES: Record<string, (d: Uint8Array) => Uint8Array> = { sha256, sha384, sha512, sha224 };

class Hash {
  private parts: Uint8Array[] = [];
  constructor(private readonly fn: (d: Uint8Array) => Uint8Array) {}
  update(data: string | Uint8Array): Hash {
    this.parts.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
    return this;
  }
  digest(encoding?: string): string | Uint8Array {
    const all = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    const out = this.fn(all);
    return encoding === "hex" ? toHex(out) : out;
  }
}

export function createHash(algorithm: string): Hash {
  const fn = HASHES[algorithm.toLowerCase()];
  if (fn === undefined) throw new Error(`Digest method not supported: ${algorithm}`);
  return new Hash(fn);
}

export interface KeyObject {
  asymmetricKeyType: "ed25519" | "ec";
  asymmetricKeyDetails: { namedCurve?: string };
  raw: Uint8Array;
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
  const bin = atob(body);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function createPublicKey(input: string | { key: Uint8Array; format?: string; type?: string }): KeyObject {
  const der = typeof input === "string" ? pemToDer(input) : input.key;
  try {
    return { asymmetricKeyType: "ed25519", asymmetricKeyDetails: {}, raw: parseSpki(Algorithm.ED25519, der) };
  } catch {
    return { asymmetricKeyType: "ec", asymmetricKeyDetails: { namedCurve: "prime256v1" }, raw: parseSpki(Algorithm.P256, der) };
  }
}

export function verify(algorithm: string | undefined | null, data: Uint8Array, key: KeyObject | { key: KeyObject },
  signature: Uint8Array): boolean {
  const k = "raw" in key ? key : key.key;
  if (k.asymmetricKeyType === "ed25519") return ed25519.verify(signature, data, k.raw, { zip215: false });
  if (algorithm !== "sha256") throw new Error(`unsupported digest ${String(algorithm)}`);
  return p256.verify(signature, data, k.raw, { format: "der", lowS: false, prehash: true });
}

export const constants = { RSA_PKCS1_PSS_PADDING: 6 };

export default { createHash, createPublicKey, verify, constants };
