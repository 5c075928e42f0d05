"""Redemptions: spending a benefit exactly once per idempotency key, never past a quota, and voiding one.

The decision is the core's (`decide_redemption`); what this module adds is storing it so
that it holds across replicas, retries and crashes, in as few round trips as the database
allows, on plain driver connections:

1. one `SELECT` returns the answer stored under the merchant's idempotency key, if any, and
   the quota slots the holder's live redemptions of the offer occupy in the period;
2. one `INSERT` (a CTE on PostgreSQL) stores the redemption in the lowest free slot, its
   entry for the transparency log (`log_pending`) and the answer under the key, atomically.

Nothing is locked in between: the unique live slot `(offer, holder, period, slot)` and the
key's primary key make the second statement fail when a concurrent request took that slot
or answered that key first, and the attempt is retried from the `SELECT`, which sees the
winner's rows. An answer is acknowledged only after its statement committed. A voided
redemption keeps its row, leaves its slot (the quota use comes back) and is logged; only
the merchant credential that made it may void it, within `void_window_s`. Offers without
a quota take a random slot, since nothing there can be overspent.

A redemption recorded offline (`at` in the past) is accepted only for offers that allow it
(`offline_redemption`, never a quota offer) and only up to `OFFLINE_MAX_AGE_S` old; it is
judged at its own time.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from citycredit.core import (
    HOLDER_BYTES,
    NO_PERIOD,
    Decision,
    Offer,
    TrustSnapshot,
    VerifiedCode,
    decide_redemption,
    iso,
    period_key,
    redemption_period,
    to_json,
)
from citycredit.errors import (
    CityCreditError,
    CodeUnreadableError,
    IdempotencyMismatchError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from citycredit.gateway.credentials import Principal
from citycredit.gateway.db import Database
from citycredit.gateway.models import RedemptionRow
from citycredit.gateway.transparency import PENDING_INSERT_SQL, append, pending_row
from sqlalchemy import func
from sqlmodel import col, select

__all__ = [
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "OFFLINE_MAX_AGE_S",
    "SMALL_COUNT",
    "Answer",
    "RedemptionDesk",
]

MAX_IDEMPOTENCY_KEY_CHARS = 128
OFFLINE_MAX_AGE_S = 7 * 86400
# Dashboard counts below this are shown as "<5": nobody is singled out by a small cell.
SMALL_COUNT = 5
_RETRIES = 40
_RETRY_SQLSTATES = {"23505", "40001", "40P01"}  # unique violation, serialization failure, deadlock
_IDEMPOTENCY_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}")

_ANSWERED = ("SELECT i.request_hash, i.response_json FROM (SELECT 1) AS one LEFT JOIN idempotency AS i "
             "ON i.credential_id = :credential_id AND i.key = :key")
_SLOTS = ("(SELECT {agg} FROM redemptions WHERE offer_id = :offer_id AND holder = :holder "
          "AND period_key = :period_key AND voided_at_s IS NULL)")
_SPEND = ("INSERT INTO redemptions (id, offer_id, holder, period_key, slot, city, home_city, tier, venue, "
          "credential_id, at_s, created_at_s) VALUES (:redemption_id, :offer_id, :holder, :period_key, :slot, :city, "
          ":home_city, :tier, :venue, :credential_id, :at_s, :now_s)")
_ANSWER = ("INSERT INTO idempotency (credential_id, key, request_hash, response_json, created_at_s) "
           "VALUES (:credential_id, :key, :request_hash, :response_json, :now_s)")


# the slots taken -> (the answer's JSON, the slot to spend or None, the redemption id or None)
Decide = Callable[[list[int]], tuple[str, int | None, str | None]]


def _pyformat(sql: str) -> str:
    """`:name` placeholders (sqlite3) as `%(name)s` (psycopg)."""
    return re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", sql)


@dataclass(frozen=True, slots=True)
class Answer:
    """A redemption answer as stored under its idempotency key (its JSON), and whether it was replayed."""

    json: bytes
    replayed: bool
    decision: Decision | None = None

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.json)
        return doc


class RedemptionDesk:
    """Redeem, void, list and count, over `db` (see the module docstring)."""

    def __init__(self, db: Database, *, void_window_s: int = 900, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.void_window_s = void_window_s
        self._clock = clock
        postgres = not db.is_sqlite
        fmt = _pyformat if postgres else (lambda sql: sql)
        agg = "string_agg(slot::text, ',')" if postgres else "group_concat(slot, ',')"
        self._postgres = postgres
        self._answered = fmt(_ANSWERED)
        self._answered_and_slots = fmt(_ANSWERED.replace("SELECT i.request_hash, i.response_json",
                                                         "SELECT i.request_hash, i.response_json, "
                                                         + _SLOTS.format(agg=agg)))
        self._answer = fmt(_ANSWER)
        self._spend = fmt(_SPEND)
        self._log = fmt(PENDING_INSERT_SQL)
        self._spend_all = fmt(f"WITH spent AS ({_SPEND}), logged AS ({PENDING_INSERT_SQL}) {_ANSWER}")

    # --- redeeming ----------------------------------------------------------------------------------

    @staticmethod
    def check_key(key: object) -> str:
        if not isinstance(key, str) or _IDEMPOTENCY_KEY.fullmatch(key) is None:
            raise InvalidArgumentError(f"the idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII "
                                       "characters without spaces, and required")
        return key

    @staticmethod
    def judged_at(offer: Offer, at_s: int | None, now_s: int) -> int:
        """The time a redemption is judged at: now, or the offline moment it was made at."""
        if at_s is None or at_s == now_s:
            return now_s
        if not offer.offline_redemption:
            raise InvalidArgumentError(f"offer {offer.id} cannot be redeemed offline: send it while online, "
                                       "without a time")
        if not now_s - OFFLINE_MAX_AGE_S <= at_s <= now_s + 60:
            raise InvalidArgumentError(f"an offline redemption is sent within {OFFLINE_MAX_AGE_S // 86400} days of "
                                       "its time, and its time is not in the future")
        return at_s

    def redeem(self, principal: Principal, snapshot: TrustSnapshot, *, offer: Offer, code: str,
               verified: VerifiedCode | CityCreditError, key: str, at_s: int,
               requested_at_s: int | None = None) -> Answer:
        """Store the decision for `verified` (judged at `at_s`) under the merchant's key, spending a slot when it
        says yes; `requested_at_s` is the offline time the request named, if any."""
        if isinstance(verified, CodeUnreadableError):
            raise verified  # not a credit code at all: a bad request, nothing to store
        catalogue = snapshot.catalogue
        # What the merchant asked for: the code, the offer, and the offline time it gave (None: "now"), so a
        # retry of the same request a moment later is the same request.
        request_hash = hashlib.sha256(json.dumps([code, offer.id, requested_at_s]).encode()).hexdigest()
        period = redemption_period(catalogue, offer.id, at_s)
        holder = verified.holder.hex() if isinstance(verified, VerifiedCode) else ""
        quota = offer.quota is not None and holder != ""
        params: dict[str, Any] = {"credential_id": principal.id, "key": key, "request_hash": request_hash,
                                  "offer_id": offer.id, "holder": holder, "period_key": period, "at_s": at_s,
                                  "now_s": int(self._clock()), "city": offer.city, "venue": offer.venue}
        decided: list[Decision] = []

        def decide(slots: list[int]) -> tuple[str, int | None, str | None]:
            redeemed = decide_redemption(catalogue, verified, offer.id, now_s=at_s, used_in_period=len(slots))
            decided[:] = [redeemed.decision]
            answer = json.dumps({"decision": to_json(redeemed.decision), "redemption_id": redeemed.redemption_id,
                                 "replayed": False, "at": iso(at_s)}, ensure_ascii=False, separators=(",", ":"))
            slot = None
            if redeemed.redemption_id is not None:
                taken = set(slots)
                slot = next(i for i in range(len(slots) + 1) if i not in taken) if quota else \
                    random.getrandbits(62)
            return answer, slot, redeemed.redemption_id

        stored = self._store(params, quota, decide, verified)
        if stored is not None:
            stored_hash, answer = stored
            if stored_hash != request_hash:
                raise IdempotencyMismatchError("this idempotency key was used for a different request")
            doc = json.loads(answer)
            doc["replayed"] = True
            return Answer(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), replayed=True)
        return Answer(params["response_json"].encode(), replayed=False, decision=decided[0])

    def _store(self, params: dict[str, Any], quota: bool, decide: Decide,
               verified: VerifiedCode | CityCreditError) -> tuple[str, str] | None:
        for attempt in range(_RETRIES):
            try:
                with self.db.hot_connection() as conn:
                    return self._attempt(conn, params, quota, decide, verified)
            except self.db.dbapi.Error as exc:
                if not self._retryable(exc) or attempt == _RETRIES - 1:
                    raise
            time.sleep(random.uniform(0.0005, 0.002) * (attempt + 1))
        raise UnavailableError("the database stayed busy")  # pragma: no cover - the loop returns or raises

    def _attempt(self, conn: Any, params: dict[str, Any], quota: bool,
                 decide: Decide,
                 verified: VerifiedCode | CityCreditError) -> tuple[str, str] | None:
        sqlite = not self._postgres
        if sqlite:
            conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(self._answered_and_slots if quota else self._answered, params).fetchone()
            if row[0] is not None:
                if sqlite:
                    conn.rollback()
                return str(row[0]), str(row[1])
            slots = [int(s) for s in row[2].split(",")] if quota and row[2] else []
            answer, slot, redemption_id = decide(slots)
            params["response_json"] = answer
            if redemption_id is None:
                conn.execute(self._answer, params)
            else:
                assert isinstance(verified, VerifiedCode)
                params.update(redemption_id=redemption_id, slot=slot, home_city=verified.city,
                              tier=verified.tier.name)
                params.update(pending_row(redemption_id, "redemption", {
                    "redemption_id": redemption_id, "credential_id": params["credential_id"],
                    "offer_id": params["offer_id"], "holder": params["holder"], "period_key": params["period_key"],
                    "slot": slot, "city": params["city"]}, params["now_s"]))
                if sqlite:
                    conn.execute(self._spend, params)
                    conn.execute(self._log, params)
                    conn.execute(self._answer, params)
                else:
                    conn.execute(self._spend_all, params)
            if sqlite:
                conn.commit()
            return None
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

    def used(self, offer: Offer, verified: VerifiedCode, at_s: int) -> int:
        """The holder's live redemptions of a quota offer in the period of `at_s` (what a check counts)."""
        if offer.quota is None:
            return 0
        with self.db.read() as session:
            return int(session.exec(select(func.count()).select_from(RedemptionRow).where(
                RedemptionRow.offer_id == offer.id, RedemptionRow.holder == verified.holder.hex(),
                RedemptionRow.period_key == period_key(offer.quota.period, at_s),
                col(RedemptionRow.voided_at_s).is_(None))).one())

    # --- voiding, history, figures -------------------------------------------------------------------

    def void(self, principal: Principal, redemption_id: str) -> dict[str, Any]:
        """Undo a redemption the same merchant key made within `void_window_s`; its quota use comes back.

        Voiding twice answers the first void again.
        """
        principal.require_merchant()
        now = int(self._clock())

        def work(session: Any) -> dict[str, Any]:
            row = session.get(RedemptionRow, redemption_id)
            if row is None or row.credential_id != principal.id:
                raise NotFoundError(f"this merchant key made no redemption {redemption_id!r}")
            if row.voided_at_s is None:
                if now - row.created_at_s > self.void_window_s:
                    raise PermissionDeniedError(f"a redemption can be voided within {self.void_window_s // 60} "
                                                "minutes; ask the city office")
                row.voided_at_s = now
                session.add(row)
                append(session, "redemption.void", {"redemption_id": row.id, "credential_id": principal.id,
                                                    "city": row.city}, at_s=now)
            return _redemption_json(row)

        result: dict[str, Any] = self.db.write(work)
        return result

    def history(self, principal: Principal, *, limit: int = 50, before_s: int | None = None) -> list[dict[str, Any]]:
        """The merchant key's own redemptions, newest first."""
        principal.require_merchant()
        if not 1 <= limit <= 500:
            raise InvalidArgumentError("limit is 1 to 500")
        with self.db.read() as session:
            query = select(RedemptionRow).where(RedemptionRow.credential_id == principal.id)
            if before_s is not None:
                query = query.where(col(RedemptionRow.at_s) < before_s)
            rows = session.exec(query.order_by(col(RedemptionRow.at_s).desc()).limit(limit)).all()
        return [_redemption_json(r) for r in rows]

    def of_holders(self, home_city: int, holders: list[str]) -> list[dict[str, Any]]:
        """The redemptions of a city's residents, by the pseudonyms only their city can compute (newest first)."""
        if len(holders) > 1000 or not all(isinstance(h, str) and len(h) == 2 * HOLDER_BYTES for h in holders):
            raise InvalidArgumentError(f"holders are at most 1,000 pseudonyms of {2 * HOLDER_BYTES} hex digits")
        with self.db.read() as session:
            rows = session.exec(select(RedemptionRow).where(
                RedemptionRow.home_city == home_city, col(RedemptionRow.holder).in_(holders))
                .order_by(col(RedemptionRow.at_s).desc()).limit(500)).all()
        return [_redemption_json(r) for r in rows]

    def figures(self, city: int, *, since_s: int, until_s: int) -> dict[str, Any]:
        """A host city's live redemptions by day (UTC+8), offer, tier and home city; small counts suppressed."""
        if until_s <= since_s or until_s - since_s > 366 * 86400:
            raise InvalidArgumentError("the period is a window of at most a year")
        day = (col(RedemptionRow.at_s) + 8 * 3600) // 86400
        live = (RedemptionRow.city == city, col(RedemptionRow.voided_at_s).is_(None),
                col(RedemptionRow.at_s) >= since_s, col(RedemptionRow.at_s) < until_s)
        out: dict[str, Any] = {"city": f"{city:06d}", "since": iso(since_s), "until": iso(until_s),
                               "suppressed_below": SMALL_COUNT}
        with self.db.read() as session:
            total = int(session.exec(select(func.count()).select_from(RedemptionRow).where(*live)).one())
            for name, column in (("by_day", day), ("by_offer", col(RedemptionRow.offer_id)),
                                 ("by_tier", col(RedemptionRow.tier)), ("by_home_city", col(RedemptionRow.home_city))):
                rows = session.exec(select(column, func.count()).select_from(RedemptionRow).where(*live)
                                    .group_by(column)).all()
                out[name] = {_label(name, value): _shown(count)
                             for value, count in sorted(rows, key=lambda r: str(r[0]))}
        out["total"] = _shown(total)
        return out


def _label(kind: str, value: object) -> str:
    if kind == "by_day":
        return time.strftime("%Y-%m-%d", time.gmtime(int(value) * 86400))  # type: ignore[call-overload]
    if kind == "by_home_city":
        return f"{int(value):06d}"  # type: ignore[call-overload]
    return str(value)


def _shown(count: int) -> int | str:
    return count if count >= SMALL_COUNT or count == 0 else f"<{SMALL_COUNT}"


def _redemption_json(row: RedemptionRow) -> dict[str, Any]:
    return {"id": row.id, "offer_id": row.offer_id, "city": f"{row.city:06d}", "home_city": f"{row.home_city:06d}",
            "tier": row.tier, "venue": row.venue, "at": iso(row.at_s), "recorded_at": iso(row.created_at_s),
            "voided_at": None if row.voided_at_s is None else iso(row.voided_at_s),
            "period": None if row.period_key == NO_PERIOD else row.period_key}

