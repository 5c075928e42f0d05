"""Shared fixtures: a fixed clock and an in-memory alliance with real keys."""

from __future__ import annotations

import pytest
from citycredit.testing import InMemoryAlliance

NOW_S = 1_795_000_000  # 2026-11-18T11:06:40Z: a fixed clock; nothing in the core reads the wall clock


@pytest.fixture(scope="session")
def alliance_session() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S)


@pytest.fixture
def alliance() -> InMemoryAlliance:
    """A fresh alliance for tests that change it (revocations, key windows, new bundles)."""
    return InMemoryAlliance(now_s=NOW_S)
