/**
 * `CC1:` codes and `CP1:` presentations (sdk/citycredit/core/_envelope.py): strict and canonical.
 * The text is taken exactly as given, at most 1,024 code points (checked before anything else);
 * the Base45 is strict; the decoded message must equal its canonical encoding.
 */

import { SignedCreditCodeSchema, PresentationSchema, CreditCodeSchema, type CreditCode } from "../gen/citycredit/v1/code_pb.js";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { b45decode } from "./base45.js";
import { CityCreditError, malformedCode } from "./errors.js";
import { concatBytes, parseCanonical, ProtoDecodeError } from "./proto.js";

export const MAX_CODE_CHARS = 1024;
export const SIGNING_CONTEXT = new TextEncoder().encode("CC1\x00");
export const PRESENTATION_CONTEXT = new TextEncoder().encode("CP1\x00");

export interface Envelope {
  payload: Uint8Array;
  kid: Uint8Array;
  signature: Uint8Array;
  /** The serialized SignedCreditCode (what a presentation hashes). */
  raw: Uint8Array;
}

export interface Presented {
  envelope: Envelope;
  presentedAtS: bigint;
  signature: Uint8Array;
}

export function canonical<D extends DescMessage>(schema: D, raw: Uint8Array, what: string): MessageShape<D> {
  let parsed;
  try {
    parsed = parseCanonical(schema, raw);
  } catch (e) {
    if (e instanceof ProtoDecodeError) throw malformedCode(`the ${what} is not a valid ${schema.name} message`);
    throw e;
  }
  if (!parsed.canonical) {
    throw malformedCode(`the ${what} is not canonically encoded (a field repeated or out of order, ` +
      "a non-minimal varint, or trailing bytes)");
  }
  return parsed.message;
}

function envelopeOf(raw: Uint8Array): Envelope {
  const e = canonical(SignedCreditCodeSchema, raw, "envelope");
  if (e.kid.length !== 8) throw malformedCode(`the kid must be 8 bytes, not ${e.kid.length}`);
  if (e.signature.length !== 64) throw malformedCode(`the signature must be 64 bytes, not ${e.signature.length}`);
  if (e.payload.length === 0) throw malformedCode("the payload is empty");
  return { payload: e.payload, kid: e.kid, signature: e.signature, raw };
}

/** A `CC1:` code or a `CP1:` presentation, decoded and checked for canonical form (not verified). */
const SURROGATE = /[\uD800-\uDFFF]/;

export function decodeText(text: string): Envelope | Presented {
  // The reference counts code points; without surrogates that is the UTF-16 length (the usual case).
  let length = text.length;
  let prefix: string;
  let body: string;
  if (!SURROGATE.test(text)) {
    prefix = text.slice(0, 4);
    body = text.slice(4);
  } else {
    const points = [...text];
    length = points.length;
    prefix = points.slice(0, 4).join("");
    body = points.slice(4).join("");
  }
  if (length > MAX_CODE_CHARS) {
    throw new CityCreditError("CC_TOO_LONG", `the code has ${length} characters; at most ${MAX_CODE_CHARS} are allowed`);
  }
  const bodyLength = length - [...prefix].length;
  if (prefix === "CC1:") return envelopeOf(b45decode(body, bodyLength));
  if (prefix === "CP1:") {
    const p = canonical(PresentationSchema, b45decode(body, bodyLength), "presentation");
    if (p.signature.length !== 64) throw malformedCode("the device signature must be 64 bytes");
    return { envelope: envelopeOf(p.code), presentedAtS: p.presentedAt, signature: p.signature };
  }
  throw new CityCreditError("CC_PREFIX", "a code starts with 'CC1:' (or a presentation with 'CP1:')");
}

export const parsePayload = (payload: Uint8Array): CreditCode => canonical(CreditCodeSchema, payload, "payload");

/** What the device signs: b"CP1\0" ‖ SHA-256(code bytes) ‖ the time as 8 bytes big-endian. */
export function presentationMessage(code: Uint8Array, presentedAtS: bigint, sha256: (d: Uint8Array) => Uint8Array): Uint8Array {
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigInt64(0, presentedAtS, false);
  return concatBytes(PRESENTATION_CONTEXT, sha256(code), time);
}
