"""The REST surface (FastAPI): the same operations as the gRPC services, JSON in and out.

Errors are RFC 9457 `application/problem+json` with the catalogue `code`; a bad
request is always a 4xx naming its code, never a 500 or a stack trace. Bodies
over `max_body_bytes` are refused with 413 before any parsing.

The two hot endpoints, verify and redeem, take the raw request: their body model
validates the JSON bytes directly (`model_validate_json`, the same strict model and
the same 400s as the other routes), verification runs on the event loop (it does no
I/O), a redemption makes one hop to the service's worker threads for credentials,
body and database together, and the answer is sent as the bytes it was stored as.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, TypeVar

import orjson
from citycredit.core import Offer, describe, from_json, iso, parse_time_s, to_json, verification_to_json
from citycredit.errors import (
    CityCreditError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
)
from citycredit.gateway import web
from citycredit.gateway.auth import Principal, bearer_token
from citycredit.gateway.service import GatewayService, spki_from_b64
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["PROBLEM_JSON", "build_app", "problem"]

log = logging.getLogger("citycredit.gateway.access")
PROBLEM_JSON = "application/problem+json"
PROTOBUF = "application/x-protobuf"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Body = TypeVar("Body", bound=BaseModel)
FastHandler = Callable[[Headers, bytes], Awaitable[bytes]]  # (request headers, body) -> JSON answer

# --- request bodies --------------------------------------------------------------------------------

_Strict = ConfigDict(extra="forbid", strict=True)
Time = StrictInt | StrictStr | None


class VerifyBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    at: Time = None


class BatchVerifyBody(BaseModel):
    model_config = _Strict
    codes: list[StrictStr]
    at: Time = None


class CheckBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    offer_id: StrictStr
    at: Time = None


class RedeemBody(BaseModel):
    model_config = _Strict
    code: StrictStr
    offer_id: StrictStr
    idempotency_key: StrictStr


class IssueBody(BaseModel):
    model_config = _Strict
    holder_ref: StrictStr
    local_record: dict[str, Any]
    ttl_s: StrictInt = 0


class PublishKeyBody(BaseModel):
    model_config = _Strict
    algorithm: StrictStr = "ed25519"
    spki: StrictStr | None = None
    generate: StrictBool = False
    not_before: Time = None


class RetireKeyBody(BaseModel):
    model_config = _Strict
    not_after: Time = None


class HolderRevocationBody(BaseModel):
    model_config = _Strict
    holder: StrictStr
    cutoff: Time = None


class RevokeBody(BaseModel):
    model_config = _Strict
    status_indexes: list[Annotated[StrictInt, Field(ge=0)]] = []
    holders: list[HolderRevocationBody] = []


class MerchantKeyBody(BaseModel):
    model_config = _Strict
    venue: StrictStr | None = None
    label: StrictStr = ""


# --- errors ----------------------------------------------------------------------------------------


def problem(err: CityCreditError, instance: str | None = None, *, status: int | None = None) -> JSONResponse:
    """RFC 9457 problem details for a catalogue error (`status` overrides the catalogue's HTTP status)."""
    status = status or err.http_status
    body: dict[str, Any] = {"type": f"urn:citycredit:error:{err.code}", "title": err.title,
                            "status": status, "detail": err.message, "code": err.code}
    if instance:
        body["instance"] = instance
    headers = {}
    if isinstance(err, RateLimitedError):
        headers["Retry-After"] = str(max(1, round(getattr(err, "retry_after_s", 1.0))))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def catalogue(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CityCreditError)
        return problem(exc, request.url.path)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem(_invalid(exc.errors()), request.url.path)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return problem(NotFoundError(f"no such resource {request.url.path}"), request.url.path)
        status = exc.status_code if 400 <= exc.status_code < 500 else 400
        return problem(InvalidArgumentError(str(exc.detail)), request.url.path, status=status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"fields": {"path": request.url.path}})
        return problem(CityCreditError("the gateway failed to handle this request"), request.url.path)

    app.add_exception_handler(CityCreditError, catalogue)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _invalid(errors: Any) -> InvalidArgumentError:
    """The first few validation errors as one catalogue error."""
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return InvalidArgumentError("; ".join(parts) or "the request is invalid")


def _parse(model: type[Body], headers: Any, body: bytes) -> Body:
    """A JSON body validated by `model`, as FastAPI would: JSON content (or none declared), strict, 400 if not."""
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not (
            content_type.startswith("application/") and content_type.endswith("+json")):
        raise InvalidArgumentError("body: send JSON (Content-Type: application/json)")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc.errors()) from None


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that parses its own body with `model`."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}


# --- the edge: body limit, access log, metrics ----------------------------------------------------


class EdgeMiddleware:
    """In front of the FastAPI app: buffers a bounded body (413 past the limit), serves the hot routes,
    and times, counts and logs every request.

    The hot routes (`fast_routes`: verify and redeem) are answered here from the raw body and headers,
    without FastAPI's routing, dependency and response layers; FastAPI keeps the same routes, calling the
    same handlers, for its OpenAPI document. Their errors are the same problem+json answers.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, service: GatewayService,
                 fast_routes: dict[str, FastHandler]) -> None:
        self.app = app
        self.service = service
        self.limit = service.config.max_body_bytes
        self.fast_routes = fast_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        fast = self.fast_routes.get(scope["path"]) if scope["method"] == "POST" else None

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            replay = await self._bounded_body(scope, receive)
        except PayloadTooLargeError as exc:
            await problem(exc, scope.get("path"))(scope, receive, send_and_record)
        else:
            if fast is not None:
                await self._fast(fast, scope, replay, send_and_record)
            else:
                await self.app(scope, replay, send_and_record)
        finally:
            elapsed = time.perf_counter() - started
            op = f"{scope['method']} {scope['path'] if fast else getattr(scope.get('route'), 'path', 'unmatched')}"
            metrics = self.service.metrics
            metrics.inc("citycredit_requests_total", surface="rest", op=op, code=str(status["code"]))
            metrics.observe("citycredit_request_seconds", elapsed, surface="rest", op=op)
            if log.isEnabledFor(logging.INFO):
                log.info("request", extra={"fields": {"surface": "rest", "method": scope["method"],
                                                      "path": scope["path"], "status": status["code"],
                                                      "ms": round(elapsed * 1000, 2)}})

    async def _fast(self, handler: FastHandler, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        body = message.get("body", b"") if message["type"] == "http.request" else b""
        try:
            answer = await handler(Headers(scope=scope), body)
        except CityCreditError as exc:
            await problem(exc, scope["path"])(scope, receive, send)
            return
        except Exception as exc:
            log.error("unhandled error", exc_info=exc, extra={"fields": {"path": scope["path"]}})
            await problem(CityCreditError("the gateway failed to handle this request"), scope["path"])(
                scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    raise PayloadTooLargeError(f"the body has {declared} bytes; at most {self.limit} are accepted")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks_done = [message]
                return _replayer(b"".join(chunks), chunks_done)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise PayloadTooLargeError(f"the body is larger than {self.limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return _replayer(b"".join(chunks), [], receive)


def _replayer(body: bytes, pending: list[Message], upstream: Receive | None = None) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending:
            return pending.pop(0)
        if upstream is not None:
            return await upstream()
        return {"type": "http.disconnect"}

    return receive


# --- the app ---------------------------------------------------------------------------------------


def _caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The authenticated credential of the request (after its rate limit)."""
    service: GatewayService = request.app.state.service
    return service.authenticate(bearer_token(authorization))


Caller = Annotated[Principal, Depends(_caller)]


def _at(value: int | str | None) -> int | None:
    if value is None:
        return None
    return parse_time_s(value)


def build_app(service: GatewayService) -> EdgeMiddleware:
    """The ASGI application over one `GatewayService`: the edge in front of the FastAPI app (`.app`)."""
    app = FastAPI(title="citycredit gateway", version="0.1.0",
                  description="Trust bundle, verification, same-city eligibility, redemption, issuance and "
                              "administration for city credit codes. Errors are RFC 9457 problem+json with a "
                              "stable `code`.")
    _install_error_handlers(app)
    app.state.service = service
    app.include_router(web.router)  # the merchant and city-office pages
    config = service.config

    def city_of(value: str) -> int:
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) == 6:
            return int(value)
        found = service.published.snapshot.city_by_slug(value.lower())
        if found is None:
            raise InvalidArgumentError(f"{value!r} is neither a six-digit city code nor a member's slug")
        return found

    # --- public ---------------------------------------------------------------------------------

    @app.get("/v1/trust-bundle", tags=["trust"], summary="The signed trust bundle (protobuf), or its summary")
    def trust_bundle(request: Request, format: Annotated[str, Query(pattern="^(protobuf|json)$")] = "protobuf",
                     ) -> Response:
        published = service.published
        headers = {"ETag": published.etag, "Cache-Control": "public, max-age=60",
                   "X-Bundle-Version": str(published.version)}
        if format == "json":
            return JSONResponse(describe(published.snapshot), headers=headers)
        tags = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")}
        if published.etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
        return Response(published.data, media_type=PROTOBUF, headers=headers)

    async def verify_answer(headers: Headers, raw: bytes) -> bytes:
        body = _parse(VerifyBody, headers, raw)  # verification does no I/O: it runs right here
        return orjson.dumps(verification_to_json(service.verify_readable(body.code, at_s=_at(body.at))))

    @app.post("/v1/codes:verify", tags=["verification"], summary="Verify one code",
              openapi_extra=_json_body(VerifyBody))
    async def verify(request: Request) -> Response:
        return Response(await verify_answer(request.headers, await request.body()), media_type="application/json")

    @app.post("/v1/codes:batchVerify", tags=["verification"], summary="Verify many codes, answers in order")
    def batch_verify(body: BatchVerifyBody) -> dict[str, Any]:
        if len(body.codes) > config.max_batch:
            raise InvalidArgumentError(f"at most {config.max_batch} codes per batch")
        at = _at(body.at)
        return {"verifications": [verification_to_json(service.verify(code, at_s=at)) for code in body.codes]}

    @app.get("/v1/offers", tags=["eligibility"], summary="Offers, optionally of one host city")
    def offers(city: str | None = None) -> dict[str, Any]:
        return {"offers": [to_json(o) for o in service.offers(None if city is None else city_of(city))]}

    @app.post("/v1/eligibility:check", tags=["eligibility"], summary="Would this holder get this offer?")
    def check(body: CheckBody) -> dict[str, Any]:
        return to_json(service.check(body.code, body.offer_id, at_s=_at(body.at)))

    # --- merchants ------------------------------------------------------------------------------

    async def redeem_answer(headers: Headers, raw: bytes) -> bytes:
        def run() -> bytes:  # one hop to a worker thread for credentials, body and database together
            caller = service.authenticate(bearer_token(headers.get("authorization")))  # before the body, as elsewhere
            body = _parse(RedeemBody, headers, raw)
            return service.redeem_stored(caller, code=body.code, offer_id=body.offer_id,
                                         idempotency_key=body.idempotency_key).json

        return await asyncio.get_running_loop().run_in_executor(service.executor, run)

    @app.post("/v1/redemptions", tags=["redemption"], summary="Spend an offer (merchant key; idempotent)",
              openapi_extra=_json_body(RedeemBody))
    async def redeem(request: Request) -> Response:
        return Response(await redeem_answer(request.headers, await request.body()), media_type="application/json")

    # --- city offices ---------------------------------------------------------------------------

    @app.post("/v1/cities/{city}/codes", tags=["issuance"], summary="Issue a code with a gateway-held key")
    def issue(city: str, body: IssueBody, caller: Caller) -> dict[str, Any]:
        issued = service.issue(caller, city=city_of(city), holder_ref=body.holder_ref,
                               local_record=body.local_record, ttl_s=body.ttl_s)
        return {"code": issued.code, "city": f"{issued.city:06d}", "tier": issued.tier.name, "band": issued.band,
                "issued_at": iso(issued.issued_at_s), "expires_at": iso(issued.expires_at_s),
                "status_index": issued.status_index, "holder": issued.holder.hex()}

    @app.post("/v1/cities/{city}/keys", tags=["admin"], summary="Publish a public key (or have one generated)")
    def publish_key(city: str, body: PublishKeyBody, caller: Caller) -> dict[str, Any]:
        version, kid = service.publish_key(caller, city=city_of(city), algorithm=body.algorithm,
                                           spki=None if body.spki is None else spki_from_b64(body.spki),
                                           not_before_s=_at(body.not_before), generate=body.generate)
        return {"bundle_version": version, "kid": kid}

    @app.post("/v1/cities/{city}/keys/{kid}:retire", tags=["admin"], summary="Retire a key")
    def retire_key(city: str, kid: str, caller: Caller, body: RetireKeyBody | None = None) -> dict[str, Any]:
        try:
            raw = bytes.fromhex(kid)
        except ValueError:
            raise InvalidArgumentError("kid is 16 hex digits") from None
        if len(raw) != 8:
            raise InvalidArgumentError("kid is 16 hex digits")
        version = service.retire_key(caller, city=city_of(city), kid=raw,
                                     not_after_s=_at(body.not_after) if body else None)
        return {"bundle_version": version}

    @app.post("/v1/offers", tags=["admin"], summary="Publish or replace an offer of the caller's city")
    def publish_offer(body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        offer = from_json(Offer, body)
        return {"bundle_version": service.publish_offer(caller, offer), "offer": to_json(offer)}

    @app.post("/v1/cities/{city}/revocations", tags=["admin"], summary="Revoke status indexes and holders")
    def revoke(city: str, body: RevokeBody, caller: Caller) -> dict[str, Any]:
        holders = []
        for entry in body.holders:
            try:
                holder = bytes.fromhex(entry.holder)
            except ValueError:
                raise InvalidArgumentError("a holder is its pseudonym in hex") from None
            holders.append((holder, _at(entry.cutoff) or 0))
        version = service.revoke(caller, city=city_of(city), status_indexes=body.status_indexes, holders=holders)
        return {"bundle_version": version}

    @app.post("/v1/cities/{city}/merchant-keys", tags=["admin"], status_code=201,
              summary="Create a merchant API key for the caller's city (the token is shown once)")
    def merchant_key(city: str, body: MerchantKeyBody, caller: Caller) -> dict[str, Any]:
        code = city_of(city)
        cred_id, token = service.create_credential(caller, city=code, venue=body.venue, label=body.label)
        return {"id": cred_id, "token": token, "city": f"{code:06d}", "venue": body.venue}

    @app.post("/v1/credentials/{cred_id}:revoke", tags=["admin"], summary="Revoke a credential of the caller's city")
    def revoke_credential(cred_id: str, caller: Caller) -> dict[str, Any]:
        service.revoke_credential(caller, cred_id)
        return {"id": cred_id, "revoked": True}

    # --- operations -----------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="Liveness and readiness")
    def healthz() -> Response:
        ok = service.db.ping()
        body = {"status": "ok" if ok else "unavailable", "bundle_version": service.published.version, "db": ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics of this replica")
    def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return EdgeMiddleware(app, service=service,
                          fast_routes={"/v1/codes:verify": verify_answer, "/v1/redemptions": redeem_answer})

