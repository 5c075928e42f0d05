/**
 * Times as people at a till read them: China time (UTC+8, whatever the device's zone) with a relative
 * hint, e.g. "2026-11-18 15:11 · 3 分钟前". The API speaks ISO 8601 in UTC or seconds.
 */

import { h } from "./dom.js";
import { bi } from "./i18n.js";

const ZONE = "Asia/Shanghai";
const FORMAT = new Intl.DateTimeFormat("en-CA", {
  timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23",
});
const RELATIVE = { zh: new Intl.RelativeTimeFormat("zh-CN", { numeric: "auto" }),
  en: new Intl.RelativeTimeFormat("en", { numeric: "auto" }) };
const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["second", 60], ["minute", 60], ["hour", 24], ["day", 30], ["month", 12], ["year", Infinity],
];

export const nowS = (): number => Math.floor(Date.now() / 1000);

/** Seconds from an ISO 8601 text or a number of seconds; NaN when neither. */
export function toSeconds(value: string | number): number {
  return typeof value === "number" ? value : Math.floor(Date.parse(value) / 1000);
}

/** "2026-11-18 15:11:40" in UTC+8. */
export function localTime(value: string | number): string {
  const s = toSeconds(value);
  if (!Number.isFinite(s)) return String(value);
  const parts = Object.fromEntries(FORMAT.formatToParts(new Date(s * 1000)).map((p) => [p.type, p.value]));
  return `${parts["year"]}-${parts["month"]}-${parts["day"]} ${parts["hour"]}:${parts["minute"]}:${parts["second"]}`;
}

/** "3 分钟前" / "in 5 minutes", relative to `now`. */
export function relative(value: string | number, lang: "zh" | "en", now = nowS()): string {
  let delta = toSeconds(value) - now;
  if (Math.abs(delta) < 5) return lang === "zh" ? "刚刚" : "just now";
  for (const [unit, size] of STEPS) {
    if (Math.abs(delta) < size) return RELATIVE[lang].format(Math.round(delta), unit);
    delta /= size;
  }
  return "";
}

/** A <time> element: local time, zone, and the relative hint in both languages (refreshed by `tick`). */
export function timeNode(value: string | number): HTMLTimeElement {
  const s = toSeconds(value);
  const node = h("time", { datetime: Number.isFinite(s) ? new Date(s * 1000).toISOString() : String(value),
    "data-at": Number.isFinite(s) ? s : null, class: "when" });
  paint(node);
  return node;
}

function paint(node: HTMLTimeElement): void {
  const s = Number(node.dataset["at"]);
  if (!Number.isFinite(s)) {
    node.textContent = node.dateTime;
    return;
  }
  node.replaceChildren(localTime(s), " ", h("span", { class: "zone" }, "UTC+8"), " ",
    h("span", { class: "ago" }, "· ", bi(relative(s, "zh"), relative(s, "en"))));
}

/** Refresh every relative hint on the page (call it every few seconds). */
export function tick(root: ParentNode = document): void {
  for (const node of root.querySelectorAll<HTMLTimeElement>("time[data-at]")) paint(node);
}
