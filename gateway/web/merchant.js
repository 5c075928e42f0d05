// The merchant check page: verify a code, decide an offer, optionally redeem it.
"use strict";

(() => {
  const { h, bi, byId, api } = CC;
  const form = byId("check-form");
  const codeInput = byId("code");
  const offerSelect = byId("offer");
  const offerInfo = byId("offer-info");
  const checkButton = byId("check");
  const errorLine = byId("error");
  const result = byId("result");
  const verdictCard = byId("verdict");
  const decisionCard = byId("decision");
  const redeemPanel = byId("redeem");
  const apiKeyInput = byId("api-key");
  const redeemButton = byId("redeem-btn");
  const redeemError = byId("redeem-error");
  const redeemResult = byId("redeem-result");
  const apiKeyStore = CC.stored("citycredit.merchantKey");
  const UNREADABLE = new Set(["CC_TOO_LONG", "CC_PREFIX", "CC_BASE45", "CC_MALFORMED"]);
  const offerPref = CC.stored("citycredit.offer", "local");

  const offers = new Map();
  let members = new Map();
  let checked = null;   // {code, offerId, verification, decision} of the last check
  let attempt = null;   // {key, code, offerId} of the redemption being tried; kept for retries

  // --- offers ------------------------------------------------------------------------------------

  async function loadOffers() {
    const [membersResult, offersResult] = await Promise.allSettled([CC.loadMembers(), api("GET", "/v1/offers")]);
    if (membersResult.status === "fulfilled") members = membersResult.value.cities;
    if (offersResult.status === "rejected") {
      CC.fill(offerSelect, h("option", { value: "" }, "优惠加载失败 Offers could not be loaded"));
      CC.showError(errorLine, offersResult.reason);
      return;
    }
    offers.clear();
    for (const offer of offersResult.value.offers || []) offers.set(offer.id, offer);
    renderOfferOptions();
  }

  function renderOfferOptions() {
    const groups = new Map();
    const sorted = [...offers.values()].sort((a, b) =>
      a.city - b.city || a.category.localeCompare(b.category) ||
      CC.TIER_ORDER.indexOf(a.min_tier) - CC.TIER_ORDER.indexOf(b.min_tier) || a.id.localeCompare(b.id));
    for (const offer of sorted) {
      const key = `${offer.city}/${offer.category}`;
      if (!groups.has(key)) {
        const [cityZh, cityEn] = CC.cityPair(members, offer.city);
        const [catZh, catEn] = CC.categoryPair(offer.category);
        groups.set(key, h("optgroup", { label: `${cityZh} ${cityEn} · ${catZh} ${catEn}` }));
      }
      const tier = CC.TIERS[offer.min_tier] || [offer.min_tier];
      const marks = [offer.local_only ? "仅本地" : "", offer.assumed ? "假设阈值" : ""].filter(Boolean);
      const label = `${offer.title_zh}（${tier[0]}及以上${marks.length ? "，" + marks.join("，") : ""}）`;
      groups.get(key).append(h("option", { value: offer.id }, label));
    }
    const placeholder = h("option", { value: "" }, `请选择优惠 Choose an offer (${offers.size})`);
    CC.fill(offerSelect, placeholder, ...groups.values());
    const wanted = new URLSearchParams(location.search).get("offer") || offerPref.get();
    if (offers.has(wanted)) offerSelect.value = wanted;
    renderOfferInfo();
  }

  function renderOfferInfo() {
    const offer = offers.get(offerSelect.value);
    if (!offer) {
      CC.fill(offerInfo);
      return;
    }
    const [cityZh, cityEn] = CC.cityPair(members, offer.city);
    const [catZh, catEn] = CC.categoryPair(offer.category);
    const badges = h("p", { class: "badges" },
      h("span", { class: "badge" }, bi(`${cityZh} · ${catZh}`, `${cityEn} · ${catEn}`)),
      h("span", { class: "badge" }, bi("最低等级", "min tier"), " ", CC.tierText(offer.min_tier)),
      offer.local_only
        ? h("span", { class: "badge warn" }, bi("仅限本市居民", "local residents only"))
        : h("span", { class: "badge" }, bi("外地居民可按协议享受", "visitors under an agreement")),
      offer.assumed ? h("span", { class: "badge note" }, bi("门槛为假设值", "assumed threshold")) : null,
      offer.quota ? h("span", { class: "badge" }, quotaText(offer.quota)) : null);
    CC.fill(offerInfo,
      h("p", { class: "offer-title" }, offer.title_en ? h("span", { lang: "en" }, offer.title_en) : null,
        offer.venue ? ` · ${offer.venue}` : ""),
      badges,
      h("p", { class: "benefit" }, bi(offer.benefit.text_zh, offer.benefit.text_en || "")),
      validityNode(offer));
  }

  function quotaText(quota) {
    const periods = { day: ["每天", "a day"], week: ["每周", "a week"], month: ["每月", "a month"], year: ["每年", "a year"] };
    const [zh, en] = periods[quota.period] || [quota.period, quota.period];
    return bi(`${zh}${quota.uses}次`, `${quota.uses} ${en}`);
  }

  function validityNode(offer) {
    if (!offer.valid_from_s && !offer.valid_until_s) return null;
    const from = offer.valid_from_s ? CC.formatTime(offer.valid_from_s) : "…";
    const until = offer.valid_until_s ? CC.formatTime(offer.valid_until_s) : "…";
    return h("p", { class: "help" }, bi("有效期", "valid"), ` ${from} – ${until}`);
  }

  // --- check -------------------------------------------------------------------------------------

  async function check(event) {
    event.preventDefault();
    const code = CC.cleanCode(codeInput.value);
    const offerId = offerSelect.value;
    CC.showError(errorLine, null);
    if (!code) {
      CC.showError(errorLine, { code: "INPUT", detail: "请先输入信用码 Enter a credit code first" });
      codeInput.focus();
      return;
    }
    if (!offerId) {
      CC.showError(errorLine, { code: "INPUT", detail: "请选择一个优惠 Choose an offer" });
      offerSelect.focus();
      return;
    }
    offerPref.set(offerId);
    setBusy(checkButton, true);
    try {
      // Text that is not a credit code at all is a request error (4xx) for the gateway; here it is
      // shown like any refused code.
      const [verification, decision] = await Promise.all([
        api("POST", "/v1/codes:verify", { body: { code } }).catch((err) => {
          if (UNREADABLE.has(err.code)) return { valid: false, error: { code: err.code, message: err.detail } };
          throw err;
        }),
        api("POST", "/v1/eligibility:check", { body: { code, offer_id: offerId } }).catch((err) => {
          if (err.code === "CC_OFFER_UNKNOWN") {
            return { eligible: false, reason: "OFFER_UNKNOWN", offer: offerId, detail: err.detail, unknown: true };
          }
          if (UNREADABLE.has(err.code)) {
            return { eligible: false, reason: "CODE_INVALID", offer: offerId, detail: err.detail, error: err.code };
          }
          throw err;
        }),
      ]);
      checked = { code, offerId, verification, decision };
      attempt = null;
      renderVerification(verification);
      renderDecision(decision, verification, offers.get(offerId));
      result.hidden = false;
      showRedeem(decision.eligible === true);
      result.scrollIntoView({ block: "start", behavior: "smooth" });
      if (decision.unknown) loadOffers();
    } catch (err) {
      hideResult();
      CC.showError(errorLine, err);
    } finally {
      setBusy(checkButton, false);
    }
  }

  function renderVerification(v) {
    const rows = [];
    if (v.valid) {
      const [cityZh, cityEn] = CC.cityPair(members, v.city);
      rows.push(row(bi("发码城市", "Issuing city"), [bi(cityZh, cityEn), ` (${v.city})`]));
      rows.push(row(bi("信用等级", "Tier"), CC.tierNode(v.tier)));
      rows.push(row(bi("本地等级", "Local band"), v.band || "—"));
      rows.push(row(bi("有效期至", "Expires"), [CC.formatTime(v.expires_at), " ", remaining(v.expires_at)]));
    }
    CC.fill(verdictCard,
      h("p", { class: `verdict ${v.valid ? "ok" : "no"}`, id: "verdict-badge", "data-verdict": v.valid ? "VALID" : "INVALID" },
        h("span", { class: "sym", "aria-hidden": "true" }, v.valid ? "✔" : "✖"), " ",
        v.valid ? bi("码有效", "VALID") : bi("码无效", "INVALID")),
      rows.length ? h("dl", { class: "facts" }, rows) : null,
      v.error ? h("p", { class: "error-line code-error", id: "code-error" },
        h("code", {}, v.error.code), " ", v.error.message) : null);
  }

  function renderDecision(d, v, offer) {
    const rows = [];
    const title = offer ? bi(offer.title_zh, offer.title_en || "") : h("code", {}, d.offer);
    rows.push(row(bi("优惠", "Offer"), title));
    if (d.eligible) {
      rows.push(row(bi("权益", "Benefit"), bi(d.benefit || "", d.benefit_en || "")));
    } else {
      const [zh, en] = CC.REASONS[d.reason] || ["未知原因。", "Unknown reason."];
      rows.push(row(bi("原因", "Reason"), h("div", { id: "reason" },
        h("code", { class: "reason-code" }, d.reason), d.error ? [" · ", h("code", {}, d.error)] : null,
        h("p", { class: "reason-zh", lang: "zh-CN" }, zh),
        h("p", { class: "reason-en en", lang: "en" }, en),
        d.detail ? h("p", { class: "help detail" }, d.detail) : null)));
    }
    rows.push(row(bi("同城待遇", "Same-city treatment"), treatment(d, v, offer)));
    if (d.quota_remaining !== null && d.quota_remaining !== undefined) {
      rows.push(row(bi("本期剩余", "Left this period"), String(d.quota_remaining)));
    }
    CC.fill(decisionCard,
      h("p", { class: `verdict big ${d.eligible ? "ok" : "no"}`, id: "decision-badge",
        "data-verdict": d.eligible ? "ELIGIBLE" : "NOT_ELIGIBLE" },
        h("span", { class: "sym", "aria-hidden": "true" }, d.eligible ? "✔" : "✖"), " ",
        d.eligible ? bi("可享受", "ELIGIBLE") : bi("不可享受", "NOT ELIGIBLE")),
      h("dl", { class: "facts" }, rows));
  }

  function treatment(d, v, offer) {
    const local = v && v.valid && offer && Number(v.city) === Number(offer.city);
    let node;
    if (local) {
      node = bi("本市居民", "Local resident");
    } else if (d.treated_as_local) {
      node = [bi("是，按本市居民对待", "Yes, treated as a local resident"),
        d.agreement ? [" ", h("span", { class: "help" }, bi("协议", "agreement"), " ", h("code", {}, d.agreement))] : null];
    } else {
      node = bi("否", "No");
    }
    return h("span", { id: "treatment", "data-local": d.treated_as_local ? "true" : "false" }, node);
  }

  function remaining(expiresAt) {
    const seconds = Math.round((new Date(expiresAt).getTime() - Date.now()) / 1000);
    if (!Number.isFinite(seconds) || seconds <= 0) return "";
    if (seconds < 3600) {
      const m = Math.max(1, Math.round(seconds / 60));
      return h("span", { class: "help" }, bi(`（还剩约${m}分钟）`, `(about ${m} min left)`));
    }
    const hrs = Math.round(seconds / 3600);
    return h("span", { class: "help" }, bi(`（还剩约${hrs}小时）`, `(about ${hrs} h left)`));
  }

  function row(label, value) {
    return [h("dt", {}, label), h("dd", {}, value)];
  }

  function hideResult() {
    result.hidden = true;
    checked = null;
    attempt = null;
    showRedeem(false);
  }

  function setBusy(button, busy) {
    button.disabled = busy;
    button.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // --- redemption --------------------------------------------------------------------------------

  function showRedeem(visible) {
    redeemPanel.hidden = !visible;
    redeemButton.disabled = false;
    CC.fill(redeemButton, "核销 ", h("span", { lang: "en" }, "Redeem"));
    CC.fill(redeemResult);
    CC.showError(redeemError, null);
  }

  async function redeem() {
    if (!checked) return;
    const token = apiKeyInput.value.trim();
    CC.showError(redeemError, null);
    if (!token) {
      CC.showError(redeemError, { code: "INPUT", detail: "请填写商户密钥 Enter the merchant API key" });
      apiKeyInput.focus();
      return;
    }
    apiKeyStore.set(token);
    // One key per attempt: a retry of the same code and offer reuses it, so the gateway spends once.
    if (!attempt || attempt.code !== checked.code || attempt.offerId !== checked.offerId) {
      attempt = { key: CC.newIdempotencyKey(), code: checked.code, offerId: checked.offerId };
    }
    setBusy(redeemButton, true);
    let done = false;
    try {
      const outcome = await api("POST", "/v1/redemptions", {
        token, body: { code: attempt.code, offer_id: attempt.offerId, idempotency_key: attempt.key },
      });
      renderRedemption(outcome, attempt.key);
      done = Boolean(outcome.redemption_id);
      if (!done) attempt = null;
    } catch (err) {
      CC.showError(redeemError, err);
      if (!err.transient) attempt = null;
    } finally {
      setBusy(redeemButton, false);
      if (done) {
        redeemButton.disabled = true;
        CC.fill(redeemButton, "已核销 ", h("span", { lang: "en" }, "Redeemed"));
      } else if (attempt) {
        CC.fill(redeemButton, "重试 ", h("span", { lang: "en" }, "Retry"));
      }
    }
  }

  function renderRedemption(outcome, key) {
    const d = outcome.decision || {};
    const parts = [];
    if (outcome.redemption_id) {
      parts.push(h("p", { class: "verdict ok", id: "redeem-badge", "data-verdict": "REDEEMED" },
        h("span", { class: "sym", "aria-hidden": "true" }, "✔"), " ", bi("已核销", "REDEEMED"), " ",
        h("code", {}, outcome.redemption_id)));
    } else {
      const [zh, en] = CC.REASONS[d.reason] || ["未知原因。", "Unknown reason."];
      parts.push(h("p", { class: "verdict no", id: "redeem-badge", "data-verdict": "REFUSED" },
        h("span", { class: "sym", "aria-hidden": "true" }, "✖"), " ", bi("未核销", "NOT REDEEMED"), " ",
        h("code", {}, d.reason || "")));
      parts.push(h("p", {}, bi(zh, en)));
    }
    if (d.quota_remaining !== null && d.quota_remaining !== undefined) {
      parts.push(h("p", {}, bi("本期剩余", "Left this period"), ` ${d.quota_remaining}`));
    }
    if (outcome.replayed) {
      parts.push(h("p", { class: "help" }, bi("重复请求：返回首次核销的结果。", "Repeated request: the first answer is returned.")));
    }
    parts.push(h("p", { class: "help" }, bi("幂等键", "Idempotency key"), " ", h("code", {}, key)));
    CC.fill(redeemResult, ...parts);
  }

  // --- camera scan (only where the browser has BarcodeDetector) ---------------------------------

  const scanButton = byId("scan");
  const scanner = byId("scanner");
  const video = byId("scan-video");
  const scanStatus = byId("scan-status");
  let stream = null;

  async function startScan() {
    let detector;
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (err) {
      scanner.hidden = false;
      scanStatus.textContent = `无法使用相机 The camera cannot be used (${err.message})`;
      return;
    }
    scanner.hidden = false;
    scanStatus.textContent = "将二维码对准相机 Point the camera at the QR code";
    video.srcObject = stream;
    await video.play().catch(() => {});
    const tick = async () => {
      if (!stream) return;
      try {
        const found = await detector.detect(video);
        const hit = found.find((b) => typeof b.rawValue === "string" && b.rawValue.startsWith("CC1:"));
        if (hit) {
          codeInput.value = hit.rawValue;
          stopScan();
          codeInput.dispatchEvent(new Event("input"));
          if (offerSelect.value) form.requestSubmit();
          else offerSelect.focus();
          return;
        }
      } catch (err) {
        // A frame that cannot be read yet (camera warming up): try the next one.
      }
      setTimeout(tick, 250);
    };
    tick();
  }

  function stopScan() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    scanner.hidden = true;
    scanButton.focus();
  }

  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    scanButton.hidden = false;
    scanButton.addEventListener("click", startScan);
    byId("scan-stop").addEventListener("click", stopScan);
  }

  // --- wiring ------------------------------------------------------------------------------------

  form.addEventListener("submit", check);
  offerSelect.addEventListener("change", () => {
    renderOfferInfo();
    hideResult();
  });
  codeInput.addEventListener("input", () => {
    if (checked && CC.cleanCode(codeInput.value) !== checked.code) hideResult();
  });
  codeInput.addEventListener("keydown", (event) => {
    // Enter checks (scanners that type end with Enter); Shift+Enter keeps a line break.
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  byId("clear").addEventListener("click", () => {
    codeInput.value = "";
    hideResult();
    CC.showError(errorLine, null);
    codeInput.focus();
  });
  apiKeyInput.value = apiKeyStore.get();
  apiKeyInput.addEventListener("change", () => apiKeyStore.set(apiKeyInput.value.trim()));
  redeemButton.addEventListener("click", redeem);
  loadOffers();
})();
