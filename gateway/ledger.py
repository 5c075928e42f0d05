"""The redemption hot path: idempotency look-up, quota count and the spend, in as few round trips as the
database allows, on plain driver connections.

A redemption is two statements on PostgreSQL, each its own (autocommit) transaction:

1. one `SELECT` returns the stored answer for the idempotency key, if any, and the number of the
   holder's redemptions of the offer in the period;
2. one `INSERT … ` (a CTE when the offer is spent) stores the redemption with `slot` = that count,
   its pending audit record and the answer under the idempotency key, atomically.

Nothing is locked in between. The unique slot `(offer_id, holder, period_key, slot)` and the
idempotency key's primary key make the second statement fail when a concurrent request spent that
slot or answered that key first; the whole attempt is then retried from the `SELECT`, which sees the
winner's rows. So a quota is never overspent and a key never gets two answers, across replicas,
retries and crashes; the answer is acknowledged only after the statement has committed (durably,
with the server's `synchronous_commit`). A connection lost mid-statement is replaced and the attempt
retried: if the lost statement had committed, the retry finds its answer and replays it.

SQLite has one writer: the same statements run inside `BEGIN IMMEDIATE … COMMIT`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from citycredit.errors import UnavailableError
from citycredit.gateway.db import Database

__all__ = ["Ledger", "Spend"]

_RETRIES = 40

_LOOKUP = """SELECT i.request_hash, i.response_json,
  (SELECT count(*) FROM redemptions WHERE offer_id = :offer_id AND holder = :holder AND period_key = :period_key)
FROM (SELECT 1) AS one LEFT JOIN idempotency AS i ON i.credential_id = :credential_id AND i.key = :key"""
_SPEND = ("INSERT INTO redemptions (id, offer_id, holder, period_key, slot, city, credential_id, created_at_s) "
          "VALUES (:redemption_id, :offer_id, :holder, :period_key, :slot, :city, :credential_id, :at_s)")
_AUDIT = ("INSERT INTO audit_pending (id, at_s, actor, action, city, subject, details, hash) "
          "VALUES (:redemption_id, :at_s, :credential_id, :action, :city, :holder, :details, :audit_hash)")
_ANSWER = ("INSERT INTO idempotency (credential_id, key, request_hash, response_json, created_at_s) "
           "VALUES (:credential_id, :key, :request_hash, :response_json, :at_s)")
# PostgreSQL: all three inserts in one statement, so one round trip and one commit.
_SPEND_ALL_PG = f"WITH spent AS ({_SPEND}), audited AS ({_AUDIT}) {_ANSWER}"
_CREDENTIAL = "SELECT id, kind, city, venue, revoked_at_s FROM credentials WHERE token_hash = :token_hash"

_RETRY_SQLSTATES = {"23505", "40001", "40P01"}  # unique violation, serialization failure, deadlock


def _pyformat(sql: str) -> str:
    """`:name` placeholders (sqlite3) as `%(name)s` (psycopg)."""
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


@dataclass(frozen=True, slots=True)
class Spend:
    """What a spending decision stores: the redemption id and slot, and its pending audit record."""

    redemption_id: str
    city: int
    action: str
    details: str  # the pending record's canonical details JSON
    audit_hash: str


# used_in_period -> (the answer's JSON, the spend or None when nothing is spent)
Decide = Callable[[int], tuple[str, Spend | None]]


class Ledger:
    """Redemptions and credential look-ups on raw connections of `db`'s hot pool."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgres = not db.is_sqlite
        fmt = _pyformat if self._postgres else (lambda sql: sql)
        self._lookup = fmt(_LOOKUP)
        self._answer = fmt(_ANSWER)
        self._spend_all = fmt(_SPEND_ALL_PG) if self._postgres else None
        self._spend = fmt(_SPEND)
        self._audit = fmt(_AUDIT)
        self._credential = fmt(_CREDENTIAL)

    def credential(self, token_hash: str) -> tuple[str, str, int, str | None, int | None] | None:
        """(id, kind, city, venue, revoked_at_s) of the credential with this token hash, or None."""
        with self.db.hot_connection() as conn:
            row = conn.execute(self._credential, {"token_hash": token_hash}).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def redeem(self, *, credential_id: str, key: str, request_hash: str, offer_id: str, holder: str,
               period_key: str, at_s: int, decide: Decide) -> tuple[str | None, str]:
        """Store `decide(used)`'s answer under the key, spending when it says so; exactly once.

        Returns (stored request hash or None when this call stored the answer, the answer's JSON).
        """
        params: dict[str, Any] = {"credential_id": credential_id, "key": key, "request_hash": request_hash,
                                  "offer_id": offer_id, "holder": holder, "period_key": period_key, "at_s": at_s}
        for attempt in range(_RETRIES):
            try:
                with self.db.hot_connection() as conn:
                    return self._attempt(conn, params, decide)
            except self.db.dbapi.Error as exc:
                if not self._retryable(exc) or attempt == _RETRIES - 1:
                    raise
            time.sleep(random.uniform(0.0005, 0.002) * (attempt + 1))
        raise UnavailableError("the database stayed busy")  # pragma: no cover - the loop returns or raises

    def _attempt(self, conn: Any, params: dict[str, Any], decide: Decide) -> tuple[str | None, str]:
        sqlite = not self._postgres
        if sqlite:
            conn.execute("BEGIN IMMEDIATE")
        try:
            stored_hash, stored_json, used = conn.execute(self._lookup, params).fetchone()
            if stored_hash is not None:
                if sqlite:
                    conn.rollback()
                return stored_hash, stored_json
            answer, spend = decide(int(used))
            params["response_json"] = answer
            if spend is None:
                conn.execute(self._answer, params)
            else:
                params.update(redemption_id=spend.redemption_id, slot=used, city=spend.city, action=spend.action,
                              details=spend.details, audit_hash=spend.audit_hash)
                if sqlite:
                    conn.execute(self._spend, params)
                    conn.execute(self._audit, params)
                    conn.execute(self._answer, params)
                else:
                    conn.execute(self._spend_all, params)
            if sqlite:
                conn.commit()
            return None, answer
        except BaseException:
            if sqlite:
                conn.rollback()
            raise

    def _retryable(self, exc: Exception) -> bool:
        if getattr(exc, "sqlstate", None) in _RETRY_SQLSTATES or isinstance(exc, self.db.dbapi.IntegrityError):
            return True
        if self._postgres:
            return isinstance(exc, self.db.dbapi.OperationalError)  # a lost connection: replaced, then retried
        return "locked" in str(exc).lower() or "busy" in str(exc).lower()
