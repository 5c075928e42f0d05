"""Engine, transactions and migrations for SQLite (default) and PostgreSQL.

Write transactions on SQLite start with `BEGIN IMMEDIATE`, so two writers never
both read a counter and then both write it; on PostgreSQL the same code relies on
unique constraints and `SELECT … FOR UPDATE`, and `write()` retries a transaction
that lost a race (unique violation, serialization failure, deadlock).

The ORM engine serves administration and reads. The redemption hot path
(`citycredit.gateway.ledger`) takes plain driver connections from `hot_connection()`:
on PostgreSQL a second pool of `pool_size` autocommit connections without a liveness
ping per checkout (a lost connection is replaced and the statement retried there),
sized to the threads that use it so no request waits for a connection.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
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

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                                pool_size=pool_size, max_overflow=8)
            _sqlite_transactions(self.engine)
            self._hot = self.engine
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            self._hot = create_engine(url, pool_size=pool_size, max_overflow=8, pool_reset_on_return=None)
            event.listen(self._hot, "connect", _autocommit)
        self.dbapi: Any = self.engine.dialect.loaded_dbapi

    def close(self) -> None:
        self.engine.dispose()
        self._hot.dispose()

    @contextmanager
    def hot_connection(self) -> Iterator[Any]:
        """A pooled driver connection (psycopg in autocommit, or sqlite3 without implicit transactions).

        A connection that failed is dropped from the pool instead of being handed out again.
        """
        fairy = self._hot.raw_connection()
        try:
            yield fairy.driver_connection
        except self.dbapi.Error as exc:
            conn = fairy.driver_connection
            if getattr(conn, "broken", False) or getattr(conn, "closed", False) is True:
                fairy.invalidate(exc)
            raise
        finally:
            fairy.close()

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


def _autocommit(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.autocommit = True


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
