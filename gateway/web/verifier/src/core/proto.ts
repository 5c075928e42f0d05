/**
 * Protobuf decoding for codes, on @bufbuild/protobuf, with the answers of the reference's runtime (upb).
 *
 * Codes must be canonical (proto/SPEC.md 2.4): the bytes equal their deterministic re-encoding, with
 * unknown fields kept verbatim after the known ones. upb counts a record as unknown when its number is
 * not in the message or its wire type differs from the field's; protobuf-es reads a known number
 * whatever its wire type. So `parseCanonical` first tries protobuf-es's own round trip
 * (`fromBinary` then `toBinary` with unknown fields read and written: equal bytes settle it), and
 * otherwise judges the records itself: known ones, nested messages reduced to theirs, go to
 * `fromBinary` and must re-encode to themselves, the others must all come after them.
 */

import { fromBinary, toBinary, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ScalarType } from "@bufbuild/protobuf";
import { concatBytes, equalBytes } from "./bytes.js";

function wireTypeOf(field: DescField): WireType[] {
  switch (field.fieldKind) {
    case "scalar":
      return [scalarWire(field.scalar)];
    case "enum":
      return [WireType.Varint];
    case "message":
      return [field.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited];
    case "map":
      return [WireType.LengthDelimited];
    case "list":
      if (field.listKind === "scalar") {
        const w = scalarWire(field.scalar);
        return w === WireType.LengthDelimited ? [w] : [w, WireType.LengthDelimited];
      }
      if (field.listKind === "enum") return [WireType.Varint, WireType.LengthDelimited];
      return [field.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited];
  }
}

function scalarWire(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    default:
      return WireType.Varint;
  }
}

export class ProtoDecodeError extends Error {}

interface Judged {
  /** The known records, each nested message reduced to its own known records (what protobuf-es may read). */
  sanitized: Uint8Array;
  /** False once a record breaks the form B = K || U (see parseCanonical). */
  canonical: boolean;
}

function judge(schema: DescMessage, bytes: Uint8Array): Judged {
  const reader = new BinaryReader(bytes);
  const chunks: Uint8Array[] = [];
  let canonical = true;
  let inTail = false;
  try {
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [no, wireType] = reader.tag();
      if (no <= 0 || wireType === WireType.EndGroup) throw new ProtoDecodeError("bad tag");
      const valueStart = reader.pos;
      reader.skip(wireType, no);
      const field = schema.fields.find((f) => f.number === no);
      if (field === undefined || !wireTypeOf(field).includes(wireType)) {
        inTail = true; // an unknown record: the tail, kept verbatim
        continue;
      }
      if (inTail) canonical = false; // a known record after the unknown tail
      if (field.fieldKind === "message" && wireType === WireType.LengthDelimited) {
        const valueBytes = bytes.subarray(valueStart, reader.pos);
        const value = new BinaryReader(valueBytes);
        const length = value.uint32();
        const inner = judge(field.message, valueBytes.subarray(value.pos));
        canonical &&= inner.canonical;
        const header = new BinaryWriter().tag(no, wireType).uint32(length).finish();
        canonical &&= equalBytes(header, bytes.subarray(start, valueStart + value.pos));
        chunks.push(new BinaryWriter().tag(no, wireType).bytes(inner.sanitized).finish());
      } else {
        chunks.push(bytes.subarray(start, reader.pos));
      }
    }
  } catch (e) {
    if (e instanceof ProtoDecodeError) throw e;
    throw new ProtoDecodeError(String(e));
  }
  return { sanitized: chunks.length === 1 ? chunks[0]! : concatBytes(...chunks), canonical };
}

/** Parse like upb; throws ProtoDecodeError when the bytes are not a valid message. */
export function parseMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinary(schema, bytes, { readUnknownFields: true });
  } catch (e) {
    throw new ProtoDecodeError(String(e));
  }
}

/**
 * Parse and report whether the bytes are canonical (each field once, in number order, minimal
 * varints, no trailing bytes; unknown fields kept, after the known ones).
 */
export function parseCanonical<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
): { message: MessageShape<Desc>; canonical: boolean } {
  // Fast path: when protobuf-es's own round trip gives the bytes back, upb agrees (a mistyped known
  // field or a non-minimal tag would have been rewritten, so none is there) and so do the values.
  try {
    const message = fromBinary(schema, bytes, { readUnknownFields: true });
    if (equalBytes(toBinary(schema, message, { writeUnknownFields: true }), bytes)) return { message, canonical: true };
  } catch {
    // judged below, as upb would
  }
  // The spec's own terms (proto/SPEC.md 2.4): B = K || U, where U holds the records whose number is
  // not in the message or whose wire type differs from the field's (upb keeps those as unknown
  // fields), and K re-encodes to itself; nested messages likewise.
  const judged = judge(schema, bytes);
  let message: MessageShape<Desc>;
  try {
    message = fromBinary(schema, judged.sanitized, { readUnknownFields: false });
  } catch (e) {
    throw new ProtoDecodeError(String(e));
  }
  const canonical = judged.canonical &&
    equalBytes(toBinary(schema, message, { writeUnknownFields: false }), judged.sanitized);
  return { message, canonical };
}

/** Deterministic encoding, unknown fields after the known ones (what the reference writes). */
export function encodeMessage<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return toBinary(schema, message, { writeUnknownFields: true });
}

export { concatBytes, equalBytes, fromHex, toHex } from "./bytes.js";
