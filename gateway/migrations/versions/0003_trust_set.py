"""The trust set of separately signed parts replaces the single-signature bundle; the gateway holds no city key.

The alliance state, bundles, gateway-held city keys and pseudonym secrets, the codes the
gateway issued and the hash-chained audit log go; the TUF files, status lists, signed
merchant grants, presentations seen and the Merkle transparency log come.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_RETIRED = ("audit_pending", "audit_head", "audit_log", "idempotency", "redemptions", "issued_codes", "credentials",
            "city_secrets", "city_keys", "bundles", "alliance_state")


def upgrade() -> None:
    for table in _RETIRED:
        op.drop_table(table)
    op.create_table(
        "trust_files",
        sa.Column("path", sa.String(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "trust_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_version", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "status_lists",
        sa.Column("city", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("list_zlib", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
        sa.Column("previous_version", sa.BigInteger(), nullable=True),
        sa.Column("changed", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=False, index=True),
        sa.Column("venues", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_s", sa.BigInteger(), nullable=True),
        sa.Column("grant", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("offer_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("period_key", sa.String(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=False, index=True),
        sa.Column("home_city", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("credential_id", sa.String(), nullable=False, index=True),
        sa.Column("at_s", sa.BigInteger(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
        sa.Column("voided_at_s", sa.BigInteger(), nullable=True),
    )
    op.create_index("uq_redemption_live_slot", "redemptions", ["offer_id", "holder", "period_key", "slot"],
                    unique=True, sqlite_where=sa.text("voided_at_s IS NULL"),
                    postgresql_where=sa.text("voided_at_s IS NULL"))
    op.create_table(
        "idempotency",
        sa.Column("credential_id", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("response_json", sa.Text(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "presentations",
        sa.Column("venue", sa.String(), primary_key=True),
        sa.Column("presentation", sa.LargeBinary(), primary_key=True),
        sa.Column("until_s", sa.BigInteger(), nullable=False, index=True),
        sa.Column("owner", sa.String(), nullable=True),
    )
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("window_start_s", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("spent", sa.Float(), nullable=False),
    )
    op.create_table(
        "log_entries",
        sa.Column("index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "log_pending",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False, index=True),
    )
    op.create_table(
        "log_heads",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_s", sa.BigInteger(), nullable=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "log_witnesses",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("city", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the single-signature bundle cannot be rebuilt: the gateway no longer holds the keys")
