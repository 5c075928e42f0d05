/**
 * Code verification (sdk/citycredit/core/_verify.py): the rules of proto/SPEC.md in their order;
 * the first that fails names the error.
 *
 *  1. the trust set is fresh (root, timestamp, snapshot, targets within the grace)  CC_BUNDLE_STALE
 *  2. the text decodes: length, prefix, Base45, canonical envelope   CC_TOO_LONG, CC_PREFIX, CC_BASE45, CC_MALFORMED
 *  3. a key of the trust set has the kid                                        CC_KEY_UNKNOWN
 *  4. its signature verifies over b"CC1\0" + payload                            CC_SIGNATURE_INVALID
 *  5. the claims parse and are canonical                                        CC_MALFORMED
 *  6. the key belongs to the code's city                                        CC_CITY_MISMATCH
 *  7. the key was valid when the code was issued                                CC_KEY_NOT_VALID
 *  8. the city's part is fresh                                                  CC_BUNDLE_STALE
 *  9. a device-bound code comes in a presentation                              CC_DEVICE_PROOF_REQUIRED
 * 10. the presentation's device signature verifies                             CC_DEVICE_SIGNATURE_INVALID
 * 11. the presentation is inside its window                                    CC_PRESENTATION_STALE
 * 12. the code has started and not expired                                     CC_NOT_YET_VALID, CC_EXPIRED
 * 13. the city's status list is held and fresh                                 CC_BUNDLE_STALE
 * 14. the code's status entry is VALID                                         CC_REVOKED, CC_SUSPENDED
 * 15. the presentation was not seen at this venue inside its window            CC_PRESENTATION_REPLAYED
 */

import type { CreditCode } from "../gen/citycredit/v1/code_pb.js";
import { CityCreditError, malformedCode } from "./errors.js";
import { Algorithm, deviceRangeOk, spkiForRaw, type CryptoProvider } from "./keys.js";
import { nobleVerifier } from "../crypto/noble.js";
import { SIGNING_CONTEXT, decodeText, parsePayload, presentationMessage, type Presented } from "./envelope.js";
import { city6, isCity } from "./offers.js";
import { concatBytes, toHex } from "./proto.js";
import { statusAt } from "./status.js";
import { MAX_TIME_S } from "./time.js";
import { validAtIssue, type CityKey, type TrustSnapshot } from "./trust.js";

export const PRESENTATION_WINDOW_S = 30;

/** The claims of a code that passed every check. */
export interface VerifiedCode {
  city: number;
  tier: number;
  band: string;
  issuedAtS: number;
  expiresAtS: number;
  codeId: Uint8Array;
  holder: Uint8Array;
  statusIndex: number;
  kid: Uint8Array;
  policyVersion: number;
  /** The host city the code is for (its issuing city when the code names none). */
  audience: number;
  deviceBound: boolean;
}

/** Remembers presentations seen at a venue until their window closes. */
export interface ReplayCache {
  firstSighting(venue: string, presentation: Uint8Array, untilS: number, nowS: number): boolean | Promise<boolean>;
}

/** A bounded in-memory replay cache (one verifier, one till). */
export class MemoryReplayCache implements ReplayCache {
  private seen = new Map<string, number>();
  constructor(readonly maxEntries = 100_000) {}
  firstSighting(venue: string, presentation: Uint8Array, untilS: number, nowS: number): boolean {
    for (const [key, until] of this.seen) {
      if (until > nowS && this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
    const key = `${venue}/${toHex(presentation)}`;
    const until = this.seen.get(key);
    if (until !== undefined && until > nowS) return false;
    this.seen.delete(key);
    this.seen.set(key, untilS);
    return true;
  }
}

const DEVICE_KEY_BYTES: Record<number, number> = { 1: 32, 2: 33 };

/** Parse and check the signed claims (canonical; unknown fields kept after the known ones). */
export function parseClaims(payload: Uint8Array): CreditCode {
  const c = parsePayload(payload);
  if (c.codeId.length !== 16) throw malformedCode("the code id must be 16 bytes");
  if (!isCity(c.city)) throw malformedCode(`${c.city} is not a GB/T 2260 division code`);
  if (c.holder.length !== 12) throw malformedCode("the holder pseudonym must be 12 bytes");
  if (!(c.tier >= 1 && c.tier <= 6)) throw malformedCode(`tier ${c.tier} is not on the alliance ladder`);
  if (c.expiresAt <= c.issuedAt || c.issuedAt <= 0n) throw malformedCode("expires_at must come after a positive issued_at");
  if (c.expiresAt > BigInt(MAX_TIME_S)) throw malformedCode("expires_at is after 9999-12-31T23:59:59Z");
  if ([...c.band].length > 64) throw malformedCode("the band label is longer than 64 characters");
  if (c.audience && !isCity(c.audience)) throw malformedCode(`audience ${c.audience} is not a GB/T 2260 division code`);
  if (c.deviceKey !== undefined) {
    const size = DEVICE_KEY_BYTES[c.deviceKey.algorithm];
    if (size === undefined || c.deviceKey.publicKey.length !== size) {
      throw malformedCode("the device key is not a raw Ed25519 (32 bytes) or compressed P-256 (33 bytes) public key");
    }
  }
  return c;
}

async function deviceSignatureOk(provider: CryptoProvider, algorithm: number, publicKey: Uint8Array,
  signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  try {
    if (algorithm !== Algorithm.ED25519 && !deviceRangeOk(signature)) return false;
    const alg = algorithm === Algorithm.ED25519 ? Algorithm.ED25519 : Algorithm.P256;
    let verify;
    try {
      verify = await provider.verifier(alg, spkiForRaw(alg, publicKey), publicKey);
    } catch {
      verify = nobleVerifier(alg, publicKey);
    }
    return await verify(signature, message);
  } catch {
    return false;
  }
}

export interface VerifyOptions {
  nowS: number;
  graceS: number;
  provider: CryptoProvider;
  venue?: string;
  replay?: ReplayCache | null;
  windowS?: number;
}

const bad = (code: string, message?: string) => new CityCreditError(code, message);

/** Decode, authenticate and check a `CC1:` code or `CP1:` presentation at `nowS` (throws the first failure). */
export async function verifyCode(snapshot: TrustSnapshot, code: string, opts: VerifyOptions): Promise<VerifiedCode> {
  const { nowS, graceS, provider } = opts;
  const windowS = opts.windowS ?? PRESENTATION_WINDOW_S;
  if (nowS > snapshot.expiresAtS + graceS) {
    throw bad("CC_BUNDLE_STALE", `the trust set (snapshot ${snapshot.version}) expired and its offline grace is over; refresh it`);
  }
  const decoded = decodeText(code);
  const presented: Presented | null = "envelope" in decoded ? decoded : null;
  const envelope = presented !== null ? presented.envelope : (decoded as Exclude<typeof decoded, Presented>);
  const kidHex = toHex(envelope.kid);
  const candidates = snapshot.keysByKid.get(kidHex);
  if (candidates === undefined || candidates.length === 0) {
    throw bad("CC_KEY_UNKNOWN", `no key with kid ${kidHex} in the trust set (snapshot ${snapshot.version})`);
  }
  const signed = concatBytes(SIGNING_CONTEXT, envelope.payload);
  const verifying: CityKey[] = [];
  for (const candidate of candidates) { // kids may collide: try each
    if (await candidate.key.verify(envelope.signature, signed)) verifying.push(candidate);
  }
  if (verifying.length === 0) throw bad("CC_SIGNATURE_INVALID", `the signature does not verify under key ${kidHex}`);
  const claims = parseClaims(envelope.payload);
  const city = claims.city;
  // One key listed by two cities verifies for both: the code's own city is the one that counts.
  const cityKey = verifying.find((k) => k.city === city) ?? verifying[0]!;
  if (city !== cityKey.city) throw bad("CC_CITY_MISMATCH", `key ${kidHex} belongs to ${cityKey.city}, not ${city}`);
  const issuedAt = Number(claims.issuedAt);
  const expiresAt = Number(claims.expiresAt);
  if (!validAtIssue(cityKey, issuedAt)) {
    throw bad("CC_KEY_NOT_VALID", `key ${kidHex} was not valid for codes issued at ${issuedAt}`);
  }
  const trust = snapshot.cities.get(city)!;
  if (nowS > trust.expiresAtS + graceS) {
    throw bad("CC_BUNDLE_STALE", `the part of city ${city6(city)} expired and its offline grace is over; refresh it`);
  }
  const deviceBound = claims.deviceKey !== undefined;
  let message: Uint8Array | null = null;
  if (presented === null) {
    if (deviceBound) throw bad("CC_DEVICE_PROOF_REQUIRED");
  } else {
    if (!deviceBound) throw malformedCode("a presentation carries a code that has no device key");
    message = presentationMessage(envelope.raw, presented.presentedAtS, provider.sha256);
    const device = claims.deviceKey!;
    if (!(await deviceSignatureOk(provider, device.algorithm, device.publicKey, presented.signature, message))) {
      throw bad("CC_DEVICE_SIGNATURE_INVALID");
    }
    const skew = BigInt(nowS) - presented.presentedAtS;
    if ((skew < 0n ? -skew : skew) > BigInt(windowS)) {
      throw bad("CC_PRESENTATION_STALE", `presented at ${presented.presentedAtS}, it is now ${nowS} (window ±${windowS} s)`);
    }
  }
  if (nowS < issuedAt) throw bad("CC_NOT_YET_VALID", `the code is valid from ${issuedAt}, it is now ${nowS}`);
  if (nowS >= expiresAt) throw bad("CC_EXPIRED", `the code expired at ${expiresAt}, it is now ${nowS}`);
  const statusList = snapshot.statuses.get(city);
  if (statusList === undefined) throw bad("CC_BUNDLE_STALE", `no status list of city ${city6(city)} is held; sync it`);
  if (nowS > statusList.expiresAtS + graceS) {
    throw bad("CC_BUNDLE_STALE", `the status list of city ${city6(city)} (version ${statusList.version}) expired and ` +
      "its offline grace is over; sync it");
  }
  const status = statusAt(statusList, claims.statusIndex);
  if (status) {
    if (status === 2) throw bad("CC_SUSPENDED", `status index ${claims.statusIndex} of city ${city6(city)} is suspended`);
    throw bad("CC_REVOKED", `status index ${claims.statusIndex} of city ${city6(city)} is revoked`);
  }
  if (presented !== null && opts.replay) {
    const until = Number(presented.presentedAtS) + windowS + 1;
    if (!(await opts.replay.firstSighting(opts.venue ?? "", message!, until, nowS))) throw bad("CC_PRESENTATION_REPLAYED");
  }
  return {
    city, tier: claims.tier, band: claims.band, issuedAtS: issuedAt, expiresAtS: expiresAt, codeId: claims.codeId,
    holder: claims.holder, statusIndex: claims.statusIndex, kid: envelope.kid, policyVersion: claims.policyVersion,
    audience: claims.audience || city, deviceBound,
  };
}
