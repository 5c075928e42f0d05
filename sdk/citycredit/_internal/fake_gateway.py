"""`InMemoryGateway`: the gateway's public REST API in memory, for tests and examples.

    gateway = InMemoryGateway(alliance.bundle, anchor=alliance.anchor, clock=lambda: now,
                              merchant_keys={"ccm_test": 330800})
    client = GatewayClient.rest(gateway.url, api_key="ccm_test", send=gateway)

It answers the same paths with the same JSON, problem+json errors and ETags as
the real gateway, over the same pure core (`verify_code`, the eligibility
`Catalogue`), so merchant code and the REST client are exercised without a
server. Redemptions and idempotency keys live in dictionaries. Set
`reachable = False` to simulate an outage; `requests` records every call.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from citycredit._internal.bundle import AcceptedBundle, TrustAnchor, open_bundle
from citycredit._internal.client import BUNDLE_MEDIA_TYPE, HttpRequest, HttpResponse
from citycredit._internal.eligibility import decision_for_error, period_key
from citycredit._internal.verify import verify_code
from citycredit._internal.wire import verification_json
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

__all__ = ["InMemoryGateway"]

_PROBLEM_JSON = "application/problem+json"


class InMemoryGateway:
    """A `send` function for `GatewayClient.rest` that serves one alliance from memory."""

    url = "http://gateway.test"

    def __init__(self, bundle: bytes, *, anchor: TrustAnchor, clock: Callable[[], float] = time.time,
                 merchant_keys: Mapping[str, int] | None = None, grace_s: int = 0) -> None:
        self.anchor = anchor
        self.clock = clock
        self.grace_s = grace_s
        # Merchant API key → the city whose offers it may redeem.
        self.merchant_keys = dict(merchant_keys or {})
        self.reachable = True
        self.requests: list[HttpRequest] = []
        # Redemption ids per (offer, holder pseudonym hex, period).
        self.redemptions: dict[tuple[str, str, str], list[str]] = {}
        self._answers: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.serve(bundle)

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

    def __call__(self, request: HttpRequest, timeout_s: float) -> HttpResponse:
        if not self.reachable:
            raise ConnectionRefusedError("connection refused (the in-memory gateway is unreachable)")
        self.requests.append(request)
        route = _ROUTES.get((request.method, request.path))
        if route is None:
            return _problem(NotFoundError(f"no such resource {request.path}"))
        try:
            return route(self, request)
        except CityCreditError as exc:
            return _problem(exc)

    # --- routes ------------------------------------------------------------------------------------

    def _trust_bundle(self, request: HttpRequest) -> HttpResponse:
        etag = f'"{self.version}"'
        headers = {"etag": etag, "x-bundle-version": str(self.version)}
        tags = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
        if etag in tags:
            return HttpResponse(304, headers)
        return HttpResponse(200, {**headers, "content-type": BUNDLE_MEDIA_TYPE}, self._data)

    def _verify_one(self, code: str, at: int | None) -> dict[str, Any]:
        now = int(self.clock()) if at is None else at
        try:
            return verification_json(verify_code(self._snapshot, code, now_s=now, grace_s=self.grace_s), None)
        except (CodeError, BundleError) as exc:
            return verification_json(None, exc)

    def _verify(self, request: HttpRequest) -> HttpResponse:
        body = _body(request, {"code"}, {"at"})
        return HttpResponse.of_json(200, self._verify_one(body["code"], body.get("at")))

    def _batch_verify(self, request: HttpRequest) -> HttpResponse:
        body = _body(request, {"codes"}, {"at"})
        return HttpResponse.of_json(200, {"verifications": [self._verify_one(c, body.get("at"))
                                                            for c in body["codes"]]})

    def _offers(self, request: HttpRequest) -> HttpResponse:
        city = request.query.get("city")
        offers = self._catalogue.find(city=None if city is None else int(city))
        return HttpResponse.of_json(200, {"offers": [o.to_dict() for o in offers]})

    def _check(self, request: HttpRequest) -> HttpResponse:
        body = _body(request, {"code", "offer_id"}, {"at"})
        now = int(self.clock()) if body.get("at") is None else body["at"]
        offer = self._catalogue.offer(body["offer_id"])
        try:
            holder = verify_code(self._snapshot, body["code"], now_s=now, grace_s=self.grace_s)
        except (CodeError, BundleError) as exc:
            return HttpResponse.of_json(200, decision_for_error(exc, offer.id).to_dict())
        used = 0
        if offer.quota is not None:
            used = len(self.redemptions.get((offer.id, holder.holder.hex(), period_key(offer.quota.period, now)), ()))
        return HttpResponse.of_json(200, self._catalogue.decide(holder=holder, offer_id=offer.id, now_s=now,
                                                                used_in_period=used).to_dict())

    def _redeem(self, request: HttpRequest) -> HttpResponse:
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
                return HttpResponse.of_json(200, {**stored[1], "replayed": True})
            now = int(self.clock())
            redemption_id = None
            try:
                holder = verify_code(self._snapshot, body["code"], now_s=now, grace_s=self.grace_s)
            except (CodeError, BundleError) as exc:
                decision = decision_for_error(exc, offer.id)
            else:
                period = period_key(offer.quota.period, now) if offer.quota is not None else "-"
                spent = self.redemptions.setdefault((offer.id, holder.holder.hex(), period), [])
                decision = self._catalogue.decide(holder=holder, offer_id=offer.id, now_s=now,
                                                  used_in_period=len(spent))
                if decision.eligible:
                    redemption_id = "rdm-" + secrets.token_hex(8)
                    spent.append(redemption_id)
            answer = {"decision": decision.to_dict(), "redemption_id": redemption_id, "replayed": False}
            self._answers[(token, body["idempotency_key"])] = (fingerprint, answer)
        return HttpResponse.of_json(200, answer)


_ROUTES: dict[tuple[str, str], Callable[[InMemoryGateway, HttpRequest], HttpResponse]] = {
    ("GET", "/v1/trust-bundle"): InMemoryGateway._trust_bundle,
    ("POST", "/v1/codes:verify"): InMemoryGateway._verify,
    ("POST", "/v1/codes:batchVerify"): InMemoryGateway._batch_verify,
    ("GET", "/v1/offers"): InMemoryGateway._offers,
    ("POST", "/v1/eligibility:check"): InMemoryGateway._check,
    ("POST", "/v1/redemptions"): InMemoryGateway._redeem,
}


def _body(request: HttpRequest, required: set[str], optional: set[str]) -> dict[str, Any]:
    try:
        doc = request.json()
    except ValueError:
        raise InvalidArgumentError("the body is not JSON") from None
    if not isinstance(doc, dict) or not required <= doc.keys() or not doc.keys() <= required | optional:
        raise InvalidArgumentError(f"the body is a JSON object with {', '.join(sorted(required))}")
    return doc


def _problem(err: CityCreditError) -> HttpResponse:
    return HttpResponse.of_json(err.http_status, {
        "type": f"urn:citycredit:error:{err.code}", "title": err.title, "status": err.http_status,
        "detail": err.message, "code": err.code}, content_type=_PROBLEM_JSON)
