/** The JSON the gateway's merchant API answers (gateway/rest.py), as the till reads it. */

export interface BenefitJson {
  kind: string;
  discount_percent: number;
  amount_fen: number;
  count: number;
  text_zh: string;
  text_en: string;
}

export interface OfferJson {
  id: string;
  city: string;
  venue: string;
  category: string;
  min_tier: string;
  benefit: BenefitJson;
  valid_from_s: number;
  valid_until_s: number;
  local_only: boolean;
  quota: { uses: number; period: string } | null;
  title_zh: string;
  title_en: string;
  assumed: boolean;
  offline_redemption: boolean;
}

/** GET /v1/merchant: who the key is and the offers it may redeem. */
export interface MerchantJson {
  id: string;
  city: string;
  city_name_zh: string;
  city_name_en: string;
  merchant_id: string;
  venues: string[];
  void_window_s: number;
  offers: OfferJson[];
}

export interface DecisionJson {
  eligible: boolean;
  reason: string | null;
  offer: string;
  tier: string | null;
  treated_as_local: boolean;
  agreement: string | null;
  quota_remaining: number | null;
  benefit: string | null;
  benefit_en?: string | null;
  detail?: string;
  error: string | null;
}

export interface VerificationJson {
  valid: boolean;
  city: string | null;
  tier: string | null;
  band: string | null;
  issued_at: string | null;
  expires_at: string | null;
  code_id: string | null;
  holder: string | null;
  audience: string | null;
  device_bound: boolean | null;
  error: { code: string; message: string } | null;
}

/** POST /v1/redemptions. */
export interface RedeemJson {
  decision: DecisionJson;
  redemption_id: string | null;
  replayed: boolean;
  at: string;
}

/** One row of GET /v1/redemptions (and the answer of a void). */
export interface RedemptionJson {
  id: string;
  offer_id: string;
  city: string;
  home_city: string;
  tier: string;
  venue: string;
  at: string;
  recorded_at: string;
  voided_at: string | null;
  period: string | null;
}

/** A redemption made offline, waiting to be sent (only for offers with offline_redemption). */
export interface QueuedRedemption {
  key: string;
  merchant: string;
  code: string;
  offer_id: string;
  /** When it was made, seconds: sent as `at`, so the gateway judges it at that moment. */
  at: number;
  state: "pending" | "refused";
  error: { code: string; detail: string } | null;
}
