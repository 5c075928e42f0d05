"""The initial schema: alliance state and bundles, keys, credentials, codes, redemptions, audit.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alliance_state",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "bundles",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("issued_at_s", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "city_keys",
        sa.Column("kid", sa.String(), primary_key=True),
        sa.Column("city", sa.Integer(), nullable=False, index=True),
        sa.Column("algorithm", sa.String(), nullable=False),
        sa.Column("private_pem", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "city_secrets",
        sa.Column("city", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=False, index=True),
        sa.Column("venue", sa.String(), nullable=True),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("revoked_at_s", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "issued_codes",
        sa.Column("code_id", sa.String(), primary_key=True),
        sa.Column("city", sa.Integer(), nullable=False, index=True),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("issued_at_s", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_s", sa.BigInteger(), nullable=False),
        sa.Column("issued_by", sa.String(), nullable=False),
    )
    op.create_index("ix_issued_codes_city_index", "issued_codes", ["city", "status_index"])
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("offer_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("period_key", sa.String(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("offer_id", "holder", "period_key", "slot", name="uq_redemption_slot"),
    )
    op.create_table(
        "idempotency",
        sa.Column("credential_id", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("response_json", sa.Text(), nullable=False),
        sa.Column("created_at_s", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at_s", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "idempotency", "redemptions", "issued_codes", "credentials",
                  "city_secrets", "city_keys", "bundles", "alliance_state"):
        op.drop_table(table)
