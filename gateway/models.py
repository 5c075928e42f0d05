"""The gateway's tables (SQLModel). The Alembic migrations in `migrations/` create exactly these.

The gateway keeps only public or hashed data: the trust set as the parties signed it
(`trust_files`, `trust_state`, `status_lists`), credential token hashes and the grants
that vouch for them, redemptions and their idempotent answers, the presentations it has
seen (replay), and the transparency log. No private key and no pseudonym secret of any
city is stored here; the gateway's own online keys live in its key store.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, text
from sqlmodel import Field, SQLModel

__all__ = [
    "CredentialRow",
    "IdempotencyRow",
    "LogEntryRow",
    "LogHeadRow",
    "LogPendingRow",
    "LogWitnessRow",
    "PresentationRow",
    "RateWindowRow",
    "RedemptionRow",
    "StatusListRow",
    "TrustFileRow",
    "TrustStateRow",
]


class TrustFileRow(SQLModel, table=True):
    """One immutable file of the trust set, by the path it is served at (`3.snapshot.json`, `targets/…`)."""

    __tablename__ = "trust_files"

    path: str = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class TrustStateRow(SQLModel, table=True):
    """The current timestamp (the only mutable file) and the versions it names; the row publishers lock."""

    __tablename__ = "trust_state"

    id: int = Field(primary_key=True)
    timestamp: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    timestamp_version: int = Field(sa_type=BigInteger)
    snapshot_version: int = Field(sa_type=BigInteger)
    updated_at_s: int = Field(sa_type=BigInteger)


class StatusListRow(SQLModel, table=True):
    """A version of a city's status list as its status key signed it, and what changed from the one before.

    Only the newest version keeps its list (`list_zlib`; empty in older rows); every version of the
    history window keeps the indexes it changed, so a delta from any of them is the union of the
    changes since, with the statuses of the newest list.
    """

    __tablename__ = "status_lists"

    city: int = Field(primary_key=True)
    version: int = Field(primary_key=True, sa_type=BigInteger)
    # The serialized SignedPart (the head) and the zlib-compressed list.
    head: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    list_zlib: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)
    # The version this one follows and the indexes that differ from it (uint32 little-endian each);
    # None for a version the gateway saw first (seeded, or after a gap).
    previous_version: int | None = Field(default=None, sa_type=BigInteger)
    changed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class CredentialRow(SQLModel, table=True):
    """A city-office credential or a merchant key; only the SHA-256 of the token is kept.

    A merchant credential exists only under a grant its city signed (kept in `grant`).
    """

    __tablename__ = "credentials"

    id: str = Field(primary_key=True)
    kind: str  # "city_office" or "merchant"
    city: int = Field(index=True)
    # Venues a merchant key may redeem at, newline-separated; empty: every venue of its city.
    venues: str = ""
    merchant_id: str = ""
    label: str = ""
    token_hash: str = Field(unique=True)
    created_at_s: int = Field(sa_type=BigInteger)
    revoked_at_s: int | None = Field(default=None, sa_type=BigInteger)
    grant: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class RedemptionRow(SQLModel, table=True):
    """One spent benefit. The unique live slot is what makes double-spending impossible; a voided
    redemption keeps its row and frees its slot."""

    __tablename__ = "redemptions"
    __table_args__ = (Index("uq_redemption_live_slot", "offer_id", "holder", "period_key", "slot", unique=True,
                            sqlite_where=text("voided_at_s IS NULL"), postgresql_where=text("voided_at_s IS NULL")),)

    id: str = Field(primary_key=True)
    offer_id: str
    # The holder's pseudonym for the host city (hex): quotas count per holder, nobody learns who it is.
    holder: str
    period_key: str
    slot: int = Field(sa_type=BigInteger)
    # The host city (the offer's) and the holder's home city, tier and the venue: what dashboards count.
    city: int = Field(index=True)
    home_city: int
    tier: str
    venue: str = ""
    credential_id: str = Field(index=True)
    # When the benefit was given (a redemption recorded offline comes later) and when it was stored.
    at_s: int = Field(sa_type=BigInteger)
    created_at_s: int = Field(sa_type=BigInteger)
    voided_at_s: int | None = Field(default=None, sa_type=BigInteger)


class IdempotencyRow(SQLModel, table=True):
    """The first answer given for a merchant's idempotency key."""

    __tablename__ = "idempotency"

    credential_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    response_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class PresentationRow(SQLModel, table=True):
    """A presentation accepted at a venue, kept until its window closes (replay refusal across replicas)."""

    __tablename__ = "presentations"

    # Where it was seen: a venue, or "redeem/<offer id>" for a redemption.
    venue: str = Field(primary_key=True)
    presentation: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    until_s: int = Field(sa_type=BigInteger, index=True)
    # Who may present it again (a redemption retried under its idempotency key); None: nobody.
    owner: str | None = None


class RateWindowRow(SQLModel, table=True):
    """What the replicas together spent of one rate-limit key in one minute (PostgreSQL only)."""

    __tablename__ = "rate_windows"

    key: str = Field(primary_key=True)
    window_start_s: int = Field(primary_key=True, sa_type=BigInteger)
    spent: float


class LogEntryRow(SQLModel, table=True):
    """A leaf of the transparency log (RFC 9162 style): its canonical JSON, in append order from 0."""

    __tablename__ = "log_entries"

    index: int = Field(primary_key=True, sa_type=BigInteger)
    kind: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class LogPendingRow(SQLModel, table=True):
    """An entry written with a redemption in its own statement, waiting to be appended to the log."""

    __tablename__ = "log_pending"

    id: str = Field(primary_key=True)
    kind: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger, index=True)


class LogHeadRow(SQLModel, table=True):
    """A signed tree head: the log's size and root, signed by the gateway's timestamp key."""

    __tablename__ = "log_heads"

    size: int = Field(primary_key=True, sa_type=BigInteger)
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    timestamp_s: int = Field(sa_type=BigInteger)
    # The serialized SignedPart over the head.
    signed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogWitnessRow(SQLModel, table=True):
    """A city issuer's countersignature of a tree head (after checking it is consistent with the last one)."""

    __tablename__ = "log_witnesses"

    size: int = Field(primary_key=True, sa_type=BigInteger)
    city: int = Field(primary_key=True)
    signed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)
