"""Rate limits on one gateway: per client on every endpoint, public ones included, over REST and gRPC; per
credential for what a key does; failed logins cost a client more. (Shared across replicas on PostgreSQL:
tests/integration/replicas/test_limits.py.)

The buckets refill at one request per 1,000 s, so nothing refills while a test runs: a count is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
from citycredit.gateway.limits import FAILED_AUTH_COST

from tests.support.alliance import Alliance, demo_copy, running_alliance

from .conftest import HANGZHOU, QUZHOU, assert_documented, assert_grpc_refusal, assert_problem, bearer

SLOW_REFILL_PER_S = 0.001
CLIENT_BURST, CREDENTIAL_BURST = 40, 5


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Alliance, httpx.Client, grpc.Channel]]:
    home = demo_copy(tmp_path)
    with running_alliance(home, client_rate_per_s=SLOW_REFILL_PER_S, client_rate_burst=CLIENT_BURST,
                          rate_per_s=SLOW_REFILL_PER_S, rate_burst=CREDENTIAL_BURST) as alliance, \
            httpx.Client(base_url=alliance.gateway.http_url, timeout=60) as http, \
            grpc.insecure_channel(alliance.gateway.grpc_target) as channel:
        yield alliance, http, channel


def test_a_client_past_its_allowance_is_refused_everywhere_public_endpoints_included(
        limited: tuple[Alliance, httpx.Client, grpc.Channel]) -> None:
    alliance, http, channel = limited
    doc = http.get("/openapi.json").json()  # the first of the client's requests
    public = ["/v1/trust/timestamp.json", f"/v1/cities/{HANGZHOU}/status-list", "/v1/offers", "/v1/alliance"]
    served = 1
    while True:
        answer = http.get(public[served % len(public)])
        if answer.status_code == 429:
            break
        assert answer.status_code == 200, answer.text
        served += 1
    assert served == CLIENT_BURST
    body = assert_problem(answer, 429, "CC_RATE_LIMITED")
    assert int(answer.headers["retry-after"]) >= 1 and "rate limit" in body["detail"]
    assert assert_documented(doc, answer) == []
    for path in public:
        assert_problem(http.get(path), 429, "CC_RATE_LIMITED")
    assert_problem(http.post("/v1/codes:verify", json={"code": "CC1:"}), 429, "CC_RATE_LIMITED")
    assert_problem(http.get("/v1/merchant", headers=bearer(alliance.token(QUZHOU))), 429, "CC_RATE_LIMITED")
    # The gRPC surface counts the same client.
    with pytest.raises(grpc.RpcError) as refused:
        service_pb2_grpc.TrustServiceStub(channel).GetTrustFile(
            service_pb2.GetTrustFileRequest(path="timestamp.json"), timeout=30)
    assert_grpc_refusal(refused.value, grpc.StatusCode.RESOURCE_EXHAUSTED, "CC_RATE_LIMITED")


def test_a_credential_past_its_allowance_is_refused_while_other_keys_and_public_calls_are_served(
        limited: tuple[Alliance, httpx.Client, grpc.Channel]) -> None:
    alliance, http, channel = limited
    quzhou, hangzhou = bearer(alliance.token(QUZHOU)), bearer(alliance.token(HANGZHOU))
    for _ in range(CREDENTIAL_BURST):
        assert http.get("/v1/merchant", headers=quzhou).status_code == 200
    assert_problem(http.get("/v1/merchant", headers=quzhou), 429, "CC_RATE_LIMITED")
    assert_problem(http.get("/v1/redemptions", headers=quzhou), 429, "CC_RATE_LIMITED")
    with pytest.raises(grpc.RpcError) as refused:
        service_pb2_grpc.RedemptionServiceStub(channel).Redeem(service_pb2.RedeemRequest(
            code="CC1:", offer_id="x", idempotency_key="k"), metadata=(("authorization", quzhou["Authorization"]),),
            timeout=30)
    assert_grpc_refusal(refused.value, grpc.StatusCode.RESOURCE_EXHAUSTED, "CC_RATE_LIMITED")
    # Another merchant's key, and the same client's public calls, are still served.
    assert http.get("/v1/merchant", headers=hangzhou).status_code == 200
    assert http.get("/v1/offers").status_code == 200


def test_failed_logins_cost_a_client_more_than_requests(limited: tuple[Alliance, httpx.Client, grpc.Channel]) -> None:
    _, http, _ = limited
    guesses = 0
    while True:
        answer = http.get("/v1/merchant", headers=bearer(f"ccm_guess-{guesses}"))
        if answer.status_code == 429:
            break
        assert_problem(answer, 401, "CC_UNAUTHENTICATED")
        guesses += 1
    # Each guess costs the request and FAILED_AUTH_COST more: three guesses spend what 33 requests would, and
    # guessing stops there while the client's few ordinary requests left are still served.
    assert guesses == int(CLIENT_BURST // (1 + FAILED_AUTH_COST))
    assert_problem(http.get("/v1/merchant", headers=bearer("ccm_guess-again")), 429, "CC_RATE_LIMITED")
    assert http.get("/v1/offers").status_code == 200
