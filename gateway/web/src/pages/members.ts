/**
 * The gateway's /office: the member cities, each with a link to its own issuer's office page and
 * holder page (the issuers serve those; `issuer_url` comes from GET /v1/alliance).
 */

import { issuerPage, loadAlliance, type MemberJson } from "../lib/alliance.js";
import { ApiError } from "../lib/api.js";
import { byId, fill, h, show } from "../lib/dom.js";
import { bi, biPair, setupLanguage } from "../lib/i18n.js";
import { errorText } from "../lib/messages.js";

function link(href: string | null, label: HTMLElement, kind: string): HTMLElement {
  return href === null
    ? h("span", { class: "help" }, bi("未登记发码服务", "no issuer listed"))
    : h("a", { class: `button-link ${kind}`, href, "data-link": kind, rel: "noopener" }, label);
}

function member(m: MemberJson): HTMLLIElement {
  let host = "";
  try {
    host = m.issuer_url ? new URL(m.issuer_url).host : "";
  } catch {
    host = "";
  }
  return h("li", { class: "card member", "data-city": m.city },
    h("h2", {}, bi(m.name_zh, m.name_en), " ", h("code", { class: "city-code" }, m.city)),
    h("p", { class: "help" },
      bi(`${m.offers} 项优惠 · ${m.keys} 把密钥 · 城市数据 v${m.version} · 状态列表 v${m.status_list_version}`,
        `${m.offers} offers · ${m.keys} keys · city part v${m.version} · status list v${m.status_list_version}`)),
    h("div", { class: "row" },
      link(issuerPage(m, "office"), bi("信用办页面", "Office page"), "office"),
      link(issuerPage(m, "holder"), bi("居民端", "Holder page"), "holder")),
    host ? h("p", { class: "help issuer-host" }, bi("发码服务 ", "Issuer "), h("code", {}, host)) : null);
}

async function start(): Promise<void> {
  setupLanguage();
  try {
    const a = await loadAlliance();
    fill(byId("members"), a.cities.map(member));
    fill(byId("agreements"), a.agreements.length === 0
      ? h("li", {}, bi("暂无协议", "No agreements"))
      : a.agreements.map((id) => h("li", { "data-agreement": id }, h("code", {}, id))));
  } catch (e) {
    const code = e instanceof ApiError ? e.code : "CC_INTERNAL";
    const line = byId("members-error");
    fill(line, h("code", {}, code), " ", biPair(errorText(code)));
    show(line, true);
  }
  document.body.dataset["ready"] = "true";
}

void start();
