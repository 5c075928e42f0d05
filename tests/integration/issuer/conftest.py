"""A real demo alliance for the issuer's API tests: the gateway and the Hangzhou and Quzhou issuers on
loopback, with one clock the tests move (tests/integration/issuer/support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.issuer.support import ShiftedClock, bearer
from tests.support.alliance import HANGZHOU, QUZHOU, demo_copy, running_alliance


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory, clock: ShiftedClock) -> Iterator[Any]:
    home = demo_copy(tmp_path_factory.mktemp("issuer-api"))
    with running_alliance(home, issuers=("hangzhou", "quzhou"), clock=clock) as running:
        yield running


@pytest.fixture(scope="module")
def hangzhou(alliance: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alliance.issuer_url("hangzhou"), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def quzhou(alliance: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alliance.issuer_url("quzhou"), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def gateway(alliance: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alliance.gateway.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def hangzhou_office(alliance: Any) -> dict[str, str]:
    return bearer(alliance.token(HANGZHOU, "city_office"))


@pytest.fixture(scope="module")
def quzhou_office(alliance: Any) -> dict[str, str]:
    return bearer(alliance.token(QUZHOU, "city_office"))
