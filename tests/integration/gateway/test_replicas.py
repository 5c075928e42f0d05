"""Two replicas over one database: seeding once, bundles seen by both, quota spent exactly once across them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from citycredit.gateway import Gateway, gateway_in_thread

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, bearer, config_for, issue

pytestmark = pytest.mark.slow


def _exercise(first: Gateway, second: Gateway) -> None:
    with httpx.Client(base_url=first.http_url, timeout=60) as a, httpx.Client(base_url=second.http_url,
                                                                              timeout=60) as b:
        assert a.get("/healthz").json()["bundle_version"] == b.get("/healthz").json()["bundle_version"]
        # an admin change on one replica reaches the other through the database
        office = bearer(first.token(HANGZHOU, "city_office"))
        issued = issue(a, first, holder="replica-holder")
        published = a.post(f"/v1/cities/{HANGZHOU}/revocations", json={"status_indexes": [issued["status_index"]]},
                           headers=office).json()["bundle_version"]
        for _ in range(100):
            if b.get("/healthz").json()["bundle_version"] >= published:
                break
            time.sleep(0.1)
        assert b.post("/v1/codes:verify", json={"code": issued["code"]}).json()["error"]["code"] == "CC_REVOKED"

        code = issue(a, first, holder="shared-holder")["code"]
        merchant = bearer(first.token(QUZHOU, "merchant"))

        def attempt(i: int) -> dict[str, object]:
            client = a if i % 2 else b
            response = client.post("/v1/redemptions", headers=merchant,
                                    json={"code": code, "offer_id": QUOTA_OFFER, "idempotency_key": f"r-{i % 15}"})
            assert response.status_code == 200, response.text
            return dict(response.json())

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(attempt, range(30)))
        assert len({a["redemption_id"] for a in answers if a["redemption_id"]}) == 3
        by_key: dict[int, set[object]] = {}
        for i, answer in enumerate(answers):
            by_key.setdefault(i % 15, set()).add(answer["redemption_id"])
        assert all(len(ids) == 1 for ids in by_key.values())  # a key never got two different answers

        # A key revoked through one replica is refused by the other within its credential cache bound.
        created = a.post(f"/v1/cities/{QUZHOU}/merchant-keys", json={"label": "short-lived"},
                         headers=bearer(first.token(QUZHOU, "city_office"))).json()
        body = {"code": code, "offer_id": "quzhou-library-deposit-free", "idempotency_key": "cached-1"}
        assert b.post("/v1/redemptions", json=body, headers=bearer(created["token"])).status_code == 200  # cached
        revoked_at = time.monotonic()
        assert a.post(f"/v1/credentials/{created['id']}:revoke",
                      headers=bearer(first.token(QUZHOU, "city_office"))).status_code == 200
        assert a.post("/v1/redemptions", json=body, headers=bearer(created["token"])).status_code == 401  # at once
        while b.post("/v1/redemptions", json=body, headers=bearer(created["token"])).status_code != 401:
            assert time.monotonic() - revoked_at < second.config.auth_cache_s + 0.5, "revocation took too long"
            time.sleep(0.05)


def test_two_replicas_on_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with gateway_in_thread(config_for(home)) as first, gateway_in_thread(config_for(home)) as second:
        _exercise(first, second)


def test_two_replicas_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    home = tmp_path / "home"
    with gateway_in_thread(config_for(home, db_url=postgres_database)) as first, \
            gateway_in_thread(config_for(home, db_url=postgres_database)) as second:
        _exercise(first, second)
