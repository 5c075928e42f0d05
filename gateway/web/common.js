// Shared by the gateway's pages: the REST client, bilingual labels and safe DOM building.
// Text from the API or the user only ever reaches the page through textContent (see `h`).
"use strict";

const CC = (() => {
  const TIERS = {
    RESTRICTED: ["失信", "Restricted"],
    NEEDS_IMPROVEMENT: ["待提高", "Needs improvement"],
    FAIR: ["一般", "Fair"],
    GOOD: ["良好", "Good"],
    EXCELLENT: ["优秀", "Excellent"],
    OUTSTANDING: ["极好", "Outstanding"],
  };
  const TIER_ORDER = Object.keys(TIERS);

  const CATEGORIES = {
    parking: ["停车", "Parking"],
    scenic_spot: ["景区", "Scenic spots"],
    library: ["图书馆", "Libraries"],
    public_transport: ["公共交通", "Public transport"],
    public_bike: ["公共自行车", "Public bikes"],
    hospital: ["医院", "Hospitals"],
    hotel: ["酒店", "Hotels"],
    dining: ["餐饮", "Dining"],
    fitness: ["健身", "Fitness"],
    housekeeping: ["家政", "Housekeeping"],
    housing_fund: ["公积金", "Housing fund"],
    rental: ["租房", "Rental"],
    other: ["其他", "Other"],
  };

  // Every reason a decision can give (DESIGN 6), explained for the person at the counter.
  const REASONS = {
    TIER_TOO_LOW: ["持码人的信用等级低于此优惠要求的最低等级。",
      "The holder's credit tier is below the minimum tier of this offer."],
    NO_AGREEMENT: ["持码人所在城市与本市之间没有覆盖此类服务的有效互认协议，不能享受同城待遇。",
      "No agreement in force between the holder's home city and this city covers this kind of offer, " +
      "so same-city treatment does not apply."],
    OFFER_LOCAL_ONLY: ["此优惠仅限本市居民（如公积金），不向外地持码人开放。",
      "This offer is for residents of this city only (e.g. housing fund); visitors cannot have it."],
    QUOTA_EXHAUSTED: ["持码人本周期内的使用次数已用完。",
      "The holder has used up this offer's quota for the current period."],
    OFFER_NOT_ACTIVE: ["此优惠当前不在有效期内。", "This offer is not within its validity period now."],
    CODE_EXPIRED: ["信用码已过期，请持码人刷新后重新出示。",
      "The code has expired; ask the holder to refresh it and show it again."],
    CODE_NOT_YET_VALID: ["信用码尚未生效，请检查手机或设备的时间。",
      "The code is not valid yet; check the clock of the phone or device."],
    CODE_REVOKED: ["信用码已被签发城市撤销。", "The issuing city has revoked this code."],
    CODE_INVALID: ["信用码无法验证：格式错误、签名无效或密钥未知。",
      "The code cannot be verified: it is malformed, its signature is invalid or its key is unknown."],
    NO_RULES: ["本市尚未为此类服务制定同城待遇规则，不会默认给予。",
      "This city has no same-city rules for this kind of offer, so nothing is granted by default."],
    OFFER_UNKNOWN: ["找不到此优惠，可能已下线；请刷新优惠列表。",
      "There is no such offer (it may have been withdrawn); reload the list of offers."],
  };

  /** Build an element. Children are nodes or strings; strings become text nodes, never markup. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...nodes(children));
    return node;
  }

  /** Replace an element's content, with the same rules as `h` for the children. */
  function fill(element, ...children) {
    element.replaceChildren(...nodes(children));
    return element;
  }

  function nodes(children) {
    return children.flat(Infinity)
      .filter((child) => child !== null && child !== undefined && child !== false)
      .map((child) => (child instanceof Node ? child : document.createTextNode(String(child))));
  }

  /** Chinese first, English beside it (marked up as English for screen readers). */
  function bi(zh, en) {
    return h("span", { class: "bi" }, h("span", { lang: "zh-CN" }, zh), " ", h("span", { class: "en", lang: "en" }, en));
  }

  function tierText(name) {
    const t = TIERS[name];
    return t ? `${t[0]} ${t[1]}` : String(name || "—");
  }

  function tierNode(name) {
    const t = TIERS[name];
    return t ? h("span", { class: "tier" }, bi(t[0], t[1]), " ", h("code", {}, name)) : h("code", {}, name || "—");
  }

  function categoryPair(name) {
    return CATEGORIES[name] || [name, name];
  }

  function byId(id) {
    return document.getElementById(id);
  }

  /** A thrown API failure: the RFC 9457 problem's `code` and detail, or a transport failure. */
  class ApiError extends Error {
    constructor(code, detail, status) {
      super(`${code}: ${detail}`);
      this.code = code;
      this.detail = detail;
      this.status = status;
    }

    /** Whether repeating the same request may succeed (network, rate limit, server trouble). */
    get transient() {
      return this.status === 0 || this.status === 429 || this.status >= 500;
    }
  }

  /** Call the gateway's REST API; returns the JSON body or throws an ApiError. */
  async function api(method, path, { body, token } = {}) {
    const headers = { Accept: "application/json, application/problem+json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store",
      });
    } catch (err) {
      throw new ApiError("NETWORK", `网关无法连接 The gateway cannot be reached (${err.message})`, 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const code = (data && data.code) || `HTTP_${response.status}`;
      const detail = (data && (data.detail || data.title)) || response.statusText || "request failed";
      throw new ApiError(code, detail, response.status);
    }
    return data;
  }

  /** Show one clear error line (or hide it when `err` is null). */
  function showError(element, err) {
    if (!err) {
      element.hidden = true;
      element.textContent = "";
      return;
    }
    element.replaceChildren(
      h("span", { class: "sym", "aria-hidden": "true" }, "⚠ "),
      h("code", {}, err.code || "ERROR"),
      " ",
      err.detail || err.message || String(err),
    );
    element.hidden = false;
  }

  /** Canonical form of a pasted or scanned code: no line breaks, no outer blanks. */
  function cleanCode(text) {
    // Base45 has a space but never as the last character of a code, so trimming is safe.
    return String(text || "").replace(/[\r\n]+/g, "").trim();
  }

  /** Time in the viewer's zone, e.g. 2026-11-18 15:11:40. */
  function formatTime(value) {
    const moment = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(moment.getTime())) return String(value);
    const pad = (n) => String(n).padStart(2, "0");
    return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ` +
      `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
  }

  /** The alliance members, from the public trust-bundle summary: city code → {name, slug}. */
  async function loadMembers() {
    const summary = await api("GET", "/v1/trust-bundle?format=json");
    const cities = new Map();
    for (const c of summary.cities || []) cities.set(Number(c.city), c);
    return { summary, cities };
  }

  function cityPair(cities, code) {
    const c = cities && cities.get(Number(code));
    if (!c) return [String(code), ""];
    const en = c.slug ? c.slug.charAt(0).toUpperCase() + c.slug.slice(1) : "";
    return [c.name || String(code), en];
  }

  /** A random idempotency key; crypto.randomUUID needs a secure context, getRandomValues does not. */
  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** One remembered value in "session" (this tab) or "local" storage; a browser that refuses storage forgets. */
  function stored(name, kind = "session") {
    const area = () => window[`${kind}Storage`];
    return {
      get: () => { try { return area().getItem(name) || ""; } catch (e) { return ""; } },
      set: (v) => { try { if (v) area().setItem(name, v); else area().removeItem(name); } catch (e) { /* refused */ } },
    };
  }

  return {
    TIERS, TIER_ORDER, CATEGORIES, REASONS, ApiError,
    api, bi, byId, categoryPair, cityPair, cleanCode, fill, formatTime, h, loadMembers, newIdempotencyKey,
    showError, stored, tierNode, tierText,
  };
})();
