"""GatewayClient (REST and gRPC) and Verifier-from-gateway against a real gateway on loopback (SQLite)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit._client import GatewayClient
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit._home import Home
from citycredit._verifier import Verifier, VerifierConfig, verifier_from_gateway
from citycredit.core import Offer, Reason, Tier, TrustAnchor, VerifiedCode, sign_bundle
from citycredit.errors import (
    BundleRollbackError,
    BundleStaleError,
    CityCreditError,
    CodeExpiredError,
    OfferUnknownError,
    UnauthenticatedError,
)
from citycredit.gateway import Gateway, GatewayConfig, gateway_in_thread

HANGZHOU, QUZHOU = 330100, 330800
QUOTA_OFFER = "quzhou-parking-free-3"  # demo alliance: EXCELLENT and up, 3 a month, Hangzhou residents by agreement
_holders = itertools.count(1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = GatewayConfig(home=tmp_path_factory.mktemp("client") / "home", grpc_port=0, http_port=0,
                           rate_per_s=10_000.0, rate_burst=10_000, shutdown_grace_s=1.0)
    with gateway_in_thread(config) as gw:
        yield gw


@pytest.fixture(scope="module")
def anchor(gateway: Gateway) -> TrustAnchor:
    return Home(gateway.config.home).anchor()


@pytest.fixture(params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, gateway: Gateway) -> Iterator[GatewayClient]:
    key = gateway.token(QUZHOU, "merchant")
    if request.param == "rest":
        made = GatewayClient.rest(gateway.http_url, api_key=key, timeout_s=30)
    else:
        made = GatewayClient.grpc(gateway.grpc_target, api_key=key, timeout_s=30)
    with made:
        yield made


def issue(gateway: Gateway, *, score: int = 720, ttl_s: int = 600) -> dict[str, Any]:
    """A fresh Hangzhou holder's code through the issuance API (720 is EXCELLENT, 620 GOOD)."""
    response = httpx.post(f"{gateway.http_url}/v1/cities/{HANGZHOU}/codes", timeout=30,
                          json={"holder_ref": f"client-holder-{next(_holders)}", "local_record": {"score": score},
                                "ttl_s": ttl_s},
                          headers={"Authorization": f"Bearer {gateway.token(HANGZHOU, 'city_office')}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- GatewayClient over both transports -----------------------------------------------------------


def test_verify(client: GatewayClient, gateway: Gateway) -> None:
    issued = issue(gateway)
    result = client.verify(issued["code"])
    assert isinstance(result, VerifiedCode)
    assert (result.city, result.tier, result.band) == (HANGZHOU, Tier.EXCELLENT, issued["band"])
    assert result.expires_at.isoformat().replace("+00:00", "Z") == issued["expires_at"]
    with pytest.raises(CodeExpiredError):
        client.verify(issued["code"], at=result.expires_at_s + 1)


def test_verify_many(client: GatewayClient, gateway: Gateway) -> None:
    good = issue(gateway)["code"]
    results = client.verify_many([good, "CC1:%%%", "hello", good])
    assert [r.code if isinstance(r, CityCreditError) else r.tier for r in results] == [
        Tier.EXCELLENT, "CC_BASE45", "CC_PREFIX", Tier.EXCELLENT]


def test_offers(client: GatewayClient) -> None:
    offers = client.offers()
    assert offers and all(isinstance(o, Offer) for o in offers)
    parking = next(o for o in offers if o.id == QUOTA_OFFER)
    assert parking.quota is not None and parking.quota.uses == 3
    assert {o.city for o in client.offers(city=QUZHOU)} == {QUZHOU}


def test_check(client: GatewayClient, gateway: Gateway) -> None:
    yes = client.check(issue(gateway)["code"], QUOTA_OFFER)
    assert yes.eligible and yes.treated_as_local and yes.agreement_id and yes.quota_remaining == 2
    assert yes.benefit
    assert client.check(issue(gateway, score=620)["code"], QUOTA_OFFER).reason is Reason.TIER_TOO_LOW
    with pytest.raises(OfferUnknownError):
        client.check(issue(gateway)["code"], "no-such-offer")


def test_redeem(client: GatewayClient, gateway: Gateway) -> None:
    code = issue(gateway)["code"]
    answers = [client.redeem(code, QUOTA_OFFER, f"{id(client)}-{i}") for i in range(4)]
    assert [a.redeemed for a in answers] == [True, True, True, False]
    assert answers[3].decision.reason is Reason.QUOTA_EXHAUSTED
    replay = client.redeem(code, QUOTA_OFFER, f"{id(client)}-0")
    assert replay.replayed and replay.redemption_id == answers[0].redemption_id
    with pytest.raises(UnauthenticatedError):
        client.redeem(code, QUOTA_OFFER, "k", api_key="ccm_not-a-key")


def test_trust_bundle(client: GatewayClient, anchor: TrustAnchor, gateway: Gateway) -> None:
    fetched = client.trust_bundle()
    assert fetched.data is not None and fetched.version >= 1
    assert verifier_from_gateway(client, anchor=anchor).version == fetched.version
    assert client.trust_bundle(fetched.version, etag=fetched.etag).not_modified


def test_unreachable_gateway_is_unavailable() -> None:
    from citycredit.errors import UnavailableError

    with pytest.raises(UnavailableError):
        GatewayClient.rest(_closed_port_url(), timeout_s=2).offers()
    with GatewayClient.grpc(_closed_port_url().removeprefix("http://"), timeout_s=2) as grpc_client, \
            pytest.raises(UnavailableError):
        grpc_client.offers()


# --- Verifier.from_gateway ------------------------------------------------------------------------


def _recording(statuses: list[int]) -> httpx.Client:
    return httpx.Client(event_hooks={"response": [lambda response: statuses.append(response.status_code)]})


def test_from_gateway_caches_and_revalidates_with_304(gateway: Gateway, anchor: TrustAnchor,
                                                      tmp_path: Path) -> None:
    statuses: list[int] = []
    source = GatewayClient.rest(gateway.http_url, http=_recording(statuses))
    verifier = verifier_from_gateway(source, anchor=anchor, cache_dir=tmp_path)
    assert verifier.verify(issue(gateway)["code"]).tier is Tier.EXCELLENT
    restarted = verifier_from_gateway(source, anchor=anchor, cache_dir=tmp_path)
    assert statuses == [200, 304] and restarted.version == verifier.version
    assert restarted.refresh() is False and statuses[-1] == 304


def test_from_gateway_refreshes_after_a_revocation(gateway: Gateway, anchor: TrustAnchor, tmp_path: Path) -> None:
    issued = issue(gateway)
    verifier = Verifier.from_gateway(gateway.http_url, anchor=anchor, cache_dir=tmp_path)
    assert verifier.verify(issued["code"])
    response = httpx.post(f"{gateway.http_url}/v1/cities/{HANGZHOU}/revocations", timeout=30,
                          json={"status_indexes": [issued["status_index"]]},
                          headers={"Authorization": f"Bearer {gateway.token(HANGZHOU, 'city_office')}"})
    assert response.status_code == 200, response.text
    assert verifier.refresh() is True and verifier.version == response.json()["bundle_version"]
    with pytest.raises(CityCreditError, match="CC_REVOKED"):
        verifier.verify(issued["code"])


def test_from_gateway_offline_within_grace_then_refused(gateway: Gateway, anchor: TrustAnchor,
                                                        tmp_path: Path) -> None:
    online = verifier_from_gateway(gateway.http_url, anchor=anchor, cache_dir=tmp_path)
    expires_at = online.snapshot.expires_at_s
    config = VerifierConfig(grace_s=86400)
    down = _closed_port_url()

    offline = verifier_from_gateway(down, anchor=anchor, cache_dir=tmp_path, config=config,
                                    clock=lambda: expires_at + 3600)
    assert offline.offline and offline.version == online.version
    with pytest.raises(BundleStaleError, match="cannot be reached"):
        verifier_from_gateway(down, anchor=anchor, cache_dir=tmp_path, config=config,
                              clock=lambda: expires_at + 86400 + 1)


def test_from_gateway_refuses_rollback(gateway: Gateway, anchor: TrustAnchor, tmp_path: Path) -> None:
    verifier = verifier_from_gateway(gateway.http_url, anchor=anchor, cache_dir=tmp_path)
    # The merchant already accepted a later version (say, from another gateway) than this one now serves,
    # as after a restore from an old backup.
    home = Home(gateway.config.home)
    later = bundle_pb2.BundleBody()
    later.CopyFrom(verifier.snapshot.body)
    later.version += 5
    assert verifier.update(sign_bundle(later, home.governance_signers()[: anchor.threshold]))
    with pytest.raises(BundleRollbackError):
        verifier.refresh()
    with pytest.raises(BundleRollbackError):
        verifier_from_gateway(gateway.http_url, anchor=anchor, cache_dir=tmp_path)
