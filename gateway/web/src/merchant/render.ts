/** The till's views: an offer, a verdict with its decision, a redemption. Pure DOM building, no state. */

import { h, type Child } from "../lib/dom.js";
import { bi, biPair } from "../lib/i18n.js";
import { PERIODS, errorText, reasonText, tierText, type Pair } from "../lib/messages.js";
import { timeNode } from "../lib/time.js";
import type { DecisionJson, OfferJson, RedemptionJson, VerificationJson } from "./types.js";

export type CityName = (city: string) => Pair;

function badge(kind: string, ...children: Child[]): HTMLSpanElement {
  return h("span", { class: `badge ${kind}` }, ...children);
}

/** What an offer gives, to whom, and how it may be redeemed. */
export function offerDetails(offer: OfferJson): HTMLElement {
  const quota = offer.quota;
  const period = quota ? PERIODS[quota.period] ?? [quota.period, quota.period] : null;
  return h("div", { class: "offer-details" },
    h("p", { class: "benefit" }, bi(offer.benefit.text_zh, offer.benefit.text_en || offer.benefit.text_zh)),
    h("div", { class: "badges" },
      badge("", bi("最低等级 ", "Minimum tier "), biPair(tierText(offer.min_tier))),
      quota && period ? badge("note", bi(`${period[0]} ${quota.uses} 次`, `${quota.uses} ${period[1]}`)) : null,
      offer.offline_redemption
        ? badge("ok", bi("可离线核销", "Redeemable offline"))
        : badge("", bi("核销需联网", "Redeeming needs the network")),
      offer.local_only ? badge("warn", bi("仅限本市居民", "Residents only")) : null,
      offer.assumed ? badge("warn", bi("示范阈值（假定）", "Assumed threshold")) : null));
}

export function offerTitle(offer: OfferJson): HTMLSpanElement {
  return bi(offer.title_zh, offer.title_en || offer.title_zh);
}

function fact(label: Pair, ...value: Child[]): HTMLElement[] {
  return [h("dt", {}, biPair(label)), h("dd", {}, ...value)];
}

/** The verdict on a code (VALID or why not) with what the code says. */
export function verdictView(v: VerificationJson, cityName: CityName): HTMLElement {
  if (!v.valid || v.error !== null) {
    const code = v.error?.code ?? "CC_INTERNAL";
    return h("div", { class: "verdict-block", "data-verdict": "invalid", "data-error": code },
      h("p", { class: "verdict no big", role: "status" },
        h("span", { class: "sym", "aria-hidden": "true" }, "✗ "), bi("无效", "NOT VALID"), " ", h("code", {}, code)),
      h("p", { class: "why" }, biPair(errorText(code))),
      // The verifier's own words, where they say more than the catalogue's title.
      v.error?.message && v.error.message !== errorText(code)[1] ? h("p", { class: "help detail" }, v.error.message)
        : null);
  }
  const tier = v.tier ?? "";
  return h("div", { class: "verdict-block", "data-verdict": "valid" },
    h("p", { class: "verdict ok big", role: "status" },
      h("span", { class: "sym", "aria-hidden": "true" }, "✓ "), bi("有效", "VALID")),
    h("dl", { class: "facts" },
      fact(["发码城市", "Home city"], biPair(cityName(v.city ?? ""))),
      fact(["信用等级", "Tier"], h("span", { class: "tier" }, biPair(tierText(tier)), " ", h("code", {}, tier)),
        v.band ? h("span", { class: "band" }, ` · ${v.band}`) : null),
      fact(["适用城市", "For use in"], biPair(cityName(v.audience ?? ""))),
      fact(["手机绑定", "Bound to a phone"], v.device_bound ? bi("是（实时出示码）", "yes (a live presentation)")
        : bi("否", "no")),
      fact(["有效期至", "Valid until"], v.expires_at ? timeNode(v.expires_at) : "—")));
}

/**
 * Same-city treatment for the chosen offer, decided by the till or answered by the gateway. `showQuota`
 * false hides a quota the till cannot know (quotas are counted at the gateway).
 */
export function decisionView(d: DecisionJson, opts: { showQuota: boolean; from: "till" | "gateway" }): HTMLElement {
  const quota = opts.showQuota && d.quota_remaining !== null
    ? h("p", { class: "quota", "data-quota-remaining": d.quota_remaining },
      bi(`本期剩余 ${d.quota_remaining} 次`, `${d.quota_remaining} left this period`))
    : null;
  if (d.eligible) {
    return h("div", { class: "decision", "data-eligible": "true" },
      h("p", { class: "verdict ok" }, h("span", { class: "sym", "aria-hidden": "true" }, "✓ "),
        bi("可享受", "Eligible"), d.treated_as_local && d.agreement
          ? h("span", { class: "badge note" }, bi("同城待遇", "same-city treatment")) : null),
      d.benefit ? h("p", { class: "benefit" }, bi(d.benefit, d.benefit_en || d.benefit)) : null,
      d.agreement ? h("p", { class: "help" }, bi(`依据互认协议 ${d.agreement}`, `under agreement ${d.agreement}`)) : null,
      quota);
  }
  const reason = d.reason ?? "CODE_INVALID";
  return h("div", { class: "decision", "data-eligible": "false", "data-reason": reason },
    h("p", { class: "verdict no" }, h("span", { class: "sym", "aria-hidden": "true" }, "✗ "),
      bi("不可享受", "Not eligible"), " ", h("code", {}, reason)),
    h("p", { class: "why" }, biPair(reasonText(reason))),
    // A refused code is explained by its verdict just above; the gateway's answer stands alone.
    d.error && opts.from === "gateway" ? h("p", { class: "why" }, h("code", {}, d.error), " ", biPair(errorText(d.error)))
      : null,
    d.detail && !(d.error && opts.from === "till") ? h("p", { class: "help detail" }, d.detail) : null,
    quota);
}

/** One redemption in the merchant's history, with a void button while the window is open. */
export function redemptionRow(r: RedemptionJson, opts: {
  offerTitle: (id: string) => Child; cityName: CityName; canVoid: boolean; onVoid: () => void;
}): HTMLLIElement {
  const voided = r.voided_at !== null;
  const button = opts.canVoid && !voided
    ? h("button", { type: "button", class: "secondary small", "data-void": r.id }, bi("撤销", "Void"))
    : null;
  button?.addEventListener("click", opts.onVoid);
  return h("li", { class: `history-row${voided ? " voided" : ""}`, "data-redemption": r.id },
    h("div", { class: "history-main" },
      h("p", { class: "history-offer" }, opts.offerTitle(r.offer_id)),
      h("p", { class: "help" }, timeNode(r.at), " · ", biPair(opts.cityName(r.home_city)), " · ",
        biPair(tierText(r.tier))),
      voided ? h("p", { class: "voided-note" }, bi("已撤销 ", "Voided "), timeNode(r.voided_at!)) : null),
    button);
}
