/**
 * Offers and agreements (sdk/citycredit/core/_offers.py): checked when read from their protobuf
 * parts, so one that exists is valid. Enums are the reference's lowercase values.
 */

import type { Agreement as AgreementPb, Offer as OfferPb } from "../gen/citycredit/v1/offer_pb.js";
import { invalidArgument } from "./errors.js";

export const CATEGORIES = [
  "", "parking", "scenic_spot", "library", "public_transport", "public_bike", "hospital", "hotel", "dining",
  "fitness", "housekeeping", "housing_fund", "rental", "other",
] as const;
export const BENEFIT_KINDS = ["", "discount", "waiver", "free_uses", "pay_later", "extra_allowance"] as const;
export const PERIODS = ["", "day", "week", "month", "year"] as const;
export const TIERS = ["", "RESTRICTED", "NEEDS_IMPROVEMENT", "FAIR", "GOOD", "EXCELLENT", "OUTSTANDING"] as const;

const PROVINCES = new Set([11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50,
  51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82]);
const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const isCity = (city: number): boolean =>
  Number.isInteger(city) && city >= 110000 && city <= 829999 && PROVINCES.has(Math.floor(city / 10000));

export const city6 = (city: number): string => String(city).padStart(6, "0");

const check = (ok: boolean, message: string): void => {
  if (!ok) throw invalidArgument(message);
};

export interface Benefit {
  kind: string;
  textZh: string;
  textEn: string;
}

export interface Offer {
  id: string;
  city: number;
  category: string;
  minTier: number;
  benefit: Benefit;
  validFromS: number;
  validUntilS: number;
  localOnly: boolean;
  quota: { uses: number; period: string } | null;
}

export interface Agreement {
  id: string;
  cities: ReadonlySet<number>;
  /** Sorted city codes (the order the reference's sets are reported in). */
  cityList: readonly number[];
  notBeforeS: number;
  notAfterS: number;
  categories: ReadonlySet<string>;
}

const pyStrip = (s: string) => s.replace(/^[\s\u001c-\u001f\u0085]+|[\s\u001c-\u001f\u0085]+$/gu, "");
const repr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`);

function enumFrom<T extends readonly string[]>(values: T, name: string, n: number): T[number] {
  const v = n > 0 && n < values.length ? values[n] : undefined;
  if (v === undefined) throw invalidArgument(`${name} ${n} is unspecified or unknown`);
  return v;
}

function checkWindow(start: number, end: number, what: string): void {
  check(end === 0 || end > start, `${what}: the window ends (${end}) before it starts (${start})`);
}

export function inWindow(nowS: number, startS: number, endS: number): boolean {
  return startS <= nowS && (endS === 0 || nowS < endS);
}

/** `from_proto(Offer, message)`: the same checks, in the same order. */
export function offerFromProto(m: OfferPb): Offer {
  let quota: Offer["quota"] = null;
  if (m.quota !== undefined) {
    const uses = m.quota.uses;
    const period = enumFrom(PERIODS, "Period", m.quota.period);
    check(uses >= 1, `a quota allows at least 1 use, not ${uses}`);
    quota = { uses, period };
  }
  const category = enumFrom(CATEGORIES, "Category", m.category);
  check(m.minTier >= 1 && m.minTier <= 6, `offer ${m.id}: min_tier is unspecified or unknown`);
  const b = m.benefit;
  const kind = enumFrom(BENEFIT_KINDS, "BenefitKind", b ? b.kind : 0);
  const textZh = b ? b.textZh : "";
  check(pyStrip(textZh) !== "", "a benefit needs Chinese text");
  const discount = b ? b.discountPercent : 0;
  if (kind === "discount") check(discount >= 1 && discount <= 100, "a discount is 1 to 100 percent");
  else check(discount === 0, "only a discount has discount_percent");
  if (kind === "free_uses") check((b ? b.count : 0) >= 1, "free uses need a count of at least 1");
  check(ID.test(m.id), `an offer id is lowercase letters, digits, '.', '_' or '-' (at most 64), not ${repr(m.id)}`);
  check(isCity(m.city), `offer ${m.id}: city must be a six-digit GB/T 2260 code, not ${m.city}`);
  check(pyStrip(m.titleZh) !== "", `offer ${m.id}: needs title_zh`);
  const validFromS = Number(m.validFrom), validUntilS = Number(m.validUntil);
  checkWindow(validFromS, validUntilS, `offer ${m.id}`);
  check(!(m.offlineRedemption && quota !== null),
    `offer ${m.id}: a quota offer cannot be redeemed offline (the quota could be overspent)`);
  return {
    id: m.id, city: m.city, category, minTier: m.minTier, benefit: { kind, textZh, textEn: b ? b.textEn : "" },
    validFromS, validUntilS, localOnly: m.localOnly, quota,
  };
}

/** `from_proto(Agreement, message)`. */
export function agreementFromProto(m: AgreementPb): Agreement {
  const categories = new Set(m.categories.map((c) => enumFrom(CATEGORIES, "Category", c) as string));
  const cities = new Set(m.cities);
  check(ID.test(m.id), `an agreement id is lowercase letters, digits, '.', '_' or '-', not ${repr(m.id)}`);
  check(cities.size >= 2, `agreement ${m.id}: needs at least two distinct cities`);
  for (const city of cities) check(isCity(city), `agreement ${m.id}: city must be a six-digit GB/T 2260 code, not ${city}`);
  const notBeforeS = Number(m.notBefore), notAfterS = Number(m.notAfter);
  checkWindow(notBeforeS, notAfterS, `agreement ${m.id}`);
  return { id: m.id, cities, cityList: [...cities].sort((a, b) => a - b), notBeforeS, notAfterS, categories };
}

export const agreementInForce = (a: Agreement, nowS: number): boolean => inWindow(nowS, a.notBeforeS, a.notAfterS);

export const agreementCovers = (a: Agreement, home: number, host: number, category: string): boolean =>
  home !== host && a.cities.has(home) && a.cities.has(host) && (a.categories.size === 0 || a.categories.has(category));
