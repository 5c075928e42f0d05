"""The trust set as the gateway holds, serves and extends it: it verifies every upload, signs only freshness.

The gateway stores the trust set exactly as the parties signed it (`trust_files`: every
root, snapshot, role and part file by the path it is served at; `trust_state`: the current
timestamp; `status_lists`: each city's newest list, and what every version of the last
`STATUS_HISTORY_S` changed, to serve a delta from any of them). What it adds is its own
online signatures: a new snapshot and timestamp when a part changes, and a timestamp every
`timestamp_renew_s` so that verifiers see it is alive.

An upload is accepted only through the core, the same way a verifier accepts it: the
candidate repository is opened with `open_trust` against what the gateway trusted before
(its pinned anchor, the current snapshot), which refuses a part its role did not sign, an
older version (rollback), a root rotation without both thresholds, an agreement a bound
city did not sign. A city office's token alone changes nothing: a city's part needs the
city's authority signature, its status list the city's status key. Replicas share the
database and adopt each other's publications within `refresh_interval_s`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import struct
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from citycredit._gen.citycredit.v1 import status_pb2
from citycredit._trustdir import read_status_lists, read_trust_dir
from citycredit.core import (
    SNAPSHOT_TTL_S,
    Catalogue,
    Repository,
    Signer,
    StatusList,
    TrustAnchor,
    TrustSnapshot,
    agreement_role,
    city_role,
    open_status_update,
    open_trust,
    publish,
    renew_timestamp,
    served_path,
    status_delta,
)
from citycredit.errors import BundleError, BundleRollbackError, InvalidArgumentError, NotFoundError, UnavailableError
from citycredit.gateway.db import Database
from citycredit.gateway.models import StatusListRow, TrustFileRow, TrustStateRow
from citycredit.gateway.transparency import append
from sqlalchemy import delete, func
from sqlalchemy import update as update_rows
from sqlmodel import Session, col, select
from tuf.api.metadata import Metadata, Snapshot, Targets, Timestamp

__all__ = ["Published", "StatusServed", "TrustPublisher"]

log = logging.getLogger("citycredit.gateway")
# How long the changes of each version of a city's list are kept to serve deltas from: a verifier that
# held any version of the last week gets a delta, however many versions a busy city published since.
STATUS_HISTORY_S = 7 * 86400


@dataclass(frozen=True)
class Published:
    """The trust set this replica serves, opened and indexed."""

    repository: Repository
    snapshot: TrustSnapshot
    served: Mapping[str, bytes]
    timestamp_version: int
    # Each city's current status list as served (a whole-list StatusListUpdate) and its version.
    status_updates: Mapping[int, bytes]

    @property
    def catalogue(self) -> Catalogue:
        return self.snapshot.catalogue

    @property
    def etag(self) -> str:
        return f'"{self.timestamp_version}"'


@dataclass(frozen=True)
class StatusServed:
    """What `GET /v1/cities/{city}/status-list` answers: the version, and the update (None: not modified)."""

    version: int
    data: bytes | None

    @property
    def etag(self) -> str:
        return f'"status-{self.version}"'


def _whole(head: bytes, list_zlib: bytes) -> bytes:
    update = status_pb2.StatusListUpdate()
    update.list.head.ParseFromString(head)
    update.list.list_zlib = list_zlib
    return update.SerializeToString(deterministic=True)


class TrustPublisher:
    """The gateway's trust set: load, refresh, serve, and accept uploads (see the module docstring)."""

    def __init__(self, db: Database, *, anchor: TrustAnchor, grace_s: int = 0, timestamp_ttl_s: int = 6 * 3600,
                 timestamp_renew_s: int = 3600) -> None:
        self.db = db
        self.anchor = anchor
        self._snapshot_signer: Signer | None = None
        self._timestamp_signer: Signer | None = None
        self.grace_s = grace_s
        self.timestamp_ttl_s = timestamp_ttl_s
        self.timestamp_renew_s = timestamp_renew_s
        self._published: Published | None = None
        self._lock = threading.Lock()

    def signers(self, *, snapshot: Signer, timestamp: Signer) -> None:
        """The gateway's online keys: without them it serves and seeds, but publishes nothing."""
        self._snapshot_signer, self._timestamp_signer = snapshot, timestamp

    @property
    def published(self) -> Published:
        if self._published is None:
            raise UnavailableError("the gateway has no trust set loaded yet")
        return self._published

    # --- loading ------------------------------------------------------------------------------------

    def _load(self, session: Session, state: TrustStateRow, now_s: int) -> Published:
        """The current repository from the database, opened like a verifier opens it."""
        def file(path: str) -> bytes:
            row = session.get(TrustFileRow, path)
            if row is None:
                raise UnavailableError(f"the database lacks the trust file {path}")
            return row.data

        roots = [r.data for r in session.exec(select(TrustFileRow).where(
            col(TrustFileRow.path).like("%.root.json"))).all()]
        roots.sort(key=lambda data: Metadata.from_bytes(data).signed.version)
        stamp: Metadata[Timestamp] = Metadata.from_bytes(state.timestamp)
        snapshot_bytes = file(served_path("metadata", "snapshot", stamp.signed.snapshot_meta.version))
        snap: Metadata[Snapshot] = Metadata.from_bytes(snapshot_bytes)
        roles, targets = {}, b""
        for name, meta in snap.signed.meta.items():
            role = name.removesuffix(".json")
            data = file(served_path("metadata", role, meta.version))
            if role == "targets":
                targets = data
            else:
                roles[role] = data
        parts = {}
        for data in (targets, *roles.values()):
            signed: Targets = Metadata.from_bytes(data).signed  # type: ignore[assignment]
            for path, info in signed.targets.items():
                digest = info.hashes["sha256"]
                directory, _, base = path.rpartition("/")
                parts[path] = file(f"targets/{directory + '/' if directory else ''}{digest}.{base}")
        repository = Repository(roots=roots, timestamp=state.timestamp, snapshot=snapshot_bytes, targets=targets,
                                roles=roles, targets_files=parts)
        previous = self._published.snapshot if self._published is not None else None
        snapshot = open_trust(repository.files(trusted_root_version=self.anchor.version), now_s=now_s,
                              grace_s=self.grace_s + 10**9, anchor=self.anchor, previous=previous)
        updates: dict[int, bytes] = {}
        for city in snapshot.cities:
            row = session.exec(select(StatusListRow).where(StatusListRow.city == city)
                               .order_by(col(StatusListRow.version).desc()).limit(1)).first()
            if row is None or not row.list_zlib:  # the newest row always has its list; else serve none
                continue
            updates[city] = _whole(row.head, row.list_zlib)
            held = snapshot.statuses.get(city)
            if held is None or held.version != row.version:
                snapshot = snapshot.with_status_list(open_status_update(
                    updates[city], city=city, status_keys=snapshot.cities[city].status_keys, previous=None,
                    now_s=now_s, grace_s=10**9))
        return Published(repository=repository, snapshot=snapshot, served=repository.served(),
                         timestamp_version=state.timestamp_version, status_updates=updates)

    def refresh(self, now_s: int) -> bool:
        """Adopt what the database holds if it moved on (another replica published); True when it did."""
        with self.db.read() as session:
            state = session.get(TrustStateRow, 1)
            if state is None:
                raise UnavailableError("the database holds no trust set; seed it first")
            current = self._published
            if current is not None and state.timestamp_version == current.timestamp_version and \
                    self._status_fresh(session, current):
                return False
            published = self._load(session, state, now_s)
        with self._lock:
            if self._published is None or published.timestamp_version >= self._published.timestamp_version:
                self._published = published
        log.info("trust set adopted", extra={"fields": {"snapshot": published.snapshot.version,
                                                        "timestamp": published.timestamp_version}})
        return True

    def _status_fresh(self, session: Session, current: Published) -> bool:
        """Whether every city's newest stored list is the one this replica serves."""
        rows = session.exec(select(StatusListRow.city, func.max(StatusListRow.version))
                            .group_by(col(StatusListRow.city))).all()
        held = current.snapshot.statuses
        return all(city in held and held[city].version == version for city, version in rows)

    # --- seeding ------------------------------------------------------------------------------------

    def seed(self, directory: Path, now_s: int) -> bool:
        """Fill an empty database from a trust set on disk (verified first); False when it holds one."""
        files = read_trust_dir(directory, trusted_root=self.anchor.data)
        snapshot = open_trust(files, now_s=now_s, grace_s=self.grace_s + 10**9, anchor=self.anchor)
        lists = read_status_lists(directory)
        for city, data in lists.items():
            if city in snapshot.cities:
                open_status_update(data, city=city, status_keys=snapshot.cities[city].status_keys, previous=None,
                                   now_s=now_s, grace_s=10**9)
        repository = Repository.from_files(files)

        def work(session: Session) -> bool:
            if session.get(TrustStateRow, 1) is not None:
                return False
            self._store_files(session, repository, now_s)
            stamp: Metadata[Timestamp] = Metadata.from_bytes(repository.timestamp)
            session.add(TrustStateRow(id=1, timestamp=repository.timestamp, timestamp_version=stamp.signed.version,
                                      snapshot_version=stamp.signed.snapshot_meta.version, updated_at_s=now_s))
            for city, data in lists.items():
                update = status_pb2.StatusListUpdate.FromString(data)
                head = status_pb2.StatusListHead.FromString(update.list.head.body)
                session.add(StatusListRow(city=city, version=head.version,
                                          head=update.list.head.SerializeToString(deterministic=True),
                                          list_zlib=update.list.list_zlib, created_at_s=now_s))
            append(session, "governance.accepted", {"root_version": snapshot.root.version,
                                                    "targets_version": snapshot.versions["targets"]}, at_s=now_s)
            return True

        return bool(self.db.write(work))

    @staticmethod
    def _store_files(session: Session, repository: Repository, now_s: int) -> None:
        for path, data in repository.served().items():
            if path != "timestamp.json" and session.get(TrustFileRow, path) is None:
                session.add(TrustFileRow(path=path, data=data, created_at_s=now_s))

    # --- uploads ------------------------------------------------------------------------------------

    def _change(self, now_s: int, what: str, *, root: bytes | None = None, targets: bytes | None = None,
                roles: Mapping[str, bytes] | None = None, files: Mapping[str, bytes] | None = None,
                renew_only: bool = False, unless_renewed_since: int | None = None) -> Published:
        """Apply signed parts on top of the current trust set, verify the result, store it, log it, adopt it.

        Uploading what is already published changes nothing (a retried upload is not an error).
        """

        snapshot_signer, timestamp_signer = self._snapshot_signer, self._timestamp_signer
        if snapshot_signer is None or timestamp_signer is None:
            raise UnavailableError("this replica holds no snapshot and timestamp keys: it cannot publish")

        def work(session: Session) -> Published:
            state = session.exec(select(TrustStateRow).where(TrustStateRow.id == 1).with_for_update()).first()
            if state is None:
                raise UnavailableError("the database holds no trust set; seed it first")
            current = self._published
            if current is None or current.timestamp_version != state.timestamp_version:
                current = self._load(session, state, now_s)
            if unless_renewed_since is not None and state.updated_at_s >= unless_renewed_since:
                return current  # another replica renewed meanwhile
            held = current.repository
            new_roles = {n: d for n, d in (roles or {}).items() if held.roles.get(n) != d}
            same = (not new_roles and (root is None or root in held.roots) and targets in (None, held.targets)
                    and all(held.targets_files.get(p) == d for p, d in (files or {}).items()))
            if same and not renew_only and unless_renewed_since is None:
                return current
            for name, data in new_roles.items():
                old = held.roles.get(name)
                if old is not None and _version(data) <= _version(old):
                    raise BundleRollbackError(f"{name} version {_version(data)} is not newer than the published "
                                              f"{_version(old)}")
            if renew_only:
                repository = renew_timestamp(held, signer=timestamp_signer, now_s=now_s,
                                             ttl_s=self.timestamp_ttl_s)
            else:
                repository = publish(held, snapshot_signer=snapshot_signer, timestamp_signer=timestamp_signer,
                                     now_s=now_s, root=root,
                                     targets=targets, roles=new_roles, files=files,
                                     timestamp_ttl_s=self.timestamp_ttl_s)
            try:
                snapshot = open_trust(repository.files(trusted_root_version=current.snapshot.root.version),
                                      now_s=now_s, grace_s=0, anchor=self.anchor, previous=current.snapshot)
            except BundleError as exc:
                raise type(exc)(f"{what} refused: {exc.message}") from None
            self._store_files(session, repository, now_s)
            stamp: Metadata[Timestamp] = Metadata.from_bytes(repository.timestamp)
            state.timestamp, state.timestamp_version = repository.timestamp, stamp.signed.version
            state.snapshot_version, state.updated_at_s = stamp.signed.snapshot_meta.version, now_s
            session.add(state)
            for name, data in new_roles.items():
                fields: dict[str, object] = {"role": name, "version": _version(data),
                                             "sha256": hashlib.sha256(data).hexdigest()}
                if name.startswith("city-"):
                    fields["city"] = int(name.removeprefix("city-"))
                else:
                    fields["agreement_id"] = name.removeprefix("agreement-")
                append(session, "part.accepted", fields, at_s=now_s)
            if root is not None or targets is not None:
                append(session, "governance.accepted", {"root_version": snapshot.root.version,
                                                        "targets_version": snapshot.versions["targets"]}, at_s=now_s)
            return Published(repository=repository, snapshot=snapshot, served=repository.served(),
                             timestamp_version=stamp.signed.version, status_updates=current.status_updates)

        published = self.db.write(work)
        with self._lock:
            if self._published is None or published.timestamp_version >= self._published.timestamp_version:
                self._published = published
        return published

    def upload_city_parts(self, city: int, role: bytes, files: Mapping[str, bytes], *, now_s: int) -> Published:
        """A city's role and part files, signed by its authority key."""
        name = city_role(city)
        targets = Metadata[Targets].from_bytes(self.published.repository.targets).signed
        if targets.delegations is None or name not in (targets.delegations.roles or {}):
            raise NotFoundError(f"{city:06d} is not a member of the alliance")
        strays = [p for p in files if not p.startswith(f"cities/{city:06d}/")]
        if strays:
            raise InvalidArgumentError(f"a city uploads only its own parts, not {', '.join(strays)}")
        return self._change(now_s, f"the parts of {city:06d}", roles={name: role}, files=files)

    def upload_agreement(self, agreement_id: str, role: bytes, files: Mapping[str, bytes], *,
                         now_s: int) -> Published:
        """An agreement's role, co-signed by every city it binds, and its part."""
        name = agreement_role(agreement_id)
        if set(files) != {f"agreements/{agreement_id}.pb"}:
            raise InvalidArgumentError(f"an agreement uploads exactly agreements/{agreement_id}.pb")
        targets = Metadata[Targets].from_bytes(self.published.repository.targets).signed
        if targets.delegations is None or name not in (targets.delegations.roles or {}):
            raise NotFoundError(f"the governance has not delegated {name}: propose it in a ceremony first")
        return self._change(now_s, f"agreement {agreement_id}", roles={name: role}, files=files)

    def upload_governance(self, *, targets: bytes | None, files: Mapping[str, bytes], root: bytes | None,
                          now_s: int) -> Published:
        """A ceremony's result: new top-level targets (membership) and/or the next root."""
        if targets is None and root is None:
            raise InvalidArgumentError("a governance upload carries a root, top-level targets or both")
        return self._change(now_s, "the governance proposal", root=root, targets=targets, files=files)

    def upload_status_list(self, city: int, data: bytes, *, now_s: int) -> StatusList:
        """A city's new status list, signed by one of its status keys and newer than the one held.

        The same list again is accepted and changes nothing.
        """
        published = self.published
        trust = published.snapshot.cities.get(city)
        if trust is None:
            raise NotFoundError(f"{city:06d} is not a member of the alliance")
        update = status_pb2.StatusListUpdate()
        try:
            update.ParseFromString(data)
        except Exception:  # protobuf raises DecodeError, or others for some inputs
            raise InvalidArgumentError("the body is not a StatusListUpdate") from None
        if update.WhichOneof("update") != "list":
            raise InvalidArgumentError("a city uploads its whole list (the gateway computes the deltas)")
        held = published.snapshot.statuses.get(city)
        accepted = open_status_update(update, city=city, status_keys=trust.status_keys, previous=held,
                                      now_s=now_s, grace_s=0)
        if accepted is held:
            return accepted

        def work(session: Session) -> None:
            newest = session.exec(select(StatusListRow).where(StatusListRow.city == city)
                                  .order_by(col(StatusListRow.version).desc()).limit(1)).first()
            if newest is not None and newest.version >= accepted.version:
                raise BundleRollbackError(f"status list version {accepted.version} of {city:06d} is not newer than "
                                          f"the stored {newest.version}")
            previous, changed = None, None
            if newest is not None and newest.list_zlib:
                indexes, _ = status_delta(zlib.decompress(newest.list_zlib), zlib.decompress(update.list.list_zlib))
                previous, changed = newest.version, _pack(indexes)
            session.add(StatusListRow(city=city, version=accepted.version, head=accepted.head,
                                      list_zlib=update.list.list_zlib, created_at_s=now_s,
                                      previous_version=previous, changed=changed))
            # Older versions keep only their changes, and only for the history window.
            session.execute(update_rows(StatusListRow).where(col(StatusListRow.city) == city,
                                                             col(StatusListRow.version) < accepted.version,
                                                             col(StatusListRow.list_zlib) != b"")
                            .values(list_zlib=b""))
            session.execute(delete(StatusListRow).where(col(StatusListRow.city) == city,
                                                        col(StatusListRow.version) < accepted.version,
                                                        col(StatusListRow.created_at_s) < now_s - STATUS_HISTORY_S))
            append(session, "status_list.accepted", {"city": city, "version": accepted.version,
                                                     "sha256": hashlib.sha256(accepted.head).hexdigest()},
                   at_s=now_s)

        self.db.write(work)
        with self._lock:
            current = self._published
            if current is not None:
                self._published = dataclasses.replace(
                    current, snapshot=current.snapshot.with_status_list(accepted),
                    status_updates={**current.status_updates, city: _whole(accepted.head, update.list.list_zlib)})
        return accepted

    # --- freshness ----------------------------------------------------------------------------------

    def renew_if_due(self, now_s: int) -> bool:
        """A new timestamp every `timestamp_renew_s`; a new snapshot once half of its life is gone."""
        repository = self.published.repository
        stamp_expires = _expires(repository.timestamp)
        snapshot_expires = _expires(repository.snapshot)
        stamp_issued = stamp_expires - self.timestamp_ttl_s
        if now_s >= snapshot_expires - SNAPSHOT_TTL_S // 2:
            self._change(now_s, "the snapshot renewal", unless_renewed_since=now_s - 60)
            return True
        if now_s >= stamp_issued + self.timestamp_renew_s:
            self._change(now_s, "the timestamp renewal", renew_only=True,
                         unless_renewed_since=now_s - self.timestamp_renew_s // 2)
            return True
        return False

    # --- serving ------------------------------------------------------------------------------------

    def file(self, path: str) -> bytes | None:
        """A file of the repository by its served path (`timestamp.json`, `3.snapshot.json`, `targets/…`)."""
        published = self.published
        found = published.served.get(path)
        if found is not None:
            return found
        if path.endswith(".json") or path.startswith("targets/"):
            with self.db.read() as session:  # an older version a client in the middle of an update asks for
                row = session.get(TrustFileRow, path)
            return None if row is None else row.data
        return None

    def status_list(self, city: int, *, known_version: int = 0) -> StatusServed:
        """The city's list: not modified, a delta from `known_version` when one is held, or the whole list."""
        published = self.published
        held = published.snapshot.statuses.get(city)
        whole = published.status_updates.get(city)
        if held is None or whole is None:
            raise NotFoundError(f"no status list of {city:06d} is published")
        if known_version == held.version:
            return StatusServed(held.version, None)
        if 0 < known_version < held.version:
            delta = _delta(self.db, city, known_version, held.version)
            if delta is not None and len(delta) < len(whole):
                return StatusServed(held.version, delta)
        return StatusServed(held.version, whole)


def _version(metadata: bytes) -> int:
    return int(Metadata.from_bytes(metadata).signed.version)


def _expires(metadata: bytes) -> int:
    return int(Metadata.from_bytes(metadata).signed.expires.timestamp())


def _pack(indexes: list[int]) -> bytes:
    return struct.pack(f"<{len(indexes)}I", *indexes)


@lru_cache(maxsize=4096)
def _delta(db: Database, city: int, from_version: int, to_version: int) -> bytes | None:
    """A StatusListDelta from a version of the history window to the newest (each pair computed once per
    process): the indexes every version since changed, with their statuses in the newest list. None when
    the chain of changes from `from_version` is not held (older than the window, or after a gap)."""
    with db.read() as session:
        rows = session.exec(select(StatusListRow).where(StatusListRow.city == city,
                                                        col(StatusListRow.version) > from_version,
                                                        col(StatusListRow.version) <= to_version)
                            .order_by(col(StatusListRow.version))).all()
    if not rows or rows[-1].version != to_version or not rows[-1].list_zlib:
        return None
    follows = from_version
    changed: set[int] = set()
    for row in rows:
        if row.previous_version != follows or row.changed is None:
            return None
        changed.update(struct.unpack(f"<{len(row.changed) // 4}I", row.changed))
        follows = row.version
    newest = zlib.decompress(rows[-1].list_zlib)
    indexes = sorted(changed)
    update = status_pb2.StatusListUpdate()
    update.delta.head.ParseFromString(rows[-1].head)
    update.delta.from_version = from_version
    update.delta.indexes.extend(indexes)
    update.delta.statuses = bytes(newest[i >> 2] >> (2 * (i & 3)) & 3 for i in indexes)
    return update.SerializeToString(deterministic=True)
