"""Rate limits: a token bucket per client address and per credential, on every endpoint, public ones included.

Each replica answers from its own buckets, so a refusal costs no database round trip.
On PostgreSQL the replicas also share what they spent: every `sync()` (run each second)
adds each key's spending in the current one-minute window to `rate_windows` and reads
the cluster's total back; a key past its per-minute allowance (its rate × 60 + burst)
is then refused by every replica until the window ends. So N replicas let a client
through at most about one replica's allowance plus one sync interval's worth each, not
N times the allowance.

A failed authentication costs the client `FAILED_AUTH_COST` tokens: guessing tokens is
slow, honest clients never notice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from citycredit.errors import RateLimitedError
from citycredit.gateway.db import Database
from citycredit.gateway.models import RateWindowRow
from sqlalchemy import delete, text

__all__ = ["FAILED_AUTH_COST", "WINDOW_S", "Limit", "RateLimiter"]

WINDOW_S = 60
FAILED_AUTH_COST = 10.0
_MAX_KEYS = 100_000

_ADD_PG = ("INSERT INTO rate_windows (key, window_start_s, spent) VALUES (:key, :window, :spent) "
           "ON CONFLICT (key, window_start_s) DO UPDATE SET spent = rate_windows.spent + excluded.spent "
           "RETURNING spent")


@dataclass(frozen=True, slots=True)
class Limit:
    """Sustained requests per second and the burst allowed above it."""

    rate_per_s: float
    burst: int

    @property
    def per_window(self) -> float:
        return self.rate_per_s * WINDOW_S + self.burst


class RateLimiter:
    """Token buckets by key ("client:<address>", "credential:<id>"), shared through the database on PostgreSQL."""

    def __init__(self, *, client: Limit, credential: Limit, db: Database | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.limits = {"client": client, "credential": credential}
        self._db = db if db is not None and not db.is_sqlite else None
        self._clock = clock
        self._wall = wall
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill]
        self._unsynced: dict[str, float] = {}
        self._blocked: dict[str, int] = {}  # key -> window start it is blocked in
        self._lock = threading.Lock()

    def take(self, kind: str, who: str, cost: float = 1.0) -> None:
        """Spend `cost` tokens of the key, or raise RateLimitedError saying how long to wait."""
        limit = self.limits[kind]
        key = f"{kind}:{who}"
        now = self._clock()
        with self._lock:
            window = int(self._wall()) // WINDOW_S * WINDOW_S
            if self._blocked.get(key) == window:
                wait_s = window + WINDOW_S - self._wall()
                raise self._refusal(limit, max(wait_s, 0.1))
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_KEYS:  # full buckets of idle keys carry no information
                    self._buckets = {k: b for k, b in self._buckets.items() if b[0] < limit.burst}
                bucket = self._buckets[key] = [float(limit.burst), now]
            bucket[0] = min(float(limit.burst), bucket[0] + (now - bucket[1]) * limit.rate_per_s)
            bucket[1] = now
            if bucket[0] < cost:
                raise self._refusal(limit, (cost - bucket[0]) / limit.rate_per_s)
            bucket[0] -= cost
            if self._db is not None:
                self._unsynced[key] = self._unsynced.get(key, 0.0) + cost

    @staticmethod
    def _refusal(limit: Limit, wait_s: float) -> RateLimitedError:
        return RateLimitedError(f"rate limit of {limit.rate_per_s:g} requests/s exceeded; retry in {wait_s:.2f} s",
                                retry_after_s=wait_s)

    def sync(self) -> int:
        """Share this replica's spending with the others (PostgreSQL); returns the keys now blocked."""
        if self._db is None:
            return 0
        with self._lock:
            spent, self._unsynced = self._unsynced, {}
        window = int(self._wall()) // WINDOW_S * WINDOW_S
        if not spent:
            return 0
        blocked = {}
        try:
            with self._db.engine.begin() as conn:
                for key, cost in sorted(spent.items()):
                    total = conn.execute(text(_ADD_PG), {"key": key, "window": window, "spent": cost}).scalar_one()
                    if total > self.limits[key.partition(":")[0]].per_window:
                        blocked[key] = window
                conn.execute(delete(RateWindowRow).where(RateWindowRow.window_start_s < window - WINDOW_S))  # type: ignore[arg-type]
        except Exception:
            with self._lock:  # keep what was spent for the next round
                for key, cost in spent.items():
                    self._unsynced[key] = self._unsynced.get(key, 0.0) + cost
            raise
        with self._lock:
            self._blocked = {k: w for k, w in self._blocked.items() if w == window} | blocked
        return len(blocked)
