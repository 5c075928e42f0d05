"""The REST conventions the gateway and the cities' issuers share: problem+json errors, strict JSON bodies.

Every refusal is an RFC 9457 `application/problem+json` answer with the catalogue `code`
(and `Retry-After` when rate-limited, `Allow` on a 405); unexpected failures are logged as
one JSON line and answered 500 without a trace. Bodies are validated strictly by pydantic
models from their raw bytes, and read as I-JSON (RFC 7493): text that is not Unicode is not JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

import orjson
from citycredit.core import parse_time_s
from citycredit.errors import (
    CityCreditError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
)
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_JSON",
    "PROTOBUF",
    "Edge",
    "IJSONRoute",
    "at_time",
    "b64_files",
    "bearer_token",
    "etag_matches",
    "install_error_handlers",
    "json_body",
    "json_response",
    "parse_json",
    "problem",
    "problems",
    "protobuf_body",
    "served_in_process",
    "served_in_thread",
]

log = logging.getLogger("citycredit.gateway.access")
PROBLEM_JSON = "application/problem+json"
PROTOBUF = "application/x-protobuf"
MAX_TOKEN_CHARS = 200
Body = TypeVar("Body", bound=BaseModel)
_S = TypeVar("_S")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# --- errors ----------------------------------------------------------------------------------------

_PROBLEM_SCHEMA = {"type": "object", "required": ["type", "title", "status", "code"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "code": {"type": "string"}, "instance": {"type": "string"}}}


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer …` value; refuses anything else."""
    if not header:
        raise UnauthenticatedError("credentials required: send Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError("use Authorization: Bearer <token>")
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise UnauthenticatedError("unknown or revoked credentials")
    return token


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: each status answered with problem+json."""
    return {status: {"description": "refused (RFC 9457 problem details with a catalogue code)",
                     "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}} for status in statuses}


def problem(err: CityCreditError, instance: str | None = None, *, status: int | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    """RFC 9457 problem details for a catalogue error (`status` overrides the catalogue's HTTP status)."""
    status = status or err.http_status
    body: dict[str, Any] = {"type": f"urn:citycredit:error:{err.code}", "title": err.title, "status": status,
                            "detail": err.message, "code": err.code}
    if instance:
        body["instance"] = instance
    all_headers = dict(headers or {})
    if isinstance(err, RateLimitedError):
        all_headers["Retry-After"] = str(max(1, round(err.retry_after_s + 0.49)))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def install_error_handlers(app: FastAPI) -> None:
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
        headers = dict(exc.headers or {})
        if status == 405:  # Starlette names the methods of the first route it tried; the path may have more
            headers["Allow"] = _allowed(request.app, request.url.path)
        return problem(InvalidArgumentError(str(exc.detail)), request.url.path, status=status, headers=headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"fields": {"path": request.url.path}})
        return problem(CityCreditError("the server failed to handle this request"), request.url.path)

    app.add_exception_handler(CityCreditError, catalogue)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _allowed(app: FastAPI, path: str) -> str:
    """The methods the routes matching `path` answer (the Allow header of a 405): every route of the path,
    and only methods a route serves (FastAPI routes do not answer HEAD for GET)."""
    methods: set[str] = set()
    scope = {"type": "http", "path": path, "method": "GET"}
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match.name != "NONE":
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _invalid(errors: Any) -> InvalidArgumentError:
    """The first few validation errors as one catalogue error."""
    parts = []
    for error in list(errors)[:5]:
        if error.get("type") == "json_invalid":  # its location is an offset into the body, not a field
            parts.append(f"body: not JSON ({error.get('ctx', {}).get('error', 'malformed')})")
            continue
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return InvalidArgumentError("; ".join(parts) or "the request is invalid")


def parse_json(model: type[Body], headers: Any, body: bytes) -> Body:
    """A JSON body validated by `model`: JSON content (or none declared), strict, 400 if not."""
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not (
            content_type.startswith("application/") and content_type.endswith("+json")):
        raise InvalidArgumentError("body: send JSON (Content-Type: application/json)")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc.errors()) from None


class _IJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())  # orjson.JSONDecodeError is a json.JSONDecodeError
        return self._json


class IJSONRoute(APIRoute):
    """A route whose JSON body FastAPI reads as I-JSON (RFC 7493), as `parse_json` reads its own.

    `json.loads` turns "\\ud800" into a str that no UTF-8 encoder takes, so a lone surrogate would pass
    validation and fail wherever the text is written (protobuf, a file, a hash); here it is malformed JSON,
    a 400, before any handler runs. So are NaN, numbers past 64 bits and nesting past 1,024 levels.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:  # FastAPI reads no body for it (the route reads its own, or takes none)
            return handler

        async def strict(request: Request) -> Response:
            return await handler(_IJSONRequest(request.scope, request.receive))

        return strict


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that parses its own body with `model`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def protobuf_body(message: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": f"a serialized {message}",
                            "content": {PROTOBUF: {"schema": {"type": "string", "format": "binary"}}}}}


def b64_files(files: Mapping[str, str]) -> dict[str, bytes]:
    out = {}
    for path, data in files.items():
        try:
            out[path] = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError(f"files.{path}: not base64") from None
    return out


def at_time(value: int | str | None) -> int | None:
    return None if value is None else parse_time_s(value, "at")


def json_response(doc: object) -> Response:
    return Response(orjson.dumps(doc), media_type="application/json")


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags




# --- the edge: client rate limit, body limit, access log, metrics ----------------------------------


class Edge:
    """In front of a FastAPI app: every request pays its client's rate limit (`admit`), gets a bounded body
    (413 past the limit, `upload_limit` for PUT), and is timed, counted (`record`) and logged.

    With `charge`, a body also costs its client one token per `bytes_per_token` bytes past the first
    `bytes_per_token` (`charge(client, tokens)`), paid before the body is read when its length is declared:
    a client sending large batches pays for the work they cause, and one that cannot pay is refused before
    anything is parsed. A refusal that leaves the body unread closes the connection (`Connection: close`),
    so the client cannot keep feeding the server bodies it will not read. A client over its budget gets its
    429 only after `refusal_delay_s`: one that retries at once cannot spin the server on refusals (each of
    its connections asks about once per delay), and holding its connection that long costs one socket.

    An exception that escapes the app after its error handler answered (Starlette re-raises it for
    the server) stops here: it was logged once, and no server traceback follows it.
    """

    def __init__(self, app: FastAPI, *, admit: Callable[[str], None],
                 record: Callable[[str, str, float], None] | None, body_limit: int, upload_limit: int,
                 charge: Callable[[str, float], None] | None = None, bytes_per_token: int = 256,
                 refusal_delay_s: float = 0.0) -> None:
        self.app = app
        self.refusal_delay_s = refusal_delay_s
        self.admit = admit
        self.record = record
        self.limit = body_limit
        self.upload_limit = upload_limit
        self.charge = charge
        self.bytes_per_token = bytes_per_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "unrecorded": True}

        def record() -> None:
            # Once per request, before its last byte goes out: a client that saw its answer sees it counted.
            if status.pop("unrecorded", False):
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                op = f"{scope['method']} {getattr(route, 'path', 'unmatched')}"
                if self.record is not None:
                    self.record(op, str(status["code"]), elapsed)
                if log.isEnabledFor(logging.INFO):
                    log.info("request", extra={"fields": {"surface": "rest", "method": scope["method"],
                                                          "path": scope["path"], "status": status["code"],
                                                          "ms": round(elapsed * 1000, 2)}})

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["answered"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()
            await send(message)

        client = scope.get("client")
        who = client[0] if client else "-"
        read: list[bool] = [False]
        try:
            self.admit(who)
            receive = await self._bounded_body(scope, receive, who, read)
        except CityCreditError as exc:
            if isinstance(exc, RateLimitedError) and self.refusal_delay_s > 0:
                await asyncio.sleep(self.refusal_delay_s)
            headers = None if read[0] else {"Connection": "close"}  # the body was left unread: do not wait for it
            await problem(exc, scope.get("path"), headers=headers)(scope, receive, send_and_record)
        else:
            try:
                await self.app(scope, receive, send_and_record)
            except Exception as exc:
                if status["code"] == 500 and "answered" not in status:  # nothing was sent yet
                    log.error("unhandled error", exc_info=exc, extra={"fields": {"path": scope.get("path")}})
                    await problem(CityCreditError("the server failed to handle this request"), scope.get("path"))(
                        scope, receive, send_and_record)
        finally:
            record()  # a request that ended without a last body message (the client went away)

    def _pay_for(self, who: str, size: int) -> None:
        if self.charge is not None and size > self.bytes_per_token:
            self.charge(who, (size - self.bytes_per_token) / self.bytes_per_token)

    async def _bounded_body(self, scope: Scope, receive: Receive, who: str, read: list[bool]) -> Receive:
        limit = self.upload_limit if scope["method"] == "PUT" else self.limit
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = int(value) if value.isdigit() and len(value) < 20 else (limit + 1 if value.isdigit() else 0)
                if declared > limit:
                    raise PayloadTooLargeError(f"the body has {declared} bytes; at most {limit} are accepted here")
        if declared is not None:
            self._pay_for(who, declared)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                read[0] = True
                return _replayer(b"".join(chunks), [message])
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                read[0] = True
                if declared is None:  # no length was declared: the body is paid for once it is here
                    self._pay_for(who, size)
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


async def served_in_process(running: contextlib.AbstractAsyncContextManager[_S], *,
                            ready: Callable[[_S], None] | None = None, stop_when_readable: int | None = None) -> None:
    """Serve what `running` starts (a gateway replica, a city's issuer) as this process's one job: until SIGTERM
    or SIGINT, or until `stop_when_readable` turns readable (a supervisor gone), then leave it gracefully.
    `ready` is called once it serves."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stop_when_readable is not None:
        loop.add_reader(stop_when_readable, stop.set)
    try:
        async with running as server:
            # The process is the server's: what start-up made (modules, the apps, trust, keys) lives as long as
            # it does, so it leaves the collector's full sweeps, which would scan all of it again each time and
            # hold up every request meanwhile (a server in a thread leaves its host's heap alone).
            gc.freeze()
            if ready is not None:
                ready(server)
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if stop_when_readable is not None:
            loop.remove_reader(stop_when_readable)


@contextlib.contextmanager
def served_in_thread(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]], *, name: str,
                     timeout_s: float, stop_timeout_s: float) -> Iterator[None]:
    """A server (a gateway replica, a city's issuer) on its own event loop in a background thread, for
    synchronous tests and scripts: started before the block, stopped gracefully after it."""
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stopped: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stopped
        stopped = asyncio.Event()
        try:
            await start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            with contextlib.suppress(Exception):
                await stop()
            return
        ready.set()
        await stopped.wait()
        await stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name=name, daemon=True)
    thread.start()
    if not ready.wait(timeout_s):
        raise UnavailableError(f"{name} did not start within {timeout_s} s")
    if failure:
        thread.join(timeout_s)
        raise failure[0]
    try:
        yield
    finally:
        assert stopped is not None
        loop.call_soon_threadsafe(stopped.set)
        thread.join(stop_timeout_s)
        loop.close()
