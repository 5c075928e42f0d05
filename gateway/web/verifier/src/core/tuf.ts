/**
 * A port of python-tuf's `TrustedMetadataSet` (the client-side state machine the reference uses)
 * over @tufjs/models: root → timestamp → snapshot → targets → delegated targets, each checked in
 * the reference's order, raising the kind of error python-tuf raises (mapped to the catalogue by
 * trust.ts). Signatures are @tufjs/models' `verifyDelegate` (canonical JSON, node:crypto or the
 * browser shim over @noble/curves).
 */

import { Metadata, MetadataKind, Root, Snapshot, Targets, Timestamp } from "@tufjs/models";
// Not re-exported by the package's index; the same module its Metadata throws from.
import { UnsignedMetadataError } from "@tufjs/models/dist/error.js";

export type TufErrorKind = "expired" | "badVersion" | "equalVersion" | "unsigned" | "repository" | "malformed";

export class TufError extends Error {
  constructor(readonly kind: TufErrorKind, message: string) {
    super(message);
  }
}

const DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const EXPIRES = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

type AnySigned = Root | Timestamp | Snapshot | Targets;

function checkSigned(signed: Record<string, unknown>): void {
  const version = signed["version"];
  if (typeof version !== "number" || !Number.isInteger(version) || version <= 0) {
    throw new Error(`version must be > 0, got ${String(version)}`);
  }
  const spec = signed["spec_version"];
  if (typeof spec !== "string" || !/^\d+\.\d+(\.\d+)?$/.test(spec)) throw new Error(`Failed to parse spec_version ${String(spec)}`);
  if (typeof signed["expires"] !== "string" || !EXPIRES.test(signed["expires"])) throw new Error("bad expires");
}

/** `Metadata.from_bytes` with python-tuf's stricter field checks; throws TufError("malformed"). */
export function loadMetadata<T extends AnySigned>(kind: MetadataKind, data: Uint8Array): Metadata<T> {
  let json: unknown;
  try {
    json = JSON.parse(DECODER.decode(data));
  } catch (e) {
    throw new TufError("malformed", `Failed to deserialize metadata: ${String(e)}`);
  }
  const doc = json as Record<string, unknown>;
  const signed = doc && typeof doc === "object" ? (doc["signed"] as Record<string, unknown>) : undefined;
  if (!signed || typeof signed !== "object" || !Array.isArray(doc["signatures"])) {
    throw new TufError("malformed", "Failed to deserialize metadata: signed and signatures are required");
  }
  if (signed["_type"] !== kind) {
    throw new TufError("repository", `Expected '${kind}', got '${String(signed["_type"])}'`);
  }
  try {
    checkSigned(signed);
    if (kind === MetadataKind.Root) {
      const roles = signed["roles"] as Record<string, { keyids?: unknown; threshold?: unknown }> | undefined;
      const names = Object.keys(roles ?? {}).sort().join(",");
      if (names !== "root,snapshot,targets,timestamp") throw new Error("Role names must be the top-level metadata roles");
      for (const role of Object.values(roles!)) checkRole(role);
    }
    if (kind === MetadataKind.Targets) {
      const delegations = signed["delegations"] as { roles?: { name?: string; keyids?: unknown; threshold?: unknown }[] } | undefined;
      const seen = new Set<string>();
      for (const role of delegations?.roles ?? []) {
        checkRole(role);
        const name = String(role.name);
        if (seen.has(name) || ["root", "snapshot", "targets", "timestamp"].includes(name)) {
          throw new Error(`Duplicate or top-level delegated role ${name}`);
        }
        seen.add(name);
      }
    }
    return Metadata.fromJSON(kind as MetadataKind.Targets, doc as never) as unknown as Metadata<T>;
  } catch (e) {
    if (e instanceof TufError) throw e;
    throw new TufError("malformed", `Failed to deserialize metadata: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function checkRole(role: { keyids?: unknown; threshold?: unknown }): void {
  const keyids = role.keyids;
  if (!Array.isArray(keyids) || new Set(keyids).size !== keyids.length) throw new Error("Nonunique keyids");
  if (typeof role.threshold !== "number" || role.threshold < 1) throw new Error("threshold should be at least 1!");
}

export const expiresAtS = (signed: AnySigned): number => Math.floor(new Date(signed.expires).getTime() / 1000);
const isExpired = (signed: AnySigned, reference: number): boolean => reference >= expiresAtS(signed);

function verifyDelegate(delegator: Metadata<Root | Targets>, role: string, delegate: Metadata<AnySigned>): void {
  try {
    delegator.verifyDelegate(role, delegate as Metadata<Root>);
  } catch (e) {
    if (e instanceof UnsignedMetadataError) throw new TufError("unsigned", e.message);
    throw new TufError("malformed", e instanceof Error ? e.message : String(e));
  }
}

function verifyLengthAndHashes(meta: { verify(data: Buffer): void }, data: Uint8Array): void {
  try {
    meta.verify(data as Buffer);
  } catch (e) {
    throw new TufError("repository", e instanceof Error ? e.message : String(e));
  }
}

/** The trusted set; `referenceS` is the clock (seconds) expiry is judged against. */
export class TrustedMetadataSet {
  referenceS = 0;
  root: Metadata<Root>;
  timestamp: Metadata<Timestamp> | null = null;
  snapshot: Metadata<Snapshot> | null = null;
  targets: Metadata<Targets> | null = null;
  readonly delegated = new Map<string, Metadata<Targets>>();

  constructor(rootData: Uint8Array) {
    const root = loadMetadata<Root>(MetadataKind.Root, rootData);
    verifyDelegate(root, "root", root);
    this.root = root;
  }

  updateRoot(data: Uint8Array): void {
    const root = loadMetadata<Root>(MetadataKind.Root, data);
    verifyDelegate(this.root, "root", root);
    if (root.signed.version !== this.root.signed.version + 1) {
      throw new TufError("badVersion", `Expected root version ${this.root.signed.version + 1} instead got version ` +
        `${root.signed.version}`);
    }
    verifyDelegate(root, "root", root);
    this.root = root;
  }

  updateTimestamp(data: Uint8Array): void {
    if (isExpired(this.root.signed, this.referenceS)) throw new TufError("expired", "Final root.json is expired");
    const ts = loadMetadata<Timestamp>(MetadataKind.Timestamp, data);
    verifyDelegate(this.root, "timestamp", ts);
    if (this.timestamp !== null) {
      if (ts.signed.version < this.timestamp.signed.version) {
        throw new TufError("badVersion", `New timestamp version ${ts.signed.version} must be >= ` +
          `${this.timestamp.signed.version}`);
      }
      if (ts.signed.version === this.timestamp.signed.version) throw new TufError("equalVersion", "equal version");
      if (ts.signed.snapshotMeta.version < this.timestamp.signed.snapshotMeta.version) {
        throw new TufError("badVersion", `New snapshot version must be >= ${this.timestamp.signed.snapshotMeta.version}` +
          `, got version ${ts.signed.snapshotMeta.version}`);
      }
    }
    this.timestamp = ts;
    this.checkFinalTimestamp();
  }

  private checkFinalTimestamp(): void {
    if (isExpired(this.timestamp!.signed, this.referenceS)) throw new TufError("expired", "timestamp.json is expired");
  }

  updateSnapshot(data: Uint8Array, trusted = false): void {
    if (this.timestamp === null) throw new Error("Cannot update snapshot before timestamp");
    this.checkFinalTimestamp();
    const meta = this.timestamp.signed.snapshotMeta;
    if (!trusted) verifyLengthAndHashes(meta, data);
    const snap = loadMetadata<Snapshot>(MetadataKind.Snapshot, data);
    verifyDelegate(this.root, "snapshot", snap);
    if (this.snapshot !== null) {
      for (const [name, info] of Object.entries(this.snapshot.signed.meta)) {
        const next = snap.signed.meta[name];
        if (next === undefined) throw new TufError("repository", `New snapshot is missing info for '${name}'`);
        if (next.version < info.version) {
          throw new TufError("badVersion", `Expected ${name} version ${next.version}, got ${info.version}.`);
        }
      }
    }
    this.snapshot = snap;
    this.checkFinalSnapshot();
  }

  private checkFinalSnapshot(): void {
    const snap = this.snapshot!;
    if (isExpired(snap.signed, this.referenceS)) throw new TufError("expired", "snapshot.json is expired");
    const want = this.timestamp!.signed.snapshotMeta.version;
    if (snap.signed.version !== want) {
      throw new TufError("badVersion", `Expected snapshot version ${want}, got ${snap.signed.version}`);
    }
  }

  updateTargets(data: Uint8Array): Metadata<Targets> {
    const t = this.updateDelegatedTargets(data, "targets", this.root);
    this.targets = t;
    return t;
  }

  updateDelegatedTargets(data: Uint8Array, role: string, delegator: Metadata<Root | Targets>): Metadata<Targets> {
    if (this.snapshot === null) throw new Error("Cannot load targets before snapshot");
    this.checkFinalSnapshot();
    const meta = this.snapshot.signed.meta[`${role}.json`];
    if (meta === undefined) throw new TufError("repository", `Snapshot does not contain information for '${role}'`);
    verifyLengthAndHashes(meta, data);
    const md = loadMetadata<Targets>(MetadataKind.Targets, data);
    verifyDelegate(delegator, role, md);
    if (md.signed.version !== meta.version) {
      throw new TufError("badVersion", `Expected ${role} v${meta.version}, got v${md.signed.version}.`);
    }
    if (isExpired(md.signed, this.referenceS)) throw new TufError("expired", `New ${role} is expired`);
    if (role !== "targets") this.delegated.set(role, md);
    return md;
  }
}
