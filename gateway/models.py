"""The gateway's tables (SQLModel). The Alembic migrations in `migrations/` create exactly these.

The alliance state is stored whole, as `Alliance.to_json()`, one row per published
version, beside the signed bundle of that version. The core's `Alliance` is the one
model of the authority-side state; keeping its canonical JSON means the gateway never
drifts from it when the core grows a field, every version stays inspectable for
audits, and the primary key on `version` is what makes two replicas publishing at once
safe: the second insert of the same version fails and that replica retries on top of the
first. Admin changes are rare and small (a status list compresses to a few hundred
bytes), so rewriting the state per version costs nothing that matters.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "AllianceState",
    "AuditEntry",
    "AuditHead",
    "AuditPending",
    "BundleRow",
    "CityKeyRow",
    "CitySecretRow",
    "CredentialRow",
    "IdempotencyRow",
    "IssuedCodeRow",
    "RedemptionRow",
]


class AllianceState(SQLModel, table=True):
    __tablename__ = "alliance_state"

    version: int = Field(primary_key=True)
    state_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class BundleRow(SQLModel, table=True):
    __tablename__ = "bundles"

    version: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    digest: str
    issued_at_s: int = Field(sa_type=BigInteger)
    expires_at_s: int = Field(sa_type=BigInteger)


class CityKeyRow(SQLModel, table=True):
    """A city signing key the gateway holds for a city without an issuing system of its own."""

    __tablename__ = "city_keys"

    kid: str = Field(primary_key=True)
    city: int = Field(index=True)
    algorithm: str
    private_pem: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class CitySecretRow(SQLModel, table=True):
    """The pseudonym secret of a city whose codes the gateway issues."""

    __tablename__ = "city_secrets"

    city: int = Field(primary_key=True)
    secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CredentialRow(SQLModel, table=True):
    """A city-office credential or a merchant API key; only the SHA-256 of the token is kept."""

    __tablename__ = "credentials"

    id: str = Field(primary_key=True)
    kind: str  # "city_office" or "merchant"
    city: int = Field(index=True)
    venue: str | None = None
    label: str = ""
    token_hash: str = Field(unique=True)
    created_at_s: int = Field(sa_type=BigInteger)
    created_by: str = ""
    revoked_at_s: int | None = Field(default=None, sa_type=BigInteger)


class IssuedCodeRow(SQLModel, table=True):
    """What the gateway issued: enough to avoid reusing live status indexes and to revoke, no identities."""

    __tablename__ = "issued_codes"

    code_id: str = Field(primary_key=True)
    city: int = Field(index=True)
    holder: str
    status_index: int
    tier: str
    issued_at_s: int = Field(sa_type=BigInteger)
    expires_at_s: int = Field(sa_type=BigInteger)
    issued_by: str


class RedemptionRow(SQLModel, table=True):
    """One spent benefit. The unique slot is what makes double-spending impossible."""

    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("offer_id", "holder", "period_key", "slot", name="uq_redemption_slot"),)

    id: str = Field(primary_key=True)
    offer_id: str
    holder: str
    period_key: str
    slot: int
    city: int
    credential_id: str
    created_at_s: int = Field(sa_type=BigInteger)


class IdempotencyRow(SQLModel, table=True):
    """The first answer given for a merchant's idempotency key."""

    __tablename__ = "idempotency"

    credential_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    response_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at_s: int = Field(sa_type=BigInteger)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    seq: int = Field(primary_key=True)
    at_s: int = Field(sa_type=BigInteger)
    actor: str
    action: str
    city: int | None = None
    subject: str | None = None
    details: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str
    hash: str


class AuditHead(SQLModel, table=True):
    """The chain's last seq and hash: the row appenders lock, and what catches a removed tail."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int
    hash: str


class AuditPending(SQLModel, table=True):
    """An audit record written with its redemption, waiting to be linked into the chain (see `audit`)."""

    __tablename__ = "audit_pending"

    id: str = Field(primary_key=True)  # the redemption id: one record per redemption
    at_s: int = Field(sa_type=BigInteger)
    actor: str
    action: str
    city: int | None = None
    subject: str | None = None
    details: str = Field(sa_column=Column(Text, nullable=False))
    hash: str
