/**
 * The trust set (sdk/citycredit/core/_trust.py): TUF roles over protobuf parts, opened once per
 * update into a `TrustSnapshot` indexed for the per-code hot path.
 *
 * On top of TUF (tuf.ts: signatures and thresholds, the root chain, rollback of any role's
 * version, hashes and lengths of every file) `openTrust` checks the alliance's own rules: each
 * part parses and belongs to its role's city, members and delegations agree, an agreement
 * carries a valid signature of every city it binds, a withdrawal ends an agreement. Expiry: the
 * top-level roles must be fresh at now − grace; a stale city role makes only its codes
 * unverifiable; a stale agreement is not in force.
 */

import { MetadataKind, type Key, type Metadata, type Targets } from "@tufjs/models";
import { sha256, sha384, sha512, sha224 } from "@noble/hashes/sha2.js";
import { CityKeysSchema, CityOffersSchema, CityPolicySchema, MembershipSchema, type Member, type Membership } from "../gen/citycredit/v1/trust_pb.js";
import { AgreementSchema } from "../gen/citycredit/v1/offer_pb.js";
import type { PublicKey } from "../gen/citycredit/v1/bundle_pb.js";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Catalogue } from "./eligibility.js";
import { CityCreditError, bundleMalformed } from "./errors.js";
import { Algorithm, verifyingKey, type CryptoProvider, type VerifyingKey } from "./keys.js";
import { agreementFromProto, city6, isCity, offerFromProto, type Agreement, type Offer } from "./offers.js";
import { equalBytes, parseMessage, toHex } from "./proto.js";
import type { StatusList } from "./status.js";
import { TrustedMetadataSet, TufError, expiresAtS, loadMetadata } from "./tuf.js";

export const MEMBERSHIP_PATH = "alliance/members.pb";
export const MAX_TRUST_FILE_BYTES = 16 * 1024 * 1024;
const NEVER = 2 ** 62;
const CITY_PARTS = ["keys", "offers", "policy"] as const;

export const cityRole = (city: number) => `city-${city6(city)}`;
export const cityPartPath = (city: number, part: string) => `cities/${city6(city)}/${part}.pb`;
export const agreementPath = (id: string) => `agreements/${id}.pb`;

/** The unverified files of a TUF repository (the reference's `TrustFiles`). */
export interface TrustFiles {
  root: Uint8Array;
  newerRoots: Uint8Array[];
  timestamp: Uint8Array;
  snapshot: Uint8Array;
  targets: Uint8Array;
  roles: Map<string, Uint8Array>;
  targetsFiles: Map<string, Uint8Array>;
}

export interface CityKey {
  city: number;
  kidHex: string;
  algorithm: Algorithm;
  notBeforeS: number;
  notAfterS: number;
  status: number;
  revokedAtS: number;
  key: VerifyingKey;
}

/** Whether a code issued at `issuedAtS` falls in the key's window (not_after 0: open-ended). */
export function validAtIssue(key: CityKey, issuedAtS: number): boolean {
  if (!(key.notBeforeS <= issuedAtS && issuedAtS < (key.notAfterS || NEVER))) return false;
  return !(key.status === 3 && issuedAtS >= key.revokedAtS);
}

export interface CityTrust {
  city: number;
  slug: string;
  nameZh: string;
  nameEn: string;
  codeKeys: CityKey[];
  statusKeys: Map<string, VerifyingKey>;
  offers: Offer[];
  hasTierPolicy: boolean;
  withdrawals: Map<string, number>;
  version: number;
  expiresAtS: number;
}

/** The verified trust set. Pure data: no I/O, no clock. */
export class TrustSnapshot {
  readonly keysByKid = new Map<string, CityKey[]>();
  statuses = new Map<number, StatusList>();
  private catalogueCache: Catalogue | null = null;

  constructor(
    readonly files: TrustFiles,
    readonly rootVersion: number,
    /** The earliest expiry of root, timestamp, snapshot and top-level targets, seconds. */
    readonly expiresAtS: number,
    readonly versions: Map<string, number>,
    readonly alliance: string,
    readonly cities: Map<number, CityTrust>,
    readonly agreements: Agreement[],
  ) {
    for (const trust of cities.values()) {
      for (const key of trust.codeKeys) {
        const list = this.keysByKid.get(key.kidHex) ?? [];
        list.push(key);
        this.keysByKid.set(key.kidHex, list);
      }
    }
  }

  get version(): number {
    return this.versions.get("snapshot") ?? 0;
  }

  /** Offers and agreements indexed for decisions (built on first use, as the reference does). */
  get catalogue(): Catalogue {
    if (this.catalogueCache === null) {
      const offers = [...this.cities.values()].flatMap((c) => c.offers);
      try {
        this.catalogueCache = Catalogue.build(offers, this.agreements,
          [...this.cities.values()].filter((c) => c.hasTierPolicy).map((c) => c.city));
      } catch (e) {
        if (e instanceof CityCreditError) throw bundleMalformed(`the offers or agreements are invalid: ${e.message}`);
        throw e;
      }
    }
    return this.catalogueCache;
  }

  /** The same trust set with one city's status list replaced. */
  withStatusList(status: StatusList): TrustSnapshot {
    const copy = Object.create(TrustSnapshot.prototype) as TrustSnapshot;
    Object.assign(copy, this);
    copy.statuses = new Map(this.statuses);
    copy.statuses.set(status.city, status);
    return copy;
  }
}

function tufError(e: unknown, what: string): CityCreditError {
  if (e instanceof CityCreditError) return e;
  const text = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (e instanceof TufError) {
    if (e.kind === "expired") return new CityCreditError("CC_BUNDLE_STALE", `${text}; the offline grace is over`);
    if (e.kind === "badVersion" || e.kind === "equalVersion") return new CityCreditError("CC_BUNDLE_ROLLBACK", text);
    if (e.kind === "unsigned") return new CityCreditError("CC_BUNDLE_THRESHOLD", text);
  }
  return bundleMalformed(text);
}

function checkSize(data: Uint8Array, what: string): void {
  if (data.length > MAX_TRUST_FILE_BYTES) throw bundleMalformed(`${what} is larger than ${MAX_TRUST_FILE_BYTES} bytes`);
}

function parsePart<D extends DescMessage>(schema: D, data: Uint8Array, what: string): MessageShape<D> {
  try {
    return parseMessage(schema, data);
  } catch {
    throw bundleMalformed(`${what} is not a valid ${schema.name} message`);
  }
}

const HASHES: Record<string, (d: Uint8Array) => Uint8Array> = { sha256, sha384, sha512, sha224 };

interface FileInfo {
  length: number;
  hashes: Record<string, string>;
}

function verifyFile(info: FileInfo, data: Uint8Array, path: string): void {
  checkSize(data, path);
  let ok = data.length === info.length;
  for (const [alg, want] of Object.entries(info.hashes ?? {})) {
    const fn = HASHES[alg];
    if (!ok || fn === undefined || toHex(fn(data)) !== want) {
      ok = false;
      break;
    }
  }
  if (!ok) throw bundleMalformed(`${path} does not match the length and hashes its role signed`);
}

/** The pinned root: TUF root metadata signed by its own threshold. */
export function anchorVersion(data: Uint8Array): number {
  try {
    return new TrustedMetadataSet(data).root.signed.version;
  } catch (e) {
    throw bundleMalformed(`the trust anchor is not a self-signed TUF root: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface OpenOptions {
  nowS: number;
  graceS: number;
  provider: CryptoProvider;
  previous?: TrustSnapshot | null;
  anchorVersion?: number;
}

/** Verify a repository's files into a snapshot; throws a CC_BUNDLE_* error saying why it is refused. */
export async function openTrust(files: TrustFiles, opts: OpenOptions): Promise<TrustSnapshot> {
  const { nowS, graceS, previous = null } = opts;
  for (const [what, data] of [["root", files.root], ["timestamp", files.timestamp], ["snapshot", files.snapshot],
    ["targets", files.targets], ...files.newerRoots.map((r) => ["root", r] as const)] as const) {
    checkSize(data, what);
  }
  let trusted: TrustedMetadataSet;
  try {
    trusted = new TrustedMetadataSet(files.root);
  } catch (e) {
    throw e instanceof TufError && e.kind !== "malformed" && e.kind !== "repository"
      ? tufError(e, "the trusted root") : bundleMalformed(`the trusted root is malformed: ${String((e as Error).message)}`);
  }
  trusted.referenceS = Math.max(nowS - graceS, 0);
  let step = "root";
  try {
    for (const data of files.newerRoots) trusted.updateRoot(data);
    step = "timestamp";
    if (previous !== null) intermediate(() => trusted.updateTimestamp(previous.files.timestamp));
    try {
      trusted.updateTimestamp(files.timestamp);
    } catch (e) {
      if (!(e instanceof TufError && e.kind === "equalVersion")) throw e;
      if (!equalBytes(files.timestamp, previous!.files.timestamp)) {
        throw new CityCreditError("CC_BUNDLE_ROLLBACK", "a different timestamp under an accepted version");
      }
    }
    step = "snapshot";
    if (previous !== null) intermediate(() => trusted.updateSnapshot(previous.files.snapshot, true));
    trusted.updateSnapshot(files.snapshot);
    step = "top-level targets";
    trusted.updateTargets(files.targets);
  } catch (e) {
    if (e instanceof TufError) throw tufError(e, `the ${step} metadata is refused`);
    if (e instanceof CityCreditError) throw e;
    throw bundleMalformed(`the ${step} metadata is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const root = trusted.root.signed;
  const targets = trusted.targets!;
  if (previous !== null && root.version < previous.rootVersion) {
    throw new CityCreditError("CC_BUNDLE_ROLLBACK", `root version ${root.version} is older than the accepted ${previous.rootVersion}`);
  }
  if (opts.anchorVersion !== undefined && root.version < opts.anchorVersion) {
    throw new CityCreditError("CC_BUNDLE_ROLLBACK", `root version ${root.version} is older than the pinned anchor's ${opts.anchorVersion}`);
  }
  const expires = Math.min(...[root, trusted.timestamp!.signed, trusted.snapshot!.signed, targets.signed].map(expiresAtS));
  const versions = new Map<string, number>([["root", root.version], ["timestamp", trusted.timestamp!.signed.version],
    ["snapshot", trusted.snapshot!.signed.version], ["targets", targets.signed.version]]);
  const membership = readMembership(targets, files);
  trusted.referenceS = 0; // each role's expiry is judged below, one city (or agreement) at a time
  const authority = new Map<number, Key>();
  const cities = new Map<number, CityTrust>();
  for (const member of membership.members) {
    const role = cityRole(member.city);
    const signed = delegated(trusted, files, targets, role);
    const keyids = targets.signed.delegations!.roles![role]!.keyIDs;
    authority.set(member.city, targets.signed.delegations!.keys[keyids[0]!]!);
    cities.set(member.city, await readCity(member, signed, files, opts.provider));
    versions.set(role, signed.signed.version);
  }
  const agreements: Agreement[] = [];
  for (const [name, role] of Object.entries(targets.signed.delegations?.roles ?? {})) {
    if (!name.startsWith("agreement-")) continue;
    const signed = delegated(trusted, files, targets, name);
    const agreement = readAgreement(signed, files, name, role.keyIDs, authority, cities, nowS, graceS);
    versions.set(name, signed.signed.version);
    if (agreement !== null) agreements.push(agreement);
  }
  const newest = files.newerRoots.length ? files.newerRoots[files.newerRoots.length - 1]! : files.root;
  const kept: TrustFiles = { ...files, root: newest, newerRoots: [] };
  const snapshot = new TrustSnapshot(kept, root.version, expires, versions, membership.alliance, cities, agreements);
  if (previous !== null) snapshot.statuses = new Map(previous.statuses);
  return snapshot;
}

function intermediate(update: () => void): void {
  try {
    update();
  } catch (e) {
    // An expired intermediate is loaded all the same (the rollback floor), and so is a snapshot
    // whose version the timestamp no longer names.
    if (e instanceof TufError && (e.kind === "expired" || e.kind === "badVersion" || e.kind === "equalVersion")) return;
    throw e;
  }
}

function readMembership(targets: Metadata<Targets>, files: TrustFiles): Membership {
  const info = targets.signed.targets[MEMBERSHIP_PATH];
  const data = files.targetsFiles.get(MEMBERSHIP_PATH);
  if (info === undefined || data === undefined) throw bundleMalformed(`the top-level targets list no ${MEMBERSHIP_PATH}`);
  verifyFile(info as FileInfo, data, MEMBERSHIP_PATH);
  const membership = parsePart(MembershipSchema, data, MEMBERSHIP_PATH);
  const seen = new Set<number>();
  const slugs = new Set<string>();
  const roles = targets.signed.delegations?.roles ?? {};
  for (const member of membership.members) {
    if (!isCity(member.city) || seen.has(member.city) || !member.slug || slugs.has(member.slug)) {
      throw bundleMalformed(`member ${member.city} (${pyStr(member.slug)}) is invalid or listed twice`);
    }
    seen.add(member.city);
    slugs.add(member.slug);
    const d = roles[cityRole(member.city)];
    if (d === undefined || d.threshold !== 1 || d.keyIDs.length !== 1 || d.paths === undefined ||
      d.paths.length !== 1 || d.paths[0] !== `cities/${city6(member.city)}/*`) {
      throw bundleMalformed(`member ${member.city} has no delegation city-${city6(member.city)} with one authority ` +
        "key and the paths cities/<city>/*");
    }
  }
  const memberRoles = new Set([...seen].map(cityRole));
  const strays = Object.keys(roles).filter((n) => n.startsWith("city-") && !memberRoles.has(n)).sort();
  if (strays.length) throw bundleMalformed(`delegations for cities that are not members: ${strays.join(", ")}`);
  return membership;
}

const pyStr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s}'`);

function delegated(trusted: TrustedMetadataSet, files: TrustFiles, targets: Metadata<Targets>, role: string): Metadata<Targets> {
  const data = files.roles.get(role);
  if (data === undefined) throw bundleMalformed(`the role metadata ${role}.json is missing`);
  checkSize(data, role);
  try {
    return trusted.updateDelegatedTargets(data, role, targets);
  } catch (e) {
    if (e instanceof TufError) throw tufError(e, `the role ${role} is refused`);
    throw bundleMalformed(`the role ${role} is malformed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function part<D extends DescMessage>(signed: Metadata<Targets>, files: TrustFiles, path: string, schema: D): MessageShape<D> {
  const info = signed.signed.targets[path];
  const data = files.targetsFiles.get(path);
  if (info === undefined || data === undefined) throw bundleMalformed(`${path} is missing`);
  verifyFile(info as FileInfo, data, path);
  return parsePart(schema, data, path);
}

async function readCity(member: Member, signed: Metadata<Targets>, files: TrustFiles, provider: CryptoProvider): Promise<CityTrust> {
  const city = member.city;
  const allowed = new Set(CITY_PARTS.map((p) => cityPartPath(city, p)));
  const extra = Object.keys(signed.signed.targets).filter((p) => !allowed.has(p)).sort();
  if (extra.length) throw bundleMalformed(`role ${cityRole(city)} lists files outside its parts: ${extra.join(", ")}`);
  const keys = part(signed, files, cityPartPath(city, "keys"), CityKeysSchema);
  const offersPart = part(signed, files, cityPartPath(city, "offers"), CityOffersSchema);
  const policy = part(signed, files, cityPartPath(city, "policy"), CityPolicySchema);
  for (const [p, name] of [[keys, "keys"], [offersPart, "offers"], [policy, "policy"]] as const) {
    if (p.city !== city) throw bundleMalformed(`the ${name} part of ${city} names city ${p.city}`);
  }
  const codeKeys: CityKey[] = [];
  for (const k of keys.codeKeys) codeKeys.push(await cityKey(city, k, provider));
  const statusKeys = new Map<string, VerifyingKey>();
  for (const k of keys.statusKeys) {
    const entry = await cityKey(city, k, provider);
    if (entry.status !== 3) statusKeys.set(entry.kidHex, entry.key); // a revoked status key signs nothing any more
  }
  let offers: Offer[];
  try {
    offers = offersPart.offers.map(offerFromProto);
  } catch (e) {
    if (e instanceof CityCreditError) throw bundleMalformed(`an offer of ${city} is invalid: ${e.message}`);
    throw e;
  }
  const strays = offers.filter((o) => o.city !== city).map((o) => o.id);
  if (strays.length) throw bundleMalformed(`offers of ${city} name another host city: ${strays.join(", ")}`);
  const withdrawals = new Map<string, number>();
  for (const w of policy.withdrawals) {
    withdrawals.set(w.agreementId, Math.min(Number(w.at), withdrawals.get(w.agreementId) ?? NEVER));
  }
  return {
    city, slug: member.slug, nameZh: member.nameZh, nameEn: member.nameEn, codeKeys, statusKeys, offers,
    hasTierPolicy: policy.tierPolicy !== undefined, withdrawals, version: signed.signed.version,
    expiresAtS: expiresAtS(signed.signed),
  };
}

async function cityKey(city: number, key: PublicKey, provider: CryptoProvider): Promise<CityKey> {
  const kidHex = toHex(key.kid);
  if (toHex(provider.sha256(key.spki).subarray(0, 8)) !== kidHex) {
    throw bundleMalformed(`city ${city}: kid ${kidHex} does not match its key`);
  }
  if (key.algorithm < 1 || key.algorithm > 3) throw bundleMalformed(`city ${city}: unknown key algorithm ${key.algorithm}`);
  if (key.status < 1 || key.status > 3) throw bundleMalformed(`city ${city}: key ${kidHex} has no status`);
  let verifying: VerifyingKey;
  try {
    verifying = await verifyingKey(provider, key.algorithm as number as Algorithm, key.spki);
  } catch (e) {
    if (e instanceof CityCreditError) throw bundleMalformed(`city ${city}: key ${kidHex}: ${e.message}`);
    throw e;
  }
  return {
    city, kidHex, algorithm: key.algorithm as number as Algorithm, notBeforeS: Number(key.notBefore),
    notAfterS: Number(key.notAfter), status: key.status, revokedAtS: Number(key.revokedAt), key: verifying,
  };
}

function readAgreement(signed: Metadata<Targets>, files: TrustFiles, role: string, keyids: string[],
  authority: Map<number, Key>, cities: Map<number, CityTrust>, nowS: number, graceS: number): Agreement | null {
  const id = role.slice("agreement-".length);
  const path = agreementPath(id);
  const listed = Object.keys(signed.signed.targets);
  if (listed.length !== 1 || listed[0] !== path) throw bundleMalformed(`role ${role} must list exactly ${path}`);
  const message = part(signed, files, path, AgreementSchema);
  let agreement: Agreement;
  try {
    agreement = agreementFromProto(message);
  } catch (e) {
    if (e instanceof CityCreditError) throw bundleMalformed(`agreement ${id} is invalid: ${e.message}`);
    throw e;
  }
  if (agreement.id !== id) throw bundleMalformed(`role ${role} carries agreement ${agreement.id}`);
  const strangers = agreement.cityList.filter((c) => !cities.has(c));
  if (strangers.length) throw bundleMalformed(`agreement ${id} binds cities that are not members: [${strangers.join(", ")}]`);
  const want = new Set(agreement.cityList.map((c) => authority.get(c)!.keyID));
  const have = new Set(keyids);
  if (want.size !== have.size || [...want].some((k) => !have.has(k))) {
    throw new CityCreditError("CC_BUNDLE_THRESHOLD", `agreement ${id}'s role is not delegated to exactly the authority ` +
      "keys of the cities it binds");
  }
  const md = loadMetadata<Targets>(MetadataKind.Targets, files.roles.get(role)!);
  const missing: string[] = [];
  for (const city of agreement.cityList) {
    try {
      authority.get(city)!.verifySignature(md as never);
    } catch {
      missing.push(city6(city));
    }
  }
  if (missing.length) {
    throw new CityCreditError("CC_BUNDLE_THRESHOLD", `agreement ${id} lacks a valid signature of ${missing.join(", ")}`);
  }
  if (nowS - graceS > expiresAtS(signed.signed)) return null; // stale: not in force until every city signs it anew
  const ends = agreement.cityList.filter((c) => cities.get(c)!.withdrawals.has(id)).map((c) => cities.get(c)!.withdrawals.get(id)!);
  if (ends.length) {
    const end = Math.min(...ends);
    if (agreement.notAfterS === 0 || end < agreement.notAfterS) {
      if (end <= agreement.notBeforeS) return null;
      agreement = { ...agreement, notAfterS: end };
    }
  }
  return agreement;
}
