/** Times as the reference reads and writes them (sdk/citycredit/core/_time.py): seconds, ISO 8601, UTC+8 buckets. */

import { invalidArgument } from "./errors.js";

export const MAX_TIME_S = 253_402_300_799;
const CHINA_OFFSET_S = 8 * 3600;

function checked(seconds: number, what: string): number {
  if (!(seconds >= 0 && seconds <= MAX_TIME_S)) {
    throw invalidArgument(`${what} ${seconds} is outside 1970-01-01 … 9999-12-31T23:59:59Z`);
  }
  return seconds;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** ISO 8601 in UTC: `2026-11-18T07:06:40Z`. */
export function iso(epochS: number): string {
  const d = new Date(checked(epochS, "time") * 1000);
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`
  );
}

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1 || y < 1) return false;
  const days = [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return d <= days[m - 1]!;
}

function utcSeconds(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return Math.floor(date.getTime() / 1000);
}

const DATETIME =
  /^(\d{4})(-?)(\d{2})\2(\d{2})[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,6}))?)?)?(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?$/;

/** Seconds since the epoch from ISO 8601 text with a zone, or a bare date (00:00 in UTC+8). */
export function parseTimeS(value: string, what = "time"): number {
  const text = value.trim();
  const bad = () =>
    invalidArgument(
      `${what} must be seconds or ISO 8601 with a zone (e.g. 2026-11-22T10:00:00+08:00), not '${value}'`,
    );
  if ([...text].length === 10) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!m) throw bad();
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (!validDate(y, mo, d)) throw bad();
    return checked(utcSeconds(y, mo, d, 0, 0, 0) - CHINA_OFFSET_S, what);
  }
  const m = DATETIME.exec(text);
  if (!m) throw bad();
  const y = Number(m[1]), mo = Number(m[3]), d = Number(m[4]), h = Number(m[5]);
  const mi = m[6] ? Number(m[6]) : 0, s = m[7] ? Number(m[7]) : 0;
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) throw bad();
  const zone = m[9];
  if (zone === undefined) throw invalidArgument(`${what} '${value}' has no time zone; add Z or +08:00`);
  let offset = 0;
  if (zone !== "Z") {
    const z = /^([+-])(\d{2}):?(\d{2})?:?(\d{2})?/.exec(zone)!;
    const zh = Number(z[2]), zm = z[3] ? Number(z[3]) : 0, zs = z[4] ? Number(z[4]) : 0;
    if (zh > 23 || zm > 59 || zs > 59) throw bad();
    offset = (z[1] === "-" ? -1 : 1) * (zh * 3600 + zm * 60 + zs);
  }
  const fraction = m[8] ? Number("0." + m[8]) : 0;
  const exact = utcSeconds(y, mo, d, h, mi, s) - offset + fraction;
  return checked(Math.trunc(exact), what);
}

/** The calendar bucket (UTC+8) a quota counts in: "2026-11-03", "2026-W45", "2026-11" or "2026". */
export function periodKey(period: string, nowS: number): string {
  const d = new Date((checked(nowS, "time") + CHINA_OFFSET_S) * 1000);
  const y = d.getUTCFullYear(), m = d.getUTCMonth() + 1, day = d.getUTCDate();
  if (period === "day") return `${pad(y, 4)}-${pad(m)}-${pad(day)}`;
  if (period === "week") {
    const weekday = (d.getUTCDay() + 6) % 7; // Monday 0
    const thursday = new Date(Date.UTC(y, m - 1, day - weekday + 3));
    const isoYear = thursday.getUTCFullYear();
    const week = 1 + Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * 86400000));
    return `${pad(isoYear, 4)}-W${pad(week)}`;
  }
  if (period === "month") return `${pad(y, 4)}-${pad(m)}`;
  return pad(y, 4);
}
