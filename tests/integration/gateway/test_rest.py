"""REST round trips against a real gateway: trust bundle, verify, offers, check, issuance, operations."""

from __future__ import annotations

import httpx
from citycredit._home import Home
from citycredit.core import b45decode, b45encode, open_bundle
from citycredit.gateway import Gateway

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, assert_problem, issue

GARBAGE = "CC1:" + b45encode(b"\xff\xfe not a protobuf message")


def test_trust_bundle_is_signed_protobuf_with_etag(http: httpx.Client, gateway: Gateway) -> None:
    response = http.get("/v1/trust-bundle")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    anchor = Home(gateway.config.home).anchor()
    snapshot = open_bundle(response.content, anchor=anchor, now_s=gateway.config.now_s(), grace_s=0)
    assert response.headers["etag"] == f'"{snapshot.version}"'

    again = http.get("/v1/trust-bundle", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    stale = http.get("/v1/trust-bundle", headers={"If-None-Match": '"0"'})
    assert stale.status_code == 200


def test_trust_bundle_summary(http: httpx.Client) -> None:
    summary = http.get("/v1/trust-bundle", params={"format": "json"}).json()
    assert summary["threshold"] == 2
    assert HANGZHOU in {c["city"] for c in summary["cities"]}
    assert_problem(http.get("/v1/trust-bundle", params={"format": "xml"}), 400, "CC_INVALID_ARGUMENT")


def test_issue_then_verify_gives_the_cli_json(http: httpx.Client, gateway: Gateway) -> None:
    issued = issue(http, gateway, record={"score": 720})
    assert issued["tier"] == "EXCELLENT" and issued["city"] == "330100"
    result = http.post("/v1/codes:verify", json={"code": issued["code"]}).json()
    assert result == {"valid": True, "city": "330100", "tier": "EXCELLENT", "band": issued["band"],
                      "issued_at": issued["issued_at"], "expires_at": issued["expires_at"],
                      "code_id": result["code_id"], "holder": issued["holder"], "error": None}
    assert len(bytes.fromhex(result["code_id"])) == 16


def test_verify_at_a_later_time_says_expired(http: httpx.Client, gateway: Gateway) -> None:
    issued = issue(http, gateway, ttl_s=60)
    result = http.post("/v1/codes:verify", json={"code": issued["code"], "at": "2099-01-01T00:00:00Z"}).json()
    assert result["valid"] is False
    assert result["error"]["code"] in {"CC_EXPIRED", "CC_BUNDLE_STALE"}
    expired = http.post("/v1/codes:verify", json={"code": issued["code"],
                                                  "at": gateway.config.now_s() + 3600}).json()
    assert expired["error"]["code"] == "CC_EXPIRED"


def test_broken_codes_are_request_errors_with_their_code(http: httpx.Client, gateway: Gateway) -> None:
    cases = {"hello": (422, "CC_PREFIX"), "CC1:%%%%": (422, "CC_BASE45"), "CC1:" + "A" * 2000: (413, "CC_TOO_LONG"),
             GARBAGE: (422, "CC_MALFORMED")}
    for code, (status, expected) in cases.items():
        assert_problem(http.post("/v1/codes:verify", json={"code": code}), status, expected)
        assert_problem(http.post("/v1/eligibility:check", json={"code": code, "offer_id": QUOTA_OFFER}),
                       status, expected)
    # A readable code that fails is a verdict, not a request error.
    good = issue(http, gateway)["code"]
    raw = b45decode(good[4:])
    forged = "CC1:" + b45encode(raw[:-1] + bytes([raw[-1] ^ 1]))  # the last byte of the signature
    response = http.post("/v1/codes:verify", json={"code": forged})
    assert response.status_code == 200
    assert response.json()["valid"] is False and response.json()["error"]["code"] == "CC_SIGNATURE_INVALID"


def test_batch_verify_answers_in_order(http: httpx.Client, gateway: Gateway) -> None:
    good = issue(http, gateway)["code"]
    body = http.post("/v1/codes:batchVerify", json={"codes": [good, "nope", good]}).json()
    assert [v["valid"] for v in body["verifications"]] == [True, False, True]
    too_many = http.post("/v1/codes:batchVerify", json={"codes": ["x"] * 1001})
    assert_problem(too_many, 400, "CC_INVALID_ARGUMENT")


def test_offers_filter_by_city_code_or_slug(http: httpx.Client) -> None:
    everything = http.get("/v1/offers").json()["offers"]
    quzhou = http.get("/v1/offers", params={"city": "quzhou"}).json()["offers"]
    assert quzhou == http.get("/v1/offers", params={"city": str(QUZHOU)}).json()["offers"]
    assert quzhou and {o["city"] for o in quzhou} == {f"{QUZHOU:06d}"} and len(everything) > len(quzhou)
    assert_problem(http.get("/v1/offers", params={"city": "atlantis"}), 400, "CC_INVALID_ARGUMENT")


def test_check_visitor_under_agreement_and_reasons(http: httpx.Client, gateway: Gateway) -> None:
    visitor = issue(http, gateway, city=HANGZHOU, record={"score": 720})["code"]
    decision = http.post("/v1/eligibility:check", json={"code": visitor, "offer_id": QUOTA_OFFER}).json()
    assert decision["eligible"] is True and decision["agreement"] == "hangzhou-quzhou"
    assert decision["treated_as_local"] is True and decision["quota_remaining"] == 2

    low = issue(http, gateway, city=HANGZHOU, record={"score": 560})["code"]
    decision = http.post("/v1/eligibility:check", json={"code": low, "offer_id": QUOTA_OFFER}).json()
    assert decision["eligible"] is False and decision["reason"] == "TIER_TOO_LOW"

    wenzhou_visitor = http.post("/v1/eligibility:check",
                                json={"code": visitor, "offer_id": "wenzhou-library-15-books"}).json()
    assert wenzhou_visitor["reason"] == "NO_AGREEMENT"

    expired = http.post("/v1/eligibility:check", json={"code": visitor, "offer_id": QUOTA_OFFER,
                                                        "at": gateway.config.now_s() + 3600}).json()
    assert expired["eligible"] is False and expired["reason"] == "CODE_EXPIRED" and expired["error"] == "CC_EXPIRED"


def test_check_unknown_offer_is_404(http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway)["code"]
    assert_problem(http.post("/v1/eligibility:check", json={"code": code, "offer_id": "no-such-offer"}),
                   404, "CC_OFFER_UNKNOWN")


def test_issuance_refuses_bad_local_records(http: httpx.Client, gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.token(HANGZHOU, 'city_office')}"}
    for record, code in (({"score": 5000}, "CC_LOCAL_RECORD"), ({"colour": "green"}, "CC_LOCAL_RECORD")):
        response = http.post(f"/v1/cities/{HANGZHOU}/codes", json={"holder_ref": "x", "local_record": record},
                             headers=headers)
        assert_problem(response, 422, code)
    response = http.post(f"/v1/cities/{HANGZHOU}/codes", json={"holder_ref": "", "local_record": {"score": 700}},
                         headers=headers)
    assert_problem(response, 400, "CC_INVALID_ARGUMENT")


def test_healthz_and_metrics(http: httpx.Client) -> None:
    health = http.get("/healthz").json()
    assert health["status"] == "ok" and health["db"] is True and health["bundle_version"] >= 1
    http.post("/v1/codes:verify", json={"code": "nope"})
    text = http.get("/metrics").text
    assert "# TYPE citycredit_requests_total counter" in text
    assert 'citycredit_verifications_total{result="CC_PREFIX"}' in text
    assert "citycredit_request_seconds_bucket" in text


def test_openapi_lists_the_endpoints(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/v1/trust-bundle", "/v1/codes:verify", "/v1/codes:batchVerify", "/v1/offers",
                 "/v1/eligibility:check", "/v1/redemptions", "/v1/cities/{city}/codes"):
        assert path in paths
    assert http.get("/docs").status_code == 200
