"""Alembic environment: runs on the connection `Database.migrate()` hands over (never offline)."""

from __future__ import annotations

from alembic import context
from citycredit.gateway import models  # noqa: F401  # registers the tables on SQLModel.metadata
from sqlmodel import SQLModel

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only Database.migrate() runs these migrations
    raise RuntimeError("run the gateway migrations through citycredit.gateway.db.Database.migrate()")
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
