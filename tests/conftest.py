"""Shared fixtures: a fixed clock and an in-memory alliance with real keys."""

from __future__ import annotations

import shutil

import pytest
from citycredit.testing import InMemoryAlliance
from hypothesis import settings

# No per-example deadline: the suite shares two cores with browsers and servers, and no test here is timed.
settings.register_profile("citycredit", deadline=None)
settings.load_profile("citycredit")

NOW_S = 1_795_000_000  # 2026-11-18T11:06:40Z: a fixed clock; nothing in the core reads the wall clock


@pytest.fixture(scope="session")
def alliance_session() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S)


@pytest.fixture
def alliance() -> InMemoryAlliance:
    """A fresh alliance for tests that change it (revocations, key windows, new bundles)."""
    return InMemoryAlliance(now_s=NOW_S)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this process's demo alliance template (tests/support/alliance.py)."""
    from tests.support import alliance as demo

    if demo._TEMPLATE is not None:
        shutil.rmtree(demo._TEMPLATE.parent, ignore_errors=True)
