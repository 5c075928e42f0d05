/**
 * The dashboard: the city's redemptions by day, offer, tier and visiting (home) city, as the gateway
 * counts them from its redemption records (`GET /v1/office/figures`). The gateway already suppresses
 * small counts ("<5"), so no person is singled out; the charts draw such a cell as a pale bar up to the
 * threshold, labelled as hidden, and the tables beside them say "<5".
 */

import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip, type ChartConfiguration,
} from "chart.js";
import { byId, fill, h } from "../lib/dom.js";
import { bi, biPair, currentLang, onLangChange } from "../lib/i18n.js";
import { TIERS, TIER_ORDER, type Pair } from "../lib/messages.js";
import { localTime } from "../lib/time.js";
import { OfficeSession, busy, say } from "./context.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily || "sans-serif";
Chart.defaults.animation = false;

type Count = number | string;

interface Figures {
  city: string;
  since: string;
  until: string;
  suppressed_below: number;
  by_day: Record<string, Count>;
  by_offer: Record<string, Count>;
  by_tier: Record<string, Count>;
  by_home_city: Record<string, Count>;
  total: Count;
}

interface Row {
  label: Pair;
  count: Count;
}

const charts = new Map<string, Chart>();
let last: Figures | null = null;

const DAY_S = 86400;

/** Every day of the window (UTC+8), with the days nobody redeemed on as 0. */
function days(figures: Figures): Row[] {
  const rows: Row[] = [];
  const start = Math.floor((Date.parse(figures.since) / 1000 + 8 * 3600) / DAY_S);
  const end = Math.floor((Date.parse(figures.until) / 1000 - 1 + 8 * 3600) / DAY_S);
  for (let d = start; d <= end && rows.length < 400; d++) {
    const key = new Date(d * DAY_S * 1000).toISOString().slice(0, 10);
    rows.push({ label: [key.slice(5), key.slice(5)], count: figures.by_day[key] ?? 0 });
  }
  return rows;
}

function rowsOf(session: OfficeSession, figures: Figures): Record<string, Row[]> {
  const offerTitle = (id: string): Pair => {
    const offer = session.state?.offers.find((o) => o.id === id);
    return offer ? [offer.title_zh, offer.title_en || offer.title_zh] : [id, id];
  };
  return {
    day: days(figures),
    offer: Object.entries(figures.by_offer).map(([id, count]) => ({ label: offerTitle(id), count })),
    tier: TIER_ORDER.filter((t) => t in figures.by_tier).map((t) => ({ label: TIERS[t]!, count: figures.by_tier[t]! })),
    home: Object.entries(figures.by_home_city).map(([city, count]) => ({ label: session.cityName(city), count })),
  };
}

/** `text` cut to about `widthPx` at the charts' 12 px font (a CJK character is about twice a Latin one). */
function clip(text: string, widthPx: number): string {
  let width = 0;
  let out = "";
  for (const ch of text) {
    width += /[\u2e80-\u9fff\uff00-\uffef]/.test(ch) ? 12 : 7;
    if (width > widthPx) return `${out}…`;
    out += ch;
  }
  return out;
}

function draw(name: string, rows: Row[], threshold: number, horizontal: boolean): void {
  const canvas = byId<HTMLCanvasElement>(`o-chart-${name}`);
  const lang = currentLang() === "zh" ? 0 : 1;
  const labels = rows.map((r) => r.label[lang]);
  const shown = rows.map((r) => (typeof r.count === "number" ? r.count : null));
  const hidden = rows.map((r) => (typeof r.count === "number" ? null : threshold - 1));
  const config: ChartConfiguration<"bar", (number | null)[], string> = {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: lang ? "redemptions" : "核销次数", data: shown, backgroundColor: "#0b4f8a" },
        { label: lang ? `fewer than ${threshold} (hidden)` : `少于 ${threshold}（已隐去）`, data: hidden,
          backgroundColor: "#c9d3dd" },
      ],
    },
    options: {
      indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false, skipNull: true,
      scales: {
        [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } },
        // Long offer titles are cut on the axis; the table beside the chart has them whole.
        [horizontal ? "y" : "x"]: { ticks: { callback(value) {
          return clip(this.getLabelForValue(Number(value)), horizontal ? canvas.clientWidth * 0.4 : 120);
        } } },
      },
      plugins: {
        legend: { display: hidden.some((v) => v !== null), position: "bottom" },
        tooltip: { callbacks: { label: (item) => item.datasetIndex === 1 ? `<${threshold}` : String(item.raw) } },
      },
    },
  };
  charts.get(name)?.destroy();
  charts.set(name, new Chart(canvas, config));
}

function table(name: string, rows: Row[]): void {
  const shown = name === "day" ? rows.filter((r) => r.count !== 0) : rows;
  fill(byId(`o-table-${name}`), shown.length === 0
    ? h("tr", {}, h("td", { colspan: "2" }, bi("无", "none")))
    : shown.map((r) => h("tr", { "data-count": String(r.count) }, h("td", {}, biPair(r.label)),
      h("td", { class: "num" }, String(r.count)))));
}

function render(session: OfficeSession, figures: Figures): void {
  last = figures;
  const rows = rowsOf(session, figures);
  byId("o-total").textContent = String(figures.total);
  const [since, until] = [localTime(figures.since).slice(0, 10), localTime(figures.until).slice(0, 10)];
  fill(byId("o-window"), bi(`${since} 至 ${until}（UTC+8）`, `${since} to ${until} (UTC+8)`));
  fill(byId("o-suppressed"), bi(`少于 ${figures.suppressed_below} 的计数显示为“<${figures.suppressed_below}”，以免识别到个人。`,
    `Counts under ${figures.suppressed_below} show as "<${figures.suppressed_below}", so that no one is singled out.`));
  for (const [name, list] of Object.entries(rows)) {
    draw(name, list, figures.suppressed_below, name === "offer" || name === "home");
    table(name, list);
  }
}

export async function loadFigures(session: OfficeSession): Promise<void> {
  const daysBack = Number(byId<HTMLSelectElement>("o-period").value) || 30;
  const now = Math.floor(Date.now() / 1000);
  const since = new Date((now - daysBack * DAY_S) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const until = new Date((now + 60) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const figures = await session.call<Figures>("GET", `/v1/office/figures?since=${since}&until=${until}`);
  render(session, figures);
  say("o-dashboard-error", null);
}

export function setupDashboard(session: OfficeSession): void {
  const reload = byId<HTMLButtonElement>("o-figures-reload");
  const run = () => busy(reload, "o-dashboard-error", () => loadFigures(session));
  reload.addEventListener("click", () => void run());
  byId("o-period").addEventListener("change", () => void run());
  onLangChange(() => {
    if (last) render(session, last);
  });
}
