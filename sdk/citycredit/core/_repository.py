"""Writing the trust set: the TUF roles and protobuf parts that `open_trust` reads.

Every party signs with its own keys through these functions, so the metadata is
written one way whoever writes it: the governance members (root and top-level
targets, in a ceremony), a city (its own role), the cities of an agreement (each
adds its signature), the gateway (snapshot and timestamp). `Repository` holds one
alliance's current files in memory; `publish` applies new roles or files to it and
re-signs snapshot and timestamp. Nothing here checks an upload: the caller opens the
result with `open_trust` against what it trusted before, which refuses anything the
roles did not sign.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from securesystemslib.signer import Key
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core._keys import Signer, TufSigner, VerifyingKey, tuf_key
from citycredit.core._trust import (
    MEMBERSHIP_PATH,
    TrustFiles,
    agreement_path,
    agreement_role,
    city_part_path,
    city_role,
)
from citycredit.errors import InvalidArgumentError

__all__ = [
    "AGREEMENT_MAX_TTL_S",
    "CITY_ROLE_TTL_S",
    "MEMBERSHIP_TTL_S",
    "ROOT_TTL_S",
    "SNAPSHOT_TTL_S",
    "TIMESTAMP_TTL_S",
    "Repository",
    "add_signature",
    "agreement_metadata",
    "city_metadata",
    "membership_part",
    "publish",
    "root_metadata",
    "served_path",
    "sign_metadata",
    "targets_metadata",
]

DAY = 86400
ROOT_TTL_S = 365 * DAY
MEMBERSHIP_TTL_S = 365 * DAY
CITY_ROLE_TTL_S = 30 * DAY
AGREEMENT_MAX_TTL_S = 2 * 365 * DAY
SNAPSHOT_TTL_S = 7 * DAY
TIMESTAMP_TTL_S = 6 * 3600
_SERIALIZER = JSONSerializer(compact=True)


def _expires(now_s: int, ttl_s: int) -> datetime:
    return datetime.fromtimestamp(now_s + ttl_s, UTC).replace(microsecond=0)


def sign_metadata(metadata: Metadata[Root] | Metadata[Targets] | Metadata[Snapshot] | Metadata[Timestamp],
                  signers: Iterable[Signer]) -> bytes:
    """Sign the canonical form of `metadata.signed` with each signer, replacing earlier signatures."""
    metadata.signatures.clear()
    for signer in signers:
        metadata.sign(TufSigner(signer), append=True)
    return metadata.to_bytes(_SERIALIZER)


def add_signature(data: bytes, signer: Signer) -> bytes:
    """Add one party's signature to metadata others signed or will sign (a ceremony, an agreement)."""
    metadata: Metadata[Root] = Metadata.from_bytes(data)
    metadata.sign(TufSigner(signer), append=True)
    return metadata.to_bytes(_SERIALIZER)


# --- governance ---------------------------------------------------------------------------------------


def root_metadata(*, governance: Sequence[VerifyingKey | Signer], threshold: int, timestamp_key: VerifyingKey | Signer,
                  snapshot_key: VerifyingKey | Signer, version: int, now_s: int,
                  ttl_s: int = ROOT_TTL_S) -> Metadata[Root]:
    """Root: the governance keys hold root and top-level targets; the gateway's keys, snapshot and timestamp."""
    if not 1 <= threshold <= len(governance):
        raise InvalidArgumentError(f"threshold {threshold} is impossible with {len(governance)} governance keys")
    keys = [tuf_key(k) for k in governance]
    if len({k.keyid for k in keys}) != len(keys):
        raise InvalidArgumentError("governance keys must be distinct")
    root = Root(version=version, expires=_expires(now_s, ttl_s), consistent_snapshot=True)
    for key in keys:
        root.add_key(key, Root.type)
        root.add_key(key, Targets.type)
    root.roles[Root.type].threshold = threshold
    root.roles[Targets.type].threshold = threshold
    root.add_key(tuf_key(snapshot_key), Snapshot.type)
    root.add_key(tuf_key(timestamp_key), Timestamp.type)
    return Metadata(root)


def membership_part(alliance: str, members: Iterable[trust_pb2.Member]) -> bytes:
    listed = sorted(members, key=lambda m: m.city)
    return trust_pb2.Membership(alliance=alliance, members=listed).SerializeToString(deterministic=True)


def targets_metadata(*, membership: bytes, authorities: Mapping[int, VerifyingKey | Signer],
                     agreements: Mapping[str, Iterable[int]], version: int, now_s: int,
                     ttl_s: int = MEMBERSHIP_TTL_S) -> Metadata[Targets]:
    """Top-level targets: the membership part, a role per city (its authority key) and per agreement.

    An agreement's role is delegated to the authority keys of every city it binds, with a threshold
    of all of them: it takes effect only when each has signed.
    """
    keys: dict[str, Key] = {}
    by_city: dict[int, str] = {}
    for city, key in sorted(authorities.items()):
        tuf = tuf_key(key)
        keys[tuf.keyid] = tuf
        by_city[city] = tuf.keyid
    roles: dict[str, DelegatedRole] = {}
    for city in sorted(by_city):
        name = city_role(city)
        roles[name] = DelegatedRole(name=name, keyids=[by_city[city]], threshold=1, terminating=True,
                                    paths=[f"cities/{city:06d}/*"])
    for agreement_id, cities in sorted(agreements.items()):
        bound = sorted(set(cities))
        missing = [c for c in bound if c not in by_city]
        if len(bound) < 2 or missing:
            raise InvalidArgumentError(f"agreement {agreement_id} needs two or more member cities (not {missing})")
        name = agreement_role(agreement_id)
        roles[name] = DelegatedRole(name=name, keyids=[by_city[c] for c in bound], threshold=len(bound),
                                    terminating=True, paths=[agreement_path(agreement_id)])
    targets = Targets(version=version, expires=_expires(now_s, ttl_s),
                      targets={MEMBERSHIP_PATH: TargetFile.from_data(MEMBERSHIP_PATH, membership, ["sha256"])},
                      delegations=Delegations(keys=keys, roles=roles))
    return Metadata(targets)


# --- cities and agreements ----------------------------------------------------------------------------


def _role_of_files(files: Mapping[str, bytes], *, version: int, now_s: int, ttl_s: int) -> Metadata[Targets]:
    listed = {path: TargetFile.from_data(path, data, ["sha256"]) for path, data in sorted(files.items())}
    return Metadata(Targets(version=version, expires=_expires(now_s, ttl_s), targets=listed))


def city_metadata(*, keys: trust_pb2.CityKeys, offers: trust_pb2.CityOffers, policy: trust_pb2.CityPolicy,
                  version: int, now_s: int, ttl_s: int = CITY_ROLE_TTL_S) -> tuple[Metadata[Targets], dict[str, bytes]]:
    """A city's role metadata (unsigned) and its three part files."""
    city = keys.city
    if offers.city != city or policy.city != city:
        raise InvalidArgumentError("a city's keys, offers and policy parts must name the same city")
    files = {city_part_path(city, name): part.SerializeToString(deterministic=True)
             for name, part in (("keys", keys), ("offers", offers), ("policy", policy))}
    return _role_of_files(files, version=version, now_s=now_s, ttl_s=ttl_s), files


def agreement_metadata(agreement: bytes, agreement_id: str, *, version: int, now_s: int,
                       ttl_s: int) -> tuple[Metadata[Targets], dict[str, bytes]]:
    """An agreement's role metadata (unsigned: each city it binds adds its signature) and its part file."""
    files = {agreement_path(agreement_id): agreement}
    return _role_of_files(files, version=version, now_s=now_s, ttl_s=min(ttl_s, AGREEMENT_MAX_TTL_S)), files


# --- the repository ----------------------------------------------------------------------------------


def served_path(kind: str, name: str, version: int = 0, data: bytes = b"") -> str:
    """Where a file is served (TUF consistent snapshots): `3.snapshot.json`, `timestamp.json`,
    `7.city-330100.json`, `targets/cities/330100/<sha256>.keys.pb`."""
    if kind == "timestamp":
        return "timestamp.json"
    if kind == "metadata":
        return f"{version}.{name}.json"
    directory, _, base = name.rpartition("/")
    digest = hashlib.sha256(data).hexdigest()
    return f"targets/{directory + '/' if directory else ''}{digest}.{base}"


@dataclass
class Repository:
    """One alliance's current trust files in memory (what a gateway serves)."""

    roots: list[bytes]
    timestamp: bytes
    snapshot: bytes
    targets: bytes
    roles: dict[str, bytes] = field(default_factory=dict)
    targets_files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_files(cls, files: TrustFiles) -> Repository:
        """The repository a client's files describe (its trusted root and the chain after it)."""
        return cls(roots=[files.root, *files.newer_roots], timestamp=files.timestamp, snapshot=files.snapshot,
                   targets=files.targets, roles=dict(files.roles), targets_files=dict(files.targets_files))

    def files(self, *, trusted_root_version: int | None = None) -> TrustFiles:
        """The files a client needs; with `trusted_root_version`, the root it holds and the chain after it."""
        versions = [Metadata.from_bytes(r).signed.version for r in self.roots]
        start = len(self.roots) - 1 if trusted_root_version is None else versions.index(trusted_root_version)
        return TrustFiles(root=self.roots[start], newer_roots=self.roots[start + 1:], timestamp=self.timestamp,
                          snapshot=self.snapshot, targets=self.targets, roles=dict(self.roles),
                          targets_files=dict(self.targets_files))

    def served(self) -> dict[str, bytes]:
        """Every current file by the path clients fetch it at."""
        out = {served_path("metadata", "root", Metadata.from_bytes(r).signed.version): r for r in self.roots}
        out["timestamp.json"] = self.timestamp
        for name, data in (("snapshot", self.snapshot), ("targets", self.targets), *self.roles.items()):
            out[served_path("metadata", name, Metadata.from_bytes(data).signed.version)] = data
        for path, data in self.targets_files.items():
            out[served_path("target", path, data=data)] = data
        return out


def publish(repository: Repository | None, *, snapshot_signer: Signer, timestamp_signer: Signer, now_s: int,
            root: bytes | None = None, targets: bytes | None = None, roles: Mapping[str, bytes] | None = None,
            files: Mapping[str, bytes] | None = None, snapshot_ttl_s: int = SNAPSHOT_TTL_S,
            timestamp_ttl_s: int = TIMESTAMP_TTL_S) -> Repository:
    """Apply new metadata and part files, then sign the next snapshot and timestamp.

    With `repository` None a first repository is made (root and targets are then required).
    Roles and files keep their names; a role no longer delegated stays (clients refuse a snapshot
    that forgets one), a file no role lists any more is dropped.
    """
    if repository is None:
        if root is None or targets is None:
            raise InvalidArgumentError("a first repository needs a root and top-level targets")
        repository = Repository(roots=[], timestamp=b"", snapshot=b"", targets=targets)
    new = dataclasses.replace(repository, roots=list(repository.roots), roles=dict(repository.roles),
                              targets_files=dict(repository.targets_files))
    if root is not None:
        new.roots.append(root)
    if targets is not None:
        new.targets = targets
    new.roles.update(roles or {})
    new.targets_files.update(files or {})
    # A role the governance no longer delegates (a city or agreement removed) stays listed in the
    # snapshot at its last version: TUF clients refuse a snapshot that drops a role they knew.
    listed: set[str] = set(Metadata[Targets].from_bytes(new.targets).signed.targets)
    for data in new.roles.values():
        listed.update(Metadata[Targets].from_bytes(data).signed.targets)
    new.targets_files = {path: data for path, data in new.targets_files.items() if path in listed}
    old_version = Metadata[Snapshot].from_bytes(repository.snapshot).signed.version if repository.snapshot else 0
    meta = {f"{name}.json": MetaFile(version=Metadata.from_bytes(data).signed.version)
            for name, data in (("targets", new.targets), *sorted(new.roles.items()))}
    snapshot = Metadata(Snapshot(version=old_version + 1, expires=_expires(now_s, snapshot_ttl_s), meta=meta))
    new.snapshot = sign_metadata(snapshot, [snapshot_signer])
    return renew_timestamp(new, signer=timestamp_signer, now_s=now_s, ttl_s=timestamp_ttl_s)


def renew_timestamp(repository: Repository, *, signer: Signer, now_s: int, ttl_s: int = TIMESTAMP_TTL_S) -> Repository:
    """The next timestamp over the current snapshot (what the gateway does every so often to stay fresh)."""
    old_version = Metadata[Timestamp].from_bytes(repository.timestamp).signed.version if repository.timestamp else 0
    snapshot_version = Metadata[Snapshot].from_bytes(repository.snapshot).signed.version
    meta = MetaFile(version=snapshot_version, length=len(repository.snapshot),
                    hashes={"sha256": hashlib.sha256(repository.snapshot).hexdigest()})
    timestamp = Metadata(Timestamp(version=old_version + 1, expires=_expires(now_s, ttl_s), snapshot_meta=meta))
    return dataclasses.replace(repository, timestamp=sign_metadata(timestamp, [signer]))
