/**
 * The merchant's offline till in the browser: an ES module with no network access of its own.
 * The page hands it the trust set as bytes (the served layout, as fetched from /v1/trust/ and
 * kept) and the scanned text; it verifies with WebCrypto (Ed25519, P-256) where the browser has
 * it, @noble/curves where it does not, sm-crypto for SM2, and pako for the status lists.
 *
 *   const till = await openVerifier({ files, nowS });      // files: { "metadata/timestamp.json": bytes, … }
 *   const verdict = await till.verifyJson(scanned);        // the JSON of `citycredit --json verify`
 *   const decision = await till.checkJson(scanned, "quzhou-parking-discount-10");
 */

import { webCryptoProvider } from "./crypto/webcrypto.js";
import { CityCreditError, isBundleError, isCodeError } from "./core/errors.js";
import { parseTimeS } from "./core/time.js";
import { anchorVersion } from "./core/trust.js";
import { readTrustFiles, statusListsOf } from "./core/trustdir.js";
import { DEFAULT_GRACE_S, openSnapshot, Verifier } from "./core/verifier.js";
import { checkBundleErrorJson, decisionToJson, verificationToJson, type Json } from "./core/wire.js";

export { CityCreditError, parseTimeS, verificationToJson, decisionToJson, Verifier };

export interface OpenOptions {
  /** The served layout by path (`metadata/…`, `targets/…`, `status/<city>.pb`), and `anchor.json` unless `anchor`. */
  files: Record<string, Uint8Array> | Map<string, Uint8Array>;
  anchor?: Uint8Array;
  /** The clock, seconds; default now. */
  nowS?: number;
  graceS?: number;
  venue?: string;
}

export class TillVerifier {
  constructor(readonly verifier: Verifier, private readonly clock: () => number,
    private readonly anchor: Uint8Array) {}

  /**
   * Adopt a newer trust set (the served layout as bytes), checked against the one held: rollback of
   * any part is refused. Returns whether anything changed; the held set stays when this throws.
   */
  async update(files: Record<string, Uint8Array> | Map<string, Uint8Array>, nowS = this.clock()): Promise<boolean> {
    const map = files instanceof Map ? files : new Map(Object.entries(files));
    const read = (p: string) => map.get(p) ?? null;
    const held = this.verifier.snapshot;
    const snapshot = await openSnapshot(readTrustFiles(read, this.anchor), statusListsOf([...map.keys()], read), {
      nowS, graceS: this.verifier.graceS, provider: this.verifier.provider, previous: held,
      anchorVersion: anchorVersion(this.anchor),
    });
    const changed = JSON.stringify([...snapshot.versions]) !== JSON.stringify([...held.versions]) ||
      [...snapshot.statuses].some(([city, list]) => held.statuses.get(city) !== list);
    this.verifier.snapshot = snapshot;
    return changed;
  }

  async verifyJson(code: string, nowS = this.clock()): Promise<{ exit: number; json: { [k: string]: Json } }> {
    try {
      return { exit: 0, json: verificationToJson(await this.verifier.verify(code, nowS)) };
    } catch (e) {
      if (isCodeError(e) || isBundleError(e)) {
        return { exit: isBundleError(e) ? 2 : 1, json: verificationToJson(e as CityCreditError) };
      }
      throw e;
    }
  }

  async checkJson(code: string, offerId: string, nowS = this.clock()): Promise<{ exit: number; json: { [k: string]: Json } }> {
    try {
      const d = await this.verifier.check(code, offerId, nowS);
      return { exit: d.reason === "OFFER_UNKNOWN" ? 2 : d.eligible ? 0 : 1, json: decisionToJson(d) };
    } catch (e) {
      if (isBundleError(e)) return { exit: 2, json: checkBundleErrorJson(offerId, (e as CityCreditError).code) };
      throw e;
    }
  }
}

/** Open the trust set once (per update); each code then costs one signature check plus look-ups. */
export async function openVerifier(opts: OpenOptions): Promise<TillVerifier> {
  const map = opts.files instanceof Map ? opts.files : new Map(Object.entries(opts.files));
  const read = (p: string) => map.get(p) ?? null;
  const anchor = opts.anchor ?? map.get("anchor.json");
  if (anchor === undefined) throw new CityCreditError("CC_BUNDLE_MALFORMED", "no trust anchor: anchor.json is missing");
  const clock = () => Math.floor(Date.now() / 1000);
  const nowS = opts.nowS ?? clock();
  const graceS = opts.graceS ?? DEFAULT_GRACE_S;
  const files = readTrustFiles(read, anchor);
  const snapshot = await openSnapshot(files, statusListsOf([...map.keys()], read), {
    nowS, graceS, provider: webCryptoProvider, anchorVersion: anchorVersion(anchor),
  });
  const verifier = new Verifier(snapshot, { provider: webCryptoProvider, graceS, venue: opts.venue ?? "" });
  return new TillVerifier(verifier, opts.nowS !== undefined ? () => opts.nowS! : clock, anchor);
}
