"""The transparency log on real databases with real signatures: appending and linking, heads and proofs,
the attacks it exists for, witnesses over HTTP, hostile queries, concurrent chainers, and its costs.

SQLite lives in a temporary directory; PostgreSQL is the session's throwaway cluster
(`tests.support.postgres`). The REST routes run on a real uvicorn on loopback, in a small
FastAPI app that maps catalogue errors to problem+json the way the gateway does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from citycredit.core import SigningKey, VerifyingKey, sign_part
from citycredit.errors import (
    BundleMalformedError,
    BundleRollbackError,
    CityCreditError,
    CityUnknownError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from citycredit.gateway import transparency
from citycredit.gateway.db import Database
from citycredit.gateway.transparency import (
    MAX_PAGE,
    PENDING_INSERT_SQL,
    WITNESS_CONTEXT,
    SignedHead,
    TreeHead,
    Witness,
    accept_witness,
    append,
    audit,
    chainer_round,
    consistency_proof,
    entry_bytes,
    head_at,
    inclusion_proof,
    latest_head,
    leaf_hash,
    link_pending,
    load_heads,
    log_router,
    pending_row,
    sign_head,
    verify_consistency,
    verify_head,
    verify_inclusion,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

HANGZHOU, QUZHOU, WENZHOU = 330100, 330800, 330300
T0 = 1_795_000_000
OFFER = "quzhou-parking-free-3"
# The redemption ledger's statement (a Hangzhou holder at a Quzhou venue), beside which it inserts PENDING_INSERT_SQL.
_SPEND = ("INSERT INTO redemptions (id, offer_id, holder, period_key, slot, city, home_city, tier, venue, "
          "credential_id, at_s, created_at_s) VALUES (:redemption_id, :offer_id, :holder, :period_key, :slot, :city, "
          "330100, 'EXCELLENT', 'quzhou-parking', :credential_id, :at_s, :at_s)")


# --- fixtures and helpers ---------------------------------------------------------------------------


def _postgres_url(dsn: str) -> str:
    return "postgresql+psycopg://" + dsn.split("://", 1)[1]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated gateway database: SQLite in a temporary directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        url = _postgres_url(request.getfixturevalue("postgres_database"))
    database = Database(url)
    database.migrate()
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    try:
        yield database
    finally:
        database.close()


@dataclass(frozen=True)
class Keys:
    timestamp: SigningKey  # the gateway's online timestamp key
    status: dict[int, SigningKey]  # each city's status key (what its witness signs with)

    @property
    def timestamp_keys(self) -> dict[bytes, VerifyingKey]:
        return {self.timestamp.kid: self.timestamp.verifying_key()}

    def status_keys(self, city: int) -> dict[bytes, VerifyingKey]:
        if city not in self.status:
            raise CityUnknownError(f"{city} is not a member of the alliance")
        key = self.status[city]
        return {key.kid: key.verifying_key()}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(SigningKey.generate(), {city: SigningKey.generate() for city in (HANGZHOU, QUZHOU, WENZHOU)})


def holder(n: int) -> str:
    """A 12-byte holder pseudonym in hex, as the gateway stores it."""
    return hashlib.sha256(f"holder-{n}".encode()).digest()[:12].hex()


def redemption_fields(rid: str, *, n: int = 0, slot: int = 0, credential: str = "cred-quzhou-1") -> dict[str, Any]:
    return {"redemption_id": rid, "credential_id": credential, "offer_id": OFFER, "holder": holder(n),
            "period_key": "2026-11", "slot": slot, "city": QUZHOU}


def redeem(db: Database, rid: str, at_s: int, *, n: int = 0, slot: int = 0) -> None:
    """What the ledger does: the redemption row and its pending log row, in one statement's transaction,
    on a raw driver connection with PENDING_INSERT_SQL as exported."""
    fields = redemption_fields(rid, n=n, slot=slot)
    params = {**fields, "at_s": at_s, **pending_row(rid, "redemption", fields, at_s)}
    with db.hot_connection() as conn:
        if db.is_sqlite:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_SPEND, params)
            conn.execute(PENDING_INSERT_SQL, params)
            conn.commit()
        else:
            with conn.transaction():
                conn.execute(_psycopg(_SPEND), params)
                conn.execute(_psycopg(PENDING_INSERT_SQL), params)


def _psycopg(sql: str) -> str:
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


def void(db: Database, rid: str, at_s: int) -> int:
    """A merchant voids a redemption: the row is marked and the void appended in one transaction."""

    def work(session: Any) -> int:
        session.execute(text("UPDATE redemptions SET voided_at_s = :at WHERE id = :id"), {"at": at_s, "id": rid})
        return append(session, "redemption.void", {"redemption_id": rid, "credential_id": "cred-quzhou-1",
                                                   "city": QUZHOU}, at_s=at_s)

    return db.write(work)


def admin(db: Database, version: int, at_s: int) -> int:
    """An accepted city part (an admin action), appended in its own transaction."""
    return db.write(lambda s: append(s, "part.accepted", {"role": "city-330800", "version": version,
                                                          "sha256": hashlib.sha256(b"%d" % version).hexdigest(),
                                                          "city": QUZHOU}, at_s=at_s))


def stored(db: Database) -> list[tuple[int, str, bytes]]:
    with db.read() as session:
        rows = session.execute(text('SELECT "index", kind, data FROM log_entries ORDER BY "index"')).all()
    return [(int(i), kind, bytes(data)) for i, kind, data in rows]


def pending_count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM log_pending")).scalar_one())


def all_heads(db: Database) -> list[SignedHead]:
    with db.read() as session:
        sizes = [int(s) for s in session.execute(text("SELECT size FROM log_heads ORDER BY size")).scalars()]
    return [head_at(db, s) for s in sizes]


def assert_every_proof_verifies(db: Database, heads: list[TreeHead]) -> None:
    entries = stored(db)
    for head in heads:
        for index, _kind, data in entries[:head.size]:
            assert verify_inclusion(inclusion_proof(db, index, head.size), head, data) == index
        for older in heads:
            if 0 < older.size < head.size:
                verify_consistency(consistency_proof(db, older.size, head.size), older, head)


def problem_app(db: Callable[[], Database], keys: Keys, *, clock: Callable[[], float] = lambda: T0) -> FastAPI:
    """The log's routes with the gateway's error mapping (catalogue error -> RFC 9457 problem+json)."""
    app = FastAPI()
    app.include_router(log_router(db, keys.status_keys, clock=clock))

    async def catalogue(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CityCreditError)
        return JSONResponse({"type": f"urn:citycredit:error:{exc.code}", "title": exc.title,
                             "status": exc.http_status, "detail": exc.message, "code": exc.code},
                            status_code=exc.http_status, media_type="application/problem+json")

    app.add_exception_handler(CityCreditError, catalogue)
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """`app` on a real uvicorn on 127.0.0.1 (an ephemeral port), and an httpx client for it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def rewrite(url: str, signer: SigningKey, transform: Callable[[list[tuple[str, bytes, int]]],
                                                              list[tuple[str, bytes, int]]]) -> None:
    """What whoever owns the database can do: rewrite the entries, drop the redemption rows whose entries
    are gone, recompute every leaf hash and re-sign every gateway head (the timestamp key is online),
    from a fresh process (a fresh Database: no cache of the old tree)."""
    attacker = Database(url)
    try:
        with attacker.read() as session:
            rows = session.execute(text('SELECT kind, data, created_at_s FROM log_entries ORDER BY "index"')).all()
            sizes = [int(s) for s in session.execute(text("SELECT size FROM log_heads ORDER BY size")).scalars()]
        old = [(kind, bytes(data), int(at)) for kind, data, at in rows]
        new = transform(old)
        gone = ({json.loads(d)["redemption_id"] for k, d, _ in old if k == "redemption"}
                - {json.loads(d)["redemption_id"] for k, d, _ in new if k == "redemption"})

        def wipe(session: Any) -> None:
            for table in ("log_witnesses", "log_heads", "log_entries"):
                session.execute(text(f"DELETE FROM {table}"))
            for rid in gone:
                session.execute(text("DELETE FROM redemptions WHERE id = :id"), {"id": rid})

        attacker.write(wipe)
        written = 0
        for size in [*sorted({min(s, len(new)) for s in sizes}), len(new)]:
            rows_ = [{"i": i, "kind": kind, "data": data, "hash": leaf_hash(data), "at": at}
                     for i, (kind, data, at) in enumerate(new[written:size], written)]
            if rows_:
                attacker.write(lambda s, r=rows_: s.execute(text(
                    'INSERT INTO log_entries ("index", kind, data, leaf_hash, created_at_s) '
                    "VALUES (:i, :kind, :data, :hash, :at)"), r))
            written = max(written, size)
            sign_head(attacker, signer, T0 + 5)
    finally:
        attacker.close()


def _part_accepted(version: int) -> bytes:
    return entry_bytes("part.accepted", {"role": "city-330800", "version": version, "city": QUZHOU,
                                         "sha256": hashlib.sha256(b"forged %d" % version).hexdigest(), "at_s": T0})


# --- the public face and the entry format -----------------------------------------------------------


def test_exported_names() -> None:
    assert set(transparency.__all__) == {
        "HEAD_CONTEXT", "KINDS", "LINK_BATCH", "MAX_PAGE", "PENDING_INSERT_SQL", "WITNESS_CONTEXT", "AuditReport",
        "HeldHead", "SignedHead", "TreeHead", "Witness", "accept_witness", "append", "audit", "chainer_round",
        "consistency_proof", "entry_bytes", "head_at", "inclusion_proof", "latest_head", "leaf_hash",
        "link_pending", "load_heads", "log_router", "pending_row", "sign_head", "verify_consistency",
        "verify_head", "verify_inclusion"}
    assert transparency.HEAD_CONTEXT == b"CCT1\x00" and transparency.WITNESS_CONTEXT == b"CCW1\x00"


def test_entries_are_canonical_json_of_their_kind_with_pseudonyms_only() -> None:
    data = entry_bytes("redemption", {**redemption_fields("rdm-1", n=7), "at_s": T0})
    assert data == ('{"at_s":1795000000,"city":330800,"credential_id":"cred-quzhou-1","holder":"' + holder(7) +
                    '","kind":"redemption","offer_id":"quzhou-parking-free-3","period_key":"2026-11",'
                    '"redemption_id":"rdm-1","slot":0}').encode()
    assert entry_bytes("part.accepted", {"role": "agreement-hz-qz", "version": 3, "sha256": "0" * 64,
                                         "agreement_id": "杭衢-2020", "at_s": T0}).decode().count("杭衢") == 1
    row = pending_row("rdm-1", "redemption", redemption_fields("rdm-1", n=7), T0)
    assert row == {"log_id": "rdm-1", "log_kind": "redemption", "log_data": data, "log_at_s": T0}
    assert set(re.findall(r":(\w+)", PENDING_INSERT_SQL)) == set(row)

    refused = [
        ("redemption.refund", {"at_s": T0}),  # unknown kind
        ("redemption", {**redemption_fields("r"), "at_s": T0, "name": "张三"}),  # a field its kind does not list
        ("redemption", {**redemption_fields("r"), "at_s": T0, "holder": "330102199001011234"}),  # an ID number
        ("redemption", {**redemption_fields("r"), "at_s": T0, "holder": holder(1).upper()}),
        ("redemption", {**redemption_fields("r"), "at_s": 1.5}),  # floats have no one canonical form
        ("redemption", {**redemption_fields("r"), "at_s": T0, "slot": True}),
        ("redemption", {**redemption_fields("r"), "at_s": T0, "city": 42}),
        ("redemption", redemption_fields("r")),  # no time
        ("status_list.accepted", {"city": QUZHOU, "version": 1, "sha256": "AB" * 32, "at_s": T0}),
        ("governance.accepted", {"root_version": 2, "targets_version": -1, "at_s": T0}),
        ("credential.granted", {"city": QUZHOU, "credential_id": "c", "merchant_id": "m\n",
                                "grant_sha256": "0" * 64, "at_s": T0}),
        ("part.accepted", {"kind": "redemption", "at_s": T0}),
    ]
    for kind, fields in refused:
        with pytest.raises(InvalidArgumentError):
            entry_bytes(kind, fields)
    with pytest.raises(InvalidArgumentError, match="at_s"):
        pending_row("rdm-1", "redemption", {**redemption_fields("rdm-1"), "at_s": T0 - 1}, T0)
    with pytest.raises(InvalidArgumentError):
        pending_row("", "redemption", redemption_fields("rdm-1"), T0)


# RFC 6962 / 9162 reference data (the Certificate Transparency test vectors): eight leaves, every root.
_RFC_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f")]
_RFC_ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
              "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
              "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
              "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
              "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
              "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
              "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
_RFC_PATHS = {(0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                       "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
              (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                       "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                       "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
              (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
              (1, 5): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                       "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]}


def test_the_logs_tree_is_rfc_9162s(sqlite_db: Database, keys: Keys) -> None:
    """The log's own tree (pymerkle over log_entries) gives the reference roots and audit paths."""
    assert leaf_hash(b"") == bytes.fromhex(_RFC_ROOTS[1])  # SHA-256(0x00 || "")
    heads = [sign_head(sqlite_db, keys.timestamp, T0).head]  # the empty log: SHA-256 of nothing
    for index, data in enumerate(_RFC_LEAVES):  # raw leaves, written as a rewriting operator could
        sqlite_db.write(lambda s, i=index, d=data: s.execute(text(
            'INSERT INTO log_entries ("index", kind, data, leaf_hash, created_at_s) VALUES (:i, :k, :d, :h, 0)'),
            {"i": i, "k": "rfc", "d": d, "h": leaf_hash(d)}))
        heads.append(sign_head(sqlite_db, keys.timestamp, T0 + index).head)
    assert [h.root.hex() for h in heads] == _RFC_ROOTS
    for (index, size), path in _RFC_PATHS.items():
        proof = inclusion_proof(sqlite_db, index, size)
        assert proof["proof"]["path"][1:] == path and proof["proof"]["metadata"]["security"] is True
        assert verify_inclusion(proof, heads[size], _RFC_LEAVES[index]) == index
        with pytest.raises(BundleMalformedError):
            verify_inclusion(proof, heads[size], _RFC_LEAVES[index] + b"!")
    for first in range(1, 9):
        for second in range(first, 9):
            verify_consistency(consistency_proof(sqlite_db, first, second), heads[first], heads[second])


# --- appending and linking --------------------------------------------------------------------------


def test_appends_and_pending_rows_from_four_threads_link_into_one_contiguous_log(db: Database, keys: Keys) -> None:
    """Four threads each redeem (pending rows), append admin entries and run chainer rounds at once.

    Indexes come out 0..n-1, nothing stays pending, each thread's admin entry follows the
    redemptions it made before it (append links pending rows first), every leaf's proof
    verifies against every head, and every pair of heads is consistent.
    """
    errors: list[BaseException] = []
    order: dict[int, list[tuple[str, str]]] = {t: [] for t in range(4)}  # thread -> what it wrote, in order

    def worker(t: int) -> None:
        try:
            for i in range(12):
                rid = f"rdm-{t}-{i}"
                redeem(db, rid, T0 + i, n=100 * t + i)
                order[t].append(("redemption", rid))
                if i % 4 == 3:
                    version = 1000 * t + i
                    admin(db, version, T0 + i)
                    order[t].append(("admin", str(version)))
                if i % 3 == 2:
                    chainer_round(db, keys.timestamp, now_s=T0 + i)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert chainer_round(db, keys.timestamp, now_s=T0 + 100) == 4 * 12 + 4 * 3  # the log's size

    entries = stored(db)
    assert [i for i, _, _ in entries] == list(range(4 * 12 + 4 * 3))
    assert pending_count(db) == 0
    position = {}
    for index, kind, data in entries:
        doc = json.loads(data)
        position[doc["redemption_id"] if kind == "redemption" else str(doc["version"])] = index
    for t, written in order.items():
        seen: list[int] = []
        for kind, key in written:
            if kind == "admin":
                assert all(position[key] > p for p in seen), f"thread {t}'s admin entry {key} overtook its redemptions"
            else:
                seen.append(position[key])

    heads = [h.head for h in all_heads(db)]
    assert heads[-1].size == len(entries) and len(heads) >= 3
    assert [h.size for h in heads] == sorted({h.size for h in heads})
    assert all(verify_head(h.signed, keys.timestamp_keys) == h.head for h in all_heads(db))
    assert_every_proof_verifies(db, heads)
    report = audit(db, heads, timestamp_keys=keys.timestamp_keys)
    assert report.ok, report
    assert (report.entries, report.pending) == (len(entries), 0)


def test_a_pending_redemption_counts_until_it_is_linked_and_a_void_follows_it(db: Database, keys: Keys) -> None:
    redeem(db, "rdm-a", T0, n=1)
    redeem(db, "rdm-b", T0, n=2)
    report = audit(db)
    assert report.ok and (report.entries, report.pending) == (0, 2)
    void_index = void(db, "rdm-a", T0 + 60)  # append links what is pending first
    assert void_index == 2 and pending_count(db) == 0
    assert [k for _, k, _ in stored(db)] == ["redemption", "redemption", "redemption.void"]
    assert link_pending(db) == 0 and chainer_round(db, keys.timestamp, now_s=T0 + 61) == 3
    assert latest_head(db) == head_at(db, 3)
    assert audit(db, [head_at(db, 3)]).ok


def test_heads_are_kept_one_per_size_with_timestamps_that_never_go_back(sqlite_db: Database, keys: Keys) -> None:
    first = sign_head(sqlite_db, keys.timestamp, T0)
    assert first.head.size == 0 and first.head.root == hashlib.sha256(b"").digest()
    assert sign_head(sqlite_db, keys.timestamp, T0 + 5) == first  # nothing new: the same head
    admin(sqlite_db, 1, T0)
    second = sign_head(sqlite_db, keys.timestamp, T0 - 100)  # a replica whose clock is behind
    assert second.head.size == 1 and second.head.timestamp_s == T0
    assert latest_head(sqlite_db) == second and head_at(sqlite_db, 0) == first
    with pytest.raises(NotFoundError):
        head_at(sqlite_db, 2)
    other = SigningKey.generate()
    with pytest.raises(BundleMalformedError, match="timestamp key"):
        verify_head(second.signed, {other.kid: other.verifying_key()})


# --- the attacks the log exists for ------------------------------------------------------------------


def _history(db: Database, keys: Keys) -> SignedHead:
    """Redemptions and admin entries; the head a city holds (size 8); then more, and the gateway's heads."""
    redeem(db, "rdm-0", T0, n=0)
    admin(db, 1, T0 + 1)
    redeem(db, "rdm-1", T0 + 2, n=1)
    admin(db, 2, T0 + 3)
    redeem(db, "rdm-2", T0 + 4, n=2)
    for version in (3, 4, 5):
        admin(db, version, T0 + 5)
    chainer_round(db, keys.timestamp, now_s=T0 + 10)
    held = latest_head(db)
    assert held is not None and held.head.size == 8
    for version in (6, 7):
        admin(db, version, T0 + 20)
        chainer_round(db, keys.timestamp, now_s=T0 + 20)
    redeem(db, "rdm-3", T0 + 30, n=3)
    assert chainer_round(db, keys.timestamp, now_s=T0 + 30) == 11
    return held


def _delete_redemption(entries: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    return [e for e in entries if not (e[0] == "redemption" and b'"rdm-1"' in e[1])]  # and renumber the rest


def _edit_admin(entries: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    edited = list(entries)
    index = next(i for i, (kind, data, _) in enumerate(edited) if kind == "part.accepted" and b'"version":2' in data)
    edited[index] = ("part.accepted", _part_accepted(2), edited[index][2])
    return edited


def _reorder(entries: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    swapped = list(entries)
    swapped[1], swapped[3] = swapped[3], swapped[1]
    return swapped


def _truncate(entries: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    return entries[:6]


def _insert_middle(entries: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes, int]]:
    backdated = entry_bytes("credential.granted", {"city": QUZHOU, "credential_id": "cred-ghost",
                                                   "merchant_id": "91330800MA2XXXXX1X",
                                                   "grant_sha256": "ab" * 32, "at_s": T0 + 1})
    return [*entries[:3], ("credential.granted", backdated, T0 + 1), *entries[3:]]


@pytest.mark.parametrize("attack", [_delete_redemption, _edit_admin, _reorder, _truncate, _insert_middle],
                         ids=["delete-a-redemption-and-renumber", "edit-an-admin-entry", "reorder-two-entries",
                              "truncate-the-tail", "insert-in-the-middle"])
def test_a_consistent_rewrite_is_caught_by_a_citys_older_head_and_only_by_it(
        db: Database, keys: Keys, attack: Callable[[list[tuple[str, bytes, int]]], list[tuple[str, bytes, int]]]
) -> None:
    held = _history(db, keys)
    assert audit(db, [held], timestamp_keys=keys.timestamp_keys).ok
    rewrite(db.url, keys.timestamp, attack)

    caught = audit(db, [held], timestamp_keys=keys.timestamp_keys)
    assert not caught.ok and caught.head_size == held.head.size, caught
    assert "held head of size 8" in caught.reason
    # Honestly: without a head from outside the database the rewrite is invisible. The entries,
    # leaf hashes, the gateway's re-signed heads and the redemptions table all agree with each other.
    blind = audit(db, [], timestamp_keys=keys.timestamp_keys)
    assert blind.ok, blind


def test_a_held_head_counts_as_evidence_only_with_the_gateways_signature(sqlite_db: Database, keys: Keys) -> None:
    """A city cannot frame the operator with a head it made up: the audit checks the held head's signature."""
    held = _history(sqlite_db, keys)
    made_up = TreeHead(size=held.head.size, root=bytes(32), timestamp_s=held.head.timestamp_s)
    forged = SignedHead(made_up, sign_part(made_up.body(), keys.status[QUZHOU],
                                           transparency.HEAD_CONTEXT).SerializeToString())
    report = audit(sqlite_db, [forged], timestamp_keys=keys.timestamp_keys)
    assert not report.ok and "not the gateway's timestamp key's" in report.reason
    relabelled = SignedHead(made_up, held.signed)  # the gateway's signature, over another root
    report = audit(sqlite_db, [relabelled], timestamp_keys=keys.timestamp_keys)
    assert not report.ok and "differs" in report.reason
    assert audit(sqlite_db, [held], timestamp_keys=keys.timestamp_keys).ok


def test_a_careless_rewrite_is_caught_even_without_a_citys_head(db: Database, keys: Keys) -> None:
    _history(db, keys)
    # Edited data, leaf hash left: the entry's own hash gives it away.
    db.write(lambda s: s.execute(text('UPDATE log_entries SET data = :d WHERE "index" = 3'), {"d": _part_accepted(2)}))
    report = audit(db)
    assert not report.ok and report.index == 3 and "leaf hash" in report.reason
    # Leaf hash recomputed, the gateway's heads left: its own heads give it away.
    db.write(lambda s: s.execute(text('UPDATE log_entries SET leaf_hash = :h WHERE "index" = 3'),
                                 {"h": leaf_hash(_part_accepted(2))}))
    report = audit(db)
    assert not report.ok and report.head_size == 8 and "the gateway's head" in report.reason
    # An entry deleted without renumbering: a gap.
    db.write(lambda s: s.execute(text('DELETE FROM log_entries WHERE "index" = 5')))
    report = audit(db)
    assert not report.ok and report.index == 5 and "missing" in report.reason


@pytest.mark.parametrize("change, reason", [
    ("DELETE FROM redemptions WHERE id = 'rdm-1'", "missing from the redemptions table"),
    ("UPDATE redemptions SET slot = 2 WHERE id = 'rdm-1'", "does not match entry"),
    ("UPDATE redemptions SET voided_at_s = 1 WHERE id = 'rdm-2'", "no log entry or pending row records the void"),
    (_SPEND.replace(":redemption_id", "'rdm-x'").replace(":offer_id", f"'{OFFER}'")
     .replace(":holder", f"'{holder(9)}'").replace(":period_key", "'2026-11'").replace(":slot", "1")
     .replace(":city", str(QUZHOU)).replace(":credential_id", "'c'").replace(":at_s", str(T0)),
     "has no log entry or pending row"),
    ("DELETE FROM log_pending", "has no log entry or pending row"),
    ("UPDATE log_pending SET data = CAST('{}' AS BLOB)", "not a valid entry"),
])
def test_the_log_and_the_redemptions_table_must_tell_the_same_story(sqlite_db: Database, keys: Keys, change: str,
                                                                     reason: str) -> None:
    _history(sqlite_db, keys)
    redeem(sqlite_db, "rdm-4", T0 + 40, n=4)  # still pending
    assert audit(sqlite_db).ok
    sqlite_db.write(lambda s: s.execute(text(change)))
    report = audit(sqlite_db)
    assert not report.ok and reason in report.reason and report.redemption is not None, report


# --- witnesses ----------------------------------------------------------------------------------------


def _witness(client: httpx.Client, keys: Keys, state: Path) -> Witness:
    return Witness(city=QUZHOU, gateway_url=str(client.base_url), timestamp_key=keys.timestamp.verifying_key(),
                   signer=keys.status[QUZHOU], state_dir=state, client=client)


@pytest.mark.parametrize("attack", [_edit_admin, _truncate], ids=["edited", "truncated"])
def test_a_witness_countersigns_consistent_heads_and_refuses_a_rewritten_history(
        tmp_path: Path, keys: Keys, attack: Callable[[list[tuple[str, bytes, int]]], list[tuple[str, bytes, int]]]
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    gateway = {"db": Database(url)}
    gateway["db"].migrate()
    state = tmp_path / "quzhou-witness"
    try:
        with serving(problem_app(lambda: gateway["db"], keys)) as client, _witness(client, keys, state) as witness:
            db = gateway["db"]
            redeem(db, "rdm-0", T0, n=0)
            admin(db, 1, T0)
            chainer_round(db, keys.timestamp, now_s=T0)
            first = witness.run_once(T0 + 1)  # the first head: nothing to compare with yet
            for version in (2, 3, 4, 5, 6):
                admin(db, version, T0 + 2)
            chainer_round(db, keys.timestamp, now_s=T0 + 2)
            second = witness.run_once(T0 + 3)  # consistent with the first: proof checked
            assert (first.head.size, second.head.size) == (2, 7)
            assert witness.run_once(T0 + 4) == second  # nothing new
            body = client.get("/v1/log/head").json()
            assert body["size"] == 7 and [w["city"] for w in body["witnesses"]] == [QUZHOU]
            countersigned = transparency._parse_part(base64.b64decode(body["witnesses"][0]["signed"]), "w")
            assert keys.status[QUZHOU].verifying_key().verify(countersigned.signature,
                                                              WITNESS_CONTEXT + countersigned.body)
            assert client.get("/v1/log/heads/2").json()["witnesses"][0]["city"] == QUZHOU
            assert load_heads(state / "heads.jsonl") == [first, second]

            # The operator rewrites history and restarts the gateway; the log grows on.
            admin(db, 7, T0 + 5)
            chainer_round(db, keys.timestamp, now_s=T0 + 5)
            rewrite(url, keys.timestamp, attack)
            db.close()
            gateway["db"] = db = Database(url)
            admin(db, 8, T0 + 6)
            chainer_round(db, keys.timestamp, now_s=T0 + 6)
            with pytest.raises(BundleRollbackError) as refused:
                witness.run_once(T0 + 7)
            assert "held head of size 7" in refused.value.message
            assert f"size {latest_head(db).head.size}" in refused.value.message  # type: ignore[union-attr]
            assert load_heads(state / "heads.jsonl") == [first, second]  # not countersigned, not kept
            assert client.get("/v1/log/head").json()["witnesses"] == []
            # What `citycredit audit verify` shows with the city's file.
            report = audit(db, load_heads(state / "heads.jsonl"))
            assert not report.ok and report.head_size == 7
    finally:
        gateway["db"].close()


def test_a_witness_refuses_a_head_the_timestamp_key_did_not_sign(tmp_path: Path, keys: Keys) -> None:
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    try:
        admin(database, 1, T0)
        sign_head(database, SigningKey.generate(), T0)  # not the key the trust set names
        with serving(problem_app(lambda: database, keys)) as client, \
                _witness(client, keys, tmp_path / "w") as witness:
            with pytest.raises(BundleMalformedError, match="timestamp key"):
                witness.run_once(T0)
            assert witness.held() is None and client.get("/v1/log/head").json()["witnesses"] == []
    finally:
        database.close()


def test_a_witness_over_loopback_http_with_its_own_client(tmp_path: Path, keys: Keys) -> None:
    """A Hangzhou witness that makes its own httpx client, as a city issuer would."""
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    try:
        with serving(problem_app(lambda: database, keys)) as client:
            witness = Witness(city=HANGZHOU, gateway_url=f"{client.base_url}/",
                              timestamp_key=keys.timestamp.verifying_key(), signer=keys.status[HANGZHOU],
                              state_dir=tmp_path / "hangzhou")
            with witness:
                for round_ in range(3):
                    redeem(database, f"rdm-{round_}", T0 + round_, n=round_)
                    chainer_round(database, keys.timestamp, now_s=T0 + round_)
                    assert witness.run_once(T0 + round_).head.size == round_ + 1
            assert client.get("/v1/log/head").json()["witnesses"][0]["city"] == HANGZHOU
        assert [h.head.size for h in load_heads(tmp_path / "hangzhou" / "heads.jsonl")] == [1, 2, 3]
    finally:
        database.close()


def test_a_witness_facing_a_hostile_gateway_raises_catalogue_errors_and_keeps_nothing(tmp_path: Path,
                                                                                       keys: Keys) -> None:
    signed = sign_part(TreeHead(3, bytes(32), T0).body(), keys.timestamp, transparency.HEAD_CONTEXT)
    good_head = {"size": 3, "root": "00" * 32, "timestamp": T0,
                 "signed": base64.b64encode(signed.SerializeToString()).decode(), "witnesses": []}
    answers: list[Callable[[httpx.Request], httpx.Response]] = [
        lambda r: httpx.Response(200, content=b"not json"),
        lambda r: httpx.Response(200, content=b"[" * 50_000),
        lambda r: httpx.Response(200, content=b" " * (2 << 20)),
        lambda r: httpx.Response(200, json=[1, 2]),
        lambda r: httpx.Response(200, json={"signed": 5}),
        lambda r: httpx.Response(200, json={"signed": "***"}),
        lambda r: httpx.Response(200, json={"signed": base64.b64encode(b"\xff" * 30).decode()}),
        lambda r: httpx.Response(404, json={"code": "CC_NOT_FOUND", "detail": "no head yet"}),
        lambda r: httpx.Response(502, content=b"<html>bad gateway</html>"),
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
        # A good head, then a post the gateway refuses: the head is kept, the error reported.
        lambda r: httpx.Response(200, json=good_head) if r.method == "GET" else httpx.Response(
            403, json={"code": "CC_PERMISSION_DENIED", "detail": "no"}),
    ]
    for number, answer in enumerate(answers):
        state = tmp_path / str(number)
        with httpx.Client(transport=httpx.MockTransport(answer)) as client, \
                Witness(city=QUZHOU, gateway_url="http://gateway.test", timestamp_key=keys.timestamp.verifying_key(),
                        signer=keys.status[QUZHOU], state_dir=state, client=client) as witness:
            with pytest.raises(CityCreditError):
                witness.run_once(T0)
            assert (witness.held() is None) == (number < len(answers) - 1), number


def test_accept_witness_takes_only_the_citys_status_key_over_a_head_the_gateway_signed(sqlite_db: Database,
                                                                                         keys: Keys) -> None:
    admin(sqlite_db, 1, T0)
    head = sign_head(sqlite_db, keys.timestamp, T0).head
    quzhou_keys = keys.status_keys(QUZHOU)

    def countersign(body: bytes, key: SigningKey) -> bytes:
        return sign_part(body, key, WITNESS_CONTEXT).SerializeToString()

    with pytest.raises(PermissionDeniedError, match="status key of 330800"):  # another city's key
        accept_witness(sqlite_db, QUZHOU, countersign(head.body(), keys.status[HANGZHOU]), quzhou_keys, now_s=T0)
    with pytest.raises(PermissionDeniedError):  # the right kid, the wrong context (a status-list signature)
        part = sign_part(head.body(), keys.status[QUZHOU], b"CCS1\x00")
        accept_witness(sqlite_db, QUZHOU, part.SerializeToString(), quzhou_keys, now_s=T0)
    forged = TreeHead(size=head.size, root=bytes(32), timestamp_s=head.timestamp_s)
    with pytest.raises(ConflictError):
        accept_witness(sqlite_db, QUZHOU, countersign(forged.body(), keys.status[QUZHOU]), quzhou_keys, now_s=T0)
    with pytest.raises(NotFoundError):
        accept_witness(sqlite_db, QUZHOU, countersign(TreeHead(5, bytes(32), T0).body(), keys.status[QUZHOU]),
                       quzhou_keys, now_s=T0)
    with pytest.raises(BundleMalformedError):
        accept_witness(sqlite_db, QUZHOU, b"\xff\xff not a part", quzhou_keys, now_s=T0)
    with serving(problem_app(lambda: sqlite_db, keys)) as client:
        assert client.get("/v1/log/head").json()["witnesses"] == []
        wrong = client.post("/v1/log/witnesses", json={"city": QUZHOU, "signed": base64.b64encode(
            countersign(head.body(), keys.status[HANGZHOU])).decode()})
        assert wrong.status_code == 403 and wrong.json()["code"] == "CC_PERMISSION_DENIED"
        right = client.post("/v1/log/witnesses", json={"city": QUZHOU, "signed": base64.b64encode(
            countersign(head.body(), keys.status[QUZHOU])).decode()})
        assert right.status_code == 200 and right.json()["size"] == head.size
        assert [w["city"] for w in client.get("/v1/log/head").json()["witnesses"]] == [QUZHOU]


def test_held_heads_whose_readable_fields_were_edited_are_refused(tmp_path: Path, sqlite_db: Database,
                                                                   keys: Keys) -> None:
    admin(sqlite_db, 1, T0)
    chainer_round(sqlite_db, keys.timestamp, now_s=T0)
    with serving(problem_app(lambda: sqlite_db, keys)) as client, _witness(client, keys, tmp_path) as witness:
        witness.run_once(T0)
    path = tmp_path / "heads.jsonl"
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "root": "00" * 32}) + "\n")
    with pytest.raises(BundleMalformedError, match="line 1"):
        load_heads(path)
    assert load_heads(tmp_path / "absent.jsonl") == []


# --- hostile queries ----------------------------------------------------------------------------------

_HOSTILE_GETS = [  # {n}: the log's size, {over}: one past it
    "/v1/log/heads/-1", "/v1/log/heads/abc", "/v1/log/heads/1e3", "/v1/log/heads/0x10", "/v1/log/heads/%20 1",
    "/v1/log/heads/%D9%A1%D9%A2", "/v1/log/heads/99999999999999999999999", "/v1/log/heads/9223372036854775808",
    "/v1/log/heads/{over}", "/v1/log/heads/1_0",
    "/v1/log/proofs/inclusion", "/v1/log/proofs/inclusion?index=1", "/v1/log/proofs/inclusion?index=-1&size={n}",
    "/v1/log/proofs/inclusion?index=abc&size={n}", "/v1/log/proofs/inclusion?index=1.5&size={n}",
    "/v1/log/proofs/inclusion?index=0&size=99999999999999999999", "/v1/log/proofs/inclusion?index={n}&size={n}",
    "/v1/log/proofs/inclusion?index=0&size=0", "/v1/log/proofs/inclusion?index=0&size={over}",
    "/v1/log/proofs/inclusion?index=0&size={n}&size=6", "/v1/log/proofs/inclusion?index=&size={n}",
    "/v1/log/proofs/consistency?first=6&second=5", "/v1/log/proofs/consistency?first=0&second={n}",
    "/v1/log/proofs/consistency?first=1&second={over}", "/v1/log/proofs/consistency?first=-1&second={n}",
    "/v1/log/proofs/consistency?first=x&second=y", "/v1/log/proofs/consistency?first=1",
    "/v1/log/proofs/consistency?first=1&second=9223372036854775807",
    "/v1/log/entries?start=-1", "/v1/log/entries?start=10&end=5", "/v1/log/entries?start=0&end={over}",
    "/v1/log/entries?start={over}", "/v1/log/entries?start=0&end=1001", "/v1/log/entries?start=abc",
    "/v1/log/entries?start=0&end=", "/v1/log/entries?start=99999999999999999999",
]
_HOSTILE_POSTS: list[bytes | dict[str, Any] | list[Any]] = [
    b"not json", b"", b"\xff\xfe", [], {"city": QUZHOU}, {"signed": "AAAA"},
    {"city": "330800", "signed": "AAAA"}, {"city": 1.5, "signed": "AAAA"}, {"city": True, "signed": "AAAA"},
    {"city": QUZHOU, "signed": "not base64!"}, {"city": QUZHOU, "signed": 12},
    {"city": QUZHOU, "signed": "AAAA", "extra": 1}, {"city": 123456, "signed": "AAAA"},
    {"city": QUZHOU, "signed": base64.b64encode(b"\xff" * 40).decode()}, {"city": QUZHOU, "signed": "A" * 20000},
    b'{"city": 330800, "signed": "' + b"A" * 20000 + b'"}', b"[" * 8000, b'{"city": ' + b"[" * 5000 + b"}",
]


def test_hostile_queries_get_4xx_catalogue_errors(sqlite_db: Database, keys: Keys) -> None:
    sqlite_db.write(lambda s: s.execute(text(PENDING_INSERT_SQL), [pending_row(
        f"rdm-{i}", "redemption", redemption_fields(f"rdm-{i}", n=i), T0) for i in range(MAX_PAGE + 100)]))
    chainer_round(sqlite_db, keys.timestamp, now_s=T0)
    size = MAX_PAGE + 100
    # Anything the routes let escape would be a 500 from the gateway's catch-all: every answer must be a 4xx.
    with serving(problem_app(lambda: sqlite_db, keys)) as client:
        for path in _HOSTILE_GETS:
            response = client.get(path.format(n=size, over=size + 1))
            assert 400 <= response.status_code < 500, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json"), path
            assert response.json()["code"] in {"CC_INVALID_ARGUMENT", "CC_NOT_FOUND"}, (path, response.text)
        for body in _HOSTILE_POSTS:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = client.post("/v1/log/witnesses", content=raw, headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500, (body, response.text)
            assert response.json()["code"].startswith("CC_"), (body, response.text)
        # And the honest questions still get answers.
        assert client.get("/v1/log/head").json()["size"] == size
        documented = client.get("/openapi.json").json()["paths"]["/v1/log/proofs/inclusion"]["get"]["parameters"]
        assert [p["name"] for p in documented] == ["index", "size"]
        page = client.get("/v1/log/entries", params={"start": 10}).json()
        assert (page["start"], page["end"], len(page["entries"])) == (10, 10 + MAX_PAGE, MAX_PAGE)
        assert base64.b64decode(page["entries"][0]["data"]).startswith(b'{"at_s":')
        proof = client.get("/v1/log/proofs/inclusion", params={"index": 7, "size": size}).json()
        head = TreeHead.from_body(transparency._parse_part(base64.b64decode(
            client.get("/v1/log/head").json()["signed"]), "h").body)
        assert verify_inclusion(proof, head, base64.b64decode(client.get(
            "/v1/log/entries", params={"start": 7, "end": 8}).json()["entries"][0]["data"])) == 7
        older = client.get("/v1/log/proofs/consistency", params={"first": 1, "second": size}).json()
        with pytest.raises(BundleRollbackError, match="size 1100 is not consistent with the held head of size 1"):
            verify_consistency(older, TreeHead(1, bytes(32), T0), head)


def test_hostile_proofs_are_refused_by_the_verifiers() -> None:
    head = TreeHead(size=4, root=bytes(32), timestamp_s=T0)
    for proof in [{}, {"index": 0, "size": 4, "proof": "x"}, {"index": 0, "size": 4, "proof": {"type": "zzz"}},
                  {"index": 0, "size": 4, "proof": {"type": "inclusion", "metadata": {"algorithm": "md5"},
                                                    "rule": [], "path": ["00"] * 200}},
                  {"index": 9, "size": 4, "proof": {}}, {"index": "0", "size": 4, "proof": {}}]:
        with pytest.raises(BundleMalformedError):
            verify_inclusion(proof, head, b"{}")
    newer = TreeHead(size=8, root=bytes(32), timestamp_s=T0)
    for proof in [None, {}, {"first": 4, "second": 8, "proof": {"type": "inclusion"}},
                  {"first": 4, "second": 8, "proof": {"type": "consistency", "metadata": [], "path": []}}]:
        with pytest.raises(BundleRollbackError, match="size 8 is not consistent with the held head of size 4"):
            verify_consistency(proof, head, newer)
    with pytest.raises(BundleRollbackError, match="older"):
        verify_consistency(None, newer, head)
    for body in [b"", b"[]", b"[" * 2000, b'{"root":"00","size":1,"timestamp":1}', b'{"size":1,"root":"' + b"0" * 64 +
                 b'","timestamp":1}', b'{"root":"' + b"0" * 64 + b'","size":-1,"timestamp":1}']:
        with pytest.raises(BundleMalformedError):
            TreeHead.from_body(body)


# --- PostgreSQL: concurrent chainers ------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_chainers_on_postgres_never_leave_a_gap_or_a_duplicate(postgres_database: str,
                                                                          keys: Keys) -> None:
    """Two replicas (two Databases, two pools) link while three others redeem and one appends admin entries."""
    url = _postgres_url(postgres_database)
    replicas = [Database(url), Database(url)]
    replicas[0].migrate()
    producing = threading.Event()
    producing.set()
    errors: list[BaseException] = []

    def guard(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
        return run

    def redeemer(t: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(80):
                redeem(replicas[i % 2], f"rdm-{t}-{i}", T0 + i, n=1000 * t + i)
        return work

    def admin_writer() -> None:
        for version in range(30):
            admin(replicas[version % 2], version, T0 + version)

    def chainer(replica: Database) -> Callable[[], None]:
        def work() -> None:
            while producing.is_set():
                chainer_round(replica, keys.timestamp, now_s=T0)
        return work

    producers = [threading.Thread(target=guard(redeemer(t))) for t in range(3)]
    producers.append(threading.Thread(target=guard(admin_writer)))
    chainers = [threading.Thread(target=guard(chainer(r))) for r in replicas]
    try:
        for thread in [*chainers, *producers]:
            thread.start()
        for thread in producers:
            thread.join()
        producing.clear()
        for thread in chainers:
            thread.join()
        assert not errors, errors
        while link_pending(replicas[0]):
            pass
        sign_head(replicas[1], keys.timestamp, T0 + 1)
        entries = stored(replicas[0])
        assert [i for i, _, _ in entries] == list(range(3 * 80 + 30))
        assert len({d for _, _, d in entries}) == len(entries) and pending_count(replicas[0]) == 0
        heads = [h.head for h in all_heads(replicas[0])]
        assert audit(replicas[0], heads, timestamp_keys=keys.timestamp_keys).ok
        for older, newer in itertools.pairwise(heads):
            if older.size:
                verify_consistency(consistency_proof(replicas[1], older.size, newer.size), older, newer)
    finally:
        for replica in replicas:
            replica.close()


@pytest.mark.postgres
def test_a_chainer_skips_its_round_while_another_replica_holds_the_lock(postgres_database: str,
                                                                         keys: Keys) -> None:
    database = Database(_postgres_url(postgres_database))
    database.migrate()
    try:
        redeem(database, "rdm-1", T0)
        with psycopg.connect(postgres_database, autocommit=True) as other_replica:
            other_replica.execute("SELECT pg_advisory_lock(%s)", (transparency._LOCK,))
            assert link_pending(database) == 0 and pending_count(database) == 1
            other_replica.execute("SELECT pg_advisory_unlock(%s)", (transparency._LOCK,))
        assert link_pending(database) == 1 and pending_count(database) == 0
    finally:
        database.close()


# --- costs (measured and reported, not asserted) -------------------------------------------------------


def _say(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[transparency cost] {line}")


@pytest.mark.slow
def test_cost_of_linking_10000_pending_entries(db: Database, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [pending_row(f"rdm-{i:05d}", "redemption", redemption_fields(f"rdm-{i:05d}", n=i), T0 + i // 100)
            for i in range(10_000)]
    db.write(lambda s: s.execute(text(PENDING_INSERT_SQL), rows))
    started = time.perf_counter()
    linked = link_pending(db)
    elapsed = time.perf_counter() - started
    head_started = time.perf_counter()
    sign_head(db, keys.timestamp, T0)
    head_elapsed = time.perf_counter() - head_started
    assert linked == 10_000
    _say(capsys, f"{db.engine.dialect.name}: link_pending of 10,000 pending rows: {elapsed:.2f} s "
                 f"({10_000 / elapsed:,.0f} entries/s); then the head over them: {head_elapsed * 1000:.0f} ms")


@pytest.mark.slow
def test_cost_of_a_head_over_100000_leaves_after_a_cold_start(db: Database, keys: Keys,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    size = 100_000
    for start in range(0, size, 10_000):
        rows = []
        for i in range(start, start + 10_000):
            data = entry_bytes("part.accepted", {"role": "city-330800", "version": i, "sha256": "0" * 64,
                                                 "at_s": T0})
            rows.append({"i": i, "d": data, "h": leaf_hash(data)})
        db.write(lambda s, r=rows: s.execute(text('INSERT INTO log_entries ("index", kind, data, leaf_hash, '
                                                  "created_at_s) VALUES (:i, 'part.accepted', :d, :h, 0)"), r))
    restarted = Database(db.url)  # a replica that just started: pymerkle's subroot cache is empty
    try:
        started = time.perf_counter()
        head = sign_head(restarted, keys.timestamp, T0)
        cold = time.perf_counter() - started
        assert head.head.size == size
        started = time.perf_counter()
        inclusion_proof(restarted, 54_321, size)
        proof = time.perf_counter() - started
        admin(restarted, 1, T0)
        started = time.perf_counter()
        head = sign_head(restarted, keys.timestamp, T0 + 1)
        warm = time.perf_counter() - started
        started = time.perf_counter()
        report = audit(restarted, [head])
        audited = time.perf_counter() - started
        assert report.ok and report.entries == size + 1
    finally:
        restarted.close()
    _say(capsys, f"{db.engine.dialect.name}: head over {size:,} leaves after a cold start: {cold:.2f} s; "
                 f"then an inclusion proof: {proof * 1000:.0f} ms; the next head (+1 leaf): {warm * 1000:.1f} ms; "
                 f"the audit of all {size + 1:,} entries: {audited:.2f} s")
