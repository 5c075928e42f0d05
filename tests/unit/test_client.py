"""GatewayClient over REST against the in-memory gateway, error mapping, and the gateway-backed Verifier."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from citycredit._client import GatewayClient, GrpcTransport, Redemption, _grpc_error
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit._verifier import GatewayVerifier, Verifier, VerifierConfig, verifier_from_gateway
from citycredit.core import (
    Agreement,
    Benefit,
    BenefitKind,
    Category,
    Decision,
    Offer,
    Period,
    Quota,
    Reason,
    SigningKey,
    Tier,
    TrustAnchor,
    VerifiedCode,
    to_json,
    to_proto,
)
from citycredit.errors import (
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
    CityCreditError,
    CodeExpiredError,
    CodePrefixError,
    CodeRevokedError,
    ConflictError,
    InvalidArgumentError,
    OfferUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
)
from citycredit.testing import InMemoryAlliance, InMemoryGateway

from tests.conftest import NOW_S

HANGZHOU, QUZHOU, JIAXING = 330100, 330800, 330400
MERCHANT_KEY = "ccm_quzhou_test"
PARKING = Offer(id="quzhou-parking-free-3", city=QUZHOU, category=Category.PARKING, min_tier=Tier.EXCELLENT,
                benefit=Benefit(kind=BenefitKind.FREE_USES, count=3, text_zh="每月免费停车3次",
                                text_en="3 free parking sessions a month"),
                title_zh="免费停车", title_en="Free parking", quota=Quota(uses=3, period=Period.MONTH))
LIBRARY = Offer(id="jiaxing-library", city=JIAXING, category=Category.LIBRARY, min_tier=Tier.GOOD,
                benefit=Benefit(kind=BenefitKind.WAIVER, text_zh="免押金借书"), title_zh="图书馆")
HANGZHOU_QUZHOU = Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=NOW_S - 86400 * 365)


class Clock:
    def __init__(self, now_s: float = NOW_S) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def world() -> InMemoryAlliance:
    """Three cities with tier policies, a Hangzhou–Quzhou agreement and two offers."""
    alliance = InMemoryAlliance(now_s=NOW_S)
    for record in alliance.alliance.cities.values():
        record.tier_policy = bundle_pb2.TierPolicy(scheme=f"{record.slug}-test", version=1, confirmed=True)
    alliance.alliance.offers = [to_proto(PARKING), to_proto(LIBRARY)]
    alliance.alliance.agreements = [to_proto(HANGZHOU_QUZHOU)]
    alliance.publish()
    return alliance


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(world: InMemoryAlliance, clock: Clock) -> InMemoryGateway:
    return InMemoryGateway(world.bundle, anchor=world.anchor, clock=clock, merchant_keys={MERCHANT_KEY: QUZHOU})


@pytest.fixture
def client(gateway: InMemoryGateway) -> GatewayClient:
    return GatewayClient.rest(gateway.url, api_key=MERCHANT_KEY, http=gateway.http())


# --- verification ---------------------------------------------------------------------------------


def test_verify_returns_typed_claims(world: InMemoryAlliance, client: GatewayClient) -> None:
    issued = world.issue(HANGZHOU, Tier.EXCELLENT, band="钱江分·优秀")
    result = client.verify(issued.code)
    assert isinstance(result, VerifiedCode)
    assert (result.city, result.tier, result.band) == (HANGZHOU, Tier.EXCELLENT, "钱江分·优秀")
    assert (result.issued_at_s, result.expires_at_s) == (NOW_S, NOW_S + 300)


def test_verify_raises_the_catalogue_error(world: InMemoryAlliance, client: GatewayClient) -> None:
    code = world.issue(HANGZHOU).code
    with pytest.raises(CodeExpiredError) as caught:
        client.verify(code, at=NOW_S + 301)
    assert caught.value.code == "CC_EXPIRED" and "expired" in caught.value.message
    with pytest.raises(CodePrefixError):
        client.verify("HC1:not-ours")


def test_verify_many_answers_in_order(world: InMemoryAlliance, client: GatewayClient,
                                      gateway: InMemoryGateway) -> None:
    good = world.issue(QUZHOU, Tier.GOOD).code
    world.alliance.revoke_index(QUZHOU, 7, now_s=NOW_S)
    revoked = world.issue(QUZHOU, status_index=7).code
    world.publish()
    gateway.serve(world.bundle)
    results = client.verify_many([good, "CC1:%%%", revoked])
    assert isinstance(results[0], VerifiedCode) and results[0].tier is Tier.GOOD
    assert isinstance(results[1], CityCreditError) and results[1].code == "CC_BASE45"
    assert isinstance(results[2], CodeRevokedError)
    assert client.verify_many([]) == []
    assert gateway.requests[-1].url.path == "/v1/codes:batchVerify"


def test_arguments_are_checked_before_any_request(client: GatewayClient, gateway: InMemoryGateway) -> None:
    with pytest.raises(InvalidArgumentError):
        client.verify("")
    with pytest.raises(InvalidArgumentError):
        client.check("CC1:x", "")
    with pytest.raises(InvalidArgumentError):
        client.offers(city=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        client.verify("CC1:x", at=object())  # type: ignore[arg-type]
    assert gateway.requests == []


# --- offers, decisions, redemptions ---------------------------------------------------------------


def test_offers_are_typed_and_filtered(client: GatewayClient) -> None:
    assert {o.id for o in client.offers()} == {PARKING.id, LIBRARY.id}
    assert client.offers(city=QUZHOU) == [PARKING]


def test_check_names_every_no(world: InMemoryAlliance, client: GatewayClient) -> None:
    visitor = world.issue(HANGZHOU, Tier.EXCELLENT).code
    decision = client.check(visitor, PARKING.id)
    assert isinstance(decision, Decision)
    assert decision.eligible and decision.agreement_id == "hz-qz" and decision.quota_remaining == 2
    assert decision.benefit == "每月免费停车3次"
    assert client.check(world.issue(HANGZHOU, Tier.GOOD).code, PARKING.id).reason is Reason.TIER_TOO_LOW
    assert client.check(world.issue(JIAXING, Tier.OUTSTANDING).code, PARKING.id).reason is Reason.NO_AGREEMENT
    expired = client.check(visitor, PARKING.id, at=NOW_S + 3600)
    assert (expired.reason, expired.error_code) == (Reason.CODE_EXPIRED, "CC_EXPIRED")
    with pytest.raises(OfferUnknownError):
        client.check(visitor, "no-such-offer")


def test_redeem_spends_the_quota_once_per_key(world: InMemoryAlliance, client: GatewayClient) -> None:
    code = world.issue(QUZHOU, Tier.EXCELLENT).code
    answers = [client.redeem(code, PARKING.id, f"scan-{i}") for i in range(5)]
    assert [a.redeemed for a in answers] == [True, True, True, False, False]
    assert [a.decision.quota_remaining for a in answers] == [2, 1, 0, 0, 0]
    assert answers[3].decision.reason is Reason.QUOTA_EXHAUSTED
    again = client.redeem(code, PARKING.id, "scan-0")
    assert again.replayed and again.redemption_id == answers[0].redemption_id
    with pytest.raises(ConflictError):
        client.redeem(world.issue(QUZHOU, Tier.EXCELLENT, holder_ref="other").code, PARKING.id, "scan-0")


def test_redeem_needs_a_merchant_key_of_the_host_city(world: InMemoryAlliance, gateway: InMemoryGateway) -> None:
    code = world.issue(QUZHOU, Tier.EXCELLENT).code
    anonymous = GatewayClient.rest(gateway.url, http=gateway.http())
    with pytest.raises(UnauthenticatedError):
        anonymous.redeem(code, PARKING.id, "k")
    assert gateway.requests == []
    with pytest.raises(UnauthenticatedError):
        anonymous.redeem(code, PARKING.id, "k", api_key="ccm_wrong")
    with pytest.raises(PermissionDeniedError):
        anonymous.redeem(world.issue(JIAXING).code, LIBRARY.id, "k", api_key=MERCHANT_KEY)


def test_redemption_and_decision_agree() -> None:
    yes = Decision(eligible=True, reason=None, offer_id="o", tier=Tier.GOOD)
    with pytest.raises(InvalidArgumentError):
        Redemption(decision=yes, redemption_id=None)
    assert Redemption(decision=yes, redemption_id="rdm-1").redeemed


# --- transport failures and error mapping ---------------------------------------------------------


def test_unreachable_gateway_is_unavailable(client: GatewayClient, gateway: InMemoryGateway) -> None:
    gateway.reachable = False
    with pytest.raises(UnavailableError, match="cannot reach"):
        client.offers()


def test_real_http_to_a_closed_port_is_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UnavailableError):
        GatewayClient.rest(f"http://127.0.0.1:{port}", timeout_s=2).offers()


@pytest.mark.parametrize(("response", "expected", "code"), [
    (httpx.Response(429, json={"code": "CC_RATE_LIMITED", "detail": "slow down"}), RateLimitedError,
     "CC_RATE_LIMITED"),
    (httpx.Response(418, json={"code": "CC_FROM_THE_FUTURE", "detail": "new"}), CityCreditError,
     "CC_FROM_THE_FUTURE"),
    (httpx.Response(503, headers={"content-type": "text/html"}, content=b"<h1>Bad gateway</h1>"), UnavailableError,
     "CC_UNAVAILABLE"),
    (httpx.Response(401), UnauthenticatedError, "CC_UNAUTHENTICATED"),
    (httpx.Response(200, content=b"not json"), UnavailableError, "CC_UNAVAILABLE"),
])
def test_http_answers_map_onto_the_catalogue(response: httpx.Response, expected: type[CityCreditError],
                                             code: str) -> None:
    client = GatewayClient.rest("http://gw.test/prefix/", http=_answering(lambda request: response))
    with pytest.raises(expected) as caught:
        client.offers()
    assert type(caught.value) is expected and caught.value.code == code


def _answering(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_requests_carry_json_and_the_bearer_key(world: InMemoryAlliance) -> None:
    seen: list[httpx.Request] = []
    redemption = {"decision": to_json(Decision(eligible=True, reason=None, offer_id="o", tier=Tier.GOOD)),
                  "redemption_id": "rdm-1", "replayed": False}

    def send(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.extensions["timeout"]["read"] == 1.5
        return httpx.Response(200, json=redemption)

    client = GatewayClient.rest("https://gw.test/api/", api_key="ccm_x", timeout_s=1.5, http=_answering(send))
    assert client.redeem("CC1:abc", "o", "key-1").redemption_id == "rdm-1"
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "https://gw.test/api/v1/redemptions")
    assert request.headers["authorization"] == "Bearer ccm_x"
    assert request.headers["idempotency-key"] == "key-1"
    assert json.loads(request.content) == {"code": "CC1:abc", "offer_id": "o", "idempotency_key": "key-1"}


def test_malformed_answers_are_the_gateways_fault() -> None:
    client = GatewayClient.rest("http://gw.test", http=_answering(lambda r: httpx.Response(200, json={"eligible": 1})))
    with pytest.raises(UnavailableError, match="malformed decision"):
        client.check("CC1:x", "o")


def test_bad_urls_and_timeouts_are_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        GatewayClient.rest("file:///etc/passwd")
    with pytest.raises(InvalidArgumentError):
        GatewayClient.rest("http://gw.test", timeout_s=0)


def _rpc_error(status: str, details: str, metadata: tuple[tuple[str, str], ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(code=lambda: SimpleNamespace(name=status), details=lambda: details,
                           trailing_metadata=lambda: metadata)


def test_grpc_errors_map_through_the_trailer() -> None:
    err = _grpc_error(_rpc_error("FAILED_PRECONDITION", "expired", (("cc-error-code", "CC_EXPIRED"),)), "gw:1")
    assert isinstance(err, CodeExpiredError) and err.message == "expired"
    assert isinstance(_grpc_error(_rpc_error("UNAVAILABLE", "connect failed"), "gw:1"), UnavailableError)
    assert isinstance(_grpc_error(_rpc_error("DEADLINE_EXCEEDED", "slow"), "gw:1"), UnavailableError)
    assert isinstance(_grpc_error(_rpc_error("PERMISSION_DENIED", "no"), "gw:1"), PermissionDeniedError)
    other = _grpc_error(_rpc_error("DATA_LOSS", "odd"), "gw:1")
    assert type(other) is CityCreditError and other.message == "odd"


def test_grpc_without_grpcio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(InvalidArgumentError, match=r"citycredit\[grpc\]"):
        GrpcTransport("127.0.0.1:1")


# --- the trust bundle and the gateway-backed verifier ---------------------------------------------


def test_trust_bundle_by_etag(client: GatewayClient, gateway: InMemoryGateway) -> None:
    first = client.trust_bundle()
    assert first.data is not None and first.version == gateway.version and first.etag == f'"{gateway.version}"'
    again = client.trust_bundle(first.version, etag=first.etag)
    assert again.not_modified and again.version == first.version
    assert gateway.requests[-1].headers["if-none-match"] == first.etag
    with pytest.raises(InvalidArgumentError):
        client.trust_bundle(-1)


def _verifier(gateway: InMemoryGateway, world: InMemoryAlliance, clock: Clock, cache: Path | None,
              grace_s: int = 86400) -> GatewayVerifier:
    return verifier_from_gateway(GatewayClient.rest(gateway.url, http=gateway.http()), anchor=world.anchor,
                                 cache_dir=cache, config=VerifierConfig(grace_s=grace_s), clock=clock)


def test_from_gateway_verifies_and_caches(world: InMemoryAlliance, gateway: InMemoryGateway, clock: Clock,
                                          tmp_path: Path) -> None:
    verifier = _verifier(gateway, world, clock, tmp_path)
    assert verifier.version == gateway.version and not verifier.offline
    assert verifier.verify(world.issue(QUZHOU, Tier.GOOD).code).tier is Tier.GOOD
    assert (tmp_path / "bundle.ccb").read_bytes() == world.bundle
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["version"] == gateway.version and state["etag"] == f'"{gateway.version}"'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.ccb", "state.json"]  # no temporary files left

    restarted = _verifier(gateway, world, clock, tmp_path)
    assert restarted.version == verifier.version
    assert gateway.requests[-1].headers["if-none-match"] == state["etag"]  # answered 304: nothing downloaded


def test_refresh_pulls_changes_and_keeps_the_cache_current(world: InMemoryAlliance, gateway: InMemoryGateway,
                                                           clock: Clock, tmp_path: Path) -> None:
    verifier = _verifier(gateway, world, clock, tmp_path)
    assert verifier.refresh() is False
    code = world.issue(QUZHOU, status_index=42).code
    assert verifier.verify(code)
    world.alliance.revoke_index(QUZHOU, 42, now_s=NOW_S)
    gateway.serve(world.publish())
    assert verifier.refresh() is True
    with pytest.raises(CodeRevokedError):
        verifier.verify(code)
    assert json.loads((tmp_path / "state.json").read_text())["version"] == verifier.version
    gateway.reachable = False
    with pytest.raises(UnavailableError):
        verifier.refresh()
    assert verifier.version == gateway.version  # the current bundle stays in use


def test_offline_from_cache_within_grace_then_refused(world: InMemoryAlliance, gateway: InMemoryGateway,
                                                      clock: Clock, tmp_path: Path) -> None:
    _verifier(gateway, world, clock, tmp_path, grace_s=3600)
    gateway.reachable = False
    expires_at = world.now_s + world.bundle_ttl_s
    clock.now_s = expires_at + 3000  # expired, but inside the offline grace
    offline = _verifier(gateway, world, clock, tmp_path, grace_s=3600)
    assert offline.offline and offline.version == gateway.version
    assert offline.verify(world.issue(QUZHOU, now_s=int(clock.now_s)).code).city == QUZHOU
    clock.now_s = expires_at + 3601  # the grace is over
    with pytest.raises(BundleStaleError):
        offline.verify(world.issue(QUZHOU, now_s=int(clock.now_s)).code)
    with pytest.raises(BundleStaleError, match="cannot be reached"):
        _verifier(gateway, world, clock, tmp_path, grace_s=3600)


def test_unreachable_without_a_cache_is_unavailable(world: InMemoryAlliance, gateway: InMemoryGateway,
                                                    clock: Clock, tmp_path: Path) -> None:
    gateway.reachable = False
    with pytest.raises(UnavailableError):
        _verifier(gateway, world, clock, tmp_path)
    with pytest.raises(UnavailableError):
        _verifier(gateway, world, clock, None)


def test_rollback_and_forks_are_refused(world: InMemoryAlliance, gateway: InMemoryGateway, clock: Clock,
                                        tmp_path: Path) -> None:
    old = world.bundle
    gateway.serve(world.publish())
    verifier = _verifier(gateway, world, clock, tmp_path)
    gateway.serve(old)  # a compromised or misconfigured gateway serves an older version
    with pytest.raises(BundleRollbackError):
        verifier.refresh()
    with pytest.raises(BundleRollbackError):
        _verifier(gateway, world, clock, tmp_path)  # the cached floor survives a restart
    assert _verifier(gateway, world, clock, None).version == world.alliance.version - 1  # no floor, no refusal

    fork = InMemoryAlliance(now_s=NOW_S)  # same version number, different body, signed by the same governance
    fork.governance, fork.anchor = world.governance, world.anchor
    fork.alliance.governance = world.anchor
    fork.alliance.version = verifier.version - 1
    gateway.serve(fork.publish())
    assert verifier.refresh() is False  # the ETag names the version it holds: the fork is never downloaded
    with pytest.raises(BundleRollbackError, match="different bundle"):
        verifier.update(fork.bundle)  # and never adopted when it arrives another way


def test_bundles_under_another_anchor_are_refused(world: InMemoryAlliance, gateway: InMemoryGateway, clock: Clock,
                                                 tmp_path: Path) -> None:
    stranger = InMemoryAlliance(now_s=NOW_S)
    with pytest.raises(BundleThresholdError):
        verifier_from_gateway(GatewayClient.rest(gateway.url, http=gateway.http()), anchor=stranger.anchor,
                              cache_dir=tmp_path, clock=clock)
    assert not (tmp_path / "bundle.ccb").exists()


def test_a_damaged_cache_is_replaced_from_the_gateway(world: InMemoryAlliance, gateway: InMemoryGateway,
                                                      clock: Clock, tmp_path: Path) -> None:
    _verifier(gateway, world, clock, tmp_path)
    (tmp_path / "bundle.ccb").write_bytes(b"\x00garbage")
    (tmp_path / "state.json").write_text("{not json")
    verifier = _verifier(gateway, world, clock, tmp_path)
    assert verifier.version == gateway.version
    assert (tmp_path / "bundle.ccb").read_bytes() == world.bundle


def test_cache_follows_a_governance_rotation(world: InMemoryAlliance, gateway: InMemoryGateway, clock: Clock,
                                             tmp_path: Path) -> None:
    verifier = _verifier(gateway, world, clock, tmp_path)
    new_keys = [SigningKey.generate() for _ in range(3)]
    world.alliance.governance = TrustAnchor(threshold=2, keys=tuple(k.verifying_key() for k in new_keys))
    gateway.serve(world.publish(signers=[*world.governance[:2], *new_keys[:2]]))  # old and new thresholds sign
    assert verifier.refresh()
    gateway.anchor = world.alliance.governance
    gateway.serve(world.publish(signers=new_keys[:2]))  # the old governance keys are gone
    assert verifier.refresh()
    gateway.reachable = False
    restarted = _verifier(gateway, world, clock, tmp_path)  # pinned: the old anchor; cached: the rotated one
    assert restarted.offline and restarted.version == verifier.version


def test_update_from_elsewhere_is_cached(world: InMemoryAlliance, gateway: InMemoryGateway, clock: Clock,
                                         tmp_path: Path) -> None:
    verifier = _verifier(gateway, world, clock, tmp_path)
    assert verifier.update(world.publish()) is True
    assert json.loads((tmp_path / "state.json").read_text())["version"] == verifier.version


def test_a_url_builds_a_rest_client(world: InMemoryAlliance, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, headers={"etag": '"9"'}, content=world.bundle)

    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw))
    verifier = Verifier.from_gateway("http://gw.test/", anchor=world.anchor, clock=Clock())
    assert isinstance(verifier, GatewayVerifier)
    assert calls == ["http://gw.test/v1/trust-bundle"] and verifier.version == world.alliance.version

