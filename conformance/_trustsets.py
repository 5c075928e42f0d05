"""Trust sets for the vectors: an alliance of seeded keys in which every part is signed by the key its role names.

`Alliance` plays every party through the core's own writing functions (`root_metadata`,
`targets_metadata`, `city_metadata`, `agreement_metadata`, `sign_metadata`,
`add_signature`, `publish`, `sign_part`): the governance members sign root and
top-level targets, each city authority its role, every city of an agreement its
signature on it, each city's status key its list, the gateway snapshot and timestamp.
Every time is an argument, so the same calls give the same bytes. A vector's broken
trust set is a copy of a good one (`clone`) with one thing done wrong, by the party
who would do it (a gateway signing an old part into a new snapshot, a city signing
another city's role, a status list signed by the wrong key).

`write` puts a trust set on disk in the served layout (`citycredit._trustdir`) with the
pinned root as `anchor.json` and a README saying what is in it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import bundle_pb2, status_pb2, trust_pb2
from citycredit.core import (
    MEMBERSHIP_PATH,
    STATUS_CONTEXT,
    Agreement,
    Offer,
    Repository,
    Signer,
    SigningKey,
    add_signature,
    agreement_metadata,
    agreement_role,
    city_metadata,
    city_role,
    iso,
    kid_for_spki,
    membership_part,
    publish,
    renew_timestamp,
    root_metadata,
    sign_metadata,
    sign_part,
    targets_metadata,
    to_proto,
)
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets

from ._deterministic import deflate_fixed

__all__ = ["DAY", "Alliance", "CityConfig", "StatusConfig", "public_key", "served_files"]

DAY = 86_400
ROOT_TTL_S = 365 * DAY
TARGETS_TTL_S = 365 * DAY
CITY_TTL_S = 30 * DAY
AGREEMENT_TTL_S = 365 * DAY
SNAPSHOT_TTL_S = 7 * DAY
TIMESTAMP_TTL_S = DAY
STATUS_TTL_S = 900
STATUS_LIFE_S = DAY
LIST_SIZE = 131_072


def public_key(key: SigningKey, *, not_before: int, not_after: int = 0,
               status: bundle_pb2.KeyStatus = bundle_pb2.KEY_STATUS_ACTIVE, revoked_at: int = 0,
               spki: bytes | None = None, kid: bytes | None = None) -> bundle_pb2.PublicKey:
    """The entry of a keys part for `key` (`spki`/`kid` override what is listed, for the encoding vectors)."""
    listed = key.spki if spki is None else spki
    return bundle_pb2.PublicKey(kid=kid_for_spki(listed) if kid is None else kid, algorithm=key.algorithm.proto,
                                spki=listed, not_before=not_before, not_after=not_after, status=status,
                                revoked_at=revoked_at)


@dataclass
class StatusConfig:
    """A city's status list as its issuer signs it: version, entries, times and signer."""

    version: int = 1
    entries: dict[int, int] = field(default_factory=dict)  # index -> 0 VALID, 1 REVOKED, 2 SUSPENDED, 3 reserved
    issued_s: int = 0
    expires_s: int = 0
    signer: SigningKey | None = None  # default: the city's status key
    city: int | None = None  # the city the head names (default: the list's own)


@dataclass
class CityConfig:
    city: int
    slug: str
    name_zh: str
    name_en: str
    authority: SigningKey
    status_key: SigningKey
    code_keys: list[bundle_pb2.PublicKey]
    offers: list[Offer] = field(default_factory=list)
    tier_policy: bool = True
    withdrawals: list[tuple[str, int]] = field(default_factory=list)
    issuer_url: str = ""

    def member(self) -> trust_pb2.Member:
        return trust_pb2.Member(city=self.city, slug=self.slug, name_zh=self.name_zh, name_en=self.name_en)

    def parts(self) -> tuple[trust_pb2.CityKeys, trust_pb2.CityOffers, trust_pb2.CityPolicy]:
        keys = trust_pb2.CityKeys(city=self.city, code_keys=self.code_keys, issuer_url=self.issuer_url,
                                  status_keys=[public_key(self.status_key, not_before=0)])
        offers = trust_pb2.CityOffers(city=self.city, offers=[to_proto(o) for o in self.offers])
        policy = trust_pb2.CityPolicy(city=self.city, withdrawals=[
            trust_pb2.AgreementWithdrawal(agreement_id=a, at=at) for a, at in self.withdrawals])
        if self.tier_policy:
            policy.tier_policy.CopyFrom(bundle_pb2.TierPolicy(scheme=f"{self.slug}-conformance", version=1,
                                                              confirmed=True))
        return keys, offers, policy


class Alliance:
    """One alliance's parties and its current trust set (repository and status lists)."""

    def __init__(self, *, name: str, governance: Sequence[SigningKey], threshold: int, snapshot_key: SigningKey,
                 timestamp_key: SigningKey, cities: Iterable[CityConfig], agreements: Iterable[Agreement] = (),
                 now_s: int, statuses: Mapping[int, StatusConfig] | None = None, root_ttl_s: int = ROOT_TTL_S) -> None:
        self.name = name
        self.now_s = now_s
        self.governance = list(governance)
        self.threshold = threshold
        self.snapshot_key = snapshot_key
        self.timestamp_key = timestamp_key
        self.cities = {c.city: c for c in cities}
        self.agreements = {a.id: a for a in agreements}
        self.agreement_signers: dict[str, list[int]] = {}
        self.agreement_thresholds: dict[str, int] = {}
        self.versions: dict[str, int] = {"root": 1, "targets": 0}
        self.root_ttl_s = root_ttl_s
        root = sign_metadata(self._root(), self.governance[:threshold])
        self.anchor = root
        self.repository = Repository(roots=[], timestamp=b"", snapshot=b"", targets=b"")
        roles, files = self._every_role()
        self.repository = publish(None, snapshot_signer=snapshot_key, timestamp_signer=timestamp_key, now_s=now_s,
                                  root=root, targets=self.signed_targets(), roles=roles, files=files,
                                  snapshot_ttl_s=SNAPSHOT_TTL_S, timestamp_ttl_s=TIMESTAMP_TTL_S)
        self.statuses: dict[int, StatusConfig] = {}
        self.status_lists: dict[int, bytes] = {}
        for city in self.cities:
            self.set_status(city, (statuses or {}).get(city, StatusConfig()))

    def clone(self) -> Alliance:
        """A copy whose changes leave this one as it is (keys are shared)."""
        other = copy.copy(self)
        other.cities = {c: dataclasses.replace(cfg, code_keys=list(cfg.code_keys), offers=list(cfg.offers),
                                               withdrawals=list(cfg.withdrawals)) for c, cfg in self.cities.items()}
        other.agreements = dict(self.agreements)
        other.agreement_signers = {k: list(v) for k, v in self.agreement_signers.items()}
        other.agreement_thresholds = dict(self.agreement_thresholds)
        other.versions = dict(self.versions)
        other.governance = list(self.governance)
        other.statuses = {c: dataclasses.replace(s, entries=dict(s.entries)) for c, s in self.statuses.items()}
        other.status_lists = dict(self.status_lists)
        return other

    # --- the parties' metadata ----------------------------------------------------------------------

    def _root(self, *, governance: Sequence[SigningKey] | None = None, threshold: int | None = None,
              version: int | None = None, now_s: int | None = None) -> Metadata[Root]:
        return root_metadata(governance=governance or self.governance, threshold=threshold or self.threshold,
                             timestamp_key=self.timestamp_key, snapshot_key=self.snapshot_key,
                             version=version or self.versions["root"], now_s=self.now_s if now_s is None else now_s,
                             ttl_s=self.root_ttl_s)

    def targets_metadata(self) -> Metadata[Targets]:
        """The next top-level targets (unsigned): membership, a role per city and per agreement."""
        self.versions["targets"] += 1
        metadata = targets_metadata(
            membership=self.membership(), authorities={c: cfg.authority for c, cfg in self.cities.items()},
            agreements={a.id: a.cities for a in self.agreements.values()}, version=self.versions["targets"],
            now_s=self.now_s, ttl_s=TARGETS_TTL_S)
        delegations = metadata.signed.delegations
        assert delegations is not None and delegations.roles is not None
        for agreement_id, threshold in self.agreement_thresholds.items():
            delegations.roles[agreement_role(agreement_id)].threshold = threshold
        return metadata

    def signed_targets(self, signers: Sequence[Signer] | None = None) -> bytes:
        return sign_metadata(self.targets_metadata(), signers or self.governance[: self.threshold])

    def membership(self) -> bytes:
        return membership_part(self.name, [c.member() for c in self.cities.values()])

    def city_role(self, city: int, *, signer: Signer | None = None, now_s: int | None = None,
                  ttl_s: int = CITY_TTL_S, version: int | None = None) -> tuple[bytes, dict[str, bytes]]:
        """The city's role over its current parts (the next version unless given), signed by its authority."""
        name = city_role(city)
        self.versions[name] = version if version is not None else self.versions.get(name, 0) + 1
        keys, offers, policy = self.cities[city].parts()
        metadata, files = city_metadata(keys=keys, offers=offers, policy=policy, version=self.versions[name],
                                        now_s=self.now_s if now_s is None else now_s, ttl_s=ttl_s)
        return sign_metadata(metadata, [signer or self.cities[city].authority]), files

    def agreement_role(self, agreement: Agreement, *, now_s: int | None = None,
                       ttl_s: int = AGREEMENT_TTL_S) -> tuple[bytes, dict[str, bytes]]:
        """The agreement's role, signed in turn by each city it binds (or those in `agreement_signers`)."""
        name = agreement_role(agreement.id)
        self.versions[name] = self.versions.get(name, 0) + 1
        body = to_proto(agreement).SerializeToString(deterministic=True)
        metadata, files = agreement_metadata(body, agreement.id, version=self.versions[name],
                                             now_s=self.now_s if now_s is None else now_s, ttl_s=ttl_s)
        data = sign_metadata(metadata, [])
        for city in self.agreement_signers.get(agreement.id, sorted(agreement.cities)):
            data = add_signature(data, self.cities[city].authority)
        return data, files

    def _every_role(self) -> tuple[dict[str, bytes], dict[str, bytes]]:
        roles: dict[str, bytes] = {}
        files: dict[str, bytes] = {MEMBERSHIP_PATH: self.membership()}
        for city in self.cities:
            roles[city_role(city)], part = self.city_role(city)
            files.update(part)
        for agreement in self.agreements.values():
            roles[agreement_role(agreement.id)], part = self.agreement_role(agreement)
            files.update(part)
        return roles, files

    # --- publishing (the gateway) ---------------------------------------------------------------------

    def publish(self, *, now_s: int | None = None, root: bytes | None = None, targets: bytes | None = None,
                roles: Mapping[str, bytes] | None = None, files: Mapping[str, bytes] | None = None,
                timestamp_ttl_s: int = TIMESTAMP_TTL_S) -> None:
        """Apply what the parties signed; the gateway signs the next snapshot and timestamp."""
        self.repository = publish(self.repository, snapshot_signer=self.snapshot_key,
                                  timestamp_signer=self.timestamp_key, now_s=self.now_s if now_s is None else now_s,
                                  root=root, targets=targets, roles=roles, files=files,
                                  snapshot_ttl_s=SNAPSHOT_TTL_S, timestamp_ttl_s=timestamp_ttl_s)

    def publish_city(self, city: int, **role: Any) -> None:
        data, files = self.city_role(city, **role)
        self.publish(roles={city_role(city): data}, files=files)

    def publish_agreement(self, agreement: Agreement, *, signers: Sequence[int] | None = None,
                          threshold: int | None = None, now_s: int | None = None,
                          ttl_s: int = AGREEMENT_TTL_S) -> None:
        """Delegate and publish an agreement; `signers` sign it (all its cities by default), `threshold` is the
        delegation's (all its cities by default)."""
        self.agreements[agreement.id] = agreement
        if signers is not None:
            self.agreement_signers[agreement.id] = list(signers)
        if threshold is not None:
            self.agreement_thresholds[agreement.id] = threshold
        targets = self.signed_targets()
        data, files = self.agreement_role(agreement, now_s=now_s, ttl_s=ttl_s)
        self.publish(targets=targets, roles={agreement_role(agreement.id): data},
                     files={**files, MEMBERSHIP_PATH: self.membership()})

    def publish_undelegated(self, role: str, data: bytes, files: Mapping[str, bytes]) -> None:
        """A gateway listing a role in its snapshot that the top-level targets do not delegate.

        `publish` keeps only delegated roles, so this snapshot is written by hand, signed by the
        gateway's snapshot key, with the timestamp renewed over it.
        """
        roles = {**self.repository.roles, role: data}
        old = Metadata[Snapshot].from_bytes(self.repository.snapshot).signed
        meta = {**old.meta, f"{role}.json": MetaFile(version=Metadata.from_bytes(data).signed.version)}
        snapshot = Metadata(Snapshot(version=old.version + 1, expires=old.expires, meta=meta))
        self.repository = dataclasses.replace(self.repository, roles=roles,
                                              targets_files={**self.repository.targets_files, **files},
                                              snapshot=sign_metadata(snapshot, [self.snapshot_key]))
        self.renew_timestamp(now_s=self.now_s)

    def renew_timestamp(self, *, now_s: int, ttl_s: int = TIMESTAMP_TTL_S) -> None:
        self.repository = renew_timestamp(self.repository, signer=self.timestamp_key, now_s=now_s, ttl_s=ttl_s)

    def rotate_governance(self, governance: Sequence[SigningKey], *, signers: Sequence[SigningKey],
                          threshold: int | None = None) -> None:
        """The next root naming `governance`, signed by `signers` (a ceremony needs both thresholds), and
        top-level targets signed by the new governance."""
        self.versions["root"] += 1
        self.governance = list(governance)
        self.threshold = threshold or self.threshold
        root = sign_metadata(self._root(), signers)
        self.publish(root=root, targets=self.signed_targets(), files={MEMBERSHIP_PATH: self.membership()})

    # --- status lists (each city's issuer) --------------------------------------------------------------

    def set_status(self, city: int, config: StatusConfig) -> bytes:
        """Sign the city's whole list as `config` says (a trust directory carries whole lists: SPEC 6.6)."""
        config = dataclasses.replace(config, issued_s=config.issued_s or self.now_s,
                                     expires_s=config.expires_s or (config.issued_s or self.now_s) + STATUS_LIFE_S)
        self.statuses[city] = config
        data = _list_bytes(config)
        head = status_pb2.StatusListHead(city=config.city or city, version=config.version, bits=2, size=LIST_SIZE,
                                         list_sha256=_sha256(data), issued_at=config.issued_s,
                                         expires_at=config.expires_s, ttl_s=STATUS_TTL_S)
        signed = sign_part(head.SerializeToString(deterministic=True), config.signer or self.cities[city].status_key,
                           STATUS_CONTEXT)
        update = status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(head=signed,
                                                                              list_zlib=deflate_fixed(data)))
        self.status_lists[city] = update.SerializeToString(deterministic=True)
        return self.status_lists[city]

    # --- on disk --------------------------------------------------------------------------------------

    def write(self, directory: Path, *, about: str, anchor: bytes | None = None) -> None:
        """The trust set in the served layout, `anchor.json` (the pinned root) and a README.

        The files are those `citycredit._trustdir.write_trust_dir` writes (a test compares the two), written
        plainly: its atomic, fsync'd writes cost seconds over the ~700 files of the vectors, and a vectors
        folder needs no crash safety (the generator rebuilds it whole).
        """
        for path, data in served_files(self.repository, self.status_lists).items():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (directory / "anchor.json").write_bytes(self.anchor if anchor is None else anchor)
        (directory / "README.md").write_text(f"# trust set `{directory.name}`\n\n{about}\n\n{self.summary()}",
                                             encoding="utf-8")

    def summary(self) -> str:
        """What is in the trust set, for its README (read from the parties' state and the signed metadata)."""
        roots = [Metadata[Root].from_bytes(r).signed for r in self.repository.roots]
        lines = [f"- alliance {self.name!r}; roots " + ", ".join(
            f"v{r.version} ({r.roles[Root.type].threshold} of {len(r.roles[Root.type].keyids)} governance keys, "
            f"expires {_iso(r.expires)})" for r in roots)]
        for kind, data in (("timestamp", self.repository.timestamp), ("snapshot", self.repository.snapshot),
                           ("targets", self.repository.targets)):
            signed = Metadata.from_bytes(data).signed
            lines.append(f"- {kind} v{signed.version}, expires {_iso(signed.expires)}")
        status_names = {1: "active", 2: "retired", 3: "revoked"}
        for city, cfg in sorted(self.cities.items()):
            role = self.repository.roles.get(city_role(city))
            version = f"role v{Metadata.from_bytes(role).signed.version}, expires " \
                      f"{_iso(Metadata.from_bytes(role).signed.expires)}" if role else "no role"
            policy = "yes" if cfg.tier_policy else "none"
            lines.append(f"- city {city:06d} {cfg.name_en} ({version}; tier policy: {policy})")
            for key in cfg.code_keys:
                window = f"[{iso(key.not_before)}, {iso(key.not_after) if key.not_after else '…'})"
                revoked = f", revoked at {iso(key.revoked_at)}" if key.status == bundle_pb2.KEY_STATUS_REVOKED else ""
                lines.append(f"  - code key `{key.kid.hex()}` {bundle_pb2.KeyAlgorithm.Name(key.algorithm)} "
                             f"{status_names.get(key.status, key.status)} {window}{revoked}, SPKI of {len(key.spki)} "
                             "bytes")
            if cfg.offers:
                lines.append("  - offers: " + ", ".join(o.id for o in cfg.offers))
            for agreement_id, at in cfg.withdrawals:
                lines.append(f"  - withdrew from {agreement_id} at {iso(at)}")
            status = self.statuses.get(city)
            if status is not None and city in self.status_lists:
                data = _list_bytes(status)
                marked = [f"{i}={_entry(data, i)}" for i in _marked(data)]
                lines.append(f"  - status list v{status.version}, issued {iso(status.issued_s)}, "
                             f"expires {iso(status.expires_s)}; entries not VALID: {', '.join(marked) or 'none'}")
            else:
                lines.append("  - no status list")
        for agreement in self.agreements.values():
            signers = self.agreement_signers.get(agreement.id, sorted(agreement.cities))
            lines.append(f"- agreement {agreement.id}: cities {', '.join(f'{c:06d}' for c in sorted(agreement.cities))}"
                         f", categories {', '.join(sorted(c.value for c in agreement.categories)) or 'all'}, from "
                         f"{iso(agreement.not_before_s)}"
                         + (f" until {iso(agreement.not_after_s)}" if agreement.not_after_s else "")
                         + f"; signed by {', '.join(f'{c:06d}' for c in signers)}")
        return "\n".join(lines) + "\n"


def served_files(repository: Repository, status_lists: Mapping[int, bytes]) -> dict[str, bytes]:
    """Every file of a trust set by its path in the served layout (see `citycredit._trustdir`)."""
    files = {(path if path.startswith("targets/") else f"metadata/{path}"): data
             for path, data in repository.served().items()}
    files.update({f"status/{city:06d}.pb": data for city, data in status_lists.items()})
    return files


def _iso(moment: datetime) -> str:
    return iso(int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()))


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _list_bytes(config: StatusConfig) -> bytes:
    data = bytearray(LIST_SIZE // 4)
    for index, status in config.entries.items():
        shift = 2 * (index % 4)
        if status not in (0, 1, 2, 3):  # 3 is reserved (read as REVOKED): no issuer's setter writes it
            raise ValueError(f"status entry {status} is not two bits")
        data[index // 4] = data[index // 4] & ~(3 << shift) & 0xFF | status << shift
    return bytes(data)


def _entry(data: bytes, index: int) -> int:
    return data[index // 4] >> (2 * (index % 4)) & 3


def _marked(data: bytes) -> list[int]:
    return [4 * m.start() + k for m in _NONZERO.finditer(data) for k in range(4) if m.group()[0] >> (2 * k) & 3]


_NONZERO = re.compile(rb"[^\x00]")
