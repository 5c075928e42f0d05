/** `Verifier`: one trust snapshot and a replay cache, the pure core behind the CLI and the browser entry. */

import { decisionForError, type Decision } from "./eligibility.js";
import { CityCreditError, isCodeError } from "./errors.js";
import type { CryptoProvider } from "./keys.js";
import { openStatusUpdate } from "./status.js";
import { openTrust, type TrustFiles, type TrustSnapshot } from "./trust.js";
import { MemoryReplayCache, PRESENTATION_WINDOW_S, verifyCode, type ReplayCache, type VerifiedCode } from "./verify.js";

export const DEFAULT_GRACE_S = 3 * 86400;

export interface OpenSnapshotOptions {
  nowS: number;
  graceS: number;
  provider: CryptoProvider;
  previous?: TrustSnapshot | null;
  anchorVersion?: number;
}

/** Open the TUF files, then each member city's status list (a refused list refuses the whole set). */
export async function openSnapshot(files: TrustFiles, statusLists: Map<number, Uint8Array>,
  opts: OpenSnapshotOptions): Promise<TrustSnapshot> {
  let snapshot = await openTrust(files, opts);
  for (const city of [...statusLists.keys()].sort((a, b) => a - b)) {
    const trust = snapshot.cities.get(city);
    if (trust === undefined) continue;
    let accepted;
    try {
      accepted = await openStatusUpdate(statusLists.get(city)!, {
        city, statusKeys: trust.statusKeys, previous: snapshot.statuses.get(city) ?? null, nowS: opts.nowS,
        graceS: opts.graceS, sha256: opts.provider.sha256,
      });
    } catch (e) {
      // A list stale beyond the grace leaves its city with what it held (or nothing): only that city's
      // codes cannot be judged (proto/SPEC.md 7.7, V13), as the reference does (_verifier.py _open). Any
      // other refusal (malformed, rollback, fork) refuses the whole set, as there.
      if (e instanceof CityCreditError && e.code === "CC_BUNDLE_STALE") continue;
      throw e;
    }
    snapshot = snapshot.withStatusList(accepted);
  }
  return snapshot;
}

export class Verifier {
  readonly provider: CryptoProvider;
  readonly graceS: number;
  readonly windowS: number;
  venue: string;
  replay: ReplayCache | null;

  constructor(public snapshot: TrustSnapshot, opts: {
    provider: CryptoProvider; graceS?: number; windowS?: number; venue?: string; replay?: ReplayCache | null;
  }) {
    this.provider = opts.provider;
    this.graceS = opts.graceS ?? DEFAULT_GRACE_S;
    this.windowS = opts.windowS ?? PRESENTATION_WINDOW_S;
    this.venue = opts.venue ?? "";
    this.replay = opts.replay === undefined ? new MemoryReplayCache() : opts.replay;
  }

  /** Verify one code or presentation; throws the CityCreditError saying why it is refused. */
  verify(code: string, nowS: number, venue?: string): Promise<VerifiedCode> {
    return verifyCode(this.snapshot, code, {
      nowS, graceS: this.graceS, provider: this.provider, venue: venue ?? this.venue, replay: this.replay,
      windowS: this.windowS,
    });
  }

  /** Same-city treatment: a refused code is a negative decision; a refused trust set still throws. */
  async check(code: string, offerId: string, nowS: number, venue?: string, usedInPeriod = 0): Promise<Decision> {
    let holder: VerifiedCode;
    try {
      holder = await this.verify(code, nowS, venue);
    } catch (e) {
      if (isCodeError(e)) return decisionForError(e as CityCreditError, offerId);
      throw e;
    }
    return this.snapshot.catalogue.decide(holder, offerId, nowS, usedInPeriod);
  }
}
