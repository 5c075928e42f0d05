/** The gateway's landing page (/): the alliance at a glance, from the public /v1/alliance. */

import { loadAlliance } from "../lib/alliance.js";
import { ApiError } from "../lib/api.js";
import { byId, fill, h } from "../lib/dom.js";
import { bi, biPair, setupLanguage } from "../lib/i18n.js";
import { errorText } from "../lib/messages.js";
import { timeNode, tick } from "../lib/time.js";

async function start(): Promise<void> {
  setupLanguage();
  const box = byId("alliance");
  try {
    const a = await loadAlliance();
    const names = a.cities.map((c) => c.name_zh).join("、");
    const namesEn = a.cities.map((c) => c.name_en).join(", ");
    fill(box, h("h2", {}, a.alliance),
      h("dl", { class: "facts", "data-members": a.cities.length },
        h("dt", {}, bi("成员城市", "Member cities")),
        h("dd", {}, bi(`${a.cities.length} 个：${names}`, `${a.cities.length}: ${namesEn}`)),
        h("dt", {}, bi("互认协议", "Agreements")), h("dd", {}, String(a.agreements.length)),
        h("dt", {}, bi("治理", "Governance")),
        h("dd", {}, bi(`${a.governance.keys} 把治理密钥中任意 ${a.governance.threshold} 把签名`,
          `any ${a.governance.threshold} of ${a.governance.keys} governance keys sign`)),
        h("dt", {}, bi("信任数据", "Trust set")),
        h("dd", {}, bi(`快照 v${a.versions["snapshot"] ?? 0}，有效至 `, `snapshot v${a.versions["snapshot"] ?? 0}, valid until `),
          timeNode(a.expires_at))));
  } catch (e) {
    const code = e instanceof ApiError ? e.code : "CC_INTERNAL";
    fill(box, h("p", { class: "error-line", "data-error": code }, h("code", {}, code), " ", biPair(errorText(code))));
  }
  setInterval(() => tick(), 10_000);
  document.body.dataset["ready"] = "true";
}

void start();
