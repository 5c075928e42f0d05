/** The pure core: decode, keys, trust, status, verify, eligibility, wire. No I/O; the clock is an argument. */

export { ALPHABET, b45decode, b45encode } from "./base45.js";
export { concatBytes, equalBytes, fromHex, toHex } from "./bytes.js";
export { Catalogue, decide, decisionForError, type Decision } from "./eligibility.js";
export { decodeText, presentationMessage, MAX_CODE_CHARS, type Envelope, type Presented } from "./envelope.js";
export { CityCreditError, isBundleError, isCodeError } from "./errors.js";
export {
  Algorithm, inRangeRS, kidForSpki, parseSpki, P256_N, SM2_N, sm2Uncompressed, spkiForRaw, verifyingKey,
  type CryptoProvider, type VerifyingKey,
} from "./keys.js";
export { isCity } from "./offers.js";
export { encodeMessage, parseCanonical, parseMessage } from "./proto.js";
export { inflateBounded, openStatusUpdate, statusAt, statusListBytes, type StatusList } from "./status.js";
export { iso, parseTimeS, periodKey } from "./time.js";
export { anchorVersion, openTrust, TrustSnapshot, type TrustFiles } from "./trust.js";
export { readTrustFiles, statusListsOf } from "./trustdir.js";
export { DEFAULT_GRACE_S, openSnapshot, Verifier } from "./verifier.js";
export { MemoryReplayCache, parseClaims, verifyCode, type VerifiedCode } from "./verify.js";
export { checkBundleErrorJson, decisionToJson, pyJson, verificationToJson } from "./wire.js";
