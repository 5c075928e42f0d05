/**
 * The agreements the city is party to (from the trust set it follows), the proposals waiting for its
 * signature (the office's inbox: signing adds the city's authority signature; the file is then passed on to
 * the next city, which adds it to its inbox; once every city signed, publishing sends it to the gateway),
 * leaving an agreement, and the gateway log's latest signed head as this city's witness countersigned it.
 */

import { byId, fill, h } from "../lib/dom.js";
import { bi, biPair } from "../lib/i18n.js";
import { CATEGORIES } from "../lib/messages.js";
import { localTime, timeNode } from "../lib/time.js";
import { OfficeSession, busy, confirmButton, fail, say, type Agreement, type OfficeState, type Proposal } from "./context.js";

function cities(session: OfficeSession, list: string[]): HTMLElement {
  return h("span", {}, ...list.flatMap((c, i) => [i ? " · " : "", biPair(session.cityName(c))]));
}

function agreementRow(session: OfficeSession, a: Agreement): HTMLElement {
  const leave = confirmButton(["退出协议", "Leave"], ["确认退出？", "Confirm leave?"], (button) =>
    busy(button, "o-agreements-message", async () => {
      await session.call("POST", `/v1/office/agreements/${encodeURIComponent(a.id)}:withdraw`);
      await session.refresh();
      say("o-agreements-message", [`已退出协议 ${a.id}（自现在起）`, `Left agreement ${a.id} from now`], "ok-line");
    }));
  return h("tr", { "data-agreement": a.id },
    h("td", {}, h("strong", {}, a.title || a.id), h("div", { class: "help mono" }, a.id)),
    h("td", {}, cities(session, a.cities)),
    h("td", {}, a.categories.length
      ? h("span", {}, ...a.categories.flatMap((c, i) => [i ? "、" : "", biPair(CATEGORIES[c] ?? [c, c])]))
      : bi("所有非本地专享类别", "every category not local-only")),
    h("td", {}, timeNode(a.not_before), " → ", a.not_after ? timeNode(a.not_after) : bi("长期", "open-ended")),
    h("td", {}, leave));
}

function proposalItem(session: OfficeSession, p: Proposal): HTMLElement {
  const mine = session.state?.city ?? "";
  const signed = p.signed_by.includes(mine);
  const actions = h("p", { class: "row" });
  if (!signed) {
    const sign = h("button", { type: "button", class: "primary" }, bi("以本市名义签署", "Sign for this city"));
    sign.addEventListener("click", () => void busy(sign, "o-agreements-message", async () => {
      await session.call("POST", `/v1/office/proposals/${encodeURIComponent(p.name)}:sign`);
      await session.refresh();
      say("o-agreements-message", [`已签署协议提案 ${p.agreement_id}`, `Signed the proposal ${p.agreement_id}`], "ok-line");
    }));
    actions.append(sign);
  }
  const download = h("button", { type: "button" }, bi("下载（转交下一城市）", "Download (pass it on)"));
  download.addEventListener("click", () => void busy(download, "o-agreements-message", async () => {
    const doc = await session.call<unknown>("GET", `/v1/office/proposals/${encodeURIComponent(p.name)}`);
    const link = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2) + "\n"],
      { type: "application/json" })), download: `${p.name}.json` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }));
  actions.append(download);
  if (p.complete) {
    const publish = h("button", { type: "button" }, bi("发布到网关", "Publish to the gateway"));
    publish.addEventListener("click", () => void busy(publish, "o-agreements-message", async () => {
      await session.call("POST", `/v1/office/proposals/${encodeURIComponent(p.name)}:publish`);
      await session.refresh();
      say("o-agreements-message", [`协议 ${p.agreement_id} 已发布`, `Agreement ${p.agreement_id} published`], "ok-line");
    }));
    actions.append(publish);
  }
  return h("li", { "data-proposal": p.name },
    h("p", {}, h("strong", {}, p.agreement_id), " ", cities(session, p.cities)),
    h("ul", { class: "summary" }, ...p.summary.map((line) => h("li", {}, line))),
    h("p", { class: "help" }, bi("已签署：", "Signed by: "), p.signed_by.length ? cities(session, p.signed_by) : bi("尚无", "nobody yet")),
    actions);
}

export function renderAgreements(session: OfficeSession, state: OfficeState): void {
  fill(byId("o-agreement-rows"), state.agreements.length
    ? state.agreements.map((a) => agreementRow(session, a))
    : h("tr", {}, h("td", { colspan: "5" }, bi("本市暂未加入任何协议", "This city is party to no agreement"))));
  fill(byId("o-proposals"), state.proposals.length
    ? state.proposals.map((p) => proposalItem(session, p))
    : h("li", { class: "help" }, bi("没有等待本市签署的提案", "No proposal is waiting for this city")));
}

/** A proposal file another city passed on, put into this office's inbox (its name from the file's). */
export function setupProposals(session: OfficeSession): void {
  const input = byId<HTMLInputElement>("o-proposal-file");
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (!file) return;
    const name = file.name.replace(/\.json$/i, "").toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "");
    void (async () => {
      say("o-agreements-message", null);
      try {
        const doc: unknown = JSON.parse(await file.text());
        await session.call("PUT", `/v1/office/proposals/${encodeURIComponent(name)}`, doc);
        await session.refresh();
        say("o-agreements-message", [`提案 ${name} 已放入收件箱`, `Proposal ${name} is in the inbox`], "ok-line");
      } catch (e) {
        if (e instanceof SyntaxError) say("o-agreements-message", ["此文件不是 JSON 提案", "This file is not a JSON proposal"]);
        else fail("o-agreements-message", e);
      } finally {
        input.value = "";
      }
    })();
  });
}

export function renderLog(state: OfficeState): void {
  const head = state.log_head;
  if (!head) {
    fill(byId("o-log-head"), h("p", { class: "help" }, bi("尚未见证网关日志（稍后再看）", "No log head witnessed yet (look again shortly)")));
    return;
  }
  fill(byId("o-log-head"), h("dl", { class: "facts" },
    h("dt", {}, bi("条目数", "Entries")), h("dd", { id: "o-log-size" }, String(head.size)),
    h("dt", {}, bi("根哈希", "Root hash")), h("dd", { class: "mono" }, head.root),
    h("dt", {}, bi("时间", "Time")), h("dd", {}, localTime(head.timestamp), " UTC+8"),
    h("dt", {}, bi("本市副署", "Countersigned")),
    h("dd", {}, head.countersignature ? bi("是：本市见证了此树头，任何改写都会被发现", "yes: this city witnessed the head; a rewrite would be caught")
      : bi("否", "no"))));
}
