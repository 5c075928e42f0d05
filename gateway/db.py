"""Engine, transactions and migrations for SQLite (default) and PostgreSQL.

Write transactions on SQLite start with `BEGIN IMMEDIATE`, so two writers never
both read a counter and then both write it; on PostgreSQL the same code relies on
unique constraints and `SELECT … FOR UPDATE`, and `write()` retries a transaction
that lost a race (unique violation, serialization failure, deadlock).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar

from citycredit.errors import UnavailableError
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

__all__ = ["Database"]

T = TypeVar("T")
_WRITE = "cc_write"
_MIGRATION_LOCK = 0x63637277  # PostgreSQL advisory lock id held while migrating ("ccrw")
_RETRIES = 40


class Database:
    """One engine and its transaction helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            _sqlite_transactions(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def write(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one write transaction, retrying when a concurrent writer won a race.

        `work` must be repeatable: it reads what it needs inside the transaction.
        """
        for attempt in range(_RETRIES):
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    session.connection(execution_options={_WRITE: True})
                    result = work(session)
                    session.commit()
                    return result
            except (IntegrityError, OperationalError, DBAPIError) as exc:
                if not _retryable(exc) or attempt == _RETRIES - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.005) * (attempt + 1))
        raise UnavailableError("the database stayed busy")  # pragma: no cover - the loop returns or raises

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, run in-process)."""
        from alembic import command
        from alembic.config import Config

        script_location = str(resources.files("citycredit.gateway") / "migrations")
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK})
                conn.commit()
            try:
                config = Config()
                config.set_main_option("script_location", script_location)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK})
                    conn.commit()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            return False


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    return any(s in message for s in ("database is locked", "could not serialize", "deadlock detected", "busy"))


def _sqlite_transactions(engine: Engine) -> None:
    """Take transaction control from pysqlite, so writers can say BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")
