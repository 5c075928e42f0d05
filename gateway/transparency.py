"""The transparency log (DESIGN 7): an append-only Merkle log whose signed heads the member cities countersign.

What goes in. The records nobody may rewrite: redemptions and their voids, the parts the
gateway accepted (role files, status lists, governance), merchant credentials granted and
revoked. Each is one leaf, the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"kind", "at_s", ...fields}`` (`entry_bytes`; `KINDS` lists each kind's fields). Holders
appear only as pseudonyms (hex), never as identities. Leaf i is the `log_entries` row with
index i, counted from 0 without gaps.

The tree is RFC 9162's: leaf hash SHA-256(0x00 || entry), node hash SHA-256(0x01 || left ||
right), the empty tree SHA-256 of nothing. pymerkle computes it (`BaseMerkleTree` over
`log_entries`, `security=True`), with its proofs and their verification; a proof travels as
pymerkle's JSON (hashes in hex) inside ours, and an inclusion proof's `path[1:]` is RFC 9162's
audit path.

Appending. Admin actions and uploads call `append` inside their own write transaction.
Redemptions must not serialise on the log, so the statement that stores a redemption also
inserts a `log_pending` row (`PENDING_INSERT_SQL`, values from `pending_row`): it commits
with the redemption or not at all. `link_pending` moves pending rows into the log, oldest
first, in batches, deleting them in the same transaction; `append` links everything pending
before its own entry, so the log keeps the order things happened in. One linker runs at a
time: on PostgreSQL a transaction-level advisory lock (a chainer that does not get it skips
its round; `append` waits for it), on SQLite the single writer (BEGIN IMMEDIATE). Indexes are
the log's size at the time, under that lock, so they are consecutive; the primary key makes
a duplicate impossible even if the lock were bypassed.

Heads. `sign_head` signs (size, root, timestamp) with the gateway's timestamp key: a
`SignedPart` over the canonical JSON ``{"root": hex, "size": n, "timestamp": s}`` with
context ``b"CCT1\\x00"``. Every head is kept (`log_heads`, one per size). `chainer_round`
is what a replica runs every interval: link, then sign a head if the log grew.

Witnesses. Each member city's issuer runs a `Witness`: it fetches the latest head, checks
its signature and a consistency proof from the last head it holds, countersigns the same
body with its status key (context ``b"CCW1\\x00"``), keeps the head in `heads.jsonl` and
posts the countersignature (`accept_witness` stores it). A head that does not extend the
held one is refused and not countersigned: that is the alarm.

What it catches. `audit` recomputes the tree from the entries and compares every head a
city holds, and the gateway's own, with it; and matches the log against the `redemptions`
table. Whoever owns the database can rewrite the entries *and* recompute every leaf hash
and gateway head consistently (the timestamp key is online): the log alone then looks fine,
and only a head signed before the rewrite, held outside the database, shows it. What no
head covers: a pending row not yet linked (the chaining delay), and a rewrite done before
any city held a head past it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import HOLDER_BYTES, Signer, VerifyingKey, sign_part, verify_part
from citycredit.errors import (
    BundleMalformedError,
    BundleRollbackError,
    CityCreditError,
    CityUnknownError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnavailableError,
    error_for_code,
)
from citycredit.gateway import models  # noqa: F401  # registers the log tables on SQLModel.metadata
from citycredit.gateway.db import Database
from fastapi import APIRouter, Request
from google.protobuf.message import DecodeError
from pymerkle import BaseMerkleTree, InvalidProof, MerkleProof  # type: ignore[import-untyped]  # no type info
from pymerkle.hasher import MerkleHasher  # type: ignore[import-untyped]  # no type info
from sqlalchemy import CursorResult, delete, func, insert, select, text
from sqlmodel import Session, SQLModel
from starlette.concurrency import run_in_threadpool

__all__ = [
    "HEAD_CONTEXT",
    "KINDS",
    "LINK_BATCH",
    "MAX_PAGE",
    "PENDING_INSERT_SQL",
    "WITNESS_CONTEXT",
    "AuditReport",
    "HeldHead",
    "SignedHead",
    "TreeHead",
    "Witness",
    "accept_witness",
    "append",
    "audit",
    "chainer_round",
    "consistency_proof",
    "entry_bytes",
    "head_at",
    "inclusion_proof",
    "latest_head",
    "leaf_hash",
    "link_pending",
    "load_heads",
    "log_router",
    "pending_row",
    "sign_head",
    "verify_consistency",
    "verify_head",
    "verify_inclusion",
]

HEAD_CONTEXT = b"CCT1\x00"
WITNESS_CONTEXT = b"CCW1\x00"
LINK_BATCH = 2000  # pending rows linked per transaction
MAX_PAGE = 1000  # entries per page of GET /v1/log/entries
_LINK_ROUNDS = 50  # batches per link_pending call, so a flood of redemptions cannot keep one call going
_LOCK = 0x6363746C  # PostgreSQL advisory lock id of the log's appenders ("cctl")
_MAX_INDEX = (1 << 63) - 1  # BigInteger: anything larger is refused before it reaches the database
_MAX_SIGNED_BYTES = 2048  # a signed head or countersignature is ~200 bytes
_MAX_RESPONSE_BYTES = 1 << 20  # what a witness reads of one gateway answer
_CACHE_BYTES = 64 << 20  # pymerkle's subroot cache per Database (~290 bytes an entry)
_CACHE_THRESHOLD = 128  # perfect subtrees this wide and wider are cached

PENDING_INSERT_SQL = ("INSERT INTO log_pending (id, kind, data, created_at_s) "
                      "VALUES (:log_id, :log_kind, :log_data, :log_at_s)")

_ENTRIES = SQLModel.metadata.tables["log_entries"]
_PENDING = SQLModel.metadata.tables["log_pending"]
_HEADS = SQLModel.metadata.tables["log_heads"]
_WITNESSES = SQLModel.metadata.tables["log_witnesses"]
_REDEMPTIONS = SQLModel.metadata.tables["redemptions"]
_index = _ENTRIES.c["index"]  # the leaf index column (`index` is an SQL keyword: Core quotes it)

# --- entries ----------------------------------------------------------------------------------------

_INT, _STR, _SHA256, _HOLDER, _CITY = "int", "str", "sha256", "holder", "city"
# kind -> {field: type}; a name ending in "?" may be left out. Every entry also has "kind" and "at_s".
KINDS: Mapping[str, Mapping[str, str]] = {
    "redemption": {"redemption_id": _STR, "credential_id": _STR, "offer_id": _STR, "holder": _HOLDER,
                   "period_key": _STR, "slot": _INT, "city": _CITY},
    "redemption.void": {"redemption_id": _STR, "credential_id": _STR, "city": _CITY},
    "part.accepted": {"role": _STR, "version": _INT, "sha256": _SHA256, "city?": _CITY, "agreement_id?": _STR},
    "status_list.accepted": {"city": _CITY, "version": _INT, "sha256": _SHA256},
    "governance.accepted": {"root_version": _INT, "targets_version": _INT},
    "credential.granted": {"city": _CITY, "credential_id": _STR, "merchant_id": _STR, "grant_sha256": _SHA256},
    "credential.revoked": {"city": _CITY, "credential_id": _STR, "merchant_id": _STR, "grant_sha256": _SHA256},
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HOLDER_HEX = re.compile(f"[0-9a-f]{{{2 * HOLDER_BYTES}}}")
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() would take "١٢" or " 1_0 " too
_MAX_TEXT = 256


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# kind -> (field -> type, the fields that must be there), from KINDS; "at_s" is in every kind.
_SCHEMAS = {kind: ({name.rstrip("?"): t for name, t in schema.items()} | {"at_s": _INT},
                   frozenset(name for name in schema if not name.endswith("?")) | {"at_s"})
            for kind, schema in KINDS.items()}


def _canonical(doc: Mapping[str, object]) -> bytes:
    return _ENCODER.encode(doc).encode()


def _loads(data: bytes | str) -> Any:
    """json.loads for input nobody vouches for: deep nesting (RecursionError) is a ValueError like the rest."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _check_value(kind: str, name: str, kind_of_value: str, value: object) -> None:
    if kind_of_value in (_INT, _CITY):
        if type(value) is not int or not 0 <= value <= _MAX_INDEX:
            raise InvalidArgumentError(f"{kind} entry: {name} must be a non-negative integer")
        if kind_of_value == _CITY and not 100000 <= value <= 999999:
            raise InvalidArgumentError(f"{kind} entry: {name} must be a six-digit GB/T 2260 city code")
        return
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{kind} entry: {name} must be a string")
    if kind_of_value == _SHA256 and not _HEX64.fullmatch(value):
        raise InvalidArgumentError(f"{kind} entry: {name} must be a SHA-256 in lowercase hex")
    if kind_of_value == _HOLDER and not _HOLDER_HEX.fullmatch(value):
        # Also what keeps an identity out: a holder is a pseudonym of exactly HOLDER_BYTES, in hex.
        raise InvalidArgumentError(f"{kind} entry: {name} must be a {HOLDER_BYTES}-byte pseudonym in lowercase hex")
    if kind_of_value == _STR and not (0 < len(value) <= _MAX_TEXT and value.isprintable()):
        raise InvalidArgumentError(f"{kind} entry: {name} must be 1 to {_MAX_TEXT} printable characters")


def _check_entry(kind: str, fields: Mapping[str, object]) -> None:
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise InvalidArgumentError(f"unknown log entry kind {kind!r}; the kinds are {', '.join(sorted(KINDS))}")
    types, required = schema
    unknown = sorted(set(fields) - types.keys())
    if unknown:
        raise InvalidArgumentError(f"{kind} entry: unknown fields {', '.join(unknown)} (the log takes only "
                                   "the fields its kind lists, so nothing identifying slips in)")
    missing = sorted(required - fields.keys())
    if missing:
        raise InvalidArgumentError(f"{kind} entry: {', '.join(missing)} missing")
    for name, value in fields.items():
        _check_value(kind, name, types[name], value)


def entry_bytes(kind: str, fields: Mapping[str, object]) -> bytes:
    """The leaf data of an entry: canonical JSON of {"kind": kind, **fields}, checked against `KINDS`.

    `fields` include `at_s`; `append` and `pending_row` add it from their argument.
    """
    if "kind" in fields:
        raise InvalidArgumentError("an entry's kind is given apart from its fields")
    _check_entry(kind, fields)
    return _canonical({"kind": kind, **fields})


def _timed(fields: Mapping[str, object], at_s: int) -> dict[str, object]:
    if "at_s" in fields and fields["at_s"] != at_s:
        raise InvalidArgumentError("an entry's at_s is given once, as the at_s argument")
    return {**fields, "at_s": at_s}


def _parse_entry(data: bytes) -> tuple[str, dict[str, Any]]:
    """A stored entry back into (kind, fields); refuses anything `entry_bytes` would not have written."""
    try:
        doc = _loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        raise InvalidArgumentError("it is not UTF-8 JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise InvalidArgumentError("it is not a JSON object with a kind")
    kind = doc.pop("kind")
    if entry_bytes(kind, doc) != data:
        raise InvalidArgumentError("it is not in canonical form")
    return kind, doc


# --- the tree: pymerkle over log_entries --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leaf:
    kind: str
    data: bytes
    at_s: int


class _LogTree(BaseMerkleTree):  # type: ignore[misc]  # pymerkle carries no type information
    """pymerkle's RFC 9162 tree over `log_entries`, through the session it is bound to.

    pymerkle counts leaves from 1: the log's index i is pymerkle's leaf i + 1. A tree shared by
    the readers of one `Database` keeps pymerkle's subroot cache: the subtrees of linked entries
    never change in an append-only log, so after a restart the first head costs one pass over
    the leaf hashes and later ones only the new leaves.
    """

    def __init__(self, session: Session | None, *, cached: bool) -> None:
        # disable_security=False: RFC 9162's 0x00 / 0x01 prefixes (pymerkle's second-preimage protection).
        super().__init__("sha256", threshold=_CACHE_THRESHOLD, capacity=_CACHE_BYTES, disable_cache=not cached,
                         disable_security=False)
        self.session = session
        self._size: int | None = None
        self._caching = cached

    def bind(self, session: Session | None) -> None:
        self.session, self._size = session, None

    def _bound(self) -> Session:
        if self.session is None:  # pragma: no cover - every use goes through a bound tree
            raise RuntimeError("the log tree is not bound to a session")
        return self.session

    def _encode_entry(self, data: _Leaf) -> bytes:
        return data.data

    def _store_leaf(self, data: _Leaf, digest: bytes) -> int:
        return self._insert([(data, digest)])

    def append_entries(self, entries: Iterable[_Leaf]) -> int:
        """One multi-row INSERT for a batch (pymerkle invites overriding its one-by-one default)."""
        with self.lock:
            return self._insert([(leaf, self.hash_buff(self._encode_entry(leaf))) for leaf in entries])

    def _insert(self, leaves: list[tuple[_Leaf, bytes]]) -> int:
        start = self._get_size()
        if leaves:
            self._bound().execute(insert(_ENTRIES), [
                {"index": start + i, "kind": leaf.kind, "data": leaf.data, "leaf_hash": digest,
                 "created_at_s": leaf.at_s} for i, (leaf, digest) in enumerate(leaves)])
        self._size = start + len(leaves)
        return self._size

    def _get_leaf(self, index: int) -> bytes:
        digest = self._bound().execute(select(_ENTRIES.c.leaf_hash).where(_index == index - 1)).scalar()
        if digest is None:
            raise UnavailableError(f"log entry {index - 1} is missing: the log is damaged (run the audit)")
        return bytes(digest)

    def _get_leaves(self, offset: int, width: int) -> list[bytes]:
        # A driver cursor in the session's transaction, not SQLAlchemy rows: a cold root reads every leaf
        # hash, and SQLAlchemy's per-row work was most of it (1M rows: 2.6 s against 1.2 s on SQLite, more
        # on PostgreSQL). The bounds are ints, written into the SQL so no dialect's paramstyle is needed.
        driver = self._bound().connection().connection.dbapi_connection
        if driver is None:  # pragma: no cover - a bound session's connection is open
            raise UnavailableError("the database connection closed")
        cursor = driver.cursor()
        try:
            cursor.execute(f'SELECT leaf_hash FROM log_entries WHERE "index" >= {int(offset)} '
                           f'AND "index" < {int(offset + width)} ORDER BY "index"')
            digests = [bytes(row[0]) for row in cursor.fetchall()]
        finally:
            cursor.close()
        if len(digests) != width:
            raise UnavailableError(f"log entries {offset} to {offset + width - 1} have a gap: the log is damaged "
                                   "(run the audit)")
        return digests

    def _get_subroot_uncached(self, offset: int, width: int) -> bytes:
        """A perfect subtree's root, hashed level by level as pymerkle does, keeping what it passes on the way.

        Written by hand, the one part of the tree that is: pymerkle 7 caches only the top of
        the subtree it hashed and drops the levels below, so after a restart each inclusion
        proof hashed its siblings again from the leaves (1M leaves on SQLite: a 5.5 s cold
        head, then 1.5 to 3 s per proof until the cache filled; with this, 3.7 s and then
        4 to 7 ms). Every aligned subtree of `threshold` leaves or more met on the way goes
        into pymerkle's cache, hashed with pymerkle's node hash and prefix.
        """
        level = self._get_leaves(offset, width)
        hashfunc, prefix, threshold, cache = self.hashfunc, self.node_prefix, self.threshold, self.cache
        span = 1
        while len(level) > 1:
            level = [hashfunc(prefix + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
            span *= 2
            if self._caching and span >= threshold:
                for i, digest in enumerate(level):
                    cache[(offset + i * span, span)] = digest
        return level[0]

    def _get_size(self) -> int:
        if self._size is None:
            last = self._bound().execute(select(func.max(_index))).scalar()
            self._size = 0 if last is None else int(last) + 1
        return self._size


class _ListTree(BaseMerkleTree):  # type: ignore[misc]  # pymerkle carries no type information
    """pymerkle's tree over leaf hashes the audit recomputed from the entries' data."""

    def __init__(self) -> None:
        super().__init__("sha256", threshold=_CACHE_THRESHOLD, disable_security=False)
        self.leaves: list[bytes] = []

    def _encode_entry(self, data: bytes) -> bytes:
        return data

    def _store_leaf(self, data: bytes, digest: bytes) -> int:
        self.leaves.append(digest)
        return len(self.leaves)

    def _get_leaf(self, index: int) -> bytes:
        return self.leaves[index - 1]

    def _get_leaves(self, offset: int, width: int) -> list[bytes]:
        return self.leaves[offset:offset + width]

    def _get_size(self) -> int:
        return len(self.leaves)


_HASHER = MerkleHasher("sha256", security=True)  # the trees' hashing, for leaf hashes outside a tree


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162's leaf hash of an entry: SHA-256(0x00 || data)."""
    return bytes(_HASHER.hash_buff(data))


_SHARED: weakref.WeakKeyDictionary[Database, _LogTree] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


@contextmanager
def _reading(db: Database) -> Iterator[tuple[_LogTree, Session]]:
    """The Database's cached tree, bound to a fresh read session; one reader at a time (pymerkle's lock)."""
    with _SHARED_LOCK:
        tree = _SHARED.get(db)
        if tree is None:
            tree = _SHARED[db] = _LogTree(None, cached=True)
    with tree.lock, db.read() as session:
        tree.bind(session)
        try:
            yield tree, session
        finally:
            tree.bind(None)


# --- appending ----------------------------------------------------------------------------------------


def _lock(session: Session, *, wait: bool) -> bool:
    """The appenders' lock on PostgreSQL (SQLite's writer is alone already); False when busy and not waiting."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK})
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _LOCK}).scalar())


def _link_batch(session: Session, limit: int) -> int:
    """Append up to `limit` pending rows, oldest first, and delete them; the caller holds the lock."""
    rows = session.execute(select(_PENDING.c.id, _PENDING.c.kind, _PENDING.c.data, _PENDING.c.created_at_s)
                           # kind breaks ties within a second: "redemption" sorts before "redemption.void"
                           .order_by(_PENDING.c.created_at_s, _PENDING.c.kind, _PENDING.c.id).limit(limit)).all()
    if not rows:
        return 0
    _LogTree(session, cached=False).append_entries(_Leaf(kind, bytes(data), at_s) for _id, kind, data, at_s in rows)
    removed = cast(CursorResult[Any], session.execute(delete(_PENDING).where(_PENDING.c.id.in_([r[0] for r in rows]))))
    if removed.rowcount != len(rows):  # pragma: no cover - the lock makes this impossible
        raise UnavailableError("pending log entries changed while they were being linked")
    return len(rows)


def append(session: Session, kind: str, fields: Mapping[str, object], *, at_s: int) -> int:
    """Append one entry inside the caller's write transaction; returns its index.

    Everything pending is linked first, so the entry follows the redemptions before it. On
    PostgreSQL it waits for the appenders' lock (held to the caller's commit): call it last.
    """
    data = entry_bytes(kind, _timed(fields, at_s))
    _lock(session, wait=True)
    while _link_batch(session, LINK_BATCH) == LINK_BATCH:
        pass
    return int(_LogTree(session, cached=False).append_entry(_Leaf(kind, data, at_s))) - 1


def pending_row(id: str, kind: str, fields: Mapping[str, object], at_s: int) -> dict[str, object]:
    """The parameters of `PENDING_INSERT_SQL` for an entry the ledger stores in its own statement.

    `id` is the pending row's key: one per fact (e.g. the redemption id, and "void:" + it for its void).
    """
    if not isinstance(id, str) or not 0 < len(id) <= _MAX_TEXT:
        raise InvalidArgumentError(f"a pending log entry's id is 1 to {_MAX_TEXT} characters")
    return {"log_id": id, "log_kind": kind, "log_data": entry_bytes(kind, _timed(fields, at_s)), "log_at_s": at_s}


def link_pending(db: Database, *, batch: int = LINK_BATCH) -> int:
    """One chainer round: link pending rows in batches (one transaction each); returns how many.

    Returns 0 at once when another replica's chainer holds the lock.
    """

    def work(session: Session) -> int:
        return _link_batch(session, batch) if _lock(session, wait=False) else 0

    total = 0
    for _ in range(_LINK_ROUNDS):
        linked = db.write(work)
        total += linked
        if linked < batch:
            break
    return total


def chainer_round(db: Database, signer: Signer, *, now_s: int) -> int:
    """What every replica runs every interval: `link_pending`, then a new signed head if the log grew.

    Returns the log's size as its latest head says (what the `citycredit_log_size` gauge shows).
    """
    link_pending(db)
    return sign_head(db, signer, now_s).head.size


# --- heads --------------------------------------------------------------------------------------------


def _decode_hex(value: object, what: str, length: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length or not re.fullmatch(r"[0-9a-f]*", value):
        raise BundleMalformedError(f"{what} must be {length} bytes in lowercase hex")
    return bytes.fromhex(value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: object, what: str, *, error: type[CityCreditError] = InvalidArgumentError) -> bytes:
    limit = _MAX_SIGNED_BYTES
    if not isinstance(value, str) or len(value) > 2 * limit:
        raise error(f"{what} must be base64 of at most {limit} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{what} is not valid base64") from None
    if len(data) > limit:
        raise error(f"{what} must be base64 of at most {limit} bytes")
    return data


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The log at one moment: its size, its RFC 9162 root, and when the gateway signed it (seconds)."""

    size: int
    root: bytes
    timestamp_s: int

    def __post_init__(self) -> None:
        if type(self.size) is not int or not 0 <= self.size <= _MAX_INDEX:
            raise BundleMalformedError("a tree head's size is a non-negative integer")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise BundleMalformedError("a tree head's root is 32 bytes")
        if type(self.timestamp_s) is not int or not 0 <= self.timestamp_s <= _MAX_INDEX:
            raise BundleMalformedError("a tree head's timestamp is a non-negative integer")

    def body(self) -> bytes:
        """What the gateway signs and the cities countersign: {"root": hex, "size": n, "timestamp": s}."""
        return _canonical({"root": self.root.hex(), "size": self.size, "timestamp": self.timestamp_s})

    @classmethod
    def from_body(cls, body: bytes) -> TreeHead:
        """The head a signed body describes; refuses any other JSON than what `body` writes."""
        try:
            doc = _loads(body.decode())
        except (UnicodeDecodeError, ValueError):
            raise BundleMalformedError("a tree head is UTF-8 JSON") from None
        if not isinstance(doc, dict) or set(doc) != {"root", "size", "timestamp"}:
            raise BundleMalformedError("a tree head has exactly root, size and timestamp")
        head = cls(size=doc["size"], root=_decode_hex(doc["root"], "a tree head's root", 32),
                   timestamp_s=doc["timestamp"])
        if head.body() != body:
            raise BundleMalformedError("a tree head's body is not in canonical form")
        return head

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "root": self.root.hex(), "timestamp": self.timestamp_s}


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A tree head with the serialized `SignedPart` the gateway's timestamp key made over its body."""

    head: TreeHead
    signed: bytes

    def to_json(self) -> dict[str, object]:
        return {**self.head.to_json(), "signed": _b64(self.signed)}


def _parse_part(data: bytes, what: str) -> trust_pb2.SignedPart:
    part = trust_pb2.SignedPart()
    try:
        part.ParseFromString(data)
    except DecodeError:
        raise BundleMalformedError(f"{what} is not a SignedPart") from None
    return part


def _check_signed(part: trust_pb2.SignedPart, keys: Mapping[bytes, VerifyingKey], context: bytes,
                  what: str, whose: str) -> None:
    if part.kid not in keys:
        raise BundleMalformedError(f"{what} is signed by {part.kid.hex() or 'no key'}, not by {whose}")
    verify_part(part, keys, context, what)


def verify_head(signed: bytes, timestamp_keys: Mapping[bytes, VerifyingKey]) -> TreeHead:
    """The head in a serialized SignedPart, refused unless one of the gateway's timestamp keys signed it."""
    part = _parse_part(signed, "the log head")
    _check_signed(part, timestamp_keys, HEAD_CONTEXT, "the log head", "the gateway's timestamp key")
    return TreeHead.from_body(part.body)


def _signed_head(row: Any) -> SignedHead:
    return SignedHead(TreeHead(size=int(row.size), root=bytes(row.root), timestamp_s=int(row.timestamp_s)),
                      bytes(row.signed))


def _latest_row(session: Session) -> Any:
    return session.execute(select(_HEADS).order_by(_HEADS.c.size.desc()).limit(1)).first()


def sign_head(db: Database, signer: Signer, now_s: int) -> SignedHead:
    """Sign the log as it is now with the timestamp key and keep the head; the latest head if the log did not grow.

    The root is computed outside the write transaction (a cold root reads every leaf hash);
    timestamps never go backwards, whatever the replicas' clocks say.
    """
    with _reading(db) as (tree, session):
        latest = _latest_row(session)
        size = tree.get_size()
        if latest is not None and latest.size >= size:
            return _signed_head(latest)
        root = bytes(tree.get_root(size))

    def work(session: Session) -> SignedHead:
        latest = _latest_row(session)
        if latest is not None and latest.size >= size:
            return _signed_head(latest)  # another replica signed this size, or a later one, meanwhile
        head = TreeHead(size=size, root=root, timestamp_s=max(now_s, 0 if latest is None else latest.timestamp_s))
        signed = sign_part(head.body(), signer, HEAD_CONTEXT).SerializeToString(deterministic=True)
        session.execute(insert(_HEADS), [{"size": size, "root": root, "timestamp_s": head.timestamp_s,
                                          "signed": signed}])
        return SignedHead(head, signed)

    return db.write(work)


def latest_head(db: Database) -> SignedHead | None:
    """The largest signed head, or None before the first."""
    with db.read() as session:
        row = _latest_row(session)
    return None if row is None else _signed_head(row)


def head_at(db: Database, size: int) -> SignedHead:
    """The signed head of this size; NotFoundError if the gateway never signed one."""
    _check_int(size, "size")
    with db.read() as session:
        row = session.execute(select(_HEADS).where(_HEADS.c.size == size)).first()
    if row is None:
        raise NotFoundError(f"the gateway signed no log head of size {size}")
    return _signed_head(row)


def _witnesses(db: Database, size: int) -> list[dict[str, object]]:
    with db.read() as session:
        rows = session.execute(select(_WITNESSES.c.city, _WITNESSES.c.signed).where(_WITNESSES.c.size == size)
                               .order_by(_WITNESSES.c.city)).all()
    return [{"city": int(city), "signed": _b64(bytes(signed))} for city, signed in rows]


# --- proofs -------------------------------------------------------------------------------------------


def _check_int(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_INDEX:
        raise InvalidArgumentError(f"{name} must be an integer from 0 to {_MAX_INDEX}")
    return value


def inclusion_proof(db: Database, index: int, size: int) -> dict[str, object]:
    """That entry `index` is in the log of `size` entries: JSON-ready, with the entry's leaf hash."""
    _check_int(index, "index")
    _check_int(size, "size")
    with _reading(db) as (tree, _session):
        log_size = tree.get_size()
        if not 0 < size <= log_size:
            raise InvalidArgumentError(f"size must be from 1 to the log's {log_size} entries, not {size}")
        if index >= size:
            raise InvalidArgumentError(f"index must be below size ({size}), not {index}")
        proof = tree.prove_inclusion(index + 1, size)
        leaf = bytes(tree.get_leaf(index + 1))
    return {"index": index, "size": size, "leaf_hash": leaf.hex(), "proof": proof.serialize()}


def consistency_proof(db: Database, first: int, second: int) -> dict[str, object]:
    """That the log of `second` entries extends the log of `first`: JSON-ready."""
    _check_int(first, "first")
    _check_int(second, "second")
    with _reading(db) as (tree, _session):
        log_size = tree.get_size()
        if not 0 < second <= log_size:
            raise InvalidArgumentError(f"second must be from 1 to the log's {log_size} entries, not {second}")
        if not 0 < first <= second:
            raise InvalidArgumentError(f"first must be from 1 to second ({second}), not {first} (every log "
                                       "extends the empty one: no proof is needed from 0)")
        proof = tree.prove_consistency(first, second)
    return {"first": first, "second": second, "proof": proof.serialize()}


_PROOF_ERRORS = (InvalidProof, KeyError, TypeError, ValueError, AttributeError)


def verify_inclusion(proof: Mapping[str, Any], head: TreeHead, data: bytes) -> int:
    """Check that `data` is an entry of the log `head` describes, at the proof's index; returns the index."""
    try:
        index = proof["index"]
        if type(index) is not int or proof["size"] != head.size or not 0 <= index < head.size:
            raise InvalidProof("the proof is for another index or size")
        merkle = MerkleProof.deserialize(proof["proof"])
        if merkle.kind != "inclusion":
            raise InvalidProof("not an inclusion proof")
        merkle.verify(leaf_hash(data), head.root, index=index + 1, size=head.size, algorithm="sha256",
                      security=True)
    except _PROOF_ERRORS as exc:
        raise BundleMalformedError(f"the inclusion proof does not show the entry in the log head of size "
                                   f"{head.size}: {exc}") from None
    return index


def verify_consistency(proof: Mapping[str, Any] | None, older: TreeHead, newer: TreeHead) -> None:
    """Check that `newer` extends `older` (no proof is needed from size 0, or between equal sizes).

    Refuses with BundleRollbackError naming both sizes: the log's history was rewritten.
    """
    alarm = (f"the log head of size {newer.size} is not consistent with the held head of size {older.size}: "
             "the log's history was rewritten")
    if newer.size < older.size:
        raise BundleRollbackError(f"the log head of size {newer.size} is older than the held head of size "
                                  f"{older.size}: the log was truncated or rolled back")
    if older.size == newer.size:
        if older.root != newer.root:
            raise BundleRollbackError(alarm)
        return
    if older.size == 0:
        return
    try:
        if proof is None or proof.get("first") != older.size or proof.get("second") != newer.size:
            raise InvalidProof("the proof is for other sizes")
        merkle = MerkleProof.deserialize(proof["proof"])
        if merkle.kind != "consistency":
            raise InvalidProof("not a consistency proof")
        merkle.verify(older.root, newer.root, prior_size=older.size, later_size=newer.size, algorithm="sha256",
                      security=True)
    except _PROOF_ERRORS as exc:
        raise BundleRollbackError(f"{alarm} ({exc})") from None


# --- witnesses ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldHead:
    """A head a city accepted: the gateway's signed head and the city's countersignature (serialized SignedParts)."""

    head: TreeHead
    signed: bytes
    countersignature: bytes

    def to_json(self) -> dict[str, object]:
        return {**self.head.to_json(), "signed": _b64(self.signed), "countersignature": _b64(self.countersignature)}


def load_heads(path: str | os.PathLike[str]) -> list[HeldHead]:
    """A city's `heads.jsonl` (one JSON object a line); an absent file holds no heads.

    Size, root and timestamp are read from the signed head itself; the plain copies beside it
    must agree, so editing the readable fields alone is caught.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleMalformedError(f"cannot read the held heads in {path}: {exc}") from None
    held = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = _loads(line)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            signed = _unb64(doc.get("signed"), "signed", error=BundleMalformedError)
            countersignature = _unb64(doc.get("countersignature"), "countersignature", error=BundleMalformedError)
            head = TreeHead.from_body(_parse_part(signed, "the signed head").body)
            if {k: doc.get(k) for k in ("size", "root", "timestamp")} != head.to_json():
                raise ValueError("its size, root or timestamp differ from its signed head")
        except (ValueError, CityCreditError) as exc:
            raise BundleMalformedError(f"{path}, line {number}: {getattr(exc, 'message', exc)}") from None
        held.append(HeldHead(head, signed, countersignature))
    return held


class Witness:
    """A member city's witness of the log: countersigns each head that extends the last one it holds.

    It trusts the gateway's timestamp key from the trust set's root, signs with the city's status
    key, and keeps every head it accepted in `state_dir/heads.jsonl` (the evidence the audit
    compares the log with). A head that does not extend the held one raises BundleRollbackError
    naming both sizes and is not countersigned.
    """

    def __init__(self, *, city: int, gateway_url: str, timestamp_key: VerifyingKey, signer: Signer,
                 state_dir: str | os.PathLike[str], client: httpx.Client | None = None,
                 max_skew_s: int = 300, timeout_s: float = 10.0) -> None:
        self.city = city
        self.gateway_url = gateway_url.rstrip("/")
        self._keys = {timestamp_key.kid: timestamp_key}
        self._signer = signer
        self.path = Path(state_dir) / "heads.jsonl"
        self._max_skew_s = max_skew_s
        self._own_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> Witness:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def held(self) -> HeldHead | None:
        """The last head this city accepted."""
        heads = load_heads(self.path)
        return heads[-1] if heads else None

    def run_once(self, now_s: int) -> HeldHead:
        """Fetch, check, countersign, keep and post the gateway's latest head; returns the head now held.

        The head is kept before it is posted: if the post fails, the head still counts as
        evidence, and the next round posts it again.
        """
        latest = self._get("/v1/log/head", {})
        if not isinstance(latest, dict):
            raise BundleMalformedError("the gateway's log head is not a JSON object")
        signed = _unb64(latest.get("signed"), "the gateway's signed head", error=BundleMalformedError)
        head = verify_head(signed, self._keys)
        if head.timestamp_s > now_s + self._max_skew_s:
            raise BundleMalformedError(f"the log head of size {head.size} is signed {head.timestamp_s - now_s} s "
                                       "in the future")
        held = self.held()
        if held is not None:
            if head.timestamp_s < held.head.timestamp_s:
                raise BundleRollbackError(f"the log head of size {head.size} is older than the held head of size "
                                          f"{held.head.size}")
            if head.size == held.head.size:
                verify_consistency(None, held.head, head)
                witnesses = latest.get("witnesses")
                if not isinstance(witnesses, list) or not any(
                        isinstance(w, dict) and w.get("city") == self.city for w in witnesses):
                    self._post(held)  # kept last time, but its post did not arrive
                return held
            proof = None
            if 0 < held.head.size < head.size:
                proof = self._get("/v1/log/proofs/consistency", {"first": held.head.size, "second": head.size})
                if not isinstance(proof, dict):
                    raise BundleMalformedError("the consistency proof is not a JSON object")
            verify_consistency(proof, held.head, head)
        body = _parse_part(signed, "the log head").body
        countersignature = sign_part(body, self._signer, WITNESS_CONTEXT).SerializeToString(deterministic=True)
        accepted = HeldHead(head, signed, countersignature)
        self._keep(accepted)
        self._post(accepted)
        return accepted

    def _keep(self, held: HeldHead) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(held.to_json(), sort_keys=True, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _post(self, held: HeldHead) -> None:
        self._request("POST", "/v1/log/witnesses", json_body={"city": self.city,
                                                               "signed": _b64(held.countersignature)})

    def _get(self, path: str, params: Mapping[str, int]) -> Any:
        return self._request("GET", path, params=params)

    def _request(self, method: str, path: str, *, params: Mapping[str, int] | None = None,
                 json_body: Mapping[str, object] | None = None) -> Any:
        url = self.gateway_url + path
        try:
            with self._client.stream(method, url, params=dict(params or {}), json=json_body) as response:
                chunks, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > _MAX_RESPONSE_BYTES:
                        raise UnavailableError(f"{url} answered more than {_MAX_RESPONSE_BYTES} bytes")
                    chunks.append(chunk)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise UnavailableError(f"the gateway at {self.gateway_url} did not answer {path}: {exc}") from None
        try:
            doc = _loads(b"".join(chunks))
        except ValueError:
            doc = None
        if status >= 400:
            if isinstance(doc, dict) and isinstance(doc.get("code"), str):
                raise error_for_code(doc["code"], str(doc.get("detail") or doc.get("message") or ""))
            raise UnavailableError(f"{url} answered HTTP {status}")
        if doc is None:
            raise BundleMalformedError(f"{url} did not answer JSON")
        return doc


def accept_witness(db: Database, city: int, signed: bytes, status_keys: Mapping[bytes, VerifyingKey], *,
                   now_s: int) -> TreeHead:
    """Store a city's countersignature of a head the gateway signed; the head it covers.

    Refused unless one of the city's status keys signed (context CCW1) the exact body of a head in
    `log_heads`. A second countersignature of the same head by the same city keeps the first.
    """
    if len(signed) > _MAX_SIGNED_BYTES:
        raise PayloadTooLargeError(f"a countersignature is at most {_MAX_SIGNED_BYTES} bytes")
    if not status_keys:
        raise CityUnknownError(f"{city} has no status keys in the trust set")
    part = _parse_part(signed, "the countersignature")
    try:
        _check_signed(part, status_keys, WITNESS_CONTEXT, "the countersignature", f"a status key of {city}")
    except BundleMalformedError as exc:
        raise PermissionDeniedError(exc.message) from None
    head = TreeHead.from_body(part.body)

    def work(session: Session) -> TreeHead:
        row = session.execute(select(_HEADS).where(_HEADS.c.size == head.size)).first()
        if row is None:
            raise NotFoundError(f"the gateway signed no log head of size {head.size}")
        if _signed_head(row).head != head:
            raise ConflictError(f"{city} countersigned a head of size {head.size} that differs from the gateway's")
        exists = session.execute(select(_WITNESSES.c.city).where(_WITNESSES.c.size == head.size,
                                                                 _WITNESSES.c.city == city)).first()
        if exists is None:
            session.execute(insert(_WITNESSES), [{"size": head.size, "city": city,
                                                  "signed": part.SerializeToString(deterministic=True),
                                                  "created_at_s": now_s}])
        return head

    return db.write(work)


# --- REST ---------------------------------------------------------------------------------------------


def _query_int(request: Request, name: str, default: int | None = None) -> int:
    values = request.query_params.getlist(name)
    if not values:
        if default is None:
            raise InvalidArgumentError(f"the query parameter {name} is required")
        return default
    if len(values) > 1:
        raise InvalidArgumentError(f"the query parameter {name} is given more than once")
    return _parse_int(values[0], name)


def _parse_int(value: str, name: str) -> int:
    if not _DIGITS.fullmatch(value) or int(value) > _MAX_INDEX:
        raise InvalidArgumentError(f"{name} must be a whole number from 0 to {_MAX_INDEX}, not {value[:40]!r}")
    return int(value)


def _documented(*names: str, required: bool = True) -> dict[str, Any]:
    """OpenAPI for query parameters a route reads and checks itself (`_query_int`)."""
    return {"parameters": [{"name": name, "in": "query", "required": required,
                            "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_INDEX}} for name in names]}


def _head_json(db: Database, head: SignedHead) -> dict[str, object]:
    return {**head.to_json(), "witnesses": _witnesses(db, head.head.size)}


def _entries(db: Database, start: int, end: int | None) -> dict[str, object]:
    with db.read() as session:
        last = session.execute(select(func.max(_index))).scalar()
        size = 0 if last is None else int(last) + 1
        if start > size:
            raise InvalidArgumentError(f"start must be at most the log's {size} entries, not {start}")
        end = min(start + MAX_PAGE, size) if end is None else end
        if start > end:
            raise InvalidArgumentError(f"start ({start}) must not be after end ({end})")
        if end > size:
            raise InvalidArgumentError(f"end must be at most the log's {size} entries, not {end}")
        if end - start > MAX_PAGE:
            raise InvalidArgumentError(f"a page holds at most {MAX_PAGE} entries; asked for {end - start}")
        rows = session.execute(select(_index, _ENTRIES.c.kind, _ENTRIES.c.data, _ENTRIES.c.leaf_hash)
                               .where(_index >= start, _index < end).order_by(_index)).all()
    return {"start": start, "end": end, "size": size,
            "entries": [{"index": int(i), "kind": kind, "data": _b64(bytes(data)), "leaf_hash": bytes(h).hex()}
                        for i, kind, data, h in rows]}


def log_router(db_provider: Callable[[], Database],
               status_keys_provider: Callable[[int], Mapping[bytes, VerifyingKey]], *,
               clock: Callable[[], float] = time.time) -> APIRouter:
    """The log's REST routes; errors are catalogue errors (the gateway answers them as problem+json).

    `status_keys_provider(city)` gives the city's status keys from the trust set by kid, and
    raises CityUnknownError for a city that is not a member.
    """
    router = APIRouter(prefix="/v1/log", tags=["transparency log"])

    @router.get("/head", response_model=None, summary="The latest signed tree head, with the cities' countersignatures")
    def get_head() -> dict[str, object]:
        db = db_provider()
        head = latest_head(db)
        if head is None:
            raise NotFoundError("the gateway has signed no log head yet")
        return _head_json(db, head)

    @router.get("/heads/{size}", response_model=None,
                summary="The signed tree head of one size, with its countersignatures")
    def get_head_at(size: str) -> dict[str, object]:
        db = db_provider()
        return _head_json(db, head_at(db, _parse_int(size, "size")))

    @router.get("/proofs/inclusion", response_model=None, summary="An inclusion proof: ?index=&size=",
                openapi_extra=_documented("index", "size"))
    def get_inclusion(request: Request) -> dict[str, object]:
        return inclusion_proof(db_provider(), _query_int(request, "index"), _query_int(request, "size"))

    @router.get("/proofs/consistency", response_model=None, summary="A consistency proof: ?first=&second=",
                openapi_extra=_documented("first", "second"))
    def get_consistency(request: Request) -> dict[str, object]:
        return consistency_proof(db_provider(), _query_int(request, "first"), _query_int(request, "second"))

    @router.get("/entries", response_model=None, summary=f"Entries [start, end), at most {MAX_PAGE}, data in base64",
                openapi_extra=_documented("start", "end", required=False))
    def get_entries(request: Request) -> dict[str, object]:
        start = _query_int(request, "start", 0)
        end = _query_int(request, "end") if "end" in request.query_params else None
        return _entries(db_provider(), start, end)

    @router.post("/witnesses", response_model=None,
                 summary='A city\'s countersignature: {"city": 330100, "signed": base64}')
    async def post_witness(request: Request) -> dict[str, object]:
        raw = await request.body()
        if len(raw) > 4 * _MAX_SIGNED_BYTES:
            raise PayloadTooLargeError(f"a countersignature request is at most {4 * _MAX_SIGNED_BYTES} bytes")
        try:
            body = _loads(raw)
        except ValueError:
            raise InvalidArgumentError("body: send JSON {\"city\": ..., \"signed\": base64}") from None
        if not isinstance(body, dict) or set(body) != {"city", "signed"}:
            raise InvalidArgumentError("body: exactly {\"city\": ..., \"signed\": base64}")
        city = body["city"]
        if type(city) is not int or not 100000 <= city <= 999999:
            raise InvalidArgumentError("city must be a six-digit GB/T 2260 code")
        signed = _unb64(body["signed"], "signed")
        keys = await run_in_threadpool(status_keys_provider, city)
        head = await run_in_threadpool(lambda: accept_witness(db_provider(), city, signed, keys,
                                                              now_s=int(clock())))
        return {"city": city, **head.to_json()}

    return router


# --- audit --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What `audit` found: `ok`, how much it checked, and the first problem (where, and why)."""

    entries: int
    pending: int = 0
    heads: int = 0
    reason: str = ""
    # The first bad log entry, the size of the first head the log does not give, or the redemption.
    index: int | None = None
    head_size: int | None = None
    redemption: str | None = None

    @property
    def ok(self) -> bool:
        return not self.reason


_Facts = tuple[object, ...]


def _redemption_facts(fields: Mapping[str, Any]) -> _Facts:
    return tuple(fields.get(k) for k in ("credential_id", "offer_id", "holder", "period_key", "slot", "city",
                                         "at_s"))


def audit(db: Database, heads: Iterable[TreeHead | SignedHead | HeldHead] = (), *,
          timestamp_keys: Mapping[bytes, VerifyingKey] | None = None) -> AuditReport:
    """Check the log against the heads a city holds, the gateway's own heads and the redemptions table.

    In one snapshot: every entry (indexes 0..n-1 without gaps, leaf hash = its data's, data in
    canonical form); the tree recomputed from the data gives every held head's root at its size,
    and every head in `log_heads`; every redemption row has exactly one "redemption" record (entry
    or pending row) with the same facts, one "redemption.void" when voided and none when not;
    every record still has its row. With `timestamp_keys`, every signed head (held or the
    gateway's) must carry the timestamp key's signature: a held head is evidence against the
    operator only if the gateway signed it.
    """
    held: list[tuple[TreeHead, bytes | None]] = [
        (h.head, h.signed) if isinstance(h, SignedHead | HeldHead) else (h, None) for h in heads]
    with db.read() as session:
        if not db.is_sqlite:  # SQLite's read transaction is one snapshot already
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return _audit(session, held, timestamp_keys)


def _audit(session: Session, held: list[tuple[TreeHead, bytes | None]],
           timestamp_keys: Mapping[bytes, VerifyingKey] | None) -> AuditReport:
    tree = _ListTree()
    redeemed: dict[str, tuple[str, _Facts]] = {}  # redemption id -> (where, facts)
    voided: dict[str, tuple[str, int]] = {}  # redemption id -> (where, at_s)
    count = 0

    def record(kind: str, fields: Mapping[str, Any], where: str) -> str | None:
        rid = str(fields.get("redemption_id"))
        if kind == "redemption":
            if rid in redeemed:
                return f"redemption {rid} is recorded twice ({redeemed[rid][0]} and {where})"
            redeemed[rid] = (where, _redemption_facts(fields))
        elif kind == "redemption.void":
            if rid in voided:
                return f"the void of redemption {rid} is recorded twice ({voided[rid][0]} and {where})"
            voided[rid] = (where, fields["at_s"])
        return None

    rows = session.execute(select(_index, _ENTRIES.c.kind, _ENTRIES.c.data, _ENTRIES.c.leaf_hash).order_by(_index)
                           .execution_options(yield_per=5000))
    for index, kind, data, stored_hash in rows:
        data = bytes(data)
        if index != count:
            return AuditReport(count, index=count, reason=f"entry {count} is missing (the next stored is {index})")
        digest = leaf_hash(data)
        if bytes(stored_hash) != digest:
            return AuditReport(count, index=index, reason=f"entry {index}'s leaf hash does not match its data")
        try:
            parsed_kind, fields = _parse_entry(data)
        except InvalidArgumentError as exc:
            return AuditReport(count, index=index, reason=f"entry {index} is not a valid entry: {exc.message}")
        if parsed_kind != kind:
            return AuditReport(count, index=index, reason=f"entry {index} is stored as {kind} but is {parsed_kind}")
        problem = record(kind, fields, f"entry {index}")
        if problem:
            return AuditReport(count, index=index, reason=problem)
        tree.leaves.append(digest)  # its hash is checked: pymerkle need not hash it again
        count += 1

    heads = [(head, signed, "a held") for head, signed in held]
    heads += [(row.head, row.signed, "the gateway's")
              for row in map(_signed_head, session.execute(select(_HEADS).order_by(_HEADS.c.size)))]
    checked = 0
    for head, signed, whose in heads:
        if timestamp_keys is not None and signed is not None:
            try:
                if verify_head(signed, timestamp_keys) != head:
                    raise BundleMalformedError("its signed body differs from its size, root or timestamp")
            except CityCreditError as exc:
                return AuditReport(count, heads=checked, head_size=head.size,
                                   reason=f"{whose} head of size {head.size} is not the gateway's timestamp key's: "
                                          f"{exc.message}")
        if head.size > count:
            return AuditReport(count, heads=checked, head_size=head.size,
                               reason=f"{whose} head of size {head.size} is beyond the log's {count} entries: "
                                      "the log was truncated")
        if bytes(tree.get_root(head.size)) != head.root:
            return AuditReport(count, heads=checked, head_size=head.size,
                               reason=f"the log's first {head.size} entries do not give the root of {whose} head "
                                      f"of size {head.size}: the log's history was rewritten")
        checked += 1

    pending = session.execute(select(_PENDING.c.id, _PENDING.c.kind, _PENDING.c.data).order_by(_PENDING.c.id)).all()
    for pid, kind, data in pending:
        try:
            parsed_kind, fields = _parse_entry(bytes(data))
        except InvalidArgumentError as exc:
            return AuditReport(count, len(pending), checked, f"pending row {pid} is not a valid entry: {exc.message}",
                               redemption=pid)
        if parsed_kind != kind:
            return AuditReport(count, len(pending), checked, f"pending row {pid} is stored as {kind} but is "
                               f"{parsed_kind}", redemption=pid)
        problem = record(kind, fields, f"pending row {pid}")
        if problem:
            return AuditReport(count, len(pending), checked, problem, redemption=pid)

    def bad(rid: str, reason: str) -> AuditReport:
        return AuditReport(count, len(pending), checked, reason, redemption=rid)

    redemption_rows = session.execute(select(_REDEMPTIONS.c.id, _REDEMPTIONS.c.credential_id, _REDEMPTIONS.c.offer_id,
                                             _REDEMPTIONS.c.holder, _REDEMPTIONS.c.period_key, _REDEMPTIONS.c.slot,
                                             _REDEMPTIONS.c.city, _REDEMPTIONS.c.created_at_s,
                                             _REDEMPTIONS.c.voided_at_s).order_by(_REDEMPTIONS.c.id))
    for rid, credential_id, offer_id, holder, period_key, slot, city, created_at_s, voided_at_s in redemption_rows:
        found = redeemed.pop(rid, None)
        if found is None:
            return bad(rid, f"redemption {rid} has no log entry or pending row")
        where, facts = found
        if facts != (credential_id, offer_id, holder, period_key, slot, city, created_at_s):
            return bad(rid, f"redemption {rid} does not match {where}")
        void = voided.pop(rid, None)
        if voided_at_s is None and void is not None:
            return bad(rid, f"redemption {rid} is live but {void[0]} voids it")
        if voided_at_s is not None and void is None:
            return bad(rid, f"redemption {rid} is voided but no log entry or pending row records the void")
        if void is not None and void[1] != voided_at_s:
            return bad(rid, f"the void of redemption {rid} does not match {void[0]}")
    if redeemed:
        rid, (where, _facts) = min(redeemed.items())
        return bad(rid, f"redemption {rid} of {where} is missing from the redemptions table")
    if voided:
        rid, (where, _at) = min(voided.items())
        return bad(rid, f"{where} voids redemption {rid}, which the log does not hold")
    return AuditReport(count, len(pending), checked)
