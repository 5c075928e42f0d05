/**
 * The till's memory of presentations it has seen (a `CP1:` presentation is refused when it comes back
 * at the same place inside its window), kept in localStorage so a reload does not forget it. Bounded:
 * entries go once their window closes, and the oldest go first past MAX_ENTRIES.
 */

import { toHex } from "../../verifier/src/core/index.js";
import type { ReplayCache } from "../../verifier/src/core/verify.js";

const MAX_ENTRIES = 2_000;

export class StoredReplayCache implements ReplayCache {
  private seen: Map<string, number>;

  constructor(private readonly key: string) {
    this.seen = new Map();
    try {
      const doc = JSON.parse(localStorage.getItem(key) ?? "[]") as [string, number][];
      if (Array.isArray(doc)) for (const [k, until] of doc) if (typeof k === "string" && typeof until === "number") this.seen.set(k, until);
    } catch {
      // nothing kept, or storage refused: start empty
    }
  }

  firstSighting(venue: string, presentation: Uint8Array, untilS: number, nowS: number): boolean {
    for (const [k, until] of this.seen) if (until <= nowS) this.seen.delete(k);
    while (this.seen.size >= MAX_ENTRIES) this.seen.delete(this.seen.keys().next().value!);
    const k = `${venue}/${toHex(presentation)}`;
    if ((this.seen.get(k) ?? 0) > nowS) return false;
    this.seen.set(k, untilS);
    try {
      localStorage.setItem(this.key, JSON.stringify([...this.seen]));
    } catch {
      // kept in memory only
    }
    return true;
  }
}
