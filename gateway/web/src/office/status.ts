/**
 * Revocation, suspension and reinstatement (`POST /v1/office/status`): by code (a `CC1:` code, or a
 * `CP1:` presentation someone scanned), or for every live code of that code's holder. The issuer
 * changes the city's status list, signs it and publishes it; no public list ever names the holder.
 */

import { byId } from "../lib/dom.js";
import type { Pair } from "../lib/messages.js";
import { OfficeSession, busy, say } from "./context.js";

const DONE: Record<string, Pair> = {
  revoked: ["已撤销", "revoked"], suspended: ["已暂停", "suspended"], valid: ["已恢复", "reinstated"],
};

export function setupStatus(session: OfficeSession): void {
  byId<HTMLFormElement>("o-status-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const button = byId<HTMLButtonElement>("o-status-submit");
    void busy(button, "o-status-message", async () => {
      const code = byId<HTMLTextAreaElement>("o-status-code").value.trim();
      if (!code) throw new Error("paste the code (CC1:…) or a presentation (CP1:…) first");
      const status = (document.querySelector<HTMLInputElement>("input[name=o-status-action]:checked")?.value) ?? "";
      const holder = byId<HTMLInputElement>("o-status-holder").checked;
      const answer = await session.call<{ changed: string[]; status_list_version: number | null; note: string | null }>(
        "POST", "/v1/office/status", { code, status, holder });
      const [zh, en] = DONE[status] ?? [status, status];
      if (answer.changed.length === 0) {
        say("o-status-message", ["没有变化：已是该状态", `Nothing changed: ${answer.note ?? "already in that status"}`], "ok-line");
      } else {
        say("o-status-message", [`${answer.changed.length} 个码${zh}，状态列表第 ${answer.status_list_version} 版已发布`,
          `${answer.changed.length} code(s) ${en}; status list version ${answer.status_list_version} published`], "ok-line");
      }
      await session.refresh();
    });
  });
}
