"""The throwaway PostgreSQL cluster answers queries and gives each test its own database."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.postgres import start_or_skip

pytestmark = pytest.mark.postgres


def test_session_database_answers(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_database(), current_setting('fsync'), "
                           "current_setting('max_connections')::int").fetchone()
    assert row is not None
    database, fsync, max_connections = row
    assert database == "citycredit"
    assert fsync == "off"
    assert max_connections >= 200  # 3 replicas with full pools, plus the tests' own connections
    assert postgres_dsn.startswith("postgresql://citycredit@127.0.0.1:")


def test_fresh_database_is_empty_and_isolated(postgres_database: str, postgres_dsn: str) -> None:
    assert postgres_database != postgres_dsn
    with psycopg.connect(postgres_database, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE marker (id int primary key)")
        conn.execute("INSERT INTO marker VALUES (1)")
    with psycopg.connect(postgres_dsn, connect_timeout=10) as conn:
        found = conn.execute("SELECT to_regclass('public.marker')").fetchone()
    assert found == (None,)


def test_cluster_stops_and_removes_its_files() -> None:
    cluster = start_or_skip(max_connections=20)
    try:
        with psycopg.connect(cluster.dsn(), connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
    assert not cluster.root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.dsn(), connect_timeout=2)
