/**
 * The city's code-signing keys with their windows (`POST /v1/office/keys`, `…/keys/{kid}:retire`): a new
 * key is made in the issuer's key store and published at once; a retired one signs no more from its
 * "not after" (codes it signed stay valid until they expire). The private keys never reach the page.
 */

import { byId, fill, h } from "../lib/dom.js";
import { bi, biPair } from "../lib/i18n.js";
import type { Pair } from "../lib/messages.js";
import { timeNode } from "../lib/time.js";
import { OfficeSession, busy, chinaSeconds, confirmButton, say, type CodeKey, type OfficeState } from "./context.js";

const ALGORITHMS: Record<string, string> = { ed25519: "Ed25519", p256: "ECDSA P-256", sm2: "SM2 (国密)" };
const STATUS: Record<string, Pair> = {
  active: ["使用中", "active"], retired: ["已停用", "retired"], revoked: ["已撤销", "revoked"],
};

function windowCell(key: CodeKey): HTMLElement {
  return h("td", {}, timeNode(key.not_before_s), " → ",
    key.not_after_s ? timeNode(key.not_after_s) : bi("长期", "open-ended"));
}

function keyRow(session: OfficeSession, key: CodeKey, nowS: number): HTMLElement {
  const retiring = key.status === "active" && (!key.not_after_s || key.not_after_s > nowS);
  const status = STATUS[key.status] ?? [key.status, key.status];
  const actions = h("td", {});
  if (retiring) {
    const when = h("input", { type: "datetime-local", "aria-label": "停用时间（UTC+8，空为现在） Not after (UTC+8, empty: now)",
      class: "compact" });
    const retire = confirmButton(["停用", "Retire"], ["确认停用？", "Confirm retire?"], (button) =>
      busy(button, "o-keys-message", async () => {
        const at = chinaSeconds(when.value);
        if (Number.isNaN(at)) throw new Error("the time is not a date and time");
        await session.call("POST", `/v1/office/keys/${key.kid}:retire`, { not_after: at || null });
        await session.refresh();
        say("o-keys-message", [`密钥 ${key.kid} 已停用并已发布`, `Key ${key.kid} retired and published`], "ok-line");
      }));
    actions.append(when, " ", retire);
  }
  return h("tr", { "data-kid": key.kid },
    h("td", {}, h("code", {}, key.kid), h("div", { class: "help" }, key.name)),
    h("td", {}, ALGORITHMS[key.algorithm] ?? key.algorithm),
    h("td", {}, biPair(status)),
    windowCell(key), actions);
}

export function renderKeys(session: OfficeSession, state: OfficeState): void {
  const nowS = Math.floor(Date.now() / 1000);
  fill(byId("o-key-rows"), state.code_keys.map((k) => keyRow(session, k, nowS)));
  const published = state.published_role_version;
  fill(byId("o-role-version"), bi(`城市信任部分 第 ${state.role_version} 版（网关已发布第 ${published ?? "—"} 版）`,
    `City part version ${state.role_version} (the gateway serves version ${published ?? "—"})`));
}

export function setupKeys(session: OfficeSession): void {
  const form = byId<HTMLFormElement>("o-key-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = byId<HTMLButtonElement>("o-key-add");
    void busy(button, "o-keys-message", async () => {
      const algorithm = byId<HTMLSelectElement>("o-key-algorithm").value;
      const made = await session.call<{ key: CodeKey; role_version: number }>("POST", "/v1/office/keys", { algorithm });
      await session.refresh();
      say("o-keys-message", [`新密钥 ${made.key.kid} 已生成并发布（第 ${made.role_version} 版）`,
        `New key ${made.key.kid} made and published (version ${made.role_version})`], "ok-line");
    });
  });
}
