"""Integration fixtures: a real PostgreSQL server, started once per session (per xdist worker)."""

from __future__ import annotations

import pytest

from tests.support.postgres import postgres_cluster, postgres_database, postgres_dsn

__all__ = ["postgres_cluster", "postgres_database", "postgres_dsn"]

_POSTGRES_FIXTURES = frozenset(__all__)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whatever uses PostgreSQL is marked `postgres`, so `-m "not postgres"` leaves it out."""
    for item in items:
        if _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
