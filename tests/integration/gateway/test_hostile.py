"""Hostile input on every endpoint: always a 4xx problem with a catalogue code, never a 500 or a trace."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest
from citycredit.gateway import Gateway

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, assert_problem, bearer

# (method, path, who): every REST endpoint that takes a body
ENDPOINTS = [
    ("POST", "/v1/codes:verify", None),
    ("POST", "/v1/codes:batchVerify", None),
    ("POST", "/v1/eligibility:check", None),
    ("POST", "/v1/redemptions", (QUZHOU, "merchant")),
    ("POST", f"/v1/cities/{HANGZHOU}/codes", (HANGZHOU, "city_office")),
    ("POST", f"/v1/cities/{HANGZHOU}/keys", (HANGZHOU, "city_office")),
    ("POST", f"/v1/cities/{HANGZHOU}/keys/0011223344556677:retire", (HANGZHOU, "city_office")),
    ("POST", "/v1/offers", (HANGZHOU, "city_office")),
    ("POST", f"/v1/cities/{HANGZHOU}/revocations", (HANGZHOU, "city_office")),
    ("POST", f"/v1/cities/{HANGZHOU}/merchant-keys", (HANGZHOU, "city_office")),
]


def _headers(gateway: Gateway, who: tuple[int, str] | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if who is not None:
        headers.update(bearer(gateway.token(*who)))
    return headers


@pytest.mark.parametrize(("method", "path", "who"), ENDPOINTS)
def test_oversized_bodies_are_413(http: httpx.Client, gateway: Gateway, method: str, path: str,
                                  who: tuple[int, str] | None) -> None:
    big = json.dumps({"code": "CC1:" + "A" * 70_000})
    assert_problem(http.request(method, path, content=big, headers=_headers(gateway, who)),
                   413, "CC_PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        for _ in range(20):
            yield b" " * 8192

    assert_problem(http.request(method, path, content=chunks(), headers=_headers(gateway, who)),
                   413, "CC_PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(("method", "path", "who"), ENDPOINTS)
def test_malformed_bodies_are_400(http: httpx.Client, gateway: Gateway, method: str, path: str,
                                  who: tuple[int, str] | None) -> None:
    headers = _headers(gateway, who)
    for body in (b"{not json", b"[1, 2, 3]", b'"a string"', b"\xff\xfe\x00", b"null",
                 json.dumps({"code": 5, "codes": "x", "offer_id": [], "holder_ref": {}, "local_record": 3,
                             "idempotency_key": 1.5, "status_indexes": [-1], "algorithm": 7, "id": 9}).encode()):
        response = http.request(method, path, content=body, headers=headers)
        if path.endswith(":retire") and body == b"null":
            assert response.status_code == 404  # an absent body is allowed there; the kid is unknown
            continue
        assert_problem(response, 400, "CC_INVALID_ARGUMENT")


@pytest.mark.parametrize(("method", "path", "who"), ENDPOINTS)
def test_random_bytes_never_crash(http: httpx.Client, gateway: Gateway, method: str, path: str,
                                  who: tuple[int, str] | None) -> None:
    rng = random.Random(path)
    headers = _headers(gateway, who)
    for _ in range(15):
        body = rng.randbytes(rng.randrange(0, 600))
        response = http.request(method, path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["code"].startswith("CC_")


def test_wrong_values_get_their_codes(http: httpx.Client, gateway: Gateway) -> None:
    office = bearer(gateway.token(HANGZHOU, "city_office"))
    merchant = bearer(gateway.token(QUZHOU, "merchant"))
    cases = [
        (http.post("/v1/redemptions", json={"code": "x", "offer_id": "nothing-here", "idempotency_key": "k"},
                   headers=merchant), 404, "CC_OFFER_UNKNOWN"),
        (http.post("/v1/redemptions", json={"code": "x", "offer_id": QUOTA_OFFER, "idempotency_key": ""},
                   headers=merchant), 400, "CC_INVALID_ARGUMENT"),
        (http.post("/v1/redemptions", json={"code": "x", "offer_id": QUOTA_OFFER, "idempotency_key": "\u4e2d"},
                   headers=merchant), 400, "CC_INVALID_ARGUMENT"),
        (http.post("/v1/codes:verify", json={"code": "x", "at": "yesterday"}), 400, "CC_INVALID_ARGUMENT"),
        (http.post("/v1/codes:verify", json={"code": "x", "at": "2026-01-01T00:00:00"}), 400,
         "CC_INVALID_ARGUMENT"),
        (http.post("/v1/codes:verify", json={"code": "x", "extra": 1}), 400, "CC_INVALID_ARGUMENT"),
        (http.post("/v1/cities/999999/codes", json={"holder_ref": "x", "local_record": {}}, headers=office),
         403, "CC_PERMISSION_DENIED"),
        (http.post("/v1/cities/atlantis/codes", json={"holder_ref": "x", "local_record": {}}, headers=office),
         400, "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/keys", json={"spki": "!!!"}, headers=office), 400, "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/keys", json={"spki": "AAAA"}, headers=office), 400,
         "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/keys", json={"algorithm": "rsa", "generate": True}, headers=office), 400,
         "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/keys/zz:retire", headers=office), 400, "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/revocations", json={"status_indexes": [10**9]}, headers=office), 400,
         "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/revocations", json={}, headers=office), 400, "CC_INVALID_ARGUMENT"),
        (http.post(f"/v1/cities/{HANGZHOU}/revocations", json={"holders": [{"holder": "xyz"}]}, headers=office), 400,
         "CC_INVALID_ARGUMENT"),
        (http.post("/v1/offers", json={"id": "Bad Id"}, headers=office), 400, "CC_INVALID_ARGUMENT"),
        (http.get("/v1/no-such-thing"), 404, "CC_NOT_FOUND"),
        (http.delete("/v1/offers"), 405, "CC_INVALID_ARGUMENT"),
    ]
    for response, status, code in cases:
        assert_problem(response, status, code)
