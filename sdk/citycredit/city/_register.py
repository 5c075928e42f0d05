"""The city's register: which codes it issued to which holder (pseudonymously) at which status index.

SQLite (the standard library's), one file in the city's store. Nothing in it names a
person: a holder is the city's own pseudonym for them (their pseudonym for the home
city), never an ID number; the identity stays with the city's identity system.

- `codes`: every code issued, with its status index, window and status. The live codes
  (not yet expired) are what keeps an index taken; `--holder` finds all of a holder's.
- `status_list`: the city's list of two-bit entries and its last signed version, updated
  in the same transaction as the codes whose status changes.
- `devices`: the device key each holder registered for each audience (the holder page).
- `merchants`: the merchants the city onboarded, their credential and the grant it signed.
Every write is one transaction (`BEGIN IMMEDIATE`), so the CLI and the issuer service can
share one register.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from citycredit.core import MIN_STATUS_LIST_SIZE, StatusBitmap

__all__ = ["CodeRecord", "MerchantRecord", "Register"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS codes (
    code_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    audience INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    device_bound INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS codes_by_index ON codes (status_index, expires_at);
CREATE INDEX IF NOT EXISTS codes_by_holder ON codes (holder, expires_at);
CREATE TABLE IF NOT EXISTS status_list (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    version INTEGER NOT NULL,
    signed BLOB
);
CREATE TABLE IF NOT EXISTS merchants (
    credential_id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    venues TEXT NOT NULL,
    token_sha256 BLOB NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0,
    grant BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    holder TEXT NOT NULL,
    audience INTEGER NOT NULL,
    algorithm INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (holder, audience)
);
"""


@dataclass(frozen=True, slots=True)
class CodeRecord:
    code_id: str
    holder: str
    audience: int
    status_index: int
    issued_at_s: int
    expires_at_s: int
    status: int
    device_bound: bool


def _code_record(row: tuple[str, str, int, int, int, int, int, int]) -> CodeRecord:
    return CodeRecord(code_id=row[0], holder=row[1], audience=row[2], status_index=row[3], issued_at_s=row[4],
                      expires_at_s=row[5], status=row[6], device_bound=bool(row[7]))


@dataclass(frozen=True, slots=True)
class MerchantRecord:
    credential_id: str
    merchant_id: str
    name: str
    venues: tuple[str, ...]
    token_sha256: bytes
    issued_at_s: int
    revoked_at_s: int
    grant: bytes


class Register:
    """The register of one city (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        with self.transaction():
            if self._db.execute("SELECT 1 FROM status_list").fetchone() is None:
                empty = StatusBitmap(MIN_STATUS_LIST_SIZE)
                self._db.execute("INSERT INTO status_list (id, size, data, version) VALUES (1, ?, ?, 0)",
                                 (empty.size, bytes(empty.data)))

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- the status list ------------------------------------------------------------------------------

    def status(self) -> tuple[StatusBitmap, int, bytes | None]:
        """The list as it stands, the last signed version, and that version's signed update."""
        size, data, version, signed = self._db.execute(
            "SELECT size, data, version, signed FROM status_list WHERE id = 1").fetchone()
        return StatusBitmap(size, data), version, signed

    def save_status(self, db: sqlite3.Connection, bitmap: StatusBitmap, *, version: int | None = None,
                    signed: bytes | None = None) -> None:
        """Store the list (and, when signed, its version and update) inside the caller's transaction."""
        if version is None:
            db.execute("UPDATE status_list SET size = ?, data = ? WHERE id = 1", (bitmap.size, bytes(bitmap.data)))
        else:
            db.execute("UPDATE status_list SET size = ?, data = ?, version = ?, signed = ? WHERE id = 1",
                       (bitmap.size, bytes(bitmap.data), version, signed))

    # --- codes ----------------------------------------------------------------------------------------

    def live_count(self, now_s: int) -> int:
        return int(self._db.execute("SELECT count(*) FROM codes WHERE expires_at > ?", (now_s,)).fetchone()[0])

    def index_taken(self, index: int, now_s: int) -> bool:
        return self._db.execute("SELECT 1 FROM codes WHERE status_index = ? AND expires_at > ? LIMIT 1",
                                (index, now_s)).fetchone() is not None

    def add_code(self, db: sqlite3.Connection, record: CodeRecord) -> None:
        db.execute("INSERT INTO codes (code_id, holder, audience, status_index, issued_at, expires_at, status, "
                   "device_bound) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (record.code_id, record.holder, record.audience, record.status_index, record.issued_at_s,
                    record.expires_at_s, record.status, int(record.device_bound)))

    def code(self, code_id: str) -> CodeRecord | None:
        row = self._db.execute("SELECT code_id, holder, audience, status_index, issued_at, expires_at, status, "
                               "device_bound FROM codes WHERE code_id = ?", (code_id,)).fetchone()
        return None if row is None else _code_record(row)

    def live_codes_of(self, holder: str, now_s: int) -> list[CodeRecord]:
        rows = self._db.execute("SELECT code_id, holder, audience, status_index, issued_at, expires_at, status, "
                                "device_bound FROM codes WHERE holder = ? AND expires_at > ? ORDER BY issued_at",
                                (holder, now_s)).fetchall()
        return [_code_record(row) for row in rows]

    def set_code_status(self, db: sqlite3.Connection, code_id: str, status: int) -> None:
        db.execute("UPDATE codes SET status = ? WHERE code_id = ?", (status, code_id))

    def expired_flagged(self, now_s: int) -> list[int]:
        """Indexes whose entry may be cleared: every code that held them expired (none is live)."""
        rows = self._db.execute(
            "SELECT DISTINCT status_index FROM codes c WHERE c.status != 0 AND c.expires_at <= ? AND NOT EXISTS "
            "(SELECT 1 FROM codes l WHERE l.status_index = c.status_index AND l.expires_at > ?)",
            (now_s, now_s)).fetchall()
        return [int(r[0]) for r in rows]

    def clear_status(self, db: sqlite3.Connection, indexes: list[int], now_s: int) -> None:
        """Mark the expired codes of these indexes settled (their entries went back to VALID)."""
        db.executemany("UPDATE codes SET status = 0 WHERE status_index = ? AND expires_at <= ?",
                       [(i, now_s) for i in indexes])

    # --- merchants -------------------------------------------------------------------------------------

    def add_merchant(self, db: sqlite3.Connection, *, credential_id: str, merchant_id: str, name: str,
                     venues: list[str], token_sha256: bytes, issued_at_s: int, grant: bytes) -> None:
        db.execute("INSERT INTO merchants (credential_id, merchant_id, name, venues, token_sha256, issued_at, grant) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (credential_id, merchant_id, name, "\n".join(venues), token_sha256, issued_at_s, grant))

    def revoke_merchant(self, db: sqlite3.Connection, credential_id: str, revoked_at_s: int, grant: bytes) -> None:
        db.execute("UPDATE merchants SET revoked_at = ?, grant = ? WHERE credential_id = ?",
                   (revoked_at_s, grant, credential_id))

    def merchants(self) -> list[MerchantRecord]:
        rows = self._db.execute("SELECT credential_id, merchant_id, name, venues, token_sha256, issued_at, revoked_at, "
                                "grant FROM merchants ORDER BY issued_at, credential_id").fetchall()
        return [MerchantRecord(r[0], r[1], r[2], tuple(v for v in r[3].split("\n") if v), bytes(r[4]), r[5], r[6],
                               bytes(r[7])) for r in rows]

    # --- devices --------------------------------------------------------------------------------------

    def register_device(self, db: sqlite3.Connection, holder: str, audience: int, algorithm: int, public_key: bytes,
                        now_s: int) -> None:
        """One active device per holder per audience: a new one replaces the old."""
        db.execute("INSERT INTO devices (holder, audience, algorithm, public_key, registered_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (holder, audience) DO UPDATE SET "
                   "algorithm = excluded.algorithm, public_key = excluded.public_key, "
                   "registered_at = excluded.registered_at",
                   (holder, audience, algorithm, public_key, now_s))

    def device(self, holder: str, audience: int) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT algorithm, public_key FROM devices WHERE holder = ? AND audience = ?",
                               (holder, audience)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))
