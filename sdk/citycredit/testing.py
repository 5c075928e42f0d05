"""Test utilities that run the real core: an in-memory alliance and an in-memory gateway.

    alliance = InMemoryAlliance(now_s=1_800_000_000)       # real keys, real signatures, no files
    code = alliance.issue(330100, Tier.EXCELLENT).code
    alliance.verifier().verify(code)

    gateway = InMemoryGateway(alliance.bundle, anchor=alliance.anchor, merchant_keys={"ccm_test": 330800})
    client = GatewayClient.rest(gateway.url, api_key="ccm_test", http=gateway.http())

`InMemoryGateway` answers the gateway's public REST paths with the same JSON, problem+json
errors and ETags, over the same pure core (`verify_code`, the `Catalogue`,
`decide_redemption`), behind an `httpx.MockTransport`, so merchant code and the REST client
run without a server. Redemptions and idempotency keys live in dictionaries. Set
`reachable = False` to simulate an outage; `requests` records every call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from citycredit._client import BUNDLE_MEDIA_TYPE
from citycredit._verifier import Verifier, VerifierConfig
from citycredit.core import (
    AcceptedBundle,
    Algorithm,
    Alliance,
    CityRecord,
    IssuedCode,
    Issuer,
    KeyRecord,
    SigningKey,
    Tier,
    TrustAnchor,
    VerifiedCode,
    decide_redemption,
    decision_for_error,
    open_bundle,
    redemption_period,
    to_json,
    verification_to_json,
    verify_code,
)
from citycredit.errors import (
    BundleError,
    CityCreditError,
    CodeError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)

__all__ = ["DEFAULT_CITIES", "InMemoryAlliance", "InMemoryGateway"]

DEFAULT_CITIES: tuple[tuple[int, str, str, str], ...] = (
    (330100, "hangzhou", "杭州", "Hangzhou"),
    (330800, "quzhou", "衢州", "Quzhou"),
    (330400, "jiaxing", "嘉兴", "Jiaxing"),
)


class InMemoryAlliance:
    """Governance keys, one key per city and algorithm, and the operator's `Alliance` state."""

    def __init__(self, *, now_s: int, cities: Sequence[tuple[int, str, str, str]] = DEFAULT_CITIES,
                 algorithms: Sequence[Algorithm] = (Algorithm.ED25519, Algorithm.P256),
                 governance_keys: int = 3, threshold: int = 2, bundle_ttl_s: int = 30 * 86400) -> None:
        self.now_s = now_s
        self.bundle_ttl_s = bundle_ttl_s
        self.governance = [SigningKey.generate() for _ in range(governance_keys)]
        self.anchor = TrustAnchor(threshold=threshold, keys=tuple(k.verifying_key() for k in self.governance))
        self.alliance = Alliance(name="test alliance", governance=self.anchor)
        self.keys: dict[tuple[int, Algorithm], SigningKey] = {}
        self.secrets: dict[int, bytes] = {}
        for city, slug, zh, en in cities:
            record = CityRecord(city=city, slug=slug, name_zh=zh, name_en=en, status_updated_at_s=now_s)
            for algorithm in algorithms:
                key = SigningKey.generate(algorithm)
                self.keys[(city, algorithm)] = key
                record.keys.append(KeyRecord(algorithm=algorithm, spki=key.spki, not_before_s=now_s - 86400))
            self.alliance.add_city(record)
            self.secrets[city] = bytes([city % 251]) * 32
        self.bundle = self.publish()

    def issuer(self, city: int, algorithm: Algorithm = Algorithm.ED25519) -> Issuer:
        return Issuer(city=city, key=self.keys[(city, algorithm)], holder_secret=self.secrets[city])

    def issue(self, city: int, tier: Tier = Tier.GOOD, *, band: str = "良好", holder_ref: str = "holder-1",
              now_s: int | None = None, ttl_s: int = 300, algorithm: Algorithm = Algorithm.ED25519,
              status_index: int | None = None) -> IssuedCode:
        return self.issuer(city, algorithm).issue(holder_ref=holder_ref, tier=tier, band=band,
                                                  now_s=self.now_s if now_s is None else now_s, ttl_s=ttl_s,
                                                  status_index=status_index)

    def publish(self, *, now_s: int | None = None, signers: Sequence[SigningKey] | None = None) -> bytes:
        """Sign the next version (threshold signers by default) and keep it as `self.bundle`."""
        chosen = list(signers) if signers is not None else self.governance[: self.anchor.threshold]
        self.bundle = self.alliance.publish(chosen, now_s=self.now_s if now_s is None else now_s,
                                            ttl_s=self.bundle_ttl_s)
        return self.bundle

    def verifier(self, *, now_s: int | None = None, grace_s: int = 0) -> Verifier:
        """A verifier over the current bundle whose clock stands still at `now_s`."""
        at = float(self.now_s if now_s is None else now_s)
        return Verifier.from_bundle_bytes(self.bundle, anchor=self.anchor, config=VerifierConfig(grace_s=grace_s),
                                          clock=lambda: at)

_PROBLEM_JSON = "application/problem+json"


class InMemoryGateway:
    """A REST gateway over one alliance, served from memory through `http()`."""

    url = "http://gateway.test"

    def __init__(self, bundle: bytes, *, anchor: TrustAnchor, clock: Callable[[], float] = time.time,
                 merchant_keys: Mapping[str, int] | None = None, grace_s: int = 0) -> None:
        self.anchor = anchor
        self.clock = clock
        self.grace_s = grace_s
        # Merchant API key → the city whose offers it may redeem.
        self.merchant_keys = dict(merchant_keys or {})
        self.reachable = True
        self.requests: list[httpx.Request] = []
        # Redemption ids per (offer, holder pseudonym hex, period).
        self.redemptions: dict[tuple[str, str, str], list[str]] = {}
        self._answers: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.serve(bundle)

    def http(self) -> httpx.Client:
        """An httpx client whose requests this gateway answers."""
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def serve(self, bundle: bytes) -> None:
        """Serve this bundle from now on; it may be older than the last one (to test rollback refusal)."""
        snapshot = open_bundle(bundle, anchor=self.anchor, now_s=int(self.clock()), grace_s=10**9)
        self._data, self._snapshot = bundle, snapshot
        self._catalogue = snapshot.catalogue

    @property
    def version(self) -> int:
        return self._snapshot.version

    @property
    def accepted(self) -> AcceptedBundle:
        return self._snapshot.accepted

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("connection refused (the in-memory gateway is unreachable)", request=request)
        self.requests.append(request)
        route = _ROUTES.get((request.method, request.url.path))
        if route is None:
            return _problem(NotFoundError(f"no such resource {request.url.path}"))
        try:
            return route(self, request)
        except CityCreditError as exc:
            return _problem(exc)

    # --- routes ------------------------------------------------------------------------------------

    def _trust_bundle(self, request: httpx.Request) -> httpx.Response:
        etag = f'"{self.version}"'
        headers = {"etag": etag, "x-bundle-version": str(self.version)}
        tags = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
        if etag in tags:
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers={**headers, "content-type": BUNDLE_MEDIA_TYPE}, content=self._data)

    def _verified(self, code: str, at: int | None) -> VerifiedCode | CityCreditError:
        try:
            return verify_code(self._snapshot, code, now_s=int(self.clock()) if at is None else at,
                               grace_s=self.grace_s)
        except (CodeError, BundleError) as exc:
            return exc

    def _verify(self, request: httpx.Request) -> httpx.Response:
        body = _body(request, {"code"}, {"at"})
        return httpx.Response(200, json=verification_to_json(self._verified(body["code"], body.get("at"))))

    def _batch_verify(self, request: httpx.Request) -> httpx.Response:
        body = _body(request, {"codes"}, {"at"})
        return httpx.Response(200, json={"verifications": [verification_to_json(self._verified(c, body.get("at")))
                                                           for c in body["codes"]]})

    def _offers(self, request: httpx.Request) -> httpx.Response:
        city = request.url.params.get("city")
        offers = self._catalogue.find(city=None if city is None else int(city))
        return httpx.Response(200, json={"offers": [to_json(o) for o in offers]})

    def _used(self, offer_id: str, holder: VerifiedCode, now: int) -> list[str]:
        period = redemption_period(self._catalogue, offer_id, now)
        return self.redemptions.setdefault((offer_id, holder.holder.hex(), period), [])

    def _check(self, request: httpx.Request) -> httpx.Response:
        body = _body(request, {"code", "offer_id"}, {"at"})
        now = int(self.clock()) if body.get("at") is None else body["at"]
        offer = self._catalogue.offer(body["offer_id"])
        holder = self._verified(body["code"], now)
        if isinstance(holder, CityCreditError):
            return httpx.Response(200, json=to_json(decision_for_error(holder, offer.id)))
        used = len(self._used(offer.id, holder, now))
        return httpx.Response(200, json=to_json(self._catalogue.decide(holder=holder, offer_id=offer.id, now_s=now,
                                                                       used_in_period=used)))

    def _redeem(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        city = self.merchant_keys.get(token.strip()) if scheme.lower() == "bearer" else None
        if city is None:
            raise UnauthenticatedError("unknown or revoked credentials")
        body = _body(request, {"code", "offer_id", "idempotency_key"}, set())
        offer = self._catalogue.offer(body["offer_id"])
        if offer.city != city:
            raise PermissionDeniedError(f"a merchant key of city {city} cannot redeem offers of {offer.city}")
        fingerprint = json.dumps([body["code"], offer.id])
        with self._lock:
            stored = self._answers.get((token, body["idempotency_key"]))
            if stored is not None:
                if stored[0] != fingerprint:
                    raise ConflictError("this idempotency key was used for a different request")
                return httpx.Response(200, json={**stored[1], "replayed": True})
            now = int(self.clock())
            verified = self._verified(body["code"], now)
            spent = self._used(offer.id, verified, now) if isinstance(verified, VerifiedCode) else []
            redeemed = decide_redemption(self._catalogue, verified, offer.id, now_s=now, used_in_period=len(spent))
            if redeemed.redemption_id is not None:
                spent.append(redeemed.redemption_id)  # the next slot: one list per holder and period
            answer = {"decision": to_json(redeemed.decision), "redemption_id": redeemed.redemption_id,
                      "replayed": False}
            self._answers[(token, body["idempotency_key"])] = (fingerprint, answer)
        return httpx.Response(200, json=answer)


_ROUTES: dict[tuple[str, str], Callable[[InMemoryGateway, httpx.Request], httpx.Response]] = {
    ("GET", "/v1/trust-bundle"): InMemoryGateway._trust_bundle,
    ("POST", "/v1/codes:verify"): InMemoryGateway._verify,
    ("POST", "/v1/codes:batchVerify"): InMemoryGateway._batch_verify,
    ("GET", "/v1/offers"): InMemoryGateway._offers,
    ("POST", "/v1/eligibility:check"): InMemoryGateway._check,
    ("POST", "/v1/redemptions"): InMemoryGateway._redeem,
}


def _body(request: httpx.Request, required: set[str], optional: set[str]) -> dict[str, Any]:
    try:
        doc = json.loads(request.content or b"null")
    except ValueError:
        raise InvalidArgumentError("the body is not JSON") from None
    if not isinstance(doc, dict) or not required <= doc.keys() or not doc.keys() <= required | optional:
        raise InvalidArgumentError(f"the body is a JSON object with {', '.join(sorted(required))}")
    return doc


def _problem(err: CityCreditError) -> httpx.Response:
    return httpx.Response(err.http_status, headers={"content-type": _PROBLEM_JSON}, content=json.dumps({
        "type": f"urn:citycredit:error:{err.code}", "title": err.title, "status": err.http_status,
        "detail": err.message, "code": err.code}).encode())
