/**
 * The trust set in the browser: fetched from the gateway that served the page, kept in IndexedDB, and
 * verified here by the browser verifier (gateway/web/verifier) before anything is decided with it.
 *
 * What is kept is the served layout (metadata/<v>.<role>.json, targets/<dir>/<sha256>.<name>,
 * status/<city>.pb), so a kept set opens offline exactly as a fetched one does:
 *   - the pinned root: the alliance's first root, taken on first use; newer roots are accepted only
 *     through the chain each previous root signs;
 *   - a sync fetches timestamp.json and then only the roles and parts whose versions or hashes it does
 *     not hold, and each city's status list once that list's own `ttl` has passed (a delta from the
 *     held version where the gateway has one);
 *   - the new set is opened against the last accepted one (opened at the time it was accepted), so a
 *     rollback of any part, or of any status list, is refused and the held set kept;
 *   - a failed or refused sync never loses the held set: could-not-fetch is never "revoked".
 */

import {
  CityCreditError, DEFAULT_GRACE_S, anchorVersion, openSnapshot, openStatusUpdate, openTrust, readTrustFiles,
  statusListBytes, statusListsOf, toHex, type TrustSnapshot,
} from "../../verifier/src/core/index.js";
import { webCryptoProvider } from "../../verifier/src/crypto/webcrypto.js";
import { deadline } from "./api.js";

export const provider = webCryptoProvider;
const FETCH_MS = 15_000;
export const GRACE_S = DEFAULT_GRACE_S;
const FORMAT = 1;

export interface StatusFetch {
  etag: string | null;
  fetchedAtS: number;
}

/** What is kept between visits. */
export interface HeldTrust {
  format: number;
  /** The pinned root (TUF root metadata as served). */
  anchor: Uint8Array;
  files: Record<string, Uint8Array>;
  /** When the set was last accepted: the clock the rollback floor is reopened at. */
  acceptedAtS: number;
  /** When the gateway last answered a sync. */
  checkedAtS: number;
  status: Record<string, StatusFetch>;
}

export interface TrustProblem {
  code: string;
  message: string;
}

export interface Synced {
  held: HeldTrust;
  snapshot: TrustSnapshot;
  problems: TrustProblem[];
  /** Whether the gateway could be reached at all. */
  reached: boolean;
}

const city6 = (city: number) => String(city).padStart(6, "0");
const statusPath = (city: number) => `status/${city6(city)}.pb`;

class Unreachable extends Error {}

function problemOf(e: unknown): TrustProblem {
  if (e instanceof CityCreditError) return { code: e.code, message: e.message };
  if (e instanceof Unreachable) return { code: "NETWORK", message: e.message };
  return { code: "CC_INTERNAL", message: e instanceof Error ? e.message : String(e) };
}

/** GET a file of the trust set: its bytes, or null when the gateway has no such file. */
async function get(url: string, fresh: boolean): Promise<Uint8Array | null> {
  let response: Response;
  try {
    response = await fetch(url, { cache: fresh ? "no-store" : "default", credentials: "omit", signal: deadline(FETCH_MS) });
  } catch (e) {
    throw new Unreachable(`${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new Unreachable(`${url} answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const trustUrl = (path: string) =>
  `/v1/trust/${path.split("/").map(encodeURIComponent).join("/")}`;

function json(data: Uint8Array, what: string): Record<string, unknown> {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  } catch {
    throw new CityCreditError("CC_BUNDLE_MALFORMED", `${what} is not JSON`);
  }
}

type Meta = Record<string, { version: number }>;
type TargetInfo = Record<string, { hashes: Record<string, string> }>;

/** Open a kept set at `nowS`: offline, with nothing but what is held. */
export async function openHeld(held: HeldTrust, nowS: number): Promise<TrustSnapshot> {
  const read = (path: string) => held.files[path] ?? null;
  return openSnapshot(readTrustFiles(read, held.anchor), statusListsOf(Object.keys(held.files), read), {
    nowS, graceS: GRACE_S, provider, anchorVersion: anchorVersion(held.anchor),
  });
}

/** Bring the kept set up to the gateway's; on any failure the held set comes back with the problem named. */
export async function syncTrust(held: HeldTrust | null, nowS: number, opts: { forceStatus?: boolean } = {}):
  Promise<Synced> {
  let previous: TrustSnapshot | null = null;
  if (held !== null) {
    try {
      previous = await openHeld(held, held.acceptedAtS);
    } catch {
      previous = null; // a kept set that no longer opens is no floor; the fetched one stands on its own
    }
  }
  try {
    return await fetchAndOpen(held, previous, nowS, opts.forceStatus ?? false);
  } catch (e) {
    const problems = [problemOf(e)];
    const reached = !(e instanceof Unreachable);
    if (held === null) throw e;
    return { held, snapshot: await openHeld(held, nowS), problems, reached };
  }
}

async function fetchAndOpen(held: HeldTrust | null, previous: TrustSnapshot | null, nowS: number,
  forceStatus: boolean): Promise<Synced> {
  const files: Record<string, Uint8Array> = {};
  const have = (path: string) => held?.files[path] ?? null;
  const need = async (path: string, fresh = false): Promise<Uint8Array> => {
    const kept = fresh ? null : have(path);
    if (kept !== null) return (files[path] = kept);
    const data = await get(trustUrl(path.replace(/^metadata\//, "")), fresh);
    if (data === null) throw new CityCreditError("CC_BUNDLE_MALFORMED", `the gateway's trust set has no ${path}`);
    return (files[path] = data);
  };
  // The root chain from the pinned root (first use: the alliance's first root).
  const anchor = held?.anchor ?? (await get(trustUrl("1.root.json"), true));
  if (anchor === null) throw new CityCreditError("CC_BUNDLE_MALFORMED", "the gateway serves no 1.root.json");
  for (let version = anchorVersion(anchor) + 1; ; version++) {
    const path = `metadata/${version}.root.json`;
    const data = have(path) ?? (await get(trustUrl(path.slice("metadata/".length)), false));
    if (data === null) break;
    files[path] = data;
  }
  const timestamp = json(await need("metadata/timestamp.json", true), "timestamp.json");
  const snapshotVersion = ((timestamp["signed"] as { meta: Meta }).meta["snapshot.json"] ?? { version: 0 }).version;
  const snapshot = json(await need(`metadata/${snapshotVersion}.snapshot.json`), "the snapshot");
  for (const [name, info] of Object.entries((snapshot["signed"] as { meta: Meta }).meta)) {
    const role = name.replace(/\.json$/, "");
    const doc = json(await need(`metadata/${info.version}.${role}.json`), `role ${role}`);
    for (const [path, target] of Object.entries((doc["signed"] as { targets?: TargetInfo }).targets ?? {})) {
      const slash = path.lastIndexOf("/");
      const digest = target.hashes["sha256"] ?? "";
      await need(`targets/${slash >= 0 ? path.slice(0, slash + 1) : ""}${digest}.${path.slice(slash + 1)}`);
    }
  }
  const read = (path: string) => files[path] ?? null;
  let opened = await openTrust(readTrustFiles(read, anchor), {
    nowS, graceS: GRACE_S, provider, previous, anchorVersion: anchorVersion(anchor),
  });
  // Status lists: each city's once its own ttl has passed; the held list otherwise.
  const status: Record<string, StatusFetch> = {};
  const problems: TrustProblem[] = [];
  for (const [city, trust] of [...opened.cities].sort(([a], [b]) => a - b)) {
    const key = city6(city);
    const heldList = previous?.statuses.get(city) ?? null;
    const state = held?.status[key];
    const keptBytes = have(statusPath(city));
    const due = forceStatus || heldList === null || state === undefined || keptBytes === null ||
      nowS >= state.fetchedAtS + heldList.ttlS;
    if (!due) {
      files[statusPath(city)] = keptBytes!;
      status[key] = state!;
      continue;
    }
    try {
      const url = `/v1/cities/${key}/status-list${heldList !== null && keptBytes !== null ? `?since=${heldList.version}` : ""}`;
      const headers: Record<string, string> = {};
      if (state?.etag && keptBytes !== null) headers["If-None-Match"] = state.etag;
      let response: Response;
      try {
        response = await fetch(url, { cache: "no-store", credentials: "omit", headers, signal: deadline(FETCH_MS) });
      } catch (e) {
        throw new Unreachable(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (response.status === 304 && keptBytes !== null && heldList !== null) {
        files[statusPath(city)] = keptBytes;
        status[key] = { etag: state?.etag ?? null, fetchedAtS: nowS };
        continue;
      }
      if (!response.ok) throw new Unreachable(`${url} answered ${response.status}`);
      const accepted = await openStatusUpdate(new Uint8Array(await response.arrayBuffer()), {
        city, statusKeys: trust.statusKeys, previous: heldList, nowS, graceS: GRACE_S, sha256: provider.sha256,
      });
      opened = opened.withStatusList(accepted);
      files[statusPath(city)] = statusListBytes(accepted);
      status[key] = { etag: response.headers.get("ETag"), fetchedAtS: nowS };
    } catch (e) {
      if (e instanceof Unreachable) throw e;
      problems.push(problemOf(e)); // this city's list refused: the held one (if any) stays
      if (keptBytes !== null && state !== undefined) {
        files[statusPath(city)] = keptBytes;
        status[key] = state;
      }
    }
  }
  const next: HeldTrust = { format: FORMAT, anchor, files, acceptedAtS: nowS, checkedAtS: nowS, status };
  return { held: next, snapshot: opened, problems, reached: true };
}

/** A short fingerprint of the pinned root, to compare with the one the alliance publishes. */
export function anchorFingerprint(held: HeldTrust): string {
  return toHex(provider.sha256(held.anchor)).slice(0, 16);
}

export function isHeldTrust(value: unknown): value is HeldTrust {
  const v = value as HeldTrust | undefined;
  return !!v && v.format === FORMAT && v.anchor instanceof Uint8Array && typeof v.files === "object";
}
