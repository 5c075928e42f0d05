/**
 * A trust set in the served layout (sdk/citycredit/_trustdir.py), read through a `read(path)`
 * callback so that the same code serves a folder (the CLI) and files handed over as bytes
 * (the browser):
 *
 *     metadata/1.root.json …  metadata/timestamp.json  metadata/<v>.snapshot.json
 *     metadata/<v>.targets.json, <v>.city-330100.json …  targets/cities/330100/<sha256>.keys.pb …
 *     status/330100.pb
 */

import { MetadataKind, type Snapshot, type Targets, type Timestamp } from "@tufjs/models";
import { CityCreditError, bundleMalformed } from "./errors.js";
import type { TrustFiles } from "./trust.js";
import { loadMetadata, TufError } from "./tuf.js";

export type ReadFile = (path: string) => Uint8Array | null;

function need(read: ReadFile, path: string, base: string): Uint8Array {
  const data = read(path);
  if (data === null) throw new CityCreditError("CC_NOT_FOUND", `cannot read ${base}${path}: No such file or directory`);
  return data;
}

function meta<T>(data: Uint8Array, what: string, kind: MetadataKind): T {
  try {
    return loadMetadata(kind, data).signed as T;
  } catch (e) {
    throw bundleMalformed(`${what} is not TUF metadata: ${e instanceof TufError ? e.message : String(e)}`);
  }
}

function rootVersion(data: Uint8Array): number {
  try {
    const doc = JSON.parse(new TextDecoder().decode(data)) as { signed?: { version?: unknown } };
    const v = doc.signed?.version;
    if (typeof v === "number") return v;
  } catch {
    // refused below
  }
  throw bundleMalformed("the trusted root is not TUF metadata");
}

/** The files of the trust set, for a client that trusts `trustedRoot`. `base` only words errors. */
export function readTrustFiles(read: ReadFile, trustedRoot: Uint8Array, base = ""): TrustFiles {
  const version = rootVersion(trustedRoot);
  const newerRoots: Uint8Array[] = [];
  for (;;) {
    const next = read(`metadata/${version + newerRoots.length + 1}.root.json`);
    if (next === null) break;
    newerRoots.push(next);
  }
  const timestamp = need(read, "metadata/timestamp.json", base);
  const stamp = meta<Timestamp>(timestamp, "timestamp.json", MetadataKind.Timestamp);
  const snapshot = need(read, `metadata/${stamp.snapshotMeta.version}.snapshot.json`, base);
  const snap = meta<Snapshot>(snapshot, "the snapshot", MetadataKind.Snapshot);
  const roles = new Map<string, Uint8Array>();
  let targets: Uint8Array | null = null;
  for (const [name, info] of Object.entries(snap.meta)) {
    const role = name.endsWith(".json") ? name.slice(0, -5) : name;
    // A role file the snapshot names but the folder lacks leaves the set unverifiable: openTrust refuses
    // it (CC_BUNDLE_MALFORMED) when a delegation needs it, and ignores it otherwise (proto/SPEC.md 6.7).
    // The reference answers CC_NOT_FOUND here: its known failure trust/role_file_missing_fail.
    const data = read(`metadata/${info.version}.${role}.json`);
    if (data === null) continue;
    if (role === "targets") targets = data;
    else roles.set(role, data);
  }
  if (targets === null || targets.length === 0) throw bundleMalformed("the snapshot names no top-level targets");
  const targetsFiles = new Map<string, Uint8Array>();
  for (const data of [targets, ...roles.values()]) {
    const signed = meta<Targets>(data, "a targets role", MetadataKind.Targets);
    for (const [path, info] of Object.entries(signed.targets)) {
      const digest = info.hashes["sha256"] ?? "";
      const slash = path.lastIndexOf("/");
      const dir = slash >= 0 ? path.slice(0, slash) : "";
      const name = path.slice(slash + 1);
      const stored = read(`targets/${dir ? dir + "/" : ""}${digest}.${name}`);
      if (stored !== null) targetsFiles.set(path, stored); // a missing part is openTrust's refusal to word
    }
  }
  return { root: trustedRoot, newerRoots, timestamp, snapshot, targets, roles, targetsFiles };
}

/** The status lists kept beside the trust set, by city, from `status/<city>.pb` names. */
export function statusListsOf(names: string[], read: ReadFile): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  for (const name of [...names].sort()) {
    const m = /^status\/(\d{6})\.pb$/.exec(name);
    if (!m) continue;
    const data = read(name);
    if (data !== null) found.set(Number(m[1]), data);
  }
  return found;
}
