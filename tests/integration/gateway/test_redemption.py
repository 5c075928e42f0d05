"""Redemption: idempotent per key, never past the quota, even under concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from citycredit.core import b45decode, b45encode
from citycredit.gateway import Gateway

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, assert_problem, bearer, issue


def _redeem(client: httpx.Client, gateway: Gateway, code: str, key: str, offer: str = QUOTA_OFFER) -> httpx.Response:
    return client.post("/v1/redemptions", json={"code": code, "offer_id": offer, "idempotency_key": key},
                       headers=bearer(gateway.token(QUZHOU, "merchant")))


def test_same_key_replays_the_first_answer(http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway, city=HANGZHOU)["code"]
    first = _redeem(http, gateway, code, "idem-a").json()
    assert first["decision"]["eligible"] is True and first["replayed"] is False
    assert first["decision"]["quota_remaining"] == 2 and first["redemption_id"].startswith("rdm-")
    again = _redeem(http, gateway, code, "idem-a").json()
    assert again == {**first, "replayed": True}
    check = http.post("/v1/eligibility:check", json={"code": code, "offer_id": QUOTA_OFFER}).json()
    assert check["quota_remaining"] == 1  # the replay spent nothing


def test_same_key_with_another_body_conflicts(http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway)["code"]
    other = issue(http, gateway)["code"]
    assert _redeem(http, gateway, code, "idem-b").status_code == 200
    assert_problem(_redeem(http, gateway, other, "idem-b"), 409, "CC_CONFLICT")
    assert_problem(_redeem(http, gateway, code, "idem-b", offer="quzhou-library-deposit-free"), 409, "CC_CONFLICT")


def test_quota_runs_out_with_a_reason(http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway)["code"]
    answers = [_redeem(http, gateway, code, f"run-{i}").json() for i in range(4)]
    assert [a["decision"]["eligible"] for a in answers] == [True, True, True, False]
    assert [a["decision"]["quota_remaining"] for a in answers] == [2, 1, 0, 0]
    assert answers[3]["decision"]["reason"] == "QUOTA_EXHAUSTED" and answers[3]["redemption_id"] is None
    # a new code of the same holder counts against the same quota (the holder pseudonym, not the code)
    holder_code = issue(http, gateway, holder="same-person")["code"]
    for i in range(3):
        assert _redeem(http, gateway, holder_code, f"same-{i}").json()["decision"]["eligible"] is True
    refreshed = issue(http, gateway, holder="same-person")["code"]
    assert _redeem(http, gateway, refreshed, "same-3").json()["decision"]["reason"] == "QUOTA_EXHAUSTED"


def test_refused_codes_are_recorded_as_decisions(http: httpx.Client, gateway: Gateway) -> None:
    low = issue(http, gateway, record={"score": 560})["code"]
    assert _redeem(http, gateway, low, "low-1").json()["decision"]["reason"] == "TIER_TOO_LOW"
    raw = b45decode(issue(http, gateway)["code"][4:])
    forged = "CC1:" + b45encode(raw[:-1] + bytes([raw[-1] ^ 1]))
    refused = _redeem(http, gateway, forged, "forged-1").json()
    assert refused["decision"]["reason"] == "CODE_INVALID" and refused["decision"]["error"] == "CC_SIGNATURE_INVALID"
    assert refused["redemption_id"] is None
    # Text that is no code at all is a bad request, and nothing is stored under its idempotency key.
    assert_problem(_redeem(http, gateway, "CC1:nonsense", "broken-1"), 422, "CC_BASE45")
    assert _redeem(http, gateway, low, "broken-1").json()["decision"]["reason"] == "TIER_TOO_LOW"


@pytest.mark.slow
def test_quota_is_exact_under_concurrency(fresh_gateway: Gateway) -> None:
    """Many merchants' requests for one holder at once: exactly the quota is spent, whatever the interleaving."""
    with httpx.Client(base_url=fresh_gateway.http_url, timeout=60,
                      limits=httpx.Limits(max_connections=32)) as client:
        codes = [issue(client, fresh_gateway, holder="busy-holder")["code"] for _ in range(4)]

        def attempt(i: int) -> dict[str, object]:
            response = _redeem(client, fresh_gateway, codes[i % len(codes)], f"race-{i}")
            assert response.status_code == 200, response.text
            return dict(response.json())

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(attempt, range(40)))
        spent = [a for a in answers if a["redemption_id"]]
        assert len(spent) == 3
        assert len({a["redemption_id"] for a in spent}) == 3
        assert {a["decision"]["reason"] for a in answers if not a["redemption_id"]} == {"QUOTA_EXHAUSTED"}  # type: ignore[index]

        # retries of the same keys, concurrently, spend nothing more
        with ThreadPoolExecutor(max_workers=16) as pool:
            replays = list(pool.map(attempt, range(40)))
        assert all(r["replayed"] for r in replays)
        assert sorted(str(r["redemption_id"]) for r in replays) == sorted(str(a["redemption_id"]) for a in answers)
