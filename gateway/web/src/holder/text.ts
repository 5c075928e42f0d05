/**
 * What the holder page says that the other pages do not: the reasons a decision gives, worded for the
 * holder ("your tier …") rather than for the person at the counter (src/lib/messages.ts has those, and
 * the tier, category and period names every page shares), and the kinds of benefit.
 */

import type { Pair } from "../lib/messages.js";

export const HOLDER_REASONS: Record<string, Pair> = {
  TIER_TOO_LOW: ["你的信用等级未达到此优惠的要求", "Your tier is below this offer's minimum"],
  NO_AGREEMENT: ["你的城市与此城市之间没有覆盖此类优惠的有效互认协议",
    "No agreement in force between your city and this one covers it"],
  OFFER_LOCAL_ONLY: ["仅限本地居民", "For local residents only"],
  QUOTA_EXHAUSTED: ["本期次数已用完", "No uses left this period"],
  OFFER_NOT_ACTIVE: ["当前不在优惠有效期内", "Not running at this time"],
  CODE_EXPIRED: ["信用码已过期", "The code has expired"],
  CODE_NOT_YET_VALID: ["信用码尚未生效", "The code is not valid yet"],
  CODE_REVOKED: ["信用码已被撤销", "The code was revoked"],
  CODE_SUSPENDED: ["信用码暂停使用中", "The code is suspended"],
  CODE_INVALID: ["信用码无效", "The code is not valid"],
  NO_RULES: ["此城市尚未为此类服务制定同城待遇规则", "The city runs no same-city rules for this kind of offer"],
  OFFER_UNKNOWN: ["没有这项优惠", "No such offer"],
  WRONG_AUDIENCE: ["此码是为其他城市开具的", "The code was made for another city"],
};

export const BENEFIT_KINDS: Record<string, Pair> = {
  discount: ["折扣", "Discount"],
  waiver: ["减免", "Waiver"],
  free_uses: ["免费次数", "Free uses"],
  pay_later: ["先享后付", "Pay later"],
  extra_allowance: ["额度上浮", "Extra allowance"],
};

/** The pair for `key` in `table`, or the key itself in both languages (a value this page does not know yet). */
export const pair = (table: Record<string, Pair>, key: string | null | undefined): Pair =>
  (key ? table[key] : undefined) ?? [key ?? "", key ?? ""];
