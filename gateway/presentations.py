"""The presentations the gateway has seen, shared by every replica through the database (replay refusal).

`SeenPresentations` is the core's `ReplayCache` over the `presentations` table: one
statement inserts the sighting, or takes over an entry whose window closed, and says
whether this was the first sighting inside the window. A redemption passes itself as
the entry's `owner`, so retrying it under the same idempotency key is not a replay.
"""

from __future__ import annotations

import re

from citycredit.gateway.db import Database

__all__ = ["SeenPresentations"]

_SIGHTING = ("INSERT INTO presentations (venue, presentation, until_s, owner) "
             "VALUES (:venue, :presentation, :until_s, :owner) ON CONFLICT (venue, presentation) "
             "DO UPDATE SET until_s = excluded.until_s, owner = excluded.owner "
             "WHERE presentations.until_s <= :now_s OR presentations.owner = :owner RETURNING 1")
_EXPIRE = "DELETE FROM presentations WHERE until_s < :now_s"


class SeenPresentations:
    """A `ReplayCache` in the shared database; `owner` marks who may present an entry again."""

    def __init__(self, db: Database, owner: str | None = None) -> None:
        self.db = db
        self.owner = owner
        self._sighting = _SIGHTING if db.is_sqlite else re.sub(r":([a-z_]+)", r"%(\1)s", _SIGHTING)
        self._expire = _EXPIRE if db.is_sqlite else re.sub(r":([a-z_]+)", r"%(\1)s", _EXPIRE)

    def owned_by(self, owner: str) -> SeenPresentations:
        return SeenPresentations(self.db, owner)

    def first_sighting(self, venue: str, presentation: bytes, *, until_s: int, now_s: int) -> bool:
        params = {"venue": venue, "presentation": presentation, "until_s": until_s, "owner": self.owner,
                  "now_s": now_s}
        with self.db.hot_connection() as conn:
            row = conn.execute(self._sighting, params).fetchone()
        return row is not None

    def expire(self, now_s: int) -> int:
        """Forget sightings whose window closed; returns how many went."""
        with self.db.hot_connection() as conn:
            cursor = conn.execute(self._expire, {"now_s": now_s})
            return int(cursor.rowcount or 0)
