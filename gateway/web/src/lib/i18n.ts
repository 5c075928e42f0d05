/**
 * Two languages, 中文 and English. Every text is built with `bi(zh, en)`: both are in the page, and the
 * stylesheet shows the one chosen (`<html data-lang>`), so switching needs no redrawing. The choice is
 * kept in this browser; the first visit follows the browser's language, Chinese unless it asks for English.
 */

import { h } from "./dom.js";

export type Lang = "zh" | "en";
const KEY = "citycredit.lang";
const listeners: ((lang: Lang) => void)[] = [];

function stored(): Lang | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === "zh" || value === "en" ? value : null;
  } catch {
    return null; // storage refused (private mode): the choice lasts for this page only
  }
}

/** The language the page shows (what `setLang` last set; the markup starts in Chinese). */
export function currentLang(): Lang {
  return document.documentElement.dataset["lang"] === "en" ? "en" : "zh";
}

/** The remembered choice, else the browser's: Chinese unless it asks for English. */
const preferred = (): Lang => stored() ?? (navigator.language.toLowerCase().startsWith("en") ? "en" : "zh");

export function setLang(lang: Lang): void {
  document.documentElement.dataset["lang"] = lang;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  try {
    localStorage.setItem(KEY, lang);
  } catch {
    // not kept
  }
  for (const listener of listeners) listener(lang);
}

/** Run `fn` whenever the language changes (for the few strings that live in attributes). */
export function onLangChange(fn: (lang: Lang) => void): void {
  listeners.push(fn);
}

/** The text in the chosen language, for attributes and titles (elements use `bi`). */
export function t(zh: string, en: string): string {
  return currentLang() === "zh" ? zh : en;
}

/** Chinese and English side by side; the stylesheet shows the chosen one. */
export function bi(zh: string, en: string): HTMLSpanElement {
  return h("span", { class: "bi" }, h("span", { lang: "zh-CN" }, zh), " ", h("span", { class: "en", lang: "en" }, en));
}

/** A pair [zh, en] as a `bi` node. */
export const biPair = (pair: readonly [string, string]): HTMLSpanElement => bi(pair[0], pair[1]);

/** Wire the language switch (a button with `data-lang-switch`) and apply the remembered choice. */
export function setupLanguage(): void {
  setLang(preferred());
  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-lang-switch]")) {
    const label = () => {
      button.textContent = currentLang() === "zh" ? "English" : "中文";
      button.setAttribute("aria-label", currentLang() === "zh" ? "Switch to English" : "切换到中文");
    };
    label();
    onLangChange(label);
    button.addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  }
}
