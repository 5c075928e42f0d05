/**
 * The city office's page (/office, served by the city's own issuer): it acts with the city's keys,
 * which stay in the issuer's key store; the browser holds only the office token it signed in with.
 * One section at a time (the address's #fragment picks it): dashboard, keys, merchants, offers,
 * agreements, statuses and the log.
 */

import { byId, fill, show } from "../lib/dom.js";
import { bi, setupLanguage } from "../lib/i18n.js";
import { tick } from "../lib/time.js";
import { renderAgreements, renderLog, setupProposals } from "./agreements.js";
import { OfficeSession, fail, say } from "./context.js";
import { loadFigures, setupDashboard } from "./dashboard.js";
import { renderKeys, setupKeys } from "./keys.js";
import { renderMerchants, setupMerchants } from "./merchants.js";
import { renderOffers, setupOffers } from "./offers.js";
import { setupStatus } from "./status.js";

const SECTIONS = ["dashboard", "keys", "merchants", "offers", "agreements", "status", "log"];

function showSection(): void {
  const wanted = location.hash.replace(/^#/, "");
  const current = SECTIONS.includes(wanted) ? wanted : "dashboard";
  for (const name of SECTIONS) {
    show(byId(`o-${name}`), name === current);
    const link = document.querySelector(`a[href="#${name}"]`);
    if (link) {
      if (name === current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }
}

async function enter(session: OfficeSession): Promise<void> {
  show(byId("o-signin"), false);
  show(byId("o-main"), true);
  show(byId("o-signout"), true);
  showSection();
  await loadFigures(session).catch((e) => fail("o-dashboard-error", e));
}

async function start(): Promise<void> {
  setupLanguage();
  const session = new OfficeSession();
  session.onState((state) => {
    fill(byId("o-city"), bi(`${state.name_zh}信用办`, `${state.name_en} credit office`));
    document.title = `${state.name_zh}信用办 · ${state.name_en} credit office`;
    renderKeys(session, state);
    renderMerchants(session, state);
    renderOffers(session, state);
    renderAgreements(session, state);
    renderLog(state);
  });
  setupDashboard(session);
  setupKeys(session);
  setupMerchants(session);
  setupOffers(session);
  setupStatus(session);
  setupProposals(session);
  window.addEventListener("hashchange", showSection);
  setInterval(() => tick(), 15_000);
  byId("o-refresh").addEventListener("click", () => {
    void session.refresh().then(() => loadFigures(session)).catch((e) => fail("o-fatal", e));
  });
  byId("o-signout").addEventListener("click", () => {
    session.signOut();
    show(byId("o-main"), false);
    show(byId("o-signout"), false);
    show(byId("o-signin"), true);
  });
  byId<HTMLFormElement>("o-signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("o-token");
    const button = byId<HTMLButtonElement>("o-signin-submit");
    button.disabled = true;
    say("o-signin-error", null);
    session.signIn(input.value.trim())
      .then(() => { input.value = ""; return enter(session); })
      .catch((e) => fail("o-signin-error", e))
      .finally(() => { button.disabled = false; });
  });
  if (session.token) {
    try {
      await session.refresh();
      await enter(session);
      return;
    } catch (e) {
      session.signOut();
      fail("o-signin-error", e);
    }
  }
  show(byId("o-signin"), true);
}

export function startOfficePage(): void {
  start().catch((e) => fail("o-fatal", e)).finally(() => { document.body.dataset["ready"] = "true"; });
}
