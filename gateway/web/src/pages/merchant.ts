/**
 * The merchant's till (/merchant): an installable offline app. The merchant signs in once with the
 * merchant key; the page keeps the trust set (lib/trust.ts) and verifies and decides in the browser,
 * with the network or without it. Redemptions go to the gateway; made offline, they are queued only for
 * offers that allow it (`offline_redemption`) and sent with the time they were made once back online.
 */

import {
  CityCreditError, Verifier, decisionForError, decisionToJson, verificationToJson, type TrustSnapshot,
  type VerifiedCode,
} from "../../verifier/src/core/index.js";
import { ApiError, api, newKey } from "../lib/api.js";
import { byId, fill, h, show, type Child } from "../lib/dom.js";
import { bi, biPair, onLangChange, setupLanguage, t } from "../lib/i18n.js";
import { errorText, type Pair } from "../lib/messages.js";
import { StoredReplayCache } from "../lib/replay.js";
import { CameraScanner, ScanError, scanImage } from "../lib/scanner.js";
import { openStore, type Store } from "../lib/store.js";
import { nowS, tick, timeNode } from "../lib/time.js";
import { GRACE_S, anchorFingerprint, isHeldTrust, openHeld, provider, syncTrust, type HeldTrust } from "../lib/trust.js";
import { decisionView, offerDetails, offerTitle, redemptionRow, verdictView } from "../merchant/render.js";
import type {
  DecisionJson, MerchantJson, OfferJson, QueuedRedemption, RedeemJson, RedemptionJson, VerificationJson,
} from "../merchant/types.js";

const TOKEN_KEY = "citycredit.merchant.token";
const OFFER_KEY = "citycredit.merchant.offer";
const SYNC_EVERY_MS = 60_000;

interface Scan {
  code: string;
  offer: OfferJson;
  atS: number;
  /** What verification found, kept so that choosing another offer decides again without a second scan. */
  result: VerifiedCode | CityCreditError;
  verification: VerificationJson;
  decision: DecisionJson;
  /** One key per redemption attempt; a retry of the same attempt sends it again (never spends twice). */
  key: string;
}

const state = {
  store: null as Store | null,
  token: "",
  merchant: null as MerchantJson | null,
  held: null as HeldTrust | null,
  snapshot: null as TrustSnapshot | null,
  verifier: null as Verifier | null,
  trustProblems: [] as { code: string; message: string }[],
  online: navigator.onLine,
  queue: [] as QueuedRedemption[],
  sent: [] as Child[],
  scan: null as Scan | null,
  syncing: null as Promise<void> | null,
  flushing: false,
};

const replay = new StoredReplayCache("citycredit.merchant.seen");

// --- small helpers ------------------------------------------------------------------------------

function readToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

function keep(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage refused: remembered for this page only
  }
}

function errorLine(element: HTMLElement, code: string | null, detail?: string): void {
  if (code === null) {
    show(element, false);
    element.replaceChildren();
    return;
  }
  fill(element, h("span", { class: "sym", "aria-hidden": "true" }, "⚠ "), h("code", {}, code), " ",
    biPair(errorText(code)), detail ? h("span", { class: "detail" }, ` — ${detail}`) : null);
  element.dataset["error"] = code;
  show(element, true);
}

function cityName(city: string): Pair {
  const trust = state.snapshot?.cities.get(Number(city));
  if (trust) return [trust.nameZh, trust.nameEn];
  if (state.merchant && state.merchant.city === city) return [state.merchant.city_name_zh, state.merchant.city_name_en];
  return [city, city];
}

function offerById(id: string): OfferJson | undefined {
  return state.merchant?.offers.find((o) => o.id === id);
}

function selectedOffer(): OfferJson | null {
  const id = byId<HTMLSelectElement>("offer").value;
  return offerById(id) ?? null;
}

function setOnline(online: boolean): void {
  state.online = online;
  const pill = byId("net");
  pill.className = `pill ${online ? "on" : "off"}`;
  pill.dataset["online"] = String(online);
  fill(pill, online ? bi("在线", "Online") : bi("离线", "Offline"));
}

// --- the trust set --------------------------------------------------------------------------------

function useSnapshot(snapshot: TrustSnapshot): void {
  state.snapshot = snapshot;
  const venue = state.merchant ? `till/${state.merchant.id}` : "till";
  state.verifier = new Verifier(snapshot, { provider, graceS: GRACE_S, venue, replay });
}

async function loadHeldTrust(): Promise<void> {
  const kept = await state.store!.get<unknown>("trust");
  if (!isHeldTrust(kept)) return;
  state.held = kept;
  try {
    useSnapshot(await openHeld(kept, nowS()));
  } catch (e) {
    state.trustProblems = [e instanceof CityCreditError ? { code: e.code, message: e.message }
      : { code: "CC_INTERNAL", message: String(e) }];
  }
}

/** Sync with the gateway (one at a time); the held set stays in use whatever happens. */
function sync(forceStatus = false): Promise<void> {
  state.syncing ??= (async () => {
    try {
      const synced = await syncTrust(state.held, nowS(), { forceStatus });
      state.trustProblems = synced.problems;
      setOnline(synced.reached);
      if (synced.held !== state.held) {
        state.held = synced.held;
        await state.store!.set("trust", synced.held);
      }
      useSnapshot(synced.snapshot);
    } catch (e) {
      // Nothing held and nothing fetched: the till cannot check yet.
      const code = e instanceof CityCreditError ? e.code : "NETWORK";
      state.trustProblems = [{ code, message: e instanceof Error ? e.message : String(e) }];
      if (code === "NETWORK") setOnline(false);
    } finally {
      state.syncing = null;
      renderTrust();
    }
  })();
  return state.syncing;
}

function renderTrust(): void {
  const summary = byId("trust-summary");
  const snapshot = state.snapshot;
  const held = state.held;
  if (snapshot === null || held === null) {
    fill(summary, h("p", { class: "help", "data-trust": "none" }, biPair(errorText("NO_TRUST"))));
  } else {
    const v = (role: string) => snapshot.versions.get(role) ?? 0;
    fill(summary, h("dl", { class: "facts compact", "data-trust": "ready", "data-snapshot": snapshot.version },
      h("dt", {}, bi("版本", "Versions")),
      h("dd", {}, bi(`快照 v${v("snapshot")} · 时间戳 v${v("timestamp")} · 根 v${v("root")}`,
        `snapshot v${v("snapshot")} · timestamp v${v("timestamp")} · root v${v("root")}`)),
      h("dt", {}, bi("上次同步", "Last synced")), h("dd", {}, timeNode(held.checkedAtS)),
      h("dt", {}, bi("有效至", "Valid until")), h("dd", {}, timeNode(snapshot.expiresAtS),
        h("span", { class: "help" }, bi(`（离线另可宽限 ${GRACE_S / 86400} 天）`, ` (plus ${GRACE_S / 86400} days offline)`))),
      h("dt", {}, bi("根指纹", "Root fingerprint")), h("dd", {}, h("code", {}, anchorFingerprint(held)))));
    const rows = [...snapshot.cities.values()].map((city) => {
      const list = snapshot.statuses.get(city.city);
      const fetched = held.status[String(city.city).padStart(6, "0")];
      return h("tr", { "data-city": city.city, "data-status-version": list ? String(list.version) : "" },
        h("td", {}, bi(city.nameZh, city.nameEn)),
        h("td", {}, list ? `v${list.version}` : "—"),
        h("td", {}, list && fetched ? timeNode(fetched.fetchedAtS + list.ttlS) : "—"));
    });
    fill(byId("trust-status"), rows);
  }
  const problems = byId("trust-problems");
  if (state.trustProblems.length === 0) {
    show(problems, false);
  } else {
    fill(problems, state.trustProblems.map((p) => h("span", { class: "problem" },
      h("code", {}, p.code), " ", biPair(errorText(p.code)), " ")));
    show(problems, true);
  }
}

// --- signing in -----------------------------------------------------------------------------------

async function signIn(token: string): Promise<void> {
  const merchant = await api<MerchantJson>("GET", "/v1/merchant", { token });
  state.token = token;
  state.merchant = merchant;
  keep(TOKEN_KEY, token);
  await state.store!.set("merchant", merchant);
  if (state.snapshot !== null) useSnapshot(state.snapshot);
}

async function signOut(): Promise<void> {
  state.token = "";
  state.merchant = null;
  state.scan = null;
  keep(TOKEN_KEY, null);
  await state.store!.delete("merchant");
  renderMode();
}

function renderMode(): void {
  const signedIn = state.merchant !== null && state.token !== "";
  show(byId("signin"), !signedIn);
  show(byId("till"), signedIn);
  if (signedIn) renderMerchant();
}

function renderMerchant(): void {
  const m = state.merchant!;
  fill(byId("merchant-who"), h("span", { class: "merchant-city" }, bi(m.city_name_zh, m.city_name_en)), " · ",
    bi("商户 ", "Merchant "), h("code", {}, m.merchant_id || m.id),
    m.venues.length ? h("span", { class: "help" }, ` · ${m.venues.join(", ")}`) : null);
  const select = byId<HTMLSelectElement>("offer");
  const wanted = select.value || (() => {
    try {
      return localStorage.getItem(OFFER_KEY) ?? "";
    } catch {
      return "";
    }
  })();
  fill(select, m.offers.length === 0
    ? h("option", { value: "" }, t("此商户暂无可核销的优惠", "No offers for this merchant"))
    : m.offers.map((o) => h("option", { value: o.id }, t(o.title_zh, o.title_en || o.title_zh))));
  if (m.offers.some((o) => o.id === wanted)) select.value = wanted;
  renderOffer();
}

function renderOffer(): void {
  const offer = selectedOffer();
  fill(byId("offer-info"), offer ? offerDetails(offer) : null);
}

// --- checking a code ------------------------------------------------------------------------------

const cleanCode = (text: string) => text.replace(/[\r\n]+/g, "").trim();

async function check(raw: string): Promise<void> {
  const tillError = byId("till-error");
  errorLine(tillError, null);
  const code = cleanCode(raw);
  if (code === "") return errorLine(tillError, "EMPTY");
  const offer = selectedOffer();
  if (offer === null) return errorLine(tillError, "CC_OFFER_UNKNOWN");
  if (state.verifier === null && state.syncing) await state.syncing; // the first trust set is on its way
  const verifier = state.verifier;
  if (verifier === null) {
    // Held but refused (stale past the offline grace, say) is said as such; nothing held is NO_TRUST.
    const refused = state.trustProblems.find((p) => p.code.startsWith("CC_BUNDLE"));
    return errorLine(tillError, refused?.code ?? "NO_TRUST", refused?.message);
  }
  const atS = nowS();
  let result: VerifiedCode | CityCreditError;
  try {
    result = await verifier.verify(code, atS);
  } catch (e) {
    if (!(e instanceof CityCreditError)) throw e;
    if (e.kind === "bundle") return errorLine(tillError, e.code, e.message);
    result = e;
  }
  state.scan = decideScan({ code, atS, result, key: newKey() }, offer, verifier);
  renderScan();
}

/** The decision for `offer` on a verified (or refused) code, in the gateway's JSON shape. */
function decideScan(scan: Pick<Scan, "code" | "atS" | "result" | "key">, offer: OfferJson, verifier: Verifier): Scan {
  const verification = verificationToJson(scan.result) as unknown as VerificationJson;
  const decision = decisionToJson(scan.result instanceof CityCreditError ? decisionForError(scan.result, offer.id)
    : verifier.snapshot.catalogue.decide(scan.result, offer.id, scan.atS, 0)) as unknown as DecisionJson;
  return { ...scan, offer, verification, decision };
}

let scans = 0;

function renderScan(): void {
  const scan = state.scan;
  show(byId("result"), scan !== null);
  if (scan === null) return;
  byId("result").dataset["scan"] = String(++scans); // each check is a new result, also for the same code
  fill(byId("verdict"), verdictView(scan.verification, cityName));
  // A quota the till cannot know (it is counted at the gateway) is shown after redeeming only.
  fill(byId("decision"), h("p", { class: "offer-name" }, offerTitle(scan.offer)),
    decisionView(scan.decision, { showQuota: false, from: "till" }));
  show(byId("redeem-box"), scan.decision.eligible);
  byId<HTMLButtonElement>("redeem").disabled = false;
  fill(byId("redeem-result"));
  byId("result").scrollIntoView({ block: "nearest" });
}

// --- redeeming ------------------------------------------------------------------------------------

async function redeem(): Promise<void> {
  const scan = state.scan;
  if (scan === null || state.merchant === null) return;
  const button = byId<HTMLButtonElement>("redeem");
  const out = byId("redeem-result");
  button.disabled = true;
  try {
    // An offer that may be redeemed offline is always sent with the moment of the scan: a retry under
    // the same idempotency key, now or from the queue later, is then the very same request.
    const body = scan.offer.offline_redemption ? { code: scan.code, offer_id: scan.offer.id, at: scan.atS }
      : { code: scan.code, offer_id: scan.offer.id };
    const answer = await api<RedeemJson>("POST", "/v1/redemptions", {
      token: state.token, headers: { "Idempotency-Key": scan.key }, body,
    });
    setOnline(true);
    const redeemed = answer.redemption_id !== null;
    const left = answer.decision.quota_remaining;
    fill(out, h("div", { class: "redeemed", "data-redeemed": String(redeemed), "data-redemption": answer.redemption_id ?? "" },
      redeemed
        ? h("div", { class: "ok-line" }, h("p", { class: "verdict-line" }, h("span", { class: "sym", "aria-hidden": "true" }, "✓ "),
          bi("已核销", "Redeemed"), " ", h("code", {}, answer.redemption_id!)),
          left !== null ? h("p", { class: "quota", "data-quota-remaining": left },
            bi(`本期剩余 ${left} 次`, `${left} left this period`)) : null)
        : decisionView(answer.decision, { showQuota: true, from: "gateway" })));
    if (redeemed) show(byId("redeem-box"), false);
    else button.disabled = false;
    void loadHistory();
  } catch (e) {
    button.disabled = false;
    if (!(e instanceof ApiError)) throw e;
    if (e.transient) {
      setOnline(e.status !== 0 ? state.online : false);
      if (scan.offer.offline_redemption) {
        await enqueue(scan);
        show(byId("redeem-box"), false);
        fill(out, h("p", { class: "ok-line", "data-queued": scan.key },
          bi("已离线记录，恢复网络后自动提交（按核销时间）。", "Recorded offline; it is sent with its time when the network is back.")));
      } else {
        fill(out, h("p", { class: "error-line after", "data-error": "NEEDS_NETWORK" }, biPair(errorText("NEEDS_NETWORK"))));
      }
      return;
    }
    if (e.code === "CC_UNAUTHENTICATED") await signOut();
    fill(out, h("p", { class: "error-line after", "data-error": e.code }, h("code", {}, e.code), " ",
      biPair(errorText(e.code)), ` — ${e.detail}`));
  }
}

async function enqueue(scan: Scan): Promise<void> {
  state.queue.push({ key: scan.key, merchant: state.merchant!.id, code: scan.code, offer_id: scan.offer.id,
    at: scan.atS, state: "pending", error: null });
  await state.store!.set("queue", state.queue);
  renderQueue();
}

/** Send what was queued offline, oldest first; stops at the first sign that the network is still away. */
async function flushQueue(): Promise<void> {
  if (state.flushing || state.merchant === null) return;
  state.flushing = true;
  try {
    for (const item of [...state.queue]) {
      if (item.state !== "pending" || item.merchant !== state.merchant.id) continue;
      try {
        const answer = await api<RedeemJson>("POST", "/v1/redemptions", {
          token: state.token, headers: { "Idempotency-Key": item.key },
          body: { code: item.code, offer_id: item.offer_id, at: item.at },
        });
        setOnline(true);
        state.queue = state.queue.filter((q) => q.key !== item.key);
        const offer = offerById(item.offer_id);
        state.sent.unshift(h("li", { class: "sent", "data-sent": item.key, "data-redeemed": String(answer.redemption_id !== null) },
          offer ? offerTitle(offer) : item.offer_id, " · ", timeNode(item.at), " · ",
          answer.redemption_id !== null ? bi("已提交并核销", "sent and redeemed")
            : h("span", {}, bi("已提交，未核销：", "sent, not redeemed: "), h("code", {}, answer.decision.reason ?? ""))));
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        if (e.transient) {
          if (e.status === 0) setOnline(false);
          break;
        }
        item.state = "refused";
        item.error = { code: e.code, detail: e.detail };
      }
      await state.store!.set("queue", state.queue);
    }
  } finally {
    state.flushing = false;
    renderQueue();
    if (state.sent.length) void loadHistory();
  }
}

function renderQueue(): void {
  const items = state.queue;
  show(byId("queue"), items.length > 0 || state.sent.length > 0);
  fill(byId("queue-list"), items.map((item) => {
    const offer = offerById(item.offer_id);
    const discard = h("button", { type: "button", class: "secondary small" }, bi("移除", "Discard"));
    discard.addEventListener("click", async () => {
      state.queue = state.queue.filter((q) => q.key !== item.key);
      await state.store!.set("queue", state.queue);
      renderQueue();
    });
    return h("li", { class: `queued ${item.state}`, "data-queued": item.key, "data-state": item.state },
      h("div", {}, offer ? offerTitle(offer) : item.offer_id, " · ", timeNode(item.at),
        item.state === "refused" && item.error
          ? h("p", { class: "error-line after" }, h("code", {}, item.error.code), " ", biPair(errorText(item.error.code)),
            ` — ${item.error.detail}`)
          : h("p", { class: "help" }, bi("等待网络", "waiting for the network"))),
      item.state === "refused" ? discard : null);
  }));
  fill(byId("queue-sent"), state.sent.length ? h("ul", { class: "plain-list sent-list" }, state.sent.slice(0, 10)) : null);
}

// --- history and voiding --------------------------------------------------------------------------

async function loadHistory(): Promise<void> {
  if (state.merchant === null) return;
  const note = byId("history-note");
  let rows: RedemptionJson[];
  try {
    rows = (await api<{ redemptions: RedemptionJson[] }>("GET", "/v1/redemptions?limit=20", { token: state.token }))
      .redemptions;
    setOnline(true);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 0) setOnline(false);
    fill(note, e.status === 0 ? bi("离线：记录需联网查看。", "Offline: the history needs the network.")
      : h("span", {}, h("code", {}, e.code), " ", biPair(errorText(e.code))));
    return;
  }
  const voidWindowS = state.merchant.void_window_s;
  const minutes = Math.round(voidWindowS / 60);
  fill(note, rows.length === 0 ? bi("暂无核销记录。", "No redemptions yet.")
    : bi(`核销后 ${minutes} 分钟内可撤销，撤销后次数退回。`,
      `A redemption can be voided within ${minutes} minutes; its quota use comes back.`));
  const now = nowS();
  fill(byId("history-list"), rows.map((r) => redemptionRow(r, {
    offerTitle: (id) => {
      const offer = offerById(id);
      return offer ? offerTitle(offer) : h("code", {}, id);
    },
    cityName,
    canVoid: now - Math.floor(Date.parse(r.recorded_at) / 1000) < voidWindowS,
    onVoid: () => void voidRedemption(r.id),
  })));
}

async function voidRedemption(id: string): Promise<void> {
  const note = byId("history-note");
  try {
    await api<RedemptionJson>("POST", `/v1/redemptions/${encodeURIComponent(id)}:void`, { token: state.token });
    await loadHistory();
    fill(note, h("span", { class: "ok-line", "data-voided": id }, bi("已撤销，持码人的次数已退回。", "Voided; the holder's quota use is back.")));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    fill(note, h("span", { class: "error-line", "data-error": e.code }, h("code", {}, e.code), " ",
      biPair(errorText(e.code)), ` — ${e.detail}`));
  }
}

// --- scanning -------------------------------------------------------------------------------------

let camera: CameraScanner | null = null;

async function scanWithCamera(): Promise<void> {
  const tillError = byId("till-error");
  errorLine(tillError, null);
  camera ??= new CameraScanner(byId<HTMLVideoElement>("scan-video"));
  if (camera.active) return;
  show(byId("scanner"), true);
  try {
    const text = await camera.scan();
    if (text !== null) await check(text);
  } catch (e) {
    if (e instanceof ScanError) errorLine(tillError, e.code);
    else throw e;
  } finally {
    show(byId("scanner"), false);
  }
}

async function scanPicture(input: HTMLInputElement): Promise<void> {
  const file = input.files?.[0];
  input.value = "";
  if (!file) return;
  const tillError = byId("till-error");
  errorLine(tillError, null);
  try {
    await check(await scanImage(file));
  } catch (e) {
    if (e instanceof ScanError) errorLine(tillError, e.code);
    else throw e;
  }
}

// --- start ----------------------------------------------------------------------------------------

async function start(): Promise<void> {
  setupLanguage();
  setOnline(navigator.onLine);
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/merchant-sw.js", { scope: "/merchant" }).catch(() => {
      // Without a service worker the page still checks offline while it stays open.
    });
  }
  state.store = await openStore("citycredit-merchant");
  state.queue = (await state.store.get<QueuedRedemption[]>("queue")) ?? [];
  const merchant = await state.store.get<MerchantJson>("merchant");
  state.token = readToken();
  if (merchant && state.token) state.merchant = merchant;
  await loadHeldTrust();
  renderTrust();
  renderMode();
  renderQueue();

  byId("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("merchant-key");
    const button = byId<HTMLButtonElement>("signin-button");
    const error = byId("signin-error");
    errorLine(error, null);
    const token = input.value.trim();
    if (token === "") return errorLine(error, "CC_UNAUTHENTICATED");
    button.disabled = true;
    try {
      await signIn(token);
      input.value = "";
      renderMode();
      void loadHistory();
      void flushQueue();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.status === 0) setOnline(false);
      errorLine(error, e.code, e.status === 0 ? t("首次登录需要联网", "the first sign-in needs the network") : e.detail);
    } finally {
      button.disabled = false;
    }
  });
  byId("signout").addEventListener("click", () => void signOut());
  byId<HTMLSelectElement>("offer").addEventListener("change", () => {
    keep(OFFER_KEY, byId<HTMLSelectElement>("offer").value);
    renderOffer();
    const offer = selectedOffer();
    if (state.scan !== null && offer !== null && state.verifier !== null) {
      state.scan = decideScan({ ...state.scan, key: newKey() }, offer, state.verifier);
      renderScan();
    }
  });
  byId("scan").addEventListener("click", () => void scanWithCamera());
  byId("scan-stop").addEventListener("click", () => camera?.stop());
  byId<HTMLInputElement>("picture").addEventListener("change", (event) =>
    void scanPicture(event.target as HTMLInputElement));
  byId("manual-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void check(byId<HTMLTextAreaElement>("code").value);
  });
  byId("redeem").addEventListener("click", () => void redeem());
  byId("queue-send").addEventListener("click", () => void flushQueue());
  byId("history-refresh").addEventListener("click", () => void loadHistory());
  byId("sync").addEventListener("click", () => void sync(true));
  window.addEventListener("online", () => {
    setOnline(true);
    void sync().then(flushQueue).then(loadHistory);
  });
  window.addEventListener("offline", () => setOnline(false));
  onLangChange(() => {
    if (state.merchant) renderMerchant();
    document.title = t("商户核验 · citycredit", "Merchant till · citycredit");
  });
  setInterval(() => tick(), 5_000);
  setInterval(() => void sync().then(flushQueue), SYNC_EVERY_MS);

  await sync();
  if (state.merchant !== null && state.token) {
    try {
      await signIn(state.token); // the offers may have changed since the last visit
      renderMode();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.code === "CC_UNAUTHENTICATED" || e.code === "CC_PERMISSION_DENIED") {
        await signOut();
        errorLine(byId("signin-error"), e.code, e.detail);
      }
    }
    void loadHistory();
    void flushQueue();
  }
  document.body.dataset["ready"] = "true";
}

void start();
