/**
 * The office page's session with its city's issuer: the office token (kept for this tab only), the
 * office's state as `GET /v1/office` gives it, and the calls every section makes. The issuer signs every
 * change with the city's keys and uploads it; the page never holds a key.
 */

import { ApiError, api } from "../lib/api.js";
import { byId, fill, show } from "../lib/dom.js";
import { biPair } from "../lib/i18n.js";
import type { Pair } from "../lib/messages.js";

export interface CodeKey {
  name: string;
  algorithm: string;
  kid: string;
  not_before_s: number;
  not_after_s: number;
  status: string;
  revoked_at_s: number;
}

export interface Offer {
  id: string;
  city: string;
  venue: string;
  category: string;
  min_tier: string;
  benefit: { kind: string; discount_percent: number; amount_fen: number; count: number; text_zh: string; text_en: string };
  valid_from_s: number;
  valid_until_s: number;
  local_only: boolean;
  quota: { uses: number; period: string } | null;
  title_zh: string;
  title_en: string;
  assumed: boolean;
  offline_redemption: boolean;
}

export interface Agreement {
  id: string;
  cities: string[];
  categories: string[];
  not_before: string;
  not_after: string | null;
  title: string;
}

export interface Proposal {
  name: string;
  agreement_id: string;
  summary: string[];
  cities: string[];
  signed_by: string[];
  complete: boolean;
}

export interface Merchant {
  id: string;
  merchant_id: string;
  name: string;
  venues: string[];
  granted_at: string;
  revoked_at: string | null;
}

export interface LogHead {
  size: number;
  root: string;
  timestamp: number;
  signed: string;
  countersignature: string | null;
}

export interface City {
  city: string;
  slug: string;
  name_zh: string;
  name_en: string;
}

export interface OfficeState {
  city: string;
  slug: string;
  name_zh: string;
  name_en: string;
  code_keys: CodeKey[];
  offers: Offer[];
  role_version: number;
  published_role_version: number | null;
  status_list_version: number | null;
  agreements: Agreement[];
  proposals: Proposal[];
  merchants: Merchant[];
  log_head: LogHead | null;
  gateway: string | null;
  cities: City[];
}

const TOKEN_KEY = "citycredit-office-token";

type Listener = (state: OfficeState) => void;

export class OfficeSession {
  token: string | null = sessionStorage.getItem(TOKEN_KEY);
  state: OfficeState | null = null;
  private readonly listeners: Listener[] = [];

  onState(listener: Listener): void {
    this.listeners.push(listener);
  }

  async signIn(token: string): Promise<void> {
    this.token = token;
    try {
      await this.refresh();
    } catch (e) {
      this.token = null;
      throw e;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  signOut(): void {
    this.token = null;
    this.state = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return api<T>(method, path, { token: this.token, body });
  }

  /** Reload the office's state and redraw every section. */
  async refresh(): Promise<OfficeState> {
    const state = await this.call<OfficeState>("GET", "/v1/office");
    this.state = state;
    for (const listener of this.listeners) listener(state);
    return state;
  }

  cityName(city: string): Pair {
    const found = this.state?.cities.find((c) => c.city === city);
    return found ? [found.name_zh, found.name_en] : [city, city];
  }
}

export function problem(error: unknown): Pair {
  if (error instanceof ApiError) {
    if (error.status === 0) return ["无法连接本市的签发服务", "Cannot reach the city's issuer"];
    if (error.status === 401) return ["办公室令牌无效，请重新登录", `The office token is not accepted (${error.detail})`];
    return [`未完成：${error.detail}`, `${error.code}: ${error.detail}`];
  }
  return [`未完成：${String(error)}`, String(error)];
}

/** A message line: an error, a success, or nothing. */
export function say(id: string, text: Pair | null, kind: "error-line" | "ok-line" = "error-line"): void {
  const node = byId(id);
  node.className = kind;
  delete node.dataset["error"];
  fill(node, text ? biPair(text) : null);
  show(node, text !== null);
}

/** A failure said in a message line, its catalogue code in `data-error` (for people who report it, and tests). */
export function fail(id: string, error: unknown): void {
  say(id, problem(error));
  if (error instanceof ApiError) byId(id).dataset["error"] = error.code;
}

/** Run `work` with `button` busy; its failure is said in `messageId`. */
export async function busy(button: HTMLButtonElement, messageId: string, work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  say(messageId, null);
  try {
    await work();
  } catch (e) {
    fail(messageId, e);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/**
 * A two-step button for what cannot be undone from here (withdraw, retire, revoke): the first press asks,
 * the second within a few seconds acts. No dialog: the question is in the button itself.
 */
export function confirmButton(label: Pair, confirm: Pair, act: (button: HTMLButtonElement) => Promise<void>): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  let armed: ReturnType<typeof setTimeout> | null = null;
  const reset = () => {
    armed = null;
    button.classList.remove("armed");
    button.replaceChildren(biPair(label));
  };
  reset();
  button.addEventListener("click", () => {
    if (armed === null) {
      button.classList.add("armed");
      button.replaceChildren(biPair(confirm));
      armed = setTimeout(reset, 5000);
      return;
    }
    clearTimeout(armed);
    reset();
    void act(button);
  });
  return button;
}

/** Seconds from a datetime-local value read as China time (UTC+8); 0 for an empty one. */
export function chinaSeconds(value: string): number {
  if (!value) return 0;
  const ms = Date.parse(`${value.length === 16 ? value + ":00" : value}+08:00`);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : NaN;
}

/** A datetime-local value in China time (UTC+8) for seconds; empty for 0. */
export function chinaInput(seconds: number): string {
  if (!seconds) return "";
  return new Date((seconds + 8 * 3600) * 1000).toISOString().slice(0, 16);
}
