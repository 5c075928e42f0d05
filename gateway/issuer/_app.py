"""The issuer's REST surface and pages (FastAPI), with the gateway's conventions: problem+json, strict bodies.

    GET  /holder, /office, /web/...             the holder's and the office's pages
    GET  /v1/holder/identity                    how to sign in (the demo lists its fictional residents)
    POST /v1/holder/session                     sign in -> a session token (Bearer)
    GET  /v1/holder/me                          tier, band, device, the cities a code can be for
    PUT  /v1/holder/device                      the phone's device key (P-256 or Ed25519, raw, base64)
    POST /v1/holder/codes                       a device-bound code for an audience
    GET  /v1/holder/offers?audience=            the offers there, each with this holder's decision
    GET  /v1/holder/redemptions                 the holder's redemptions across the alliance (with offer titles)
    DELETE /v1/holder/session                   sign out
    POST /v1/codes                              issuance for the city's own systems (office token)

    The office (its gateway token as Bearer; every change signed here with the city's keys and uploaded):
    GET  /v1/office                             keys, offers, merchants, agreements, proposals, log head, cities
    POST /v1/office/keys                        a new code-signing key {algorithm}, published at once
    POST /v1/office/keys/{kid}:retire           retire a key {not_after: time or null for now}
    POST /v1/office/offers:preview              an offer as it would be published, and who would get it
    PUT  /v1/office/offers/{id}                 publish (or replace) an offer
    DELETE /v1/office/offers/{id}               withdraw an offer
    POST /v1/office/merchants                   onboard {merchant_id (USCC), name, venues}: the key, shown once
    POST /v1/office/merchants/{id}:revoke       withdraw a merchant key
    POST /v1/office/status                      revoke / suspend / reinstate {code, status, holder}
    POST /v1/office/agreements/{id}:withdraw    leave an agreement from now
    GET|PUT /v1/office/proposals/{name}         an agreement proposal in the inbox (to pass on / passed on)
    POST /v1/office/proposals/{name}:sign       add the city's authority signature
    POST /v1/office/proposals/{name}:publish    send a proposal every city signed to the gateway
    GET  /v1/office/figures?since=&until=       redemptions by day, offer, tier and home city (from the gateway)
    GET  /healthz

Holder codes are device-bound and sized so that their presentations fit a version-12 QR at M (the
band label is shortened when needed; see `IssuerService.holder_code`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from citycredit.core import iso
from citycredit.errors import InvalidArgumentError
from citycredit.gateway import web
from citycredit.gateway.http import (
    Edge,
    IJSONRoute,
    at_time,
    bearer_token,
    install_error_handlers,
    json_response,
    problems,
)
from citycredit.gateway.issuer._service import IssuerService
from citycredit.gateway.limits import Limit, RateLimiter
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

__all__ = ["build_issuer_app"]

_T = TypeVar("_T")
Auth = Annotated[str | None, Header(alias="Authorization")]
_Strict = ConfigDict(extra="forbid", strict=True)
_HOLDER = problems(400, 401, 403, 429)
_OFFICE = problems(400, 401, 403, 404, 409, 429, 503)


class SignInBody(BaseModel):
    # What a sign-in form holds is the city's identity hook's to say (the demo: resident and password; an
    # OIDC hook: its code and state), so other members pass through to it; it refuses what it does not use.
    model_config = ConfigDict(extra="allow", strict=True)
    resident: StrictStr | None = None
    password: StrictStr | None = None


class DeviceBody(BaseModel):
    model_config = _Strict
    algorithm: StrictStr
    public_key: StrictStr


class AudienceBody(BaseModel):
    model_config = _Strict
    audience: StrictStr | None = None


class IssueBody(BaseModel):
    model_config = _Strict
    holder_ref: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    local_record: dict[str, Any]
    ttl_s: StrictInt | None = None
    audience: StrictStr | None = None
    # The holder device's raw public key (base64) and its algorithm, for a device-bound code.
    device_key: StrictStr | None = None
    device_algorithm: StrictStr = "p256"


class KeyBody(BaseModel):
    model_config = _Strict
    algorithm: StrictStr = "ed25519"


class RetireBody(BaseModel):
    model_config = _Strict
    not_after: StrictInt | StrictStr | None = None


class MerchantBody(BaseModel):
    model_config = _Strict
    merchant_id: StrictStr
    name: StrictStr
    venues: list[StrictStr] = []


class StatusBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    status: StrictStr
    holder: StrictBool = False


def build_issuer_app(service: IssuerService) -> Edge:
    config = service.config
    app = FastAPI(title=f"citycredit issuer {service.city:06d}", version="0.2.0", docs_url=None, redoc_url=None,
                  description="A city's issuer: its holders' device-bound codes and offers, and its office's keys, "
                              "offers, merchants and statuses, signed with the city's own keys.")
    install_error_handlers(app)
    app.router.route_class = IJSONRoute  # before any route is declared
    app.state.web_site = "issuer"  # web.router serves the issuer's pages here: /holder and /office
    app.include_router(web.router)
    limit = Limit(config.rate_per_s, config.rate_burst)
    limiter = RateLimiter(client=limit, credential=limit)

    async def in_thread(fn: Callable[[], _T]) -> _T:
        return await asyncio.to_thread(fn)

    def holder(authorization: str | None) -> Any:
        found = service.holder(bearer_token(authorization))
        limiter.take("credential", found.resident.id)
        return found

    def office(authorization: str | None) -> None:
        service.office_principal(bearer_token(authorization))

    # --- holders ----------------------------------------------------------------------------------

    @app.get("/v1/holder/identity", tags=["holders"], summary="How holders sign in here", responses=_HOLDER)
    def identity() -> Response:
        return json_response(service.identity.describe())

    @app.post("/v1/holder/session", tags=["holders"], summary="Sign in through the city's identity hook",
              responses=_HOLDER)
    def sign_in(body: SignInBody) -> Response:
        return json_response(service.sign_in(body.model_dump()))

    @app.delete("/v1/holder/session", tags=["holders"], summary="Sign out", responses=_HOLDER)
    def sign_out(authorization: Auth = None) -> Response:
        service.sessions.close(bearer_token(authorization))
        return json_response({"signed_out": True})

    @app.get("/v1/holder/me", tags=["holders"], summary="The signed-in holder", responses=_HOLDER)
    def me(authorization: Auth = None) -> Response:
        return json_response(service.me(holder(authorization)))

    @app.put("/v1/holder/device", tags=["holders"], summary="Register this phone's device key", responses=_HOLDER)
    async def device(body: DeviceBody, authorization: Auth = None) -> Response:
        who = holder(authorization)
        return json_response(await in_thread(lambda: service.register_device(who, algorithm=body.algorithm,
                                                                             public_key=body.public_key)))

    @app.post("/v1/holder/codes", tags=["holders"], summary="A device-bound code for the city the holder is in",
              responses=_HOLDER)
    async def holder_code(body: AudienceBody, authorization: Auth = None) -> Response:
        who = holder(authorization)
        return json_response(await in_thread(lambda: service.holder_code(who, audience=body.audience)))

    @app.get("/v1/holder/offers", tags=["holders"], summary="The offers of a city, with this holder's decisions",
             responses=_HOLDER)
    def holder_offers(audience: str | None = None, authorization: Auth = None) -> Response:
        return json_response(service.holder_offers(holder(authorization), audience=audience))

    @app.get("/v1/holder/redemptions", tags=["holders"], summary="The holder's redemptions across the alliance",
             responses=_HOLDER)
    async def holder_redemptions(authorization: Auth = None) -> Response:
        who = holder(authorization)
        return json_response(await in_thread(lambda: service.holder_redemptions(who)))

    # --- the city's own systems and its office ----------------------------------------------------

    @app.post("/v1/codes", tags=["issuance"], summary="Issue a code (office token)", responses=_OFFICE)
    async def issue(body: IssueBody, authorization: Auth = None) -> Response:
        office(authorization)

        return json_response(await in_thread(lambda: service.issue(
            holder_ref=body.holder_ref, local_record=body.local_record, ttl_s=body.ttl_s, audience=body.audience,
            device_key=body.device_key, device_algorithm=body.device_algorithm)))

    @app.get("/v1/office", tags=["office"], summary="The office's keys, offers, merchants, agreements, log head",
             responses=_OFFICE)
    def office_state(authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(service.state())

    @app.post("/v1/office/keys", tags=["office"], summary="A new code-signing key (published at once)",
              responses=_OFFICE)
    async def new_key(body: KeyBody, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.new_key(body.algorithm)))

    @app.post("/v1/office/keys/{kid}:retire", tags=["office"], summary="Retire a key (codes it signed stay valid)",
              responses=_OFFICE)
    async def retire_key(kid: str, body: RetireBody, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.retire_key(kid, at_time(body.not_after))))

    @app.post("/v1/office/offers:preview", tags=["office"], responses=_OFFICE,
              summary="An offer as it would be published, and who gets it")
    def preview(body: dict[str, Any], authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(service.preview_offer(body))

    @app.put("/v1/office/offers/{offer_id}", tags=["office"], summary="Publish or replace an offer",
             responses=_OFFICE)
    async def publish_offer(offer_id: str, body: dict[str, Any], authorization: Auth = None) -> Response:
        office(authorization)
        if body.get("id") != offer_id:
            raise InvalidArgumentError("the offer's id must match the path")
        return json_response(await in_thread(lambda: service.publish_offer(body)))

    @app.delete("/v1/office/offers/{offer_id}", tags=["office"], summary="Withdraw an offer", responses=_OFFICE)
    async def withdraw_offer(offer_id: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.withdraw_offer(offer_id)))

    @app.post("/v1/office/merchants", tags=["office"],
              summary="Onboard a merchant (unified social credit code): its key is shown once", responses=_OFFICE)
    async def onboard(body: MerchantBody, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.onboard_merchant(body.model_dump())))

    @app.post("/v1/office/merchants/{credential_id}:revoke", tags=["office"], summary="Withdraw a merchant key",
              responses=_OFFICE)
    async def revoke_merchant(credential_id: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.revoke_merchant(credential_id)))

    @app.post("/v1/office/status", tags=["office"],
              summary="Revoke, suspend or reinstate a code (or every live code of its holder)", responses=_OFFICE)
    async def set_status(body: StatusBody, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.set_status(body.code, body.status, holder=body.holder)))

    @app.post("/v1/office/agreements/{agreement_id}:withdraw", tags=["office"],
              summary="Leave an agreement from now (one city may always leave)", responses=_OFFICE)
    async def withdraw_agreement(agreement_id: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.withdraw_agreement(agreement_id)))

    @app.get("/v1/office/proposals/{name}", tags=["office"], summary="An agreement proposal, to pass on",
             responses=_OFFICE)
    def get_proposal(name: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(service.proposal(name))

    @app.put("/v1/office/proposals/{name}", tags=["office"], summary="Put a proposal another city passed on",
             responses=_OFFICE)
    async def put_proposal(name: str, body: dict[str, Any], authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.add_proposal(name, body)))

    @app.post("/v1/office/proposals/{name}:sign", tags=["office"],
              summary="Sign an agreement proposal with the city's authority key", responses=_OFFICE)
    async def sign_proposal(name: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.sign_proposal(name)))

    @app.post("/v1/office/proposals/{name}:publish", tags=["office"],
              summary="Publish a proposal every city signed", responses=_OFFICE)
    async def publish_proposal(name: str, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.publish_proposal(name)))

    @app.get("/v1/office/figures", tags=["office"],
             summary="The city's redemptions by day, offer, tier and home city (from the gateway)", responses=_OFFICE)
    async def figures(since: str | None = None, until: str | None = None, authorization: Auth = None) -> Response:
        office(authorization)
        return json_response(await in_thread(lambda: service.figures(since, until)))

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    def healthz() -> Response:
        snapshot = service.snapshot
        return json_response({"status": "ok", "city": f"{service.city:06d}", "snapshot_version": snapshot.version,
                              "time": iso(int(time.time()))})

    return Edge(app, admit=lambda client: limiter.take("client", client), record=None,
                body_limit=config.max_body_bytes, upload_limit=config.max_body_bytes)
