/**
 * Same-city treatment (sdk/citycredit/core/_eligibility.py), checked in this order:
 * code window (CODE_NOT_YET_VALID, CODE_EXPIRED), audience (WRONG_AUDIENCE), rules (NO_RULES),
 * offer window (OFFER_NOT_ACTIVE), a visitor's agreement (NO_AGREEMENT) and an offer open to
 * visitors (OFFER_LOCAL_ONLY), tier (TIER_TOO_LOW), quota (QUOTA_EXHAUSTED).
 */

import { CityCreditError, invalidArgument } from "./errors.js";
import { agreementCovers, agreementInForce, inWindow, TIERS, type Agreement, type Offer } from "./offers.js";
import type { VerifiedCode } from "./verify.js";

export interface Decision {
  eligible: boolean;
  reason: string | null;
  offerId: string;
  tier: number | null;
  treatedAsLocal: boolean;
  agreementId: string | null;
  quotaRemaining: number | null;
  benefit: string;
  benefitEn: string;
  detail: string;
  errorCode: string | null;
}

export class Catalogue {
  private constructor(
    readonly offers: readonly Offer[],
    readonly agreements: readonly Agreement[],
    private readonly rules: Map<number, Set<string>>,
    private readonly byId: Map<string, Offer>,
    private readonly byPair: Map<string, Agreement[]>,
  ) {}

  static build(offers: Offer[], agreements: Agreement[], members: Iterable<number>): Catalogue {
    const sorted = [...offers].sort((a, b) =>
      a.city - b.city || cmp(a.category, b.category) || a.minTier - b.minTier || cmp(a.id, b.id));
    const byId = new Map<string, Offer>();
    for (const offer of sorted) {
      if (byId.has(offer.id)) throw invalidArgument(`offer id ${offer.id} is used twice`);
      byId.set(offer.id, offer);
    }
    if (new Set(agreements.map((a) => a.id)).size !== agreements.length) {
      throw invalidArgument("agreement ids must be unique");
    }
    const byPair = new Map<string, Agreement[]>();
    for (const a of agreements) {
      for (const home of a.cities) {
        for (const host of a.cities) {
          if (host === home) continue;
          const key = `${home}/${host}`;
          const list = byPair.get(key) ?? [];
          list.push(a);
          byPair.set(key, list);
        }
      }
    }
    const allowed = new Set(members);
    const rules = new Map<number, Set<string>>();
    for (const o of sorted) {
      if (!allowed.has(o.city)) continue;
      const set = rules.get(o.city) ?? new Set<string>();
      set.add(o.category);
      rules.set(o.city, set);
    }
    return new Catalogue(sorted, agreements, rules, byId, byPair);
  }

  offer(id: string): Offer | undefined {
    return this.byId.get(id);
  }

  decide(holder: VerifiedCode, offerId: string, nowS: number, usedInPeriod = 0): Decision {
    const offer = this.byId.get(offerId);
    if (offer === undefined) {
      return {
        eligible: false, reason: "OFFER_UNKNOWN", offerId, tier: holder.tier, treatedAsLocal: false,
        agreementId: null, quotaRemaining: null, benefit: "", benefitEn: "", detail: `no offer ${pyRepr(offerId)}`,
        errorCode: "CC_OFFER_UNKNOWN",
      };
    }
    return decide(holder, offer, this.byPair.get(`${holder.city}/${offer.city}`) ?? [], this.rules, nowS, usedInPeriod);
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const pyRepr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`);

function whyNoAgreement(agreements: readonly Agreement[], home: number, host: number, category: string, nowS: number) {
  const covering = agreements.filter((a) => agreementCovers(a, home, host, category));
  if (covering.length === 0) return `no agreement opens ${category} in ${host} to residents of ${home}`;
  const a = covering[0]!;
  if (nowS < a.notBeforeS) return `agreement ${a.id} covers ${category} only from ${a.notBeforeS}; it is now ${nowS}`;
  return `agreement ${a.id} ended at ${a.notAfterS}; it is now ${nowS}`;
}

export function decide(holder: VerifiedCode, offer: Offer, agreements: readonly Agreement[],
  rules: Map<number, Set<string>>, nowS: number, usedInPeriod = 0): Decision {
  const tier = holder.tier;
  const quota = offer.quota;
  let left: number | null = quota === null ? null : Math.max(quota.uses - usedInPeriod, 0);
  const base = { offerId: offer.id, tier, benefit: offer.benefit.textZh, benefitEn: offer.benefit.textEn, errorCode: null };
  const no = (reason: string, detail: string, local = false, agreementId: string | null = null): Decision => ({
    ...base, eligible: false, reason, treatedAsLocal: local, agreementId, quotaRemaining: left, detail,
  });
  if (nowS < holder.issuedAtS) return no("CODE_NOT_YET_VALID", `the code is valid from ${holder.issuedAtS}; it is now ${nowS}`);
  if (nowS >= holder.expiresAtS) return no("CODE_EXPIRED", `the code expired at ${holder.expiresAtS}; it is now ${nowS}`);
  if (holder.audience && holder.audience !== offer.city) {
    return no("WRONG_AUDIENCE", `the code is for use in ${String(holder.audience).padStart(6, "0")}, not in ` +
      `${String(offer.city).padStart(6, "0")}: ask the holder for a code for this city`);
  }
  if (!(rules.get(offer.city)?.has(offer.category) ?? false)) {
    return no("NO_RULES", `city ${offer.city} has no same-city rules for ${offer.category}`);
  }
  if (!inWindow(nowS, offer.validFromS, offer.validUntilS)) {
    return no("OFFER_NOT_ACTIVE", `offer ${offer.id} runs from ${offer.validFromS} until ${offer.validUntilS || "further notice"}`);
  }
  let agreementId: string | null = null;
  if (holder.city !== offer.city) {
    const agreement = agreements.find((a) => agreementCovers(a, holder.city, offer.city, offer.category) && agreementInForce(a, nowS));
    if (agreement === undefined) {
      return no("NO_AGREEMENT", whyNoAgreement(agreements, holder.city, offer.city, offer.category, nowS));
    }
    if (offer.localOnly) return no("OFFER_LOCAL_ONLY", `offer ${offer.id} is for residents of ${offer.city} only`);
    agreementId = agreement.id;
  }
  if (tier < offer.minTier) {
    return no("TIER_TOO_LOW", `tier ${TIERS[tier]} is below the offer's minimum ${TIERS[offer.minTier]}`, true, agreementId);
  }
  if (quota !== null) {
    if (usedInPeriod >= quota.uses) {
      return no("QUOTA_EXHAUSTED", `${usedInPeriod} of ${quota.uses} uses this ${quota.period} already redeemed`, true, agreementId);
    }
    left = quota.uses - usedInPeriod - 1;
  }
  const how = agreementId === null ? "resident" : `visitor under agreement ${agreementId}`;
  return {
    ...base, eligible: true, reason: null, treatedAsLocal: true, agreementId, quotaRemaining: left,
    detail: `${how}; tier ${TIERS[tier]} meets the minimum ${TIERS[offer.minTier]}`,
  };
}

/** The "no" for a code that failed verification (any other error is raised again). */
export function decisionForError(err: CityCreditError, offerId: string): Decision {
  const reasons: Record<string, string> = {
    CC_EXPIRED: "CODE_EXPIRED", CC_NOT_YET_VALID: "CODE_NOT_YET_VALID", CC_REVOKED: "CODE_REVOKED", CC_SUSPENDED: "CODE_SUSPENDED",
    CC_OFFER_UNKNOWN: "OFFER_UNKNOWN",
  };
  const reason = reasons[err.code] ?? (err.kind === "code" ? "CODE_INVALID" : null);
  if (reason === null) throw err;
  return {
    eligible: false, reason, offerId, tier: null, treatedAsLocal: false, agreementId: null, quotaRemaining: null,
    benefit: "", benefitEn: "", detail: err.message, errorCode: err.code,
  };
}
