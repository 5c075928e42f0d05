"""Pending audit records: redemptions write one in their own transaction; a chainer links them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("at_s", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("city", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_pending")
