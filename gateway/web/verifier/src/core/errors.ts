/**
 * The error catalogue (sdk/citycredit/errors.py), the part a verifier raises.
 *
 *     CityCreditError                 base: stable `code`
 *     ├── CodeError                   a credit code was refused (a verdict: exit 1)
 *     │   ├── CodeUnreadableError     CC_TOO_LONG, CC_PREFIX, CC_BASE45, CC_MALFORMED
 *     │   └── …                       CC_KEY_UNKNOWN, CC_SIGNATURE_INVALID, CC_EXPIRED …
 *     ├── BundleError                 the trust set was refused (cannot judge: exit 2)
 *     └── RequestError                bad input (CC_INVALID_ARGUMENT, CC_NOT_FOUND, CC_OFFER_UNKNOWN)
 */

export type ErrorKind = "code" | "bundle" | "request" | "internal";

interface Entry {
  readonly kind: ErrorKind;
  readonly title: string;
}

const CATALOGUE: Record<string, Entry> = {
  CC_TOO_LONG: { kind: "code", title: "the code is longer than 1,024 characters" },
  CC_PREFIX: { kind: "code", title: "the code does not start with CC1:" },
  CC_BASE45: { kind: "code", title: "the code is not valid Base45" },
  CC_MALFORMED: { kind: "code", title: "the code's contents are malformed" },
  CC_KEY_UNKNOWN: { kind: "code", title: "no key in the trust bundle has this kid" },
  CC_SIGNATURE_INVALID: { kind: "code", title: "the signature does not verify" },
  CC_KEY_NOT_VALID: { kind: "code", title: "the signing key was not valid when the code was issued" },
  CC_CITY_MISMATCH: { kind: "code", title: "the code names a city other than the one that owns the signing key" },
  CC_EXPIRED: { kind: "code", title: "the code has expired" },
  CC_NOT_YET_VALID: { kind: "code", title: "the code is not valid yet" },
  CC_REVOKED: { kind: "code", title: "the code has been revoked" },
  CC_SUSPENDED: {
    kind: "code",
    title: "the code is suspended (under appeal or a credit commitment); ask the holder's city",
  },
  CC_DEVICE_PROOF_REQUIRED: {
    kind: "code",
    title: "this code is bound to the holder's phone: scan the rotating code it shows, not a copy",
  },
  CC_DEVICE_SIGNATURE_INVALID: { kind: "code", title: "the presentation was not signed by the holder's device" },
  CC_PRESENTATION_STALE: {
    kind: "code",
    title: "the presentation is outside its time window (a screenshot, or the phone's clock is wrong)",
  },
  CC_PRESENTATION_REPLAYED: {
    kind: "code",
    title: "this presentation was already scanned here; ask the holder to show the code again",
  },
  CC_BUNDLE_MALFORMED: { kind: "bundle", title: "the trust bundle is malformed" },
  CC_BUNDLE_THRESHOLD: {
    kind: "bundle",
    title: "the trust bundle lacks the required number of valid governance signatures",
  },
  CC_BUNDLE_ROLLBACK: { kind: "bundle", title: "the trust bundle is older than, or conflicts with, one already accepted" },
  CC_BUNDLE_STALE: { kind: "bundle", title: "the trust bundle has expired beyond the offline grace period" },
  CC_INVALID_ARGUMENT: { kind: "request", title: "the request is invalid" },
  CC_NOT_FOUND: { kind: "request", title: "not found" },
  CC_OFFER_UNKNOWN: { kind: "request", title: "no such offer" },
};

export type ErrorCode = keyof typeof CATALOGUE;

/** An error of the catalogue: a stable machine-readable `code` and a message for people. */
export class CityCreditError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, message?: string) {
    const entry = CATALOGUE[code];
    super(message || (entry ? entry.title : "internal error"));
    this.code = code;
    this.kind = entry ? entry.kind : "internal";
    this.name = "CityCreditError";
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export const isCodeError = (e: unknown): e is CityCreditError => e instanceof CityCreditError && e.kind === "code";
export const isBundleError = (e: unknown): e is CityCreditError =>
  e instanceof CityCreditError && e.kind === "bundle";

/** Shorthands, one per code, so that the rules read like the reference. */
export const fail = (code: string, message?: string): never => {
  throw new CityCreditError(code, message);
};
export const malformedCode = (message: string): CityCreditError => new CityCreditError("CC_MALFORMED", message);
export const bundleMalformed = (message: string): CityCreditError =>
  new CityCreditError("CC_BUNDLE_MALFORMED", message);
export const invalidArgument = (message: string): CityCreditError =>
  new CityCreditError("CC_INVALID_ARGUMENT", message);
