/**
 * The unified social credit code (统一社会信用代码, GB 32100-2015) a merchant is known by: 18 characters,
 * the first 17 from a 31-character alphabet (0-9 and A-Y without I, O, S, V, Z), the 18th a check
 * character over them with fixed weights. The issuer checks the same (citycredit.core `is_uscc`); the
 * page checks first so the office sees a typing mistake before anything is sent.
 */

export const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** The check character for the first 17 characters, or null when they are not 17 characters of the alphabet. */
export function usccCheckCharacter(first17: string): string | null {
  if (first17.length !== 17) return null;
  let total = 0;
  for (let i = 0; i < 17; i++) {
    const value = USCC_ALPHABET.indexOf(first17[i]!);
    if (value < 0) return null;
    total += value * WEIGHTS[i]!;
  }
  return USCC_ALPHABET[(31 - (total % 31)) % 31]!;
}

export type UsccVerdict =
  | { ok: true; code: string }
  | { ok: false; why: "length" | "alphabet" | "check"; expected?: string };

/** Whether `text` (spaces dropped, upper-cased) is a unified social credit code, and if not, why. */
export function checkUscc(text: string): UsccVerdict {
  const code = text.replace(/\s+/g, "").toUpperCase();
  if (code.length !== 18) return { ok: false, why: "length" };
  if ([...code].some((c) => !USCC_ALPHABET.includes(c))) return { ok: false, why: "alphabet" };
  const expected = usccCheckCharacter(code.slice(0, 17))!;
  return expected === code[17] ? { ok: true, code } : { ok: false, why: "check", expected };
}
