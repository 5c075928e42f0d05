"""The REST surface (FastAPI): the gateway's operations as JSON, the trust set as files, uploads as signed bodies.

Errors are RFC 9457 `application/problem+json` with the catalogue `code`; a bad request
is a 4xx naming its code, never a 500 or a stack trace. In front of the routes, one small
ASGI layer (`Edge`) applies what every request pays: the client's rate limit, the body
limit (413 before any parsing; uploads may be larger than other bodies), and the access
log and metrics. The hot routes (verify, redeem) take the raw request and validate the
JSON bytes with the same strict models as the others.

    GET  /v1/trust/{path}                       public: the TUF repository (timestamp.json, 3.snapshot.json …)
    GET  /v1/cities/{city}/status-list          public: StatusListUpdate (protobuf), ?since=N for a delta;
                                                ETag, If-None-Match -> 304
    GET  /v1/alliance                           public: the members, their issuers, versions (JSON)
    POST /v1/codes:verify, /v1/codes:batchVerify, GET /v1/offers, POST /v1/eligibility:check   public
    POST /v1/redemptions                        merchant key; Idempotency-Key header
    POST /v1/redemptions/{id}:void, GET /v1/redemptions, GET /v1/merchant   merchant key
    PUT  /v1/cities/{city}/parts, /status-list, /merchant-grants   city office; signed by the city
    PUT  /v1/agreements/{id}                    city office of a bound city; signed by every bound city
    PUT  /v1/governance                         the governance threshold's signatures
    GET  /v1/cities/{city}/redemption-figures, /v1/cities/{city}/merchants   city office
    GET  /v1/log/...                            the transparency log (heads, proofs, entries)
    GET  /healthz, /metrics, /docs              operations
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from citycredit.core import MAX_TRUST_FILE_BYTES, describe, iso, to_json, verification_to_json
from citycredit.errors import (
    BundleMalformedError,
    CityCreditError,
    CityUnknownError,
    InvalidArgumentError,
    NotFoundError,
)
from citycredit.gateway import web
from citycredit.gateway.credentials import Principal
from citycredit.gateway.http import (
    PROTOBUF,
    Edge,
    IJSONRoute,
    at_time,
    b64_files,
    bearer_token,
    etag_matches,
    install_error_handlers,
    json_body,
    json_response,
    parse_json,
    problems,
    protobuf_body,
)
from citycredit.gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from citycredit.gateway.replica import Replica
from citycredit.gateway.transparency import log_router
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.datastructures import Headers
from tuf.api.metadata import Metadata, Root, Signed, Targets
from tuf.api.serialization import DeserializationError

__all__ = ["build_app"]

log = logging.getLogger("citycredit.gateway.access")
STATUS_VERSION_HEADER = "X-Status-List-Version"
# A request body costs its client one rate-limit token per this many bytes past the first (a code is ~250 bytes:
# a batch of N codes costs about what N single verifications do).
BODY_BYTES_PER_TOKEN = 256
# Codes of a batch verified between two turns of the event loop (a few milliseconds of work).
BATCH_SLICE = 16
Body = TypeVar("Body", bound=BaseModel)
_T = TypeVar("_T")

# --- request bodies --------------------------------------------------------------------------------

_Strict = ConfigDict(extra="forbid", strict=True)
Time = StrictInt | StrictStr | None
Venue = Annotated[StrictStr, Field(max_length=128)]


class VerifyBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    at: Time = None
    venue: Venue = ""


class BatchVerifyBody(BaseModel):
    model_config = _Strict
    codes: list[StrictStr]
    at: Time = None
    venue: Venue = ""


class CheckBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    offer_id: StrictStr
    at: Time = None
    venue: Venue = ""


class RedeemBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    offer_id: StrictStr
    # Only for a redemption recorded offline: when it was made (offers that allow it, within 7 days).
    at: Time = None


class SignedFilesBody(BaseModel):
    """A role's metadata as signed (JSON text) and its part files by target path (base64)."""

    model_config = _Strict
    role: StrictStr
    files: dict[StrictStr, StrictStr]


class HoldersBody(BaseModel):
    model_config = _Strict
    holders: list[StrictStr]


class GovernanceBody(BaseModel):
    model_config = _Strict
    root: StrictStr | None = None
    targets: StrictStr | None = None
    files: dict[StrictStr, StrictStr] = {}


_PUBLIC = problems(400, 413, 429, 503)
_AUTHENTICATED = problems(400, 401, 403, 404, 413, 429, 503)
# What a signed upload may be refused with: a bad body (400), a token that is not the city office's (401, 403),
# a city or delegation that does not exist (404), and signatures, versions or parts the trust set refuses (422).
_UPLOAD = problems(400, 401, 403, 404, 413, 422, 429)
# Statuses routes of the log router answer beyond those it is included with (the OpenAPI document's, by route).
_LOG_EXTRA = {("POST", "/v1/log/witnesses"): (403, 409, 413)}


# --- the app ---------------------------------------------------------------------------------------


def build_app(replica: Replica) -> Edge:
    """The ASGI application over one replica: the edge in front of the FastAPI app (`.app`)."""
    app = FastAPI(title="citycredit gateway", version="0.2.0", docs_url=None, redoc_url=None,
                  description="The alliance's trust set, verification, same-city eligibility and redemption for city "
                              "credit codes, and the signed uploads of its cities. Errors are RFC 9457 "
                              "problem+json with a stable `code`; the rules are in proto/SPEC.md.")
    install_error_handlers(app)
    app.router.route_class = IJSONRoute  # before any route is declared
    app.state.replica = replica
    app.include_router(web.router)
    app.include_router(log_router(lambda: replica.db, _status_keys(replica), clock=replica.config.clock),
                       responses=problems(400, 404, 429))
    app.openapi = _openapi(app, _LOG_EXTRA)  # type: ignore[method-assign]  # FastAPI's documented override
    loop_executor = replica.executor
    max_batch = replica.config.max_batch

    async def in_thread(fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(loop_executor, fn)

    def caller(headers: Headers, request_client: Any) -> Principal:
        return replica.authenticate(bearer_token(headers.get("authorization")),
                                    request_client.host if request_client else "-")

    def uploader(headers: Headers, request_client: Any) -> Principal | None:
        """Signed uploads need no token (their signatures authenticate them); one that comes must be valid."""
        return caller(headers, request_client) if headers.get("authorization") else None

    # --- the trust set ----------------------------------------------------------------------------

    @app.get("/v1/trust/{path:path}", tags=["trust"], summary="A file of the trust set's TUF repository",
             response_class=Response,
             responses={200: {"content": {"application/json": {}, "application/octet-stream": {}}},
                        304: {"description": "not modified (If-None-Match)"}, **problems(404, 429)})
    def trust_file(path: str, request: Request) -> Response:
        data = replica.publisher.file(path)
        if data is None:
            raise NotFoundError(f"the trust set has no file {path!r}")
        etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
        # Versioned and content-addressed files never change; timestamp.json changes every renewal.
        cache = "public, max-age=31536000, immutable" if path != "timestamp.json" else "no-cache"
        headers = {"ETag": etag, "Cache-Control": cache}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        media = "application/json" if path.endswith(".json") else "application/octet-stream"
        return Response(data, media_type=media, headers=headers)

    @app.get("/v1/cities/{city}/status-list", tags=["trust"],
             summary="A city's status list (StatusListUpdate): whole, or a delta from ?since=",
             response_class=Response,
             responses={200: {"content": {PROTOBUF: {"schema": {"type": "string", "format": "binary"}}}},
                        304: {"description": "not modified"}, **problems(400, 404, 429)})
    def status_list(city: str, request: Request,
                    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> Response:
        code = replica.city(city)
        served = replica.publisher.status_list(code, known_version=since)
        headers = {"ETag": served.etag, "Cache-Control": "no-cache", STATUS_VERSION_HEADER: str(served.version)}
        if served.data is None or etag_matches(request.headers.get("if-none-match"), served.etag):
            return Response(status_code=304, headers=headers)
        return Response(served.data, media_type=PROTOBUF, headers=headers)

    @app.get("/v1/alliance", tags=["trust"], summary="The alliance as this gateway serves it (members, issuers)",
             responses=problems(429))
    def alliance() -> Response:
        return json_response(describe(replica.snapshot))

    # --- verification and eligibility -------------------------------------------------------------

    @app.post("/v1/codes:verify", tags=["verification"], summary="Verify one code or presentation",
              openapi_extra=json_body(VerifyBody), responses=problems(400, 413, 422, 429, 503))
    async def verify(request: Request) -> Response:
        body = parse_json(VerifyBody, request.headers, await request.body())
        at = at_time(body.at)
        if replica.needs_io(body.code):  # a presentation's replay check goes to the database
            result = await in_thread(lambda: replica.verify_one(body.code, at_s=at, venue=body.venue))
        else:
            result = replica.verify_one(body.code, at_s=at, venue=body.venue)
        return json_response(verification_to_json(result))

    @app.post("/v1/codes:batchVerify", tags=["verification"], summary="Verify many codes, answers in order",
              responses=_PUBLIC)
    async def batch_verify(body: BatchVerifyBody) -> Response:
        if len(body.codes) > max_batch:
            raise InvalidArgumentError(f"at most {max_batch} codes per batch")
        at = at_time(body.at)
        # On the event loop, a slice at a time with the loop's other work in between: a large batch then
        # delays another client's request by one slice at most, where a thread running it whole would
        # share the interpreter with the loop for all of its length.
        verifications: list[dict[str, Any]] = []
        for start in range(0, len(body.codes), BATCH_SLICE):
            if start:
                await asyncio.sleep(0)
            verifications += [verification_to_json(replica.verify(code, at_s=at, venue=body.venue))
                              for code in body.codes[start:start + BATCH_SLICE]]
        return json_response({"verifications": verifications})

    @app.get("/v1/offers", tags=["eligibility"], summary="Offers, optionally of one host city",
             responses=problems(404, 429))
    def offers(city: str | None = None) -> Response:
        found = replica.offers(None if city is None else replica.city(city))
        return json_response({"offers": [to_json(o) for o in found]})

    @app.post("/v1/eligibility:check", tags=["eligibility"],
              summary="Would this holder get this offer? (a dry run: nothing is spent or marked as seen)",
              responses=problems(400, 404, 413, 422, 429, 503))
    async def check(body: CheckBody) -> Response:
        decision = await in_thread(lambda: replica.check(body.code, body.offer_id, at_s=at_time(body.at)))
        return json_response({"decision": to_json(decision)})

    # --- merchants --------------------------------------------------------------------------------

    @app.post("/v1/redemptions", tags=["redemption"],
              summary="Spend an offer (merchant key; idempotent under the Idempotency-Key header)",
              openapi_extra=json_body(RedeemBody), responses=problems(400, 401, 403, 404, 413, 422, 429, 503))
    async def redeem(request: Request,
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
        raw = await request.body()
        headers, client = request.headers, request.client

        def run() -> bytes:  # one hop to a worker thread for credentials, body and database together
            principal = caller(headers, client)
            if idempotency_key is None:
                raise InvalidArgumentError("send an Idempotency-Key header (one per redemption attempt)")
            body = parse_json(RedeemBody, headers, raw)
            return replica.redeem(principal, code=body.code, offer_id=body.offer_id, key=idempotency_key,
                                  at_s=at_time(body.at)).json

        return Response(await in_thread(run), media_type="application/json")

    @app.post("/v1/redemptions/{redemption_id}:void", tags=["redemption"],
              summary="Void the caller's own redemption within the void window (its quota use comes back)",
              responses=_AUTHENTICATED)
    async def void(redemption_id: str, request: Request) -> Response:
        headers, client = request.headers, request.client
        return json_response(await in_thread(lambda: replica.desk.void(caller(headers, client), redemption_id)))

    @app.get("/v1/redemptions", tags=["redemption"], summary="The caller's own redemptions, newest first",
             responses=_AUTHENTICATED)
    async def history(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      before: str | None = None) -> Response:
        headers, client = request.headers, request.client
        before_s = at_time(before)
        return json_response({"redemptions": await in_thread(
            lambda: replica.desk.history(caller(headers, client), limit=limit, before_s=before_s))})

    @app.get("/v1/merchant", tags=["redemption"], summary="Who the merchant key is, and the offers it may redeem",
             responses=_AUTHENTICATED)
    async def merchant(request: Request) -> Response:
        principal = await in_thread(lambda: caller(request.headers, request.client))
        principal.require_merchant()
        trust = replica.snapshot.cities[principal.city]
        mine = [o for o in replica.offers(principal.city) if not principal.venues or o.venue in principal.venues]
        return json_response({"id": principal.id, "city": f"{principal.city:06d}", "city_name_zh": trust.name_zh,
                      "city_name_en": trust.name_en, "merchant_id": principal.merchant_id,
                      "venues": list(principal.venues), "void_window_s": replica.config.void_window_s,
                      "offers": [to_json(o) for o in mine]})

    # --- what cities upload -----------------------------------------------------------------------

    @app.put("/v1/cities/{city}/parts", tags=["uploads"],
             summary="A city's role and parts (keys, offers, policy), signed by its authority key",
             responses=_UPLOAD)
    async def put_parts(city: str, body: SignedFilesBody, request: Request) -> Response:
        code = replica.city(city)
        files = b64_files(body.files)

        def run() -> int:
            return replica.upload_city_parts(uploader(request.headers, request.client), code,
                                             _metadata(body.role, Targets, "role"), files)

        version = await _upload(replica, "parts", in_thread(run))
        return json_response({"city": f"{code:06d}", "snapshot_version": version})

    @app.put("/v1/cities/{city}/status-list", tags=["uploads"],
             summary="A city's whole status list (StatusListUpdate), signed by its status key",
             openapi_extra=protobuf_body("StatusListUpdate"), responses=_UPLOAD)
    async def put_status_list(city: str, request: Request) -> Response:
        code = replica.city(city)
        data = await request.body()

        def run() -> Any:
            return replica.upload_status_list(uploader(request.headers, request.client), code, data)

        accepted = await _upload(replica, "status_list", in_thread(run))
        return json_response({"city": f"{code:06d}", "version": accepted.version, "size": accepted.size,
                      "expires_at": iso(accepted.expires_at_s)})

    @app.put("/v1/cities/{city}/merchant-grants", tags=["uploads"],
             summary="A credential the city granted or withdrew (a MerchantGrant: a merchant's signed by a status key, "
                     "the office's by the authority key)",
             openapi_extra=protobuf_body("SignedPart over a MerchantGrant"),
             responses=problems(400, 401, 403, 404, 413, 429))
    async def put_grant(city: str, request: Request) -> Response:
        code = replica.city(city)
        data = await request.body()
        return json_response(await _upload(replica, "merchant_grant", in_thread(
            lambda: replica.upload_merchant_grant(uploader(request.headers, request.client), code, data))))

    @app.put("/v1/agreements/{agreement_id}", tags=["uploads"],
             summary="An agreement's role and part, signed by every city it binds",
             responses=_UPLOAD)
    async def put_agreement(agreement_id: str, body: SignedFilesBody, request: Request) -> Response:
        files = b64_files(body.files)

        def run() -> int:
            return replica.upload_agreement(uploader(request.headers, request.client), agreement_id,
                                            _metadata(body.role, Targets, "role"), files)

        return json_response({"agreement": agreement_id,
                      "snapshot_version": await _upload(replica, "agreement", in_thread(run))})

    @app.put("/v1/governance", tags=["uploads"],
             summary="A ceremony's result: the next root and/or top-level targets, signed by the threshold",
             responses=problems(400, 413, 422, 429))
    async def put_governance(body: GovernanceBody) -> Response:
        files = b64_files(body.files)

        def run() -> int:
            return replica.upload_governance(
                root=None if body.root is None else _metadata(body.root, Root, "root"),
                targets=None if body.targets is None else _metadata(body.targets, Targets, "targets"), files=files)

        return json_response({"snapshot_version": await _upload(replica, "governance", in_thread(run))})

    # --- city offices -----------------------------------------------------------------------------

    @app.get("/v1/cities/{city}/redemption-figures", tags=["city offices"],
             summary="The city's redemptions by day, offer, tier and home city (counts under 5 suppressed)",
             responses=_AUTHENTICATED)
    async def figures(city: str, request: Request, since: str | None = None, until: str | None = None) -> Response:
        code = replica.city(city)
        now = replica.now_s()
        since_s, until_s = at_time(since) or now - 30 * 86400, at_time(until) or now + 1

        def run() -> dict[str, Any]:
            caller(request.headers, request.client).require_city_office(code)
            return replica.desk.figures(code, since_s=since_s, until_s=until_s)

        return json_response(await in_thread(run))

    @app.post("/v1/cities/{city}/holder-redemptions", tags=["city offices"],
              summary="The redemptions of the city's residents, by the pseudonyms only the city can compute",
              responses=_AUTHENTICATED)
    async def holder_redemptions(city: str, body: HoldersBody, request: Request) -> Response:
        code = replica.city(city)

        def run() -> list[dict[str, Any]]:
            caller(request.headers, request.client).require_city_office(code)
            return replica.desk.of_holders(code, body.holders)

        return json_response({"redemptions": await in_thread(run)})

    @app.get("/v1/cities/{city}/merchants", tags=["city offices"], summary="The merchant keys the city granted",
             responses=_AUTHENTICATED)
    async def merchants(city: str, request: Request) -> Response:
        code = replica.city(city)

        def run() -> list[dict[str, Any]]:
            caller(request.headers, request.client).require_city_office(code)
            return [{"id": r.id, "merchant_id": r.merchant_id, "name": r.label,
                     "venues": [v for v in r.venues.split("\n") if v], "granted_at": iso(r.created_at_s),
                     "revoked_at": None if r.revoked_at_s is None else iso(r.revoked_at_s)}
                    for r in replica.credentials.merchants(code)]

        return json_response({"merchants": await in_thread(run)})

    # --- operations -------------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="Liveness and readiness",
             responses={503: {"description": "the database cannot be reached",
                              "content": {"application/json": {"schema": {"type": "object"}}}}})
    async def healthz() -> Response:
        ok = await in_thread(replica.db.ping)
        snapshot = replica.snapshot
        body = {"status": "ok" if ok else "unavailable", "db": ok, "snapshot_version": snapshot.version,
                "timestamp_version": replica.published.timestamp_version}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics of the whole gateway",
             response_class=Response, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        return Response(replica.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    upload_limit = max(replica.config.max_body_bytes, MAX_TRUST_FILE_BYTES)
    burst = replica.config.client_rate_burst

    def charge(client: str, tokens: float) -> None:
        """A large body's price (a token per BODY_BYTES_PER_TOKEN bytes), at most what a full bucket holds: any
        request fits a client's burst, and a client sending large batches soon waits for its allowance."""
        replica.limiter.take("client", client, min(tokens, burst - 1.0))

    return Edge(app, admit=replica.admit, record=lambda op, code, seconds: replica.metrics.request("rest", op, code,
                                                                                                  seconds),
                body_limit=replica.config.max_body_bytes, upload_limit=upload_limit, charge=charge,
                bytes_per_token=BODY_BYTES_PER_TOKEN, refusal_delay_s=replica.config.rate_refusal_delay_s)


def _openapi(app: FastAPI, extra: Mapping[tuple[str, str], tuple[int, ...]]) -> Callable[[], dict[str, Any]]:
    """The document FastAPI makes, told what the gateway sends instead of FastAPI's defaults: a request that
    fails validation is a 400 problem (never the 422 `HTTPValidationError` shape), every request may be
    refused 429 by the client's rate limit (the edge runs before any route), and `extra` statuses by route."""
    build = app.openapi
    corrected: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if corrected:
            return corrected[0]
        schema = build()
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                if "HTTPValidationError" in str(responses.get("422", {}).get("content", {})):
                    del responses["422"]
                    responses.setdefault("400", problems(400)[400])
                for status, response in problems(429, *extra.get((method.upper(), path), ())).items():
                    responses.setdefault(str(status), response)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        corrected.append(schema)
        return schema

    return openapi


def _metadata(text: str, kind: type[Signed], what: str) -> bytes:
    """An uploaded role as bytes, once it is TUF metadata of `kind` (its signatures and versions are judged by the
    trust set; what does not even parse is refused here, before it reaches the publisher)."""
    data = text.encode()  # no lone surrogate reaches here: bodies are I-JSON (`IJSONRoute`)
    try:
        signed = Metadata.from_bytes(data).signed
    except DeserializationError:
        raise BundleMalformedError(f"{what}: not TUF metadata (a signed {kind.type} role as JSON)") from None
    if not isinstance(signed, kind):
        raise BundleMalformedError(f"{what}: {signed.type} metadata where {kind.type} metadata belongs")
    return data


async def _upload(replica: Replica, kind: str, work: Awaitable[_T]) -> _T:
    """An upload's answer, counted by kind and outcome."""
    try:
        result = await work
    except CityCreditError as exc:
        replica.metrics.upload(kind, exc.code)
        raise
    replica.metrics.upload(kind, "OK")
    return result


def _status_keys(replica: Replica) -> Callable[[int], Any]:
    def keys(city: int) -> Any:
        trust = replica.snapshot.cities.get(city)
        if trust is None:
            raise CityUnknownError(f"{city} is not a member city")
        return trust.status_keys

    return keys

