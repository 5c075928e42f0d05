/** The JSON shapes (sdk/citycredit/core/_wire.py): cities as six-digit strings, times ISO 8601 UTC, bytes hex. */

import type { Decision } from "./eligibility.js";
import type { CityCreditError } from "./errors.js";
import { city6, TIERS } from "./offers.js";
import { toHex } from "./proto.js";
import { iso } from "./time.js";
import type { VerifiedCode } from "./verify.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The one JSON shape of a verification: the claims when valid, the catalogue error when not. */
export function verificationToJson(result: VerifiedCode | CityCreditError): { [key: string]: Json } {
  if ("code" in result && typeof result.code === "string") {
    const err = result as CityCreditError;
    return { valid: false, city: null, tier: null, band: null, issued_at: null, expires_at: null, code_id: null,
      holder: null, audience: null, device_bound: null, error: { code: err.code, message: err.message } };
  }
  const v = result as VerifiedCode;
  return { valid: true, city: city6(v.city), tier: TIERS[v.tier] ?? null, band: v.band, issued_at: iso(v.issuedAtS),
    expires_at: iso(v.expiresAtS), code_id: toHex(v.codeId), holder: toHex(v.holder),
    audience: city6(v.audience), device_bound: v.deviceBound, error: null };
}

export function decisionToJson(d: Decision): { [key: string]: Json } {
  return { eligible: d.eligible, reason: d.reason, offer: d.offerId, tier: d.tier === null ? null : TIERS[d.tier] ?? null,
    treated_as_local: d.treatedAsLocal, agreement: d.agreementId, quota_remaining: d.quotaRemaining,
    benefit: d.benefit, benefit_en: d.benefitEn, detail: d.detail, error: d.errorCode };
}

/** What `citycredit --json check` prints when the trust set is refused. */
export function checkBundleErrorJson(offerId: string, code: string): { [key: string]: Json } {
  return { eligible: false, reason: null, offer: offerId, tier: null, treated_as_local: false, benefit: null, error: code };
}

/** JSON as Python's `json.dumps(doc, ensure_ascii=False)` writes it (", " and ": " separators). */
export function pyJson(value: Json): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(pyJson).join(", ") + "]";
  return "{" + Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(", ") + "}";
}
