"""Who may do what: city offices act only for their own city, merchants only redeem, dead keys are refused."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from citycredit.core import Algorithm, SigningKey
from citycredit.gateway import Gateway, gateway_in_thread

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, assert_problem, bearer, config_for, issue


def _offer(city: int, offer_id: str) -> dict[str, object]:
    return {"id": offer_id, "city": city, "category": "library", "min_tier": "GOOD", "title_zh": "测试优惠",
            "benefit": {"kind": "waiver", "text_zh": "免押金"}}


def test_a_city_cannot_act_for_another(http: httpx.Client, gateway: Gateway) -> None:
    hangzhou = bearer(gateway.token(HANGZHOU, "city_office"))
    spki = base64.b64encode(SigningKey.generate().spki).decode()
    attempts = [
        http.post(f"/v1/cities/{QUZHOU}/keys", json={"spki": spki}, headers=hangzhou),
        http.post(f"/v1/cities/{QUZHOU}/keys/0011223344556677:retire", headers=hangzhou),
        http.post("/v1/offers", json=_offer(QUZHOU, "hangzhou-sneaks-into-quzhou"), headers=hangzhou),
        http.post(f"/v1/cities/{QUZHOU}/revocations", json={"status_indexes": [1]}, headers=hangzhou),
        http.post(f"/v1/cities/{QUZHOU}/codes", json={"holder_ref": "x", "local_record": {"score": 900}},
                  headers=hangzhou),
        http.post(f"/v1/cities/{QUZHOU}/merchant-keys", json={}, headers=hangzhou),
        http.post(f"/v1/credentials/{gateway.credentials()['cities'][str(QUZHOU)]['merchant']['id']}:revoke",
                  headers=hangzhou),
    ]
    for response in attempts:
        assert_problem(response, 403, "CC_PERMISSION_DENIED")


def test_a_merchant_key_cannot_administer(http: httpx.Client, gateway: Gateway) -> None:
    merchant = bearer(gateway.token(HANGZHOU, "merchant"))
    spki = base64.b64encode(SigningKey.generate().spki).decode()
    for response in (
        http.post(f"/v1/cities/{HANGZHOU}/keys", json={"spki": spki}, headers=merchant),
        http.post("/v1/offers", json=_offer(HANGZHOU, "merchant-offer"), headers=merchant),
        http.post(f"/v1/cities/{HANGZHOU}/revocations", json={"status_indexes": [1]}, headers=merchant),
        http.post(f"/v1/cities/{HANGZHOU}/codes", json={"holder_ref": "x", "local_record": {"score": 700}},
                  headers=merchant),
        http.post(f"/v1/cities/{HANGZHOU}/merchant-keys", json={}, headers=merchant),
    ):
        assert_problem(response, 403, "CC_PERMISSION_DENIED")


def test_a_city_office_cannot_redeem_and_merchants_stay_in_their_city(http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway)["code"]
    body = {"code": code, "offer_id": QUOTA_OFFER, "idempotency_key": "scope-1"}
    assert_problem(http.post("/v1/redemptions", json=body, headers=bearer(gateway.token(QUZHOU, "city_office"))),
                   403, "CC_PERMISSION_DENIED")
    assert_problem(http.post("/v1/redemptions", json=body, headers=bearer(gateway.token(HANGZHOU, "merchant"))),
                   403, "CC_PERMISSION_DENIED")


def test_unknown_missing_and_malformed_credentials(http: httpx.Client, gateway: Gateway) -> None:
    body = {"code": issue(http, gateway)["code"], "offer_id": QUOTA_OFFER, "idempotency_key": "auth-1"}
    for headers in ({}, bearer("ccm_not-a-real-token"), {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer"}, bearer("x" * 5000)):
        assert_problem(http.post("/v1/redemptions", json=body, headers=headers), 401, "CC_UNAUTHENTICATED")


def test_a_revoked_key_is_refused(http: httpx.Client, gateway: Gateway) -> None:
    office = bearer(gateway.token(QUZHOU, "city_office"))
    created = http.post(f"/v1/cities/{QUZHOU}/merchant-keys", json={"label": "temporary"}, headers=office)
    assert created.status_code == 201, created.text
    key = created.json()
    body = {"code": issue(http, gateway)["code"], "offer_id": "quzhou-library-deposit-free",
            "idempotency_key": "revoked-1"}
    assert http.post("/v1/redemptions", json=body, headers=bearer(key["token"])).status_code == 200
    assert http.post(f"/v1/credentials/{key['id']}:revoke", headers=office).json() == {"id": key["id"],
                                                                                       "revoked": True}
    assert_problem(http.post("/v1/redemptions", json=body, headers=bearer(key["token"])), 401, "CC_UNAUTHENTICATED")
    assert_problem(http.post("/v1/credentials/mkey-nothing:revoke", headers=office), 404, "CC_NOT_FOUND")


def test_city_office_admin_round_trip(http: httpx.Client, gateway: Gateway) -> None:
    """Publish a key, an offer and a revocation: each republishes the bundle, and the revocation bites."""
    office = bearer(gateway.token(QUZHOU, "city_office"))
    version = http.get("/healthz").json()["bundle_version"]
    generated = http.post(f"/v1/cities/{QUZHOU}/keys", json={"algorithm": "p256", "generate": True},
                          headers=office).json()
    assert generated["bundle_version"] > version and len(generated["kid"]) == 16
    offer = http.post("/v1/offers", json=_offer(QUZHOU, "quzhou-test-offer"), headers=office).json()
    assert offer["bundle_version"] > generated["bundle_version"]
    assert "quzhou-test-offer" in {o["id"] for o in http.get("/v1/offers", params={"city": QUZHOU}).json()["offers"]}

    issued = issue(http, gateway, city=QUZHOU, record={"score": 900})
    assert http.post("/v1/codes:verify", json={"code": issued["code"]}).json()["valid"] is True
    revoked = http.post(f"/v1/cities/{QUZHOU}/revocations", json={"status_indexes": [issued["status_index"]]},
                        headers=office)
    assert revoked.status_code == 200, revoked.text
    verdict = http.post("/v1/codes:verify", json={"code": issued["code"]}).json()
    assert verdict["error"]["code"] == "CC_REVOKED"

    retired = http.post(f"/v1/cities/{QUZHOU}/keys/{generated['kid']}:retire", json={}, headers=office)
    assert retired.status_code == 200, retired.text
    assert_problem(http.post(f"/v1/cities/{QUZHOU}/keys/{'ab' * 8}:retire", headers=office), 404, "CC_NOT_FOUND")
    own_key = {"algorithm": "p256", "spki": base64.b64encode(SigningKey.generate(Algorithm.P256).spki).decode()}
    assert http.post(f"/v1/cities/{QUZHOU}/keys", json=own_key, headers=office).status_code == 200
    assert_problem(http.post(f"/v1/cities/{QUZHOU}/keys", json=own_key, headers=office), 409, "CC_CONFLICT")
    wrong_kind = {"algorithm": "ed25519", "spki": own_key["spki"]}
    assert_problem(http.post(f"/v1/cities/{QUZHOU}/keys", json=wrong_kind, headers=office), 400,
                   "CC_INVALID_ARGUMENT")


@pytest.mark.slow
def test_rate_limit_per_key(tmp_path: Path) -> None:
    with gateway_in_thread(config_for(tmp_path / "home", rate_per_s=1.0, rate_burst=3)) as gw, \
            httpx.Client(base_url=gw.http_url) as client:
        office = bearer(gw.token(HANGZHOU, "city_office"))
        statuses = [client.post("/v1/cities/330100/merchant-keys", json={}, headers=office).status_code
                    for _ in range(5)]
        assert statuses[:3] == [201, 201, 201] and statuses[3:] == [429, 429]
        limited = client.post("/v1/cities/330100/merchant-keys", json={}, headers=office)
        assert_problem(limited, 429, "CC_RATE_LIMITED")
        assert int(limited.headers["retry-after"]) >= 1
        # another key has its own bucket; public calls need none
        assert client.post("/v1/cities/330800/merchant-keys", json={},
                           headers=bearer(gw.token(QUZHOU, "city_office"))).status_code == 201
        assert client.post("/v1/codes:verify", json={"code": "x"}).json()["code"] == "CC_PREFIX"  # not rate limited
