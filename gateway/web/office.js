// The city-office page: alliance members, the city's offers, publishing an offer, revoking a code.
"use strict";

(() => {
  const { h, bi, byId, api } = CC;
  const errorLine = byId("error");
  const citySelect = byId("city");
  const tokenInput = byId("token");
  const tokenStore = CC.stored("citycredit.officeToken");
  const cityStore = CC.stored("citycredit.officeCity");
  let members = new Map();

  // Codes whose signature was never established: nothing of them may be acted on.
  const UNVERIFIED = new Set(["CC_TOO_LONG", "CC_PREFIX", "CC_BASE45", "CC_MALFORMED", "CC_KEY_UNKNOWN",
    "CC_SIGNATURE_INVALID", "CC_CITY_MISMATCH"]);

  // Each action answers beside itself (a phone shows one section at a time); loading answers at the top.
  const lines = {
    page: [errorLine, null],
    publish: [byId("publish-error"), byId("publish-done")],
    revoke: [byId("revoke-error"), byId("revoke-done")],
  };

  function report(where, err, done) {
    for (const [errorAt, doneAt] of Object.values(lines)) {
      CC.showError(errorAt, null);
      if (doneAt) doneAt.hidden = true;
    }
    const [errorAt, doneAt] = lines[where];
    CC.showError(errorAt, err || null);
    if (doneAt && done) {
      CC.fill(doneAt, h("span", { class: "sym", "aria-hidden": "true" }, "✔ "), done);
      doneAt.hidden = false;
    }
  }

  function versionNode(version) {
    return [bi("信任包版本", "bundle version"), " ", h("strong", { class: "version" }, String(version))];
  }

  function credentials() {
    const city = citySelect.value;
    const token = tokenInput.value.trim();
    if (!city) throw new CC.ApiError("INPUT", "请选择本市 Choose your city", 0);
    if (!token) {
      tokenInput.focus();
      throw new CC.ApiError("INPUT", "请填写信用办令牌 Enter the city-office token", 0);
    }
    tokenStore.set(token);
    return { city, token };
  }

  // --- members and offers ------------------------------------------------------------------------

  async function loadMembers() {
    const { summary, cities } = await CC.loadMembers();
    members = cities;
    const chosen = citySelect.value || new URLSearchParams(location.search).get("city") || cityStore.get();
    const options = [...cities.values()].map((c) => {
      const [zh, en] = CC.cityPair(cities, c.city);
      return h("option", { value: String(c.city) }, `${zh} ${en} (${c.city})`);
    });
    CC.fill(citySelect, h("option", { value: "" }, "请选择 Choose"), ...options);
    if (cities.has(Number(chosen))) citySelect.value = String(Number(chosen));
    CC.fill(byId("bundle-line"),
      bi("信任包版本", "Trust bundle version"), " ", h("strong", { id: "bundle-version" }, String(summary.version)),
      " · ", bi("有效期至", "expires"), ` ${CC.formatTime(summary.expires_at)}`,
      " · ", bi(`治理门限 ${summary.threshold}/${summary.governance_keys}`,
        `governance threshold ${summary.threshold} of ${summary.governance_keys}`));
    byId("members-caption").textContent =
      `${summary.alliance} · ${cities.size} 个城市 cities · ${summary.agreements} 项协议 agreements · ${summary.offers} 项优惠 offers`;
    renderMembers();
  }

  function renderMembers() {
    const mine = Number(citySelect.value);
    const rows = [...members.values()].map((c) => {
      const [zh, en] = CC.cityPair(members, c.city);
      return h("tr", { class: c.city === mine ? "mine" : null },
        h("td", {}, bi(zh, en), c.city === mine ? h("span", { class: "help" }, " （本市 yours）") : null),
        h("td", {}, h("code", {}, String(c.city))),
        h("td", {}, String(c.keys)));
    });
    CC.fill(byId("members").tBodies[0], ...rows);
  }

  async function loadCityOffers() {
    const list = byId("city-offers");
    const city = citySelect.value;
    if (!city) {
      CC.fill(list, h("li", {}, bi("请先选择本市。", "Choose your city first.")));
      return;
    }
    const { offers } = await api("GET", `/v1/offers?city=${encodeURIComponent(city)}`);
    CC.fill(list, ...(offers.length ? offers.map((o) => h("li", {},
      h("code", {}, o.id), " ", o.title_zh, " · ", CC.tierText(o.min_tier),
      o.local_only ? " · 仅本地 local only" : "", o.assumed ? " · 假设 assumed" : "")) :
      [h("li", {}, bi("暂无优惠。", "No offers yet."))]));
  }

  async function refresh() {
    try {
      await loadMembers();
      await loadCityOffers();
    } catch (err) {
      report("page", err);
    }
  }

  // --- publish an offer --------------------------------------------------------------------------

  function fillChoices() {
    CC.fill(byId("o-category"), ...Object.entries(CC.CATEGORIES).map(([value, [zh, en]]) =>
      h("option", { value }, `${zh} ${en}`)));
    CC.fill(byId("o-tier"), ...CC.TIER_ORDER.map((name) =>
      h("option", { value: name, selected: name === "GOOD" }, CC.tierText(name))));
    showBenefitFields();
  }

  function showBenefitFields() {
    const kind = byId("o-kind").value;
    byId("o-percent-field").hidden = kind !== "discount";
    byId("o-count-field").hidden = kind !== "free_uses";
    byId("o-amount-field").hidden = !["waiver", "pay_later", "extra_allowance"].includes(kind);
  }

  function offerFromForm(city) {
    const value = (id) => byId(id).value.trim();
    const number = (id) => Number(byId(id).value || 0);
    const kind = value("o-kind");
    const benefit = { kind, text_zh: value("o-text-zh"), text_en: value("o-text-en") };
    if (kind === "discount") benefit.discount_percent = number("o-percent");
    if (kind === "free_uses") benefit.count = number("o-count");
    if (["waiver", "pay_later", "extra_allowance"].includes(kind)) benefit.amount_fen = Math.round(number("o-amount") * 100);
    const offer = {
      id: value("o-id"), city: Number(city), category: value("o-category"), min_tier: value("o-tier"), benefit,
      title_zh: value("o-title-zh"), title_en: value("o-title-en"), venue: value("o-venue"),
      local_only: byId("o-local").checked, assumed: byId("o-assumed").checked,
    };
    if (value("o-from")) offer.valid_from_s = value("o-from");
    if (value("o-until")) offer.valid_until_s = value("o-until");
    if (number("o-quota") > 0) offer.quota = { uses: number("o-quota"), period: value("o-period") };
    return offer;
  }

  async function publish(event) {
    event.preventDefault();
    const button = byId("publish");
    report("publish", null);
    try {
      const { city, token } = credentials();
      const missing = ["o-id", "o-title-zh", "o-text-zh"].filter((id) => !byId(id).value.trim());
      if (missing.length) {
        byId(missing[0]).focus();
        throw new CC.ApiError("INPUT", "请填写编号、中文标题和中文权益说明 Fill in the id, Chinese title and Chinese benefit text", 0);
      }
      button.disabled = true;
      const answer = await api("POST", "/v1/offers", { token, body: offerFromForm(city) });
      report("publish", null, [bi("已发布优惠", "Published offer"), " ", h("code", {}, answer.offer.id), " · ",
        versionNode(answer.bundle_version)]);
      await refresh();
    } catch (err) {
      report("publish", err);
    } finally {
      button.disabled = false;
    }
  }

  // --- revoke a code -----------------------------------------------------------------------------

  const preview = byId("r-preview");
  const confirmBox = byId("r-confirm");
  let target = null;   // {code, city, statusIndex, holder} of the code looked up

  async function lookUp(event) {
    event.preventDefault();
    report("revoke", null);
    target = null;
    confirmBox.hidden = true;
    preview.hidden = true;
    const code = CC.cleanCode(byId("r-code").value);
    try {
      if (!code) throw new CC.ApiError("INPUT", "请先输入信用码 Enter a credit code first", 0);
      const claims = decodeClaims(code);
      const verification = await api("POST", "/v1/codes:verify", { body: { code } });
      renderPreview(claims, verification);
      if (verification.error && UNVERIFIED.has(verification.error.code)) {
        throw new CC.ApiError(verification.error.code, `${verification.error.message} — 无法确认此码由本联盟签发，不能撤销。 ` +
          "It cannot be shown to be signed by an alliance city, so it is not revoked.", 0);
      }
      if (citySelect.value && Number(citySelect.value) !== claims.city) {
        const [zh, en] = CC.cityPair(members, claims.city);
        throw new CC.ApiError("CC_PERMISSION_DENIED",
          `此码由${zh}签发，只能由该市信用办撤销。 This code was issued by ${en || claims.city}; only its own office can revoke it.`, 0);
      }
      target = { code, ...claims };
      confirmBox.hidden = false;
    } catch (err) {
      report("revoke", err);
    }
  }

  function renderPreview(claims, v) {
    const [zh, en] = CC.cityPair(members, claims.city);
    const status = v.valid ? bi("有效", "valid") : [h("code", {}, v.error.code), " ", v.error.message];
    CC.fill(preview, h("dl", { class: "facts" },
      h("dt", {}, bi("发码城市", "Issuing city")), h("dd", {}, bi(zh, en), ` (${claims.city})`),
      h("dt", {}, bi("验证结果", "Verifies as")), h("dd", { id: "r-status" }, status),
      v.valid ? [h("dt", {}, bi("等级", "Tier")), h("dd", {}, CC.tierText(v.tier), v.band ? ` · ${v.band}` : "")] : null,
      h("dt", {}, bi("状态位", "Status index")), h("dd", {}, h("code", {}, String(claims.statusIndex))),
      h("dt", {}, bi("持码人假名", "Holder pseudonym")), h("dd", {}, h("code", {}, `${claims.holder.slice(0, 16)}…`))));
    preview.hidden = false;
  }

  async function revoke() {
    report("revoke", null);
    const button = byId("r-revoke");
    try {
      if (!target) throw new CC.ApiError("INPUT", "请先查看信用码 Look the code up first", 0);
      const { city, token } = credentials();
      if (Number(city) !== target.city) {
        throw new CC.ApiError("CC_PERMISSION_DENIED", "此码不属于本市 This code is not of your city", 0);
      }
      const body = { status_indexes: [target.statusIndex], holders: [] };
      if (byId("r-holder").checked) body.holders.push({ holder: target.holder });
      button.disabled = true;
      const answer = await api("POST", `/v1/cities/${encodeURIComponent(city)}/revocations`, { token, body });
      report("revoke", null, [bi("已撤销", "Revoked"), " · ", versionNode(answer.bundle_version)]);
      confirmBox.hidden = true;
      const verification = await api("POST", "/v1/codes:verify", { body: { code: target.code } });
      renderPreview(target, verification);
      target = null;
      await refresh();
    } catch (err) {
      report("revoke", err);
    } finally {
      button.disabled = false;
    }
  }

  // A CC1 code's claims, read without verifying (the gateway verifies; this only finds what to revoke):
  // "CC1:" + Base45(SignedCreditCode{1: payload}), payload = CreditCode{2: city, 3: holder, 8: status_index}.
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

  function decodeClaims(code) {
    if (code.length > 1024) throw new CC.ApiError("CC_TOO_LONG", "a code has at most 1,024 characters", 0);
    if (!code.startsWith("CC1:")) throw new CC.ApiError("CC_PREFIX", "a code starts with CC1:", 0);
    const envelope = fields(base45(code.slice(4)));
    const payload = envelope.get(1);
    if (!(payload instanceof Uint8Array)) throw malformed();
    const claims = fields(payload);
    const city = claims.get(2);
    const holder = claims.get(3);
    if (typeof city !== "number" || !(holder instanceof Uint8Array)) throw malformed();
    const statusIndex = claims.get(8) || 0;
    return { city, statusIndex, holder: Array.from(holder, (b) => b.toString(16).padStart(2, "0")).join("") };
  }

  function malformed() {
    return new CC.ApiError("CC_MALFORMED", "the code is not a credit code message", 0);
  }

  function base45(text) {
    const out = [];
    for (let i = 0; i < text.length; i += 3) {
      const chunk = Array.from(text.slice(i, i + 3), (ch) => B45.indexOf(ch));
      if (chunk.includes(-1) || chunk.length === 1) throw new CC.ApiError("CC_BASE45", "the code is not valid Base45", 0);
      const n = chunk[0] + chunk[1] * 45 + (chunk.length === 3 ? chunk[2] * 2025 : 0);
      if (chunk.length === 3) {
        if (n > 0xffff) throw new CC.ApiError("CC_BASE45", "the code is not valid Base45", 0);
        out.push(n >> 8, n & 0xff);
      } else {
        if (n > 0xff) throw new CC.ApiError("CC_BASE45", "the code is not valid Base45", 0);
        out.push(n);
      }
    }
    return Uint8Array.from(out);
  }

  /** The last value of each field of a protobuf message: varints as numbers, length-delimited as bytes. */
  function fields(bytes) {
    const found = new Map();
    let at = 0;
    const varint = () => {
      let value = 0;
      for (let shift = 0; shift < 64; shift += 7) {
        if (at >= bytes.length) throw malformed();
        const b = bytes[at++];
        value += (b & 0x7f) * 2 ** shift;
        if (!(b & 0x80)) return value;
      }
      throw malformed();
    };
    while (at < bytes.length) {
      const key = varint();
      const number = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) found.set(number, varint());
      else if (wire === 1 || wire === 5) at += wire === 1 ? 8 : 4;
      else if (wire === 2) {
        const length = varint();
        if (at + length > bytes.length) throw malformed();
        found.set(number, bytes.subarray(at, at + length));
        at += length;
      } else throw malformed();
    }
    if (at !== bytes.length) throw malformed();
    return found;
  }

  // --- wiring ------------------------------------------------------------------------------------

  tokenInput.value = tokenStore.get();
  tokenInput.addEventListener("change", () => tokenStore.set(tokenInput.value.trim()));
  citySelect.addEventListener("change", () => {
    cityStore.set(citySelect.value);
    renderMembers();
    loadCityOffers().catch((err) => report("page", err));
  });
  byId("o-kind").addEventListener("change", showBenefitFields);
  byId("offer-form").addEventListener("submit", publish);
  byId("revoke-form").addEventListener("submit", lookUp);
  byId("r-revoke").addEventListener("click", revoke);
  fillChoices();
  refresh();
})();
