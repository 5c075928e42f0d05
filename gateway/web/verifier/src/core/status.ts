/**
 * Status lists (sdk/citycredit/core/_status.py): two bits per entry, least significant first
 * (entry i = (list[i >> 2] >> 2·(i & 3)) & 3): 0 VALID, 1 REVOKED, 2 SUSPENDED, 3 read as REVOKED.
 * The head, signed by one of the city's status keys over b"CCS1\0" + body, carries the SHA-256
 * of the uncompressed list; a whole list is inflated with a bound (no zip bomb).
 */

import {
  ZStream, zlibInflate, zlibInflateEnd, zlibInflateInit, Z_STREAM_END, Z_OK, Z_SYNC_FLUSH, deflate,
} from "pako";
import {
  SignedPartSchema, type SignedPart,
} from "../gen/citycredit/v1/trust_pb.js";
import {
  StatusListHeadSchema, StatusListUpdateSchema, type StatusListDelta, type StatusListHead,
} from "../gen/citycredit/v1/status_pb.js";
import { create } from "@bufbuild/protobuf";
import { CityCreditError, bundleMalformed } from "./errors.js";
import type { VerifyingKey } from "./keys.js";
import { city6 } from "./offers.js";
import { concatBytes, encodeMessage, equalBytes, parseMessage, toHex } from "./proto.js";

export const MIN_STATUS_LIST_SIZE = 131_072;
export const MAX_STATUS_LIST_SIZE = 2 ** 32;
export const STATUS_CONTEXT = new TextEncoder().encode("CCS1\x00");

/** A city's status list as a verifier accepted it. */
export interface StatusList {
  city: number;
  version: bigint;
  size: number;
  issuedAtS: number;
  expiresAtS: number;
  ttlS: number;
  /** The signed head, re-encoded (what the fork check compares), and the uncompressed list. */
  head: Uint8Array;
  data: Uint8Array;
}

/** The entry's status; an index beyond the list reads REVOKED (an issuer never hands one out). */
export function statusAt(list: StatusList, index: number): number {
  if (index >= list.size) return 1;
  return (list.data[index >>> 2]! >> ((index & 3) << 1)) & 3;
}

function checkSize(size: bigint): void {
  if (size < BigInt(MIN_STATUS_LIST_SIZE) || size > BigInt(MAX_STATUS_LIST_SIZE) || size % 4n) {
    throw bundleMalformed(`status list size ${size} is not a multiple of 4 between ${MIN_STATUS_LIST_SIZE} and ` +
      `${MAX_STATUS_LIST_SIZE}`);
  }
}

/** Refuse a SignedPart not signed by one of `keys` (looked up by kid, hex). */
export async function verifyPart(part: SignedPart, keys: Map<string, VerifyingKey>, context: Uint8Array,
  what: string): Promise<void> {
  const key = keys.get(toHex(part.kid));
  if (key === undefined) {
    throw bundleMalformed(`${what} is signed by ${toHex(part.kid) || "no key"}, not one of the city's status keys`);
  }
  if (!(await key.verify(part.signature, concatBytes(context, part.body)))) {
    throw bundleMalformed(`the signature of ${what} does not verify`);
  }
}

function parse<T>(fn: () => T, what: string, name: string): T {
  try {
    return fn();
  } catch {
    throw bundleMalformed(`${what} is not a valid ${name}`);
  }
}

/**
 * Verify a whole list or a delta for `city` into the list it describes (see the reference's
 * `open_status_update` for the refusals); returns `previous` itself for that very version.
 */
export async function openStatusUpdate(update: Uint8Array, opts: {
  city: number; statusKeys: Map<string, VerifyingKey>; previous: StatusList | null; nowS: number; graceS: number;
  sha256: (d: Uint8Array) => Uint8Array;
}): Promise<StatusList> {
  const { city, previous } = opts;
  const message = parse(() => parseMessage(StatusListUpdateSchema, update), "the status list update", "StatusListUpdate");
  const kind = message.update.case;
  if (kind === undefined) throw bundleMalformed("the status list update carries neither a list nor a delta");
  const signed = (message.update.value.head ?? create(SignedPartSchema)) as SignedPart;
  await verifyPart(signed, opts.statusKeys, STATUS_CONTEXT, `the status list of ${city6(city)}`);
  const head: StatusListHead = parse(() => parseMessage(StatusListHeadSchema, signed.body), "the status list head",
    "StatusListHead");
  if (head.city !== city) throw bundleMalformed(`a status list of ${city6(head.city)} was offered for ${city6(city)}`);
  if (head.bits !== 2) throw bundleMalformed(`status lists have 2 bits per entry, not ${head.bits}`);
  checkSize(head.size);
  if (head.expiresAt <= head.issuedAt) throw bundleMalformed("the status list's expiry must follow its issue time");
  const headBytes = encodeMessage(SignedPartSchema, signed);
  if (previous !== null) {
    if (head.version < previous.version) {
      throw new CityCreditError("CC_BUNDLE_ROLLBACK", `status list version ${head.version} of ${city6(city)} is older ` +
        `than the accepted ${previous.version}`);
    }
    if (head.version === previous.version) {
      if (!equalBytes(headBytes, previous.head)) {
        throw new CityCreditError("CC_BUNDLE_ROLLBACK", `a different status list of ${city6(city)} under accepted ` +
          `version ${head.version}`);
      }
      return previous;
    }
  }
  if (previous !== null && head.size < BigInt(previous.size)) {
    throw bundleMalformed(`the status list of ${city6(city)} shrank from ${previous.size} to ${head.size} entries`);
  }
  if (BigInt(opts.nowS) > head.expiresAt + BigInt(opts.graceS)) {
    throw new CityCreditError("CC_BUNDLE_STALE", `the status list of ${city6(city)} (version ${head.version}) expired ` +
      `at ${head.expiresAt} and the grace of ${opts.graceS} s is over`);
  }
  const size = Number(head.size);
  const data = kind === "list"
    ? inflateBounded(message.update.value.listZlib, size / 4)
    : applyDelta(message.update.value as StatusListDelta, size, previous);
  if (!equalBytes(opts.sha256(data), head.listSha256)) {
    throw bundleMalformed(`the status list of ${city6(city)} does not match its signed digest`);
  }
  return {
    city, version: head.version, size, issuedAtS: Number(head.issuedAt), expiresAtS: Number(head.expiresAt),
    ttlS: head.ttlS, head: headBytes, data,
  };
}

/** Inflate at most `length` bytes: a hostile list cannot expand beyond what its head declares. */
export function inflateBounded(data: Uint8Array, length: number): Uint8Array {
  const strm = new ZStream();
  zlibInflateInit(strm);
  const out = new Uint8Array(length);
  strm.input = data;
  strm.next_in = 0;
  strm.avail_in = data.length;
  strm.output = out;
  strm.next_out = 0;
  strm.avail_out = length;
  let status: number = Z_OK;
  for (;;) {
    const before = strm.avail_in + strm.avail_out;
    status = zlibInflate(strm, Z_SYNC_FLUSH);
    // Go on only while zlib makes progress with input left and room for output (what Python's
    // decompressobj().decompress(data, length) does); anything else is judged below.
    if (status !== Z_OK || strm.avail_in === 0 || strm.avail_out === 0) break;
    if (before === strm.avail_in + strm.avail_out) break;
  }
  zlibInflateEnd(strm);
  if (status !== Z_OK && status !== Z_STREAM_END && status !== -5) {
    throw bundleMalformed(`the status list is not valid zlib data: ${strm.msg || `error ${status}`}`);
  }
  if (status !== Z_STREAM_END || strm.next_out !== length || strm.avail_in !== 0) {
    throw bundleMalformed("the status list's length does not match its declared size");
  }
  return out;
}

function applyDelta(delta: StatusListDelta, size: number, previous: StatusList | null): Uint8Array {
  if (previous === null || delta.fromVersion !== previous.version) {
    const held = previous === null ? "none" : String(previous.version);
    throw bundleMalformed(`a delta from version ${delta.fromVersion} cannot apply to the held ${held}`);
  }
  if (size < previous.size) throw bundleMalformed("a status list never shrinks");
  if (delta.indexes.length !== delta.statuses.length) throw bundleMalformed("a delta needs one status per index");
  const data = new Uint8Array(size / 4);
  data.set(previous.data);
  let last = -1n;
  for (let i = 0; i < delta.indexes.length; i++) {
    const index = delta.indexes[i]!;
    const status = delta.statuses[i]!;
    if (index <= last || index >= BigInt(size) || status > 2) {
      throw bundleMalformed("delta indexes ascend, each once, inside the list, with status 0, 1 or 2");
    }
    const n = Number(index);
    const shift = (n & 3) << 1;
    data[n >>> 2] = (data[n >>> 2]! & ~(3 << shift) & 0xff) | (status << shift);
    last = index;
  }
  return data;
}

/** A held list as a whole-list StatusListUpdate (what a verifier keeps in its state, as the reference does). */
export function statusListBytes(list: StatusList): Uint8Array {
  const head = parseMessage(SignedPartSchema, list.head);
  const update = create(StatusListUpdateSchema, {
    update: { case: "list", value: { head, listZlib: deflate(list.data, { level: 9 }) } },
  });
  return encodeMessage(StatusListUpdateSchema, update);
}
