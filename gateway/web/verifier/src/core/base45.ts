/** Base45 (RFC 9285), strict: the reference's checks in the reference's order (sdk/citycredit/core/_base45.py). */

import { CityCreditError } from "./errors.js";

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGITS[ALPHABET.charCodeAt(i)] = i;

const base45Error = (message: string) => new CityCreditError("CC_BASE45", message);

/** Python's repr() of one character, as the reference names a bad one. */
export function pyRepr(ch: string): string {
  const named: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  let body = named[ch];
  if (body === undefined) {
    const c = ch.codePointAt(0) ?? 0;
    body = c < 0x20 || c === 0x7f ? "\\x" + c.toString(16).padStart(2, "0") : ch;
  }
  if (ch === "'") return `"'"`;
  return `'${body}'`;
}

export function b45encode(data: Uint8Array): string {
  let out = "";
  for (let i = 0; i + 1 < data.length; i += 2) {
    const v = (data[i]! << 8) | data[i + 1]!;
    out += ALPHABET[v % 45]! + ALPHABET[Math.floor(v / 45) % 45]! + ALPHABET[Math.floor(v / 2025)]!;
  }
  if (data.length % 2) {
    const v = data[data.length - 1]!;
    out += ALPHABET[v % 45]! + ALPHABET[Math.floor(v / 45)]!;
  }
  return out;
}

/**
 * Decode Base45 text; `length` is its length in code points (what the reference counts).
 * Throws CC_BASE45 on a bad length, character or group value.
 */
export function b45decode(text: string, length: number = [...text].length): Uint8Array {
  if (length === text.length && length % 3 !== 1) {
    const fast = decodeFast(text);
    if (fast !== null) return fast;
  }
  return decodeChecked(text, length);
}

/** One pass over valid text; null at the first anomaly (the checked path then words the error). */
function decodeFast(text: string): Uint8Array | null {
  const n = text.length;
  const groups = (n / 3) | 0;
  const out = new Uint8Array(2 * groups + (n % 3 ? 1 : 0));
  let o = 0;
  let i = 0;
  for (let g = 0; g < groups; g++, i += 3) {
    const a = text.charCodeAt(i), b = text.charCodeAt(i + 1), c = text.charCodeAt(i + 2);
    if ((a | b | c) > 0x7f) return null;
    const da = DIGITS[a]!, db = DIGITS[b]!, dc = DIGITS[c]!;
    if ((da | db | dc) < 0) return null;
    const v = da + 45 * db + 2025 * dc;
    if (v > 0xffff) return null;
    out[o++] = v >> 8;
    out[o++] = v & 0xff;
  }
  if (n % 3) {
    const a = text.charCodeAt(i), b = text.charCodeAt(i + 1);
    if ((a | b) > 0x7f) return null;
    const da = DIGITS[a]!, db = DIGITS[b]!;
    if ((da | db) < 0) return null;
    const v = da + 45 * db;
    if (v > 255) return null;
    out[o] = v;
  }
  return out;
}

function decodeChecked(text: string, length: number): Uint8Array {
  const groups = Math.floor(length / 3);
  const rest = length % 3;
  if (rest === 1) throw base45Error(`Base45 text cannot be ${length} characters long (length mod 3 is 1)`);
  const digits = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) throw base45Error("Base45 text has a non-ASCII character");
  }
  for (let i = 0; i < text.length; i++) {
    const d = DIGITS[text.charCodeAt(i)]!;
    if (d < 0) throw base45Error(`${pyRepr(text[i]!)} is not a Base45 character`);
    digits[i] = d;
  }
  const out = new Uint8Array(2 * groups + (rest >> 1));
  for (let g = 0; g < groups; g++) {
    const v = digits[3 * g]! + 45 * digits[3 * g + 1]! + 2025 * digits[3 * g + 2]!;
    if (v > 0xffff) throw base45Error("a Base45 group is larger than 65535");
    out[2 * g] = v >> 8;
    out[2 * g + 1] = v & 0xff;
  }
  if (rest) {
    const v = digits[3 * groups]! + 45 * digits[3 * groups + 1]!;
    if (v > 255) throw base45Error("the final Base45 pair is larger than 255");
    out[out.length - 1] = v;
  }
  return out;
}
