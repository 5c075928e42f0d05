"""A real gateway on loopback (ephemeral ports, SQLite in a temporary home) for the gateway tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit.gateway import Gateway, GatewayConfig, gateway_in_thread

HANGZHOU, QUZHOU, WENZHOU = 330100, 330800, 330300
QUOTA_OFFER = "quzhou-parking-free-3"  # EXCELLENT and up, 3 uses a month; Hangzhou residents via agreement
_holders = itertools.count(1)


def config_for(home: Path, **overrides: Any) -> GatewayConfig:
    values: dict[str, Any] = {"home": home, "grpc_port": 0, "http_port": 0, "rate_per_s": 10_000.0,
                              "rate_burst": 10_000, "shutdown_grace_s": 2.0, "refresh_interval_s": 0.5}
    values.update(overrides)
    return GatewayConfig(**values)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One replica shared by the tests that do not need a database of their own."""
    with gateway_in_thread(config_for(tmp_path_factory.mktemp("gateway") / "home")) as gw:
        yield gw


@pytest.fixture
def fresh_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A replica with its own home and database, for tests that tamper with or exhaust state."""
    with gateway_in_thread(config_for(tmp_path / "home")) as gw:
        yield gw


@pytest.fixture(scope="session")
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.http_url, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(client: httpx.Client, gw: Gateway, *, city: int = HANGZHOU, record: dict[str, Any] | None = None,
          holder: str | None = None, ttl_s: int = 600) -> dict[str, Any]:
    """A fresh code through the issuance API (a new holder unless one is named)."""
    body = {"holder_ref": holder or f"holder-{next(_holders)}", "local_record": record or {"score": 720},
            "ttl_s": ttl_s}
    response = client.post(f"/v1/cities/{city}/codes", json=body, headers=bearer(gw.token(city, "city_office")))
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the catalogue code, and nothing of a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return dict(body)
