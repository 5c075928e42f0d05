/**
 * The city's offers: an editor whose form becomes the offer JSON the core reads, a preview
 * (`POST /v1/office/offers:preview`: the offer as it would be published and who would get it, by home
 * city and tier) that must come before publishing (`PUT /v1/office/offers/{id}`), and withdrawal
 * (`DELETE /v1/office/offers/{id}`). Publishing signs the city's part again and uploads it.
 */

import { byId, fill, h, show } from "../lib/dom.js";
import { bi, biPair } from "../lib/i18n.js";
import { CATEGORIES, PERIODS, TIERS, TIER_ORDER, type Pair } from "../lib/messages.js";
import { BENEFIT_KINDS } from "../holder/text.js";
import { OfficeSession, busy, chinaInput, chinaSeconds, confirmButton, say, type Offer, type OfficeState } from "./context.js";

interface Preview {
  offer: Offer;
  who: { home: string; tier: string; eligible: boolean; reason: string | null }[];
}

/** Short words for the preview's grid (the full reason is the cell's title). */
const SHORT: Record<string, Pair> = {
  TIER_TOO_LOW: ["等级不足", "tier"], NO_AGREEMENT: ["无协议", "no pact"], OFFER_LOCAL_ONLY: ["仅本地", "local"],
  OFFER_NOT_ACTIVE: ["未生效", "inactive"], NO_RULES: ["无规则", "no rules"], QUOTA_EXHAUSTED: ["次数尽", "quota"],
};

const field = <T extends HTMLElement = HTMLInputElement>(name: string) => byId<T>(`o-offer-${name}`);
const value = (name: string) => field(name).value.trim();
const checked = (name: string) => field(name).checked;
let previewed: string | null = null; // the JSON of the offer last previewed; publishing sends exactly it

/** The offer the form describes, as the core's JSON (`citycredit.core` Offer). */
export function offerFromForm(city: string): Record<string, unknown> {
  const kind = value("kind");
  const yuan = Number(value("amount") || "0");
  const offer: Record<string, unknown> = {
    id: value("id"), city, category: value("category"), min_tier: value("tier"),
    benefit: {
      kind, text_zh: value("text-zh"), text_en: value("text-en"),
      discount_percent: kind === "discount" ? Number(value("discount") || "0") : 0,
      amount_fen: kind === "pay_later" || kind === "extra_allowance" ? Math.round(yuan * 100) : 0,
      count: kind === "free_uses" ? Number(value("count") || "0") : 0,
    },
    title_zh: value("title-zh"), title_en: value("title-en"), venue: value("venue"),
    valid_from_s: chinaSeconds(value("from")), valid_until_s: chinaSeconds(value("until")),
    local_only: checked("local"), assumed: checked("assumed"), offline_redemption: checked("offline"),
    quota: checked("quota") ? { uses: Number(value("uses") || "0"), period: value("period") } : null,
  };
  return offer;
}

function fillForm(offer: Offer): void {
  const set = (name: string, v: string) => { field(name).value = v; };
  set("id", offer.id);
  set("category", offer.category);
  set("tier", offer.min_tier);
  set("kind", offer.benefit.kind);
  set("text-zh", offer.benefit.text_zh);
  set("text-en", offer.benefit.text_en);
  set("discount", offer.benefit.discount_percent ? String(offer.benefit.discount_percent) : "");
  set("amount", offer.benefit.amount_fen ? String(offer.benefit.amount_fen / 100) : "");
  set("count", offer.benefit.count ? String(offer.benefit.count) : "");
  set("title-zh", offer.title_zh);
  set("title-en", offer.title_en);
  set("venue", offer.venue);
  set("from", chinaInput(offer.valid_from_s));
  set("until", chinaInput(offer.valid_until_s));
  field("local").checked = offer.local_only;
  field("assumed").checked = offer.assumed;
  field("offline").checked = offer.offline_redemption;
  field("quota").checked = offer.quota !== null;
  set("uses", offer.quota ? String(offer.quota.uses) : "");
  set("period", offer.quota?.period ?? "month");
  formChanged();
}

/** Which benefit fields apply, and: the form changed, so the last preview no longer describes it. */
function formChanged(): void {
  const kind = value("kind");
  show(byId("o-offer-discount-field"), kind === "discount");
  show(byId("o-offer-amount-field"), kind === "pay_later" || kind === "extra_allowance");
  show(byId("o-offer-count-field"), kind === "free_uses");
  show(byId("o-offer-quota-fields"), checked("quota"));
  if (previewed !== null) {
    previewed = null;
    show(byId("o-preview"), false);
    say("o-offers-message", ["表单已修改：请重新预览后再发布", "The form changed: preview again before publishing"]);
  }
  byId<HTMLButtonElement>("o-offer-publish").disabled = previewed === null;
}

function renderPreview(session: OfficeSession, preview: Preview): void {
  const offer = preview.offer;
  const [kindZh, kindEn] = BENEFIT_KINDS[offer.benefit.kind] ?? [offer.benefit.kind, offer.benefit.kind];
  const [catZh, catEn] = CATEGORIES[offer.category] ?? [offer.category, offer.category];
  fill(byId("o-preview-offer"),
    h("p", {}, h("strong", {}, bi(offer.title_zh, offer.title_en || offer.title_zh))),
    h("p", {}, bi(offer.benefit.text_zh, offer.benefit.text_en || offer.benefit.text_zh)),
    h("p", { class: "badges" },
      h("span", { class: "badge note" }, bi(kindZh, kindEn)), h("span", { class: "badge" }, bi(catZh, catEn)),
      h("span", { class: "badge" }, biPair(TIERS[offer.min_tier] ?? [offer.min_tier, offer.min_tier]), " +"),
      offer.quota ? h("span", { class: "badge" }, bi(`${(PERIODS[offer.quota.period] ?? ["", ""])[0]} ${offer.quota.uses} 次`,
        `${offer.quota.uses} ${(PERIODS[offer.quota.period] ?? ["", ""])[1]}`)) : null,
      offer.local_only ? h("span", { class: "badge" }, bi("仅限本地居民", "locals only")) : null,
      offer.assumed ? h("span", { class: "badge warn" }, bi("门槛为假设", "threshold assumed")) : null));
  const homes = [...new Set(preview.who.map((w) => w.home))];
  const cell = (home: string, tier: string) => preview.who.find((w) => w.home === home && w.tier === tier);
  fill(byId("o-preview-who"),
    h("thead", {}, h("tr", {}, h("th", {}, bi("居民所在城市", "Home city")),
      ...TIER_ORDER.map((t) => h("th", { title: TIERS[t]![1] }, TIERS[t]![0])))),
    h("tbody", {}, ...homes.map((home) => h("tr", { "data-home": home },
      h("th", {}, biPair(session.cityName(home))),
      ...TIER_ORDER.map((t) => {
        const w = cell(home, t);
        if (!w) return h("td", {}, "");
        if (w.eligible) return h("td", { class: "yes", title: "eligible" }, "✓");
        const short = SHORT[w.reason ?? ""] ?? [w.reason ?? "", w.reason ?? ""];
        return h("td", { class: "no", title: w.reason ?? "" }, biPair(short));
      })))));
  const gets = preview.who.filter((w) => w.eligible).length;
  fill(byId("o-preview-summary"), bi(`${homes.length} 个城市 × ${TIER_ORDER.length} 个等级中，${gets} 种情况可享`,
    `${gets} of ${homes.length} home cities × ${TIER_ORDER.length} tiers get it`));
  show(byId("o-preview"), true);
}

function offerRow(session: OfficeSession, offer: Offer): HTMLElement {
  const edit = h("button", { type: "button" }, bi("编辑", "Edit"));
  edit.addEventListener("click", () => {
    fillForm(offer);
    byId("o-offer-form").scrollIntoView({ block: "start" });
  });
  const withdraw = confirmButton(["撤回", "Withdraw"], ["确认撤回？", "Confirm withdraw?"], (button) =>
    busy(button, "o-offers-message", async () => {
      await session.call("DELETE", `/v1/office/offers/${encodeURIComponent(offer.id)}`);
      await session.refresh();
      say("o-offers-message", [`优惠 ${offer.id} 已撤回并已发布`, `Offer ${offer.id} withdrawn and published`], "ok-line");
    }));
  const [catZh, catEn] = CATEGORIES[offer.category] ?? [offer.category, offer.category];
  return h("tr", { "data-offer": offer.id },
    h("td", {}, h("strong", {}, bi(offer.title_zh, offer.title_en || offer.title_zh)), h("div", { class: "help mono" }, offer.id)),
    h("td", {}, bi(catZh, catEn)),
    h("td", {}, biPair(TIERS[offer.min_tier] ?? [offer.min_tier, offer.min_tier])),
    h("td", {}, bi(offer.benefit.text_zh, offer.benefit.text_en)),
    h("td", { class: "actions" }, edit, " ", withdraw));
}

export function renderOffers(session: OfficeSession, state: OfficeState): void {
  fill(byId("o-offer-rows"), state.offers.length
    ? state.offers.map((o) => offerRow(session, o))
    : h("tr", {}, h("td", { colspan: "5" }, bi("本市尚未发布优惠", "This city publishes no offers yet"))));
  const idInput = field("id");
  if (!idInput.value) idInput.placeholder = `${state.slug}-…`;
}

export function setupOffers(session: OfficeSession): void {
  fill(field<HTMLSelectElement>("category"), Object.entries(CATEGORIES).map(([k, [zh, en]]) => h("option", { value: k }, `${zh} · ${en}`)));
  fill(field<HTMLSelectElement>("tier"), TIER_ORDER.map((t) => h("option", { value: t }, `${TIERS[t]![0]} · ${TIERS[t]![1]}`)));
  fill(field<HTMLSelectElement>("kind"), Object.entries(BENEFIT_KINDS).map(([k, [zh, en]]) => h("option", { value: k }, `${zh} · ${en}`)));
  fill(field<HTMLSelectElement>("period"), Object.entries(PERIODS).map(([k, [zh, en]]) => h("option", { value: k }, `${zh} · ${en}`)));
  field("period").value = "month";
  field("tier").value = "GOOD";
  const form = byId<HTMLFormElement>("o-offer-form");
  form.addEventListener("input", formChanged);
  form.addEventListener("change", formChanged);
  form.addEventListener("reset", () => setTimeout(formChanged));
  formChanged();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = byId<HTMLButtonElement>("o-offer-preview");
    void busy(button, "o-offers-message", async () => {
      const city = session.state?.city ?? "";
      const offer = offerFromForm(city);
      if (Number.isNaN(offer.valid_from_s) || Number.isNaN(offer.valid_until_s)) {
        throw new Error("the validity window is not a date and time");
      }
      const preview = await session.call<Preview>("POST", "/v1/office/offers:preview", offer);
      renderPreview(session, preview);
      previewed = JSON.stringify(offer);
      byId<HTMLButtonElement>("o-offer-publish").disabled = false;
      say("o-offers-message", ["预览如下：确认无误后发布", "The preview is below: publish when it is right"], "ok-line");
    });
  });
  byId("o-offer-publish").addEventListener("click", (event) => {
    const button = event.currentTarget as HTMLButtonElement;
    const body = previewed;
    if (body === null) return;
    void busy(button, "o-offers-message", async () => {
      const offer = JSON.parse(body) as { id: string };
      const answer = await session.call<{ role_version: number }>("PUT", `/v1/office/offers/${encodeURIComponent(offer.id)}`, offer);
      previewed = null;
      show(byId("o-preview"), false);
      await session.refresh();
      say("o-offers-message", [`优惠 ${offer.id} 已发布（城市信任部分第 ${answer.role_version} 版）`,
        `Offer ${offer.id} published (city part version ${answer.role_version})`], "ok-line");
    }).finally(() => {
      byId<HTMLButtonElement>("o-offer-publish").disabled = previewed === null;
    });
  });
}
