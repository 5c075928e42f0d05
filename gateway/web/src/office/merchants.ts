/**
 * Merchant onboarding: a merchant known by its unified social credit code (checked here and by the
 * issuer) gets a key scoped to this city and, optionally, to venues. The issuer signs the grant and
 * sends it to the gateway; the key itself is shown once, here, and kept nowhere but by the merchant.
 */

import { byId, fill, h, show } from "../lib/dom.js";
import { bi, biPair } from "../lib/i18n.js";
import { timeNode } from "../lib/time.js";
import { OfficeSession, busy, confirmButton, say, type Merchant, type OfficeState } from "./context.js";
import { checkUscc } from "./uscc.js";

function usccMessage(text: string): ReturnType<typeof checkUscc> | null {
  return text.trim() ? checkUscc(text) : null;
}

function renderCheck(): boolean {
  const input = byId<HTMLInputElement>("o-uscc");
  const verdict = usccMessage(input.value);
  const note = byId("o-uscc-check");
  if (verdict === null) {
    note.className = "help";
    fill(note, bi("18 位，含校验位（GB 32100）", "18 characters with the check character (GB 32100)"));
    input.removeAttribute("aria-invalid");
    return false;
  }
  input.setAttribute("aria-invalid", verdict.ok ? "false" : "true");
  note.className = verdict.ok ? "help good" : "help bad";
  if (verdict.ok) fill(note, bi("校验位正确 ✓", "check character correct ✓"));
  else if (verdict.why === "length") fill(note, bi("应为 18 位", "must be 18 characters"));
  else if (verdict.why === "alphabet") {
    fill(note, bi("只能包含数字和字母 A–Y（不含 I、O、S、V、Z）", "only digits and A–Y (no I, O, S, V or Z)"));
  } else fill(note, bi(`校验位错误：应为 ${verdict.expected}`, `wrong check character: it should be ${verdict.expected}`));
  return verdict.ok;
}

function merchantRow(session: OfficeSession, m: Merchant): HTMLElement {
  const actions = h("td", {});
  if (!m.revoked_at) {
    actions.append(confirmButton(["收回密钥", "Revoke key"], ["确认收回？", "Confirm revoke?"], (button) =>
      busy(button, "o-merchants-message", async () => {
        await session.call("POST", `/v1/office/merchants/${m.id}:revoke`);
        await session.refresh();
        say("o-merchants-message", [`已收回 ${m.name} 的密钥`, `The key of ${m.name} is revoked`], "ok-line");
      })));
  }
  return h("tr", { "data-merchant": m.merchant_id, class: m.revoked_at ? "gone" : null },
    h("td", {}, m.name, h("div", { class: "help mono" }, m.merchant_id)),
    h("td", {}, m.venues.length ? m.venues.join(", ") : bi("全市", "whole city")),
    h("td", {}, timeNode(m.granted_at)),
    h("td", {}, m.revoked_at ? h("span", {}, bi("已收回", "revoked"), " ", timeNode(m.revoked_at)) : bi("有效", "valid")),
    actions);
}

export function renderMerchants(session: OfficeSession, state: OfficeState): void {
  fill(byId("o-merchant-rows"), state.merchants.map((m) => merchantRow(session, m)));
}

export function setupMerchants(session: OfficeSession): void {
  const input = byId<HTMLInputElement>("o-uscc");
  input.addEventListener("input", () => void renderCheck());
  renderCheck();
  byId<HTMLFormElement>("o-merchant-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show(byId("o-merchant-token-box"), false);
    if (!renderCheck()) {
      say("o-merchants-message", ["统一社会信用代码无效，未提交", "The unified social credit code is not valid: nothing was sent"]);
      input.focus();
      return;
    }
    const button = byId<HTMLButtonElement>("o-merchant-add");
    void busy(button, "o-merchants-message", async () => {
      const venues = byId<HTMLInputElement>("o-merchant-venues").value.split(/[,，\s]+/).filter(Boolean);
      const made = await session.call<{ id: string; token: string; merchant_id: string }>("POST", "/v1/office/merchants", {
        merchant_id: input.value.replace(/\s+/g, "").toUpperCase(), name: byId<HTMLInputElement>("o-merchant-name").value,
        venues,
      });
      byId("o-merchant-token").textContent = made.token;
      show(byId("o-merchant-token-box"), true);
      byId<HTMLFormElement>("o-merchant-form").reset();
      renderCheck();
      await session.refresh();
      say("o-merchants-message", [`商户 ${made.merchant_id} 已开通`, `Merchant ${made.merchant_id} onboarded`], "ok-line");
    });
  });
  byId("o-merchant-token-copy").addEventListener("click", () => {
    const text = byId("o-merchant-token").textContent ?? "";
    navigator.clipboard?.writeText(text).then(
      () => fill(byId("o-merchant-token-copied"), biPair(["已复制", "copied"])),
      () => fill(byId("o-merchant-token-copied"), biPair(["请手动复制", "copy it by hand"])));
  });
}
