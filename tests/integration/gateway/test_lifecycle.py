"""Configuration from the environment, bundle renewal before expiry, restarts over the same database."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from citycredit.errors import InvalidArgumentError
from citycredit.gateway import GatewayConfig, gateway_in_thread

from .conftest import config_for


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_config_from_environment_and_flags(tmp_path: Path) -> None:
    env = {"CITYCREDIT_HOME": str(tmp_path), "CITYCREDIT_DB": "postgresql://u:p@db/cc",
           "CITYCREDIT_GRPC_PORT": "6000", "CITYCREDIT_HTTP_PORT": "7000", "CITYCREDIT_SEED_DEMO": "no",
           "CITYCREDIT_RATE_PER_S": "2.5"}
    config = GatewayConfig.from_env(env, http_port=7100, db_url=None)
    assert (config.home, config.grpc_port, config.http_port, config.seed_demo, config.rate_per_s) == \
        (tmp_path, 6000, 7100, False, 2.5)
    assert config.database_url == "postgresql+psycopg://u:p@db/cc"
    assert GatewayConfig(home=tmp_path).database_url == f"sqlite:///{tmp_path / 'gateway.db'}"
    for bad in ({"CITYCREDIT_GRPC_PORT": "x"}, {"CITYCREDIT_HTTP_PORT": "70000"}, {"CITYCREDIT_SEED_DEMO": "maybe"}):
        with pytest.raises(InvalidArgumentError):
            GatewayConfig.from_env(bad)


@pytest.mark.slow
def test_bundle_is_renewed_and_state_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    home = tmp_path / "home"
    with gateway_in_thread(config_for(home, clock=clock, refresh_interval_s=0.1)) as gw, \
            httpx.Client(base_url=gw.http_url) as client:
        first = client.get("/v1/trust-bundle", params={"format": "json"}).json()
        clock.now += 20 * 86400  # past half of the 30-day lifetime
        for _ in range(100):
            renewed = client.get("/v1/trust-bundle", params={"format": "json"}).json()
            if renewed["version"] > first["version"]:
                break
            time.sleep(0.05)
        assert renewed["version"] == first["version"] + 1
        assert renewed["expires_at"] > first["expires_at"]
        token = gw.token(330100, "city_office")
    # a restart over the same home and database keeps the bundle and the credentials
    with gateway_in_thread(config_for(home, clock=clock)) as again, httpx.Client(base_url=again.http_url) as client:
        assert client.get("/healthz").json()["bundle_version"] == renewed["version"]
        assert again.token(330100, "city_office") == token
        assert client.post("/v1/cities/330100/merchant-keys", json={},
                           headers={"Authorization": f"Bearer {token}"}).status_code == 201
