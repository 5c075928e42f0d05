/**
 * The holder page (/holder, served by the holder's city issuer): sign in through the city's identity
 * hook, keep a non-extractable device key, hold a device-bound code for the city the holder is in and
 * show it as a QR re-signed every 30 s, with the offers open there and the holder's redemptions.
 *
 * Online, every answer comes from the issuer's holder API (/v1/holder/…) and is kept in IndexedDB; with
 * the network cut the page goes on presenting from the code and key it holds, and shows the last
 * answers it had, saying when they are from.
 */

import { ApiError, api } from "../lib/api.js";
import { byId, fill, h, show } from "../lib/dom.js";
import { bi, biPair, setupLanguage } from "../lib/i18n.js";
import { CATEGORIES, PERIODS, TIERS, TIER_ORDER, type Pair } from "../lib/messages.js";
import { localTime, tick as refreshTimes, timeNode } from "../lib/time.js";
import { createDeviceKey, toBase64, type DeviceAlgorithm, type DeviceKey } from "./device.js";
import { presentable } from "./presentation.js";
import { drawQr } from "./qr.js";
import { Rotation } from "./rotation.js";
import * as store from "./store.js";
import type { HeldCode, Who } from "./store.js";
import { BENEFIT_KINDS, HOLDER_REASONS, pair } from "./text.js";

// --- the issuer's answers ------------------------------------------------------------------------------

interface Identity {
  provider: string;
  fictional: boolean;
  password_hint?: string;
  note_zh?: string;
  note_en?: string;
  residents?: { id: string; name_zh: string; name_en: string }[];
}

interface City {
  city: string;
  slug: string;
  name_zh: string;
  name_en: string;
}

interface Me {
  resident: string;
  name_zh: string;
  name_en: string;
  fictional: boolean;
  city: string;
  city_name_zh: string;
  city_name_en: string;
  tier: string;
  band: string;
  assumed: boolean;
  device: { algorithm: string; public_key: string } | null;
  cities: City[];
}

interface Offer {
  id: string;
  city: string;
  category: string;
  min_tier: string;
  benefit: { kind: string; text_zh: string; text_en: string; discount_percent: number; amount_fen: number; count: number };
  title_zh: string;
  title_en: string;
  venue: string;
  local_only: boolean;
  quota: { uses: number; period: string } | null;
  assumed: boolean;
}

interface Decision {
  eligible: boolean;
  reason: string | null;
  treated_as_local: boolean;
  agreement: string | null;
  detail: string;
}

interface Offers {
  audience: string;
  city_name_zh: string;
  city_name_en: string;
  offers: { offer: Offer; decision: Decision }[];
}

interface Redemption {
  id: string;
  offer_id: string;
  city: string;
  at: string;
  voided_at: string | null;
  title_zh?: string;
  title_en?: string;
}

interface Redemptions {
  redemptions: Redemption[];
}

// --- state -----------------------------------------------------------------------------------------------

const TOKEN_KEY = "citycredit-holder-token";
const REFRESH_BEFORE_S = 600; // a held code with less life than this is renewed when the issuer can be reached

interface State {
  token: string | null;
  me: Me | null;
  who: Who | null;
  device: DeviceKey | null;
  audience: string;
  rotation: Rotation | null;
}

const state: State = { token: null, me: null, who: null, device: null, audience: "", rotation: null };

const nowS = () => Math.floor(Date.now() / 1000);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function cityName(city: string): Pair {
  const found = state.me?.cities.find((c) => c.city === city);
  return found ? [found.name_zh, found.name_en] : [city, city];
}

function preferredAlgorithm(): DeviceAlgorithm | undefined {
  // ?key=p256 or ?key=ed25519 asks for one algorithm (for tills and tests that need a particular one).
  const wanted = new URLSearchParams(location.search).get("key");
  return wanted === "p256" || wanted === "ed25519" ? wanted : undefined;
}

// --- messages ----------------------------------------------------------------------------------------

const offline = (e: unknown) => e instanceof ApiError && e.status === 0;

function problem(error: unknown): Pair {
  if (error instanceof ApiError) {
    if (error.status === 0) return ["无法连接本市信用码服务（离线？）", "Cannot reach the city's issuer (offline?)"];
    if (error.status === 401) return ["请重新登录", `Please sign in again (${error.detail})`];
    if (error.status === 429) return ["请求过于频繁，请稍后再试", "Too many requests: try again shortly"];
    return [`出错了：${error.detail}`, `${error.code}: ${error.detail}`];
  }
  return [`出错了：${String(error)}`, String(error)];
}

/** A message line (`role="alert"` in the markup): an error, a success, or nothing. */
function say(id: string, text: Pair | null, kind: "error-line" | "ok-line" = "error-line"): void {
  const node = byId(id);
  node.className = kind;
  delete node.dataset["error"];
  fill(node, text ? biPair(text) : null);
  show(node, text !== null);
}

/** A failure said in a message line, its catalogue code in `data-error` (for people who report it, and tests). */
function fail(id: string, error: unknown): void {
  say(id, problem(error));
  if (error instanceof ApiError) byId(id).dataset["error"] = error.code;
}

// --- signing in ----------------------------------------------------------------------------------------

async function showSignIn(): Promise<void> {
  show(byId("h-code"), false);
  show(byId("h-signin"), true);
  let identity: Identity;
  try {
    identity = await api<Identity>("GET", "/v1/holder/identity");
  } catch (e) {
    if (offline(e) && await resumeOffline()) return;
    fail("h-signin-error", e);
    return;
  }
  fill(byId("h-resident"), (identity.residents ?? []).map((r) => h("option", { value: r.id }, `${r.name_zh} · ${r.name_en}`)));
  const note = byId("h-demo-note");
  show(note, identity.fictional || identity.provider === "none");
  if (identity.note_zh || identity.note_en) fill(note, bi(identity.note_zh ?? "", identity.note_en ?? ""));
  byId("h-password-hint").textContent = identity.password_hint ?? "";
  show(byId("h-password-help"), Boolean(identity.password_hint));
}

async function signIn(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const button = byId<HTMLButtonElement>("h-signin-submit");
  button.disabled = true;
  say("h-signin-error", null);
  try {
    const answer = await api<{ token: string; holder: Me }>("POST", "/v1/holder/session", {
      body: { resident: byId<HTMLSelectElement>("h-resident").value, password: byId<HTMLInputElement>("h-password").value },
    });
    state.token = answer.token;
    sessionStorage.setItem(TOKEN_KEY, answer.token);
    byId<HTMLInputElement>("h-password").value = "";
    await enter(answer.holder);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      say("h-signin-error", ["居民或密码不正确", "Unknown resident or wrong password"]);
      byId("h-signin-error").dataset["error"] = e.code;
    } else {
      fail("h-signin-error", e);
    }
  } finally {
    button.disabled = false;
  }
}

async function signOut(): Promise<void> {
  state.rotation?.stop();
  const { token, who, me } = state;
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, me: null, who: null, device: null, rotation: null, audience: "" });
  if (who && me) await store.forgetCodes(who, me.cities.map((c) => c.city)).catch(() => undefined);
  await store.forgetCurrent().catch(() => undefined);
  if (token) await api("DELETE", "/v1/holder/session", { token }).catch(() => undefined);
  await showSignIn();
}

// --- the signed-in page ----------------------------------------------------------------------------

async function enter(me: Me): Promise<void> {
  state.me = me;
  state.who = { city: me.city, resident: me.resident };
  await store.saveCurrent(state.who);
  await store.saveView(state.who, "me", me);
  show(byId("h-signin"), false);
  show(byId("h-code"), true);
  renderProfile(me);
  try {
    state.device = await ensureDevice(state.who, me);
  } catch (e) {
    fail("h-code-error", e);
    return;
  }
  renderDevice(state.device);
  const last = await store.loadView<string>(state.who, "audience");
  const audience = last && me.cities.some((c) => c.city === last) ? last : me.city;
  renderCities(me, audience);
  await Promise.all([switchAudience(audience), loadRedemptions()]);
}

/** The phone's device key for this holder: the one kept here if the issuer has it registered, else a new one. */
async function ensureDevice(who: Who, me: Me): Promise<DeviceKey> {
  const prefer = preferredAlgorithm();
  const kept = await store.loadDevice(who);
  if (kept && me.device && me.device.public_key === toBase64(kept.publicRaw) && (!prefer || prefer === kept.algorithm)) {
    return kept;
  }
  const fresh = await createDeviceKey(prefer);
  await api("PUT", "/v1/holder/device", {
    token: state.token, body: { algorithm: fresh.algorithm, public_key: toBase64(fresh.publicRaw) },
  });
  await store.saveDevice(who, fresh);
  await store.forgetCodes(who, me.cities.map((c) => c.city)); // they are bound to the old key
  return fresh;
}

function renderProfile(me: Me): void {
  fill(byId("h-name"), h("strong", {}, bi(me.name_zh, me.name_en)));
  show(byId("h-fictional"), me.fictional);
  fill(byId("h-tier"), biPair(pair(TIERS, me.tier)));
  byId("h-band").textContent = me.band;
  show(byId("h-assumed"), me.assumed);
  const rank = TIER_ORDER.indexOf(me.tier);
  fill(byId("h-ladder"), TIER_ORDER.map((t, i) => h("li", {
    class: i < rank ? "below" : i === rank ? "here" : null, "aria-current": i === rank ? "true" : null,
  }, biPair(pair(TIERS, t)))));
  fill(byId("h-home"), bi(`${me.city_name_zh}居民`, `Resident of ${me.city_name_en}`));
}

function renderDevice(device: DeviceKey): void {
  const name = device.algorithm === "ed25519" ? "Ed25519" : "P-256";
  byId("h-device").dataset["algorithm"] = device.algorithm;
  fill(byId("h-device"), bi(`本机密钥 ${name}，不可导出`, `Device key ${name}, non-extractable`));
}

function renderCities(me: Me, audience: string): void {
  const select = byId<HTMLSelectElement>("h-audience");
  fill(select, me.cities.map((c) => h("option", { value: c.city },
    `${c.name_zh} · ${c.name_en}${c.city === me.city ? "（家乡 home）" : ""}`)));
  select.value = audience;
}

async function switchAudience(audience: string): Promise<void> {
  const { who, device } = state;
  if (!who || !device) return;
  state.audience = audience;
  state.rotation?.stop();
  state.rotation = null;
  byId<HTMLSelectElement>("h-audience").value = audience;
  await store.saveView(who, "audience", audience);
  const [zh, en] = cityName(audience);
  fill(byId("h-for"), bi(`在${zh}出示此码`, `Show this code in ${en}`));
  say("h-code-error", null);
  const held = await obtainCode(who, device, audience);
  if (audience !== state.audience) return; // the holder chose another city meanwhile
  show(byId("h-qr-box"), held !== null);
  if (held) await startRotation(held, device);
  await loadOffers(audience);
}

/** A code for `audience`: the one held here while it has life left, else a new one from the issuer. */
async function obtainCode(who: Who, device: DeviceKey, audience: string): Promise<HeldCode | null> {
  const kept = await store.loadCode(who, audience);
  const usable = kept !== undefined && kept.device === toBase64(device.publicRaw) && seconds(kept.expires_at) > nowS();
  const current = usable && state.me !== null && kept.tier === state.me.tier && kept.band === state.me.band;
  if (current && seconds(kept.expires_at) - nowS() > REFRESH_BEFORE_S) return kept;
  if (state.token) {
    try {
      const issued = await api<Omit<HeldCode, "device">>("POST", "/v1/holder/codes", { token: state.token, body: { audience } });
      const held: HeldCode = { ...issued, device: toBase64(device.publicRaw) };
      await store.saveCode(who, held);
      return held;
    } catch (e) {
      if (!offline(e) || !usable) {
        say("h-code-error", offline(e)
          ? ["离线：本机还没有此城市的信用码，联网后再试", "Offline: this phone holds no code for this city yet; try again online"]
          : problem(e));
        if (e instanceof ApiError) byId("h-code-error").dataset["error"] = e.code;
        if (e instanceof ApiError && e.status === 401) await signOut();
        return null;
      }
    }
  }
  if (!usable) say("h-code-error", ["本机没有此城市的有效信用码，请联网登录", "No valid code for this city here: sign in online"]);
  return usable ? kept : null;
}

async function startRotation(held: HeldCode, device: DeviceKey): Promise<void> {
  const code = await presentable(held.code);
  const canvas = byId<HTMLCanvasElement>("h-qr");
  const progress = byId<HTMLProgressElement>("h-progress");
  const period = Math.min(30, held.window_s || 30);
  progress.max = period;
  fill(byId("h-valid"), bi("有效期至", "Valid until"), " ", timeNode(held.expires_at));
  const rotation = new Rotation(code, device, seconds(held.expires_at), {
    presented: async (text, presentedAtS) => {
      await drawQr(canvas, text, qrWidth());
      canvas.dataset["presentedAt"] = String(presentedAtS);
      canvas.dataset["audience"] = held.audience;
      canvas.setAttribute("aria-label", `信用码二维码，${localTime(presentedAtS)} 生成 · credit code QR made ${localTime(presentedAtS)}`);
    },
    tick: (left) => {
      byId("h-count").textContent = String(left);
      byId("h-count-en").textContent = String(left);
      progress.value = left;
      refreshTimes(byId("h-valid"));
    },
    expired: () => {
      show(byId("h-qr-box"), false);
      say("h-code-error", ["信用码已过期，正在获取新码", "The code expired; getting a new one"]);
      if (state.rotation === rotation) void switchAudience(state.audience);
    },
    failed: (e) => fail("h-code-error", e),
  }, period);
  state.rotation = rotation;
  rotation.start();
}

function qrWidth(): number {
  return Math.min(340, Math.max(220, byId("h-qr-box").clientWidth - 24));
}

// --- offers and redemptions ------------------------------------------------------------------------------

/** The issuer's answer for `name`, kept for offline use; offline, the kept one marked stale. */
async function fetchKept<T extends object>(name: string, path: string): Promise<{ value: T; asOf: number | null } | Error> {
  const who = state.who;
  if (!who) return new Error("not signed in");
  try {
    const value = await api<T>("GET", path, { token: state.token });
    await store.saveView(who, name, { value, at: nowS() });
    return { value, asOf: null };
  } catch (e) {
    const kept = await store.loadView<{ value: T; at: number }>(who, name);
    if (kept && offline(e)) return { value: kept.value, asOf: kept.at };
    return e instanceof Error ? e : new Error(String(e));
  }
}

function staleNote(id: string, asOf: number | null): void {
  const node = byId(id);
  show(node, asOf !== null);
  if (asOf !== null) fill(node, bi(`离线：以下为 ${localTime(asOf)} 的结果`, `Offline: as of ${localTime(asOf)}`));
}

function showOffers(audience: string | null, open: Node[] = [], closed: Node[] = []): void {
  const section = byId("h-offers");
  if (audience === null) delete section.dataset.audience;
  else section.dataset.audience = audience;
  fill(byId("h-open"), open);
  fill(byId("h-closed"), closed);
  show(byId("h-open-none"), audience !== null && open.length === 0);
  byId("h-open-count").textContent = String(open.length);
  byId("h-closed-count").textContent = String(closed.length);
  show(byId("h-closed-box"), closed.length > 0);
}

/** The offers of `audience` and why the others are closed; another city's never show while these load. */
async function loadOffers(audience: string): Promise<void> {
  if (byId("h-offers").dataset.audience !== audience) showOffers(null);
  const answer = await fetchKept<Offers>(`offers/${audience}`, `/v1/holder/offers?audience=${encodeURIComponent(audience)}`);
  if (audience !== state.audience) return;
  if (answer instanceof Error) {
    fail("h-offers-error", answer);
    showOffers(null);
    return;
  }
  say("h-offers-error", null);
  const offers = answer.value;
  fill(byId("h-offers-title"), bi(`${offers.city_name_zh}的信用优惠`, `Credit offers in ${offers.city_name_en}`));
  const item = (o: Offers["offers"][number]): Node => offerItem(o.offer, o.decision);
  showOffers(audience, offers.offers.filter((o) => o.decision.eligible).map(item),
             offers.offers.filter((o) => !o.decision.eligible).map(item));
  staleNote("h-offers-stale", answer.asOf);
}

function badge(text: Pair, kind = ""): HTMLElement {
  return h("span", { class: `badge ${kind}`.trim() }, biPair(text));
}

function offerItem(offer: Offer, decision: Decision): HTMLElement {
  const [periodZh, periodEn] = pair(PERIODS, offer.quota?.period);
  const item = h("li", { class: decision.eligible ? "offer yes" : "offer no", "data-offer": offer.id },
    h("p", { class: "offer-head" }, h("span", { class: "mark", "aria-hidden": "true" }, decision.eligible ? "✓" : "✕"),
      h("strong", {}, bi(offer.title_zh, offer.title_en || offer.title_zh))),
    h("p", { class: "benefit" }, bi(offer.benefit.text_zh, offer.benefit.text_en || offer.benefit.text_zh)),
    h("div", { class: "badges" },
      badge(pair(BENEFIT_KINDS, offer.benefit.kind), "note"),
      badge(pair(CATEGORIES, offer.category)),
      badge([`${pair(TIERS, offer.min_tier)[0]}及以上`, `${pair(TIERS, offer.min_tier)[1]} or above`]),
      offer.quota ? badge([`${periodZh} ${offer.quota.uses} 次`, `${offer.quota.uses} ${periodEn}`]) : null,
      offer.local_only ? badge(["仅限本地居民", "locals only"]) : null,
      offer.assumed ? badge(["门槛为假设", "threshold assumed"], "warn") : null));
  if (decision.eligible) {
    const how: Pair = decision.treated_as_local && decision.agreement
      ? [`按互认协议享受同城待遇（${decision.agreement}）`, `Same-city treatment under agreement ${decision.agreement}`]
      : ["本地居民", "As a local resident"];
    item.append(h("p", { class: "why ok" }, biPair(how)));
  } else {
    item.append(h("p", { class: "why" }, h("code", {}, decision.reason ?? ""), " ", biPair(pair(HOLDER_REASONS, decision.reason))));
  }
  return item;
}

async function loadRedemptions(): Promise<void> {
  const answer = await fetchKept<Redemptions>("redemptions", "/v1/holder/redemptions");
  if (answer instanceof Error) {
    fail("h-redemptions-error", answer);
    return;
  }
  say("h-redemptions-error", null);
  const list = answer.value.redemptions;
  fill(byId("h-redemption-list"), list.map((r) => {
    const [zh, en] = cityName(r.city);
    return h("li", { class: r.voided_at ? "voided" : null, "data-redemption": r.id },
      h("strong", {}, bi(r.title_zh || r.offer_id, r.title_en || r.offer_id)),
      h("span", { class: "where" }, bi(zh, en)), timeNode(r.at),
      r.voided_at ? badge(["已撤销", "voided"], "warn") : null);
  }));
  show(byId("h-redemptions-none"), list.length === 0);
  staleNote("h-redemptions-stale", answer.asOf);
}

// --- the network, and starting up --------------------------------------------------------------------------

function renderNetwork(): void {
  show(byId("h-offline"), !navigator.onLine);
}

/** Without the issuer: go on with the resident, device key and codes kept here, if any. */
async function resumeOffline(): Promise<boolean> {
  const who = await store.loadCurrent().catch(() => undefined);
  if (!who) return false;
  const me = await store.loadView<Me>(who, "me");
  const device = await store.loadDevice(who);
  if (!me || !device) return false;
  Object.assign(state, { me, who, device });
  show(byId("h-signin"), false);
  show(byId("h-code"), true);
  renderProfile(me);
  renderDevice(device);
  const last = await store.loadView<string>(who, "audience");
  const audience = last ?? me.city;
  renderCities(me, audience);
  await Promise.all([switchAudience(audience), loadRedemptions()]);
  return true;
}

async function start(): Promise<void> {
  setupLanguage();
  renderNetwork();
  window.addEventListener("online", () => {
    renderNetwork();
    if (state.token && state.audience) void Promise.all([loadOffers(state.audience), loadRedemptions()]);
  });
  window.addEventListener("offline", renderNetwork);
  byId<HTMLFormElement>("h-signin-form").addEventListener("submit", (e) => void signIn(e));
  byId("h-signout").addEventListener("click", () => void signOut());
  byId<HTMLSelectElement>("h-audience").addEventListener("change", (e) =>
    void switchAudience((e.target as HTMLSelectElement).value));
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (state.token) {
    try {
      await enter(await api<Me>("GET", "/v1/holder/me", { token: state.token }));
      return;
    } catch (e) {
      if (offline(e) && await resumeOffline()) return;
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
    }
  }
  await showSignIn();
}

export function startHolderPage(): void {
  start().catch((e) => fail("h-fatal", e)).finally(() => { document.body.dataset["ready"] = "true"; });
  // Keeps the page itself for opening with no network (src/workers/holder-sw.ts); WebCrypto and service
  // workers both need a secure context, which the page needs anyway.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/holder-sw.js", { scope: "/holder" }).catch(() => {
      // Without it the page still works while open; it just cannot be reopened offline.
    });
  }
}
