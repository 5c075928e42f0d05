"""`GatewayClient`: request shapes, typed answers and the error catalogue over REST (httpx MockTransport) and gRPC.
The same client against a real gateway is tests/integration/test_client.py."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from types import SimpleNamespace

import httpx
import pytest
from citycredit import GatewayClient, Redemption, StatusFetch
from citycredit._client import GrpcTransport, _grpc_error
from citycredit.core import (
    MAX_TRUST_FILE_BYTES,
    Benefit,
    BenefitKind,
    Category,
    Decision,
    Offer,
    Reason,
    Tier,
    VerifiedCode,
    to_json,
    verification_to_json,
)
from citycredit.errors import (
    BundleMalformedError,
    CityCreditError,
    CodeExpiredError,
    CodePrefixError,
    CodeSuspendedError,
    IdempotencyMismatchError,
    InvalidArgumentError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
)

from tests.conftest import NOW_S

PARKING = Offer(id="qz-parking", city=330800, category=Category.PARKING, min_tier=Tier.GOOD,
                benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=10, text_zh="停车9折"), title_zh="停车")
VERIFIED = VerifiedCode(city=330100, tier=Tier.GOOD, band="钱江分·良好", issued_at_s=NOW_S, expires_at_s=NOW_S + 300,
                        code_id=bytes(16), holder=bytes(12), status_index=1, kid=bytes(8), policy_version=1,
                        audience=330800)
YES = Decision(eligible=True, reason=None, offer_id="qz-parking", tier=Tier.GOOD, treated_as_local=True,
               agreement_id="hz-qz", benefit="停车9折")


class Recorder:
    """A MockTransport handler answering from a function, keeping every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def client(self, url: str = "https://gw.test/api/", **kwargs: object) -> GatewayClient:
        return GatewayClient.rest(url, http=httpx.Client(transport=httpx.MockTransport(self)), **kwargs)  # type: ignore[arg-type]


def _json(request: httpx.Request) -> object:
    return json.loads(request.content)


def test_verify_posts_the_code_and_returns_typed_claims() -> None:
    gateway = Recorder(lambda r: httpx.Response(200, json=verification_to_json(VERIFIED)))
    result = gateway.client().verify("CC1:abc", at=NOW_S, venue="till-1")
    assert isinstance(result, VerifiedCode) and (result.city, result.tier, result.audience) == (330100, Tier.GOOD,
                                                                                               330800)
    (request,) = gateway.requests
    assert (request.method, str(request.url)) == ("POST", "https://gw.test/api/v1/codes:verify")
    assert _json(request) == {"code": "CC1:abc", "at": NOW_S, "venue": "till-1"}


def test_a_refusal_is_raised_as_its_catalogue_error() -> None:
    for answer in (httpx.Response(200, json=verification_to_json(CodeExpiredError("expired at 1"))),
                   httpx.Response(422, json={"code": "CC_EXPIRED", "detail": "expired at 1"})):
        with pytest.raises(CodeExpiredError) as caught:
            Recorder(lambda r, a=answer: a).client().verify("CC1:abc")
        assert caught.value.message == "expired at 1"
    with pytest.raises(CodePrefixError):
        Recorder(lambda r: httpx.Response(422, json={"code": "CC_PREFIX"})).client().verify("HC1:x")


def test_verify_many_answers_in_order() -> None:
    docs = [verification_to_json(VERIFIED), verification_to_json(CodeSuspendedError()),
            verification_to_json(CodePrefixError())]
    gateway = Recorder(lambda r: httpx.Response(200, json={"verifications": docs}))
    results = gateway.client().verify_many(["CC1:a", "CC1:b", "x"])
    assert isinstance(results[0], VerifiedCode) and isinstance(results[1], CodeSuspendedError)
    assert isinstance(results[2], CodePrefixError)
    assert gateway.requests[0].url.path == "/api/v1/codes:batchVerify"
    assert _json(gateway.requests[0]) == {"codes": ["CC1:a", "CC1:b", "x"]}
    assert gateway.client().verify_many([]) == [] and len(gateway.requests) == 1
    short = Recorder(lambda r: httpx.Response(200, json={"verifications": docs[:1]}))
    with pytest.raises(UnavailableError, match="malformed batch"):
        short.client().verify_many(["CC1:a", "CC1:b"])


def test_offers_check_and_redeem() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/offers"):
            return httpx.Response(200, json={"offers": [to_json(PARKING)]})
        if request.url.path.endswith("/v1/eligibility:check"):
            return httpx.Response(200, json={"decision": to_json(YES)})
        return httpx.Response(200, json={"decision": to_json(YES), "redemption_id": "rdm-1", "replayed": True})

    gateway = Recorder(answer)
    client = gateway.client(api_key="ccm_x", timeout_s=1.5)
    assert client.offers(city=330800) == [PARKING]
    assert gateway.requests[-1].url.params["city"] == "330800"
    assert client.check("CC1:abc", "qz-parking", venue="v") == YES
    assert _json(gateway.requests[-1]) == {"code": "CC1:abc", "offer_id": "qz-parking", "venue": "v"}
    redemption = client.redeem("CC1:abc", "qz-parking", "scan-1")
    assert redemption.redeemed and redemption.replayed and redemption.redemption_id == "rdm-1"
    request = gateway.requests[-1]
    assert (request.method, request.url.path) == ("POST", "/api/v1/redemptions")
    assert request.headers["authorization"] == "Bearer ccm_x" and request.headers["idempotency-key"] == "scan-1"
    assert request.extensions["timeout"]["read"] == 1.5


def test_a_newer_gateways_extra_members_are_ignored_but_a_malformed_answer_is_its_fault() -> None:
    extended = {**to_json(YES), "from_a_newer_gateway": True}
    assert Recorder(lambda r: httpx.Response(200, json=extended)).client().check("CC1:a", "o") == YES
    broken = Recorder(lambda r: httpx.Response(200, json={"eligible": 1}))
    with pytest.raises(UnavailableError, match="malformed decision"):
        broken.client().check("CC1:a", "o")


def test_status_lists_by_version_and_etag() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"etag": '"v3"', "x-status-list-version": "3"}
        if request.headers.get("if-none-match") == '"v3"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, content=b"update", headers=headers)

    gateway = Recorder(answer)
    client = gateway.client()
    fetched = client.status_list(330800)
    assert fetched == StatusFetch(version=3, data=b"update", etag='"v3"') and not fetched.not_modified
    assert gateway.requests[0].url.path == "/api/v1/cities/330800/status-list" and not gateway.requests[0].url.params
    again = client.status_list(330800, known_version=3, etag='"v3"')
    assert again.not_modified and again.version == 3
    assert gateway.requests[1].url.params["since"] == "3"
    assert gateway.requests[1].headers["accept"] == "application/x-protobuf"
    for bad in (-1, True, "3"):
        with pytest.raises(InvalidArgumentError):
            client.status_list(330800, known_version=bad)  # type: ignore[arg-type]


def test_trust_files_and_their_size_limit() -> None:
    gateway = Recorder(lambda r: httpx.Response(200, content=b"{}"))
    assert gateway.client().trust_file("timestamp.json") == b"{}"
    assert gateway.requests[0].url.path == "/api/v1/trust/timestamp.json"
    huge = Recorder(lambda r: httpx.Response(200, content=b" " * (MAX_TRUST_FILE_BYTES + 1)))
    with pytest.raises(BundleMalformedError):
        huge.client().trust_file("1.root.json")


def test_arguments_are_checked_before_any_request() -> None:
    gateway = Recorder(lambda r: httpx.Response(500))
    client = gateway.client()
    for call in (lambda: client.verify(""), lambda: client.check("CC1:x", ""), lambda: client.offers(city=True),
                 lambda: client.verify("CC1:x", at=object()), lambda: client.verify_many(["CC1:x", 5]),
                 lambda: client.status_list(12_345_678), lambda: client.trust_file("")):
        with pytest.raises(InvalidArgumentError):
            call()  # type: ignore[no-untyped-call]
    with pytest.raises(UnauthenticatedError):
        client.redeem("CC1:x", "o", "k")  # no merchant key
    assert gateway.requests == []


@pytest.mark.parametrize(("response", "expected", "code"), [
    (httpx.Response(429, json={"code": "CC_RATE_LIMITED", "detail": "slow down"}), RateLimitedError,
     "CC_RATE_LIMITED"),
    (httpx.Response(422, json={"code": "CC_IDEMPOTENCY_MISMATCH", "detail": "other request"}),
     IdempotencyMismatchError, "CC_IDEMPOTENCY_MISMATCH"),
    (httpx.Response(418, json={"code": "CC_FROM_THE_FUTURE", "detail": "new"}), CityCreditError,
     "CC_FROM_THE_FUTURE"),
    (httpx.Response(503, headers={"content-type": "text/html"}, content=b"<h1>Bad gateway</h1>"), UnavailableError,
     "CC_UNAVAILABLE"),
    (httpx.Response(401), UnauthenticatedError, "CC_UNAUTHENTICATED"),
    (httpx.Response(403, json={"title": "no"}), PermissionDeniedError, "CC_PERMISSION_DENIED"),
    (httpx.Response(200, content=b"not json"), UnavailableError, "CC_UNAVAILABLE"),
    (httpx.Response(200, json=[1, 2]), UnavailableError, "CC_UNAVAILABLE"),
])
def test_http_answers_map_onto_the_catalogue(response: httpx.Response, expected: type[CityCreditError],
                                             code: str) -> None:
    with pytest.raises(expected) as caught:
        Recorder(lambda request: response).client().offers()
    assert type(caught.value) is expected and caught.value.code == code


def test_an_unreachable_gateway_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UnavailableError, match="cannot reach"):
        Recorder(refuse).client().offers()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UnavailableError):
        GatewayClient.rest(f"http://127.0.0.1:{port}", timeout_s=2).offers()


def test_bad_urls_and_timeouts_are_refused() -> None:
    for url in ("file:///etc/passwd", "gw.test", "http://", "ftp://gw.test"):
        with pytest.raises(InvalidArgumentError):
            GatewayClient.rest(url)
    with pytest.raises(InvalidArgumentError):
        GatewayClient.rest("http://gw.test", timeout_s=0)


def test_a_redemption_has_an_id_exactly_when_eligible() -> None:
    with pytest.raises(InvalidArgumentError):
        Redemption(decision=YES, redemption_id=None)
    no = Decision(eligible=False, reason=Reason.QUOTA_EXHAUSTED, offer_id="o", tier=Tier.GOOD)
    with pytest.raises(InvalidArgumentError):
        Redemption(decision=no, redemption_id="rdm-1")
    assert Redemption(decision=YES, redemption_id="rdm-1").redeemed


def _rpc_error(status: str, details: str, metadata: tuple[tuple[str, str | bytes], ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(code=lambda: SimpleNamespace(name=status), details=lambda: details,
                           trailing_metadata=lambda: metadata)


def test_grpc_errors_map_through_the_trailer() -> None:
    err = _grpc_error(_rpc_error("FAILED_PRECONDITION", "expired", (("cc-error-code", "CC_EXPIRED"),)), "gw:1")
    assert isinstance(err, CodeExpiredError) and err.message == "expired"
    suspended = _grpc_error(_rpc_error("FAILED_PRECONDITION", "s", (("cc-error-code", b"CC_SUSPENDED"),)), "gw:1")
    assert isinstance(suspended, CodeSuspendedError)
    assert isinstance(_grpc_error(_rpc_error("UNAVAILABLE", "connect failed"), "gw:1"), UnavailableError)
    assert isinstance(_grpc_error(_rpc_error("DEADLINE_EXCEEDED", "slow"), "gw:1"), UnavailableError)
    assert isinstance(_grpc_error(_rpc_error("PERMISSION_DENIED", "no"), "gw:1"), PermissionDeniedError)
    other = _grpc_error(_rpc_error("DATA_LOSS", "odd"), "gw:1")
    assert type(other) is CityCreditError and other.message == "odd"


def test_grpc_without_grpcio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(InvalidArgumentError, match=r"citycredit\[grpc\]"):
        GrpcTransport("127.0.0.1:1")
