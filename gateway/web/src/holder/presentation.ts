/**
 * `CP1:` presentations of a device-bound `CC1:` code (DESIGN 4, proto/SPEC.md 2.6 and 5), made on the
 * phone with no network: `CP1:` + Base45 of the protobuf `Presentation` {code: the SignedCreditCode bytes
 * exactly as issued, presented_at: seconds, signature: the device's over
 * b"CP1\0" ‖ SHA-256(code bytes) ‖ presented_at as 8 bytes big-endian}.
 *
 * Base45 and the generated protobuf types are the browser verifier's (gateway/web/verifier/src), so the
 * page writes exactly what the verifiers read.
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { b45decode, b45encode } from "../../verifier/src/core/base45.js";
import { PresentationSchema } from "../../verifier/src/gen/citycredit/v1/code_pb.js";
import { deviceSign, subtle, type DeviceKey } from "./device.js";

const CONTEXT = new TextEncoder().encode("CP1\x00");

export class PresentationError extends Error {}

/** A code ready to present: its envelope bytes and their SHA-256, computed once. */
export interface Presentable {
  code: string;
  envelope: Uint8Array;
  digest: Uint8Array;
}

export async function presentable(code: string): Promise<Presentable> {
  if (!code.startsWith("CC1:")) throw new PresentationError("the issuer's code does not start with CC1:");
  const envelope = b45decode(code.slice(4));
  const digest = new Uint8Array(await subtle().digest("SHA-256", envelope as Uint8Array<ArrayBuffer>));
  return { code, envelope, digest };
}

/** The 44 bytes the device signs (SPEC 5.1). */
export function presentationMessage(digest: Uint8Array, presentedAtS: number): Uint8Array {
  const message = new Uint8Array(CONTEXT.length + 32 + 8);
  message.set(CONTEXT, 0);
  message.set(digest, CONTEXT.length);
  new DataView(message.buffer).setBigInt64(CONTEXT.length + 32, BigInt(presentedAtS), false);
  return message;
}

/** A fresh `CP1:` string of `code`, signed by the device at `presentedAtS`. */
export async function present(code: Presentable, device: DeviceKey, presentedAtS: number): Promise<string> {
  if (!Number.isSafeInteger(presentedAtS)) throw new PresentationError("the presentation time is whole seconds");
  const signature = await deviceSign(device, presentationMessage(code.digest, presentedAtS));
  const message = create(PresentationSchema, { code: code.envelope, presentedAt: BigInt(presentedAtS), signature });
  return "CP1:" + b45encode(toBinary(PresentationSchema, message));
}
