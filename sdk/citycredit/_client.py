"""`GatewayClient`: the merchant's client for a citycredit gateway, over REST or gRPC.

    client = GatewayClient.rest("https://gateway.example", api_key="ccm_…")
    decision = client.check("CP1:…", "quzhou-parking-free-3", venue="east-gate")
    if decision.eligible:
        client.redeem("CP1:…", "quzhou-parking-free-3", idempotency_key=scan_id)

Both transports return the same small typed objects (`VerifiedCode`, `Offer`,
`Decision`, `Redemption`) and raise the one error catalogue: the gateway's
problem+json `code` member or gRPC `cc-error-code` trailer becomes the matching
`CityCreditError` subclass; a gateway that cannot be reached is `UnavailableError`.

REST runs on httpx (any `httpx.Client` can be handed in, e.g. one over an ASGI app). gRPC
needs `grpcio` (the `grpc` extra), imported only when a gRPC client is built. The trust
set a verifier follows is fetched through `trust_file` and `status_list` (see `Verifier.from_gateway`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx

from citycredit._gen.citycredit.v1 import offer_pb2, service_pb2
from citycredit.core import (
    MAX_TRUST_FILE_BYTES,
    Decision,
    Offer,
    VerifiedCode,
    decision_from_json,
    from_json,
    from_proto,
    to_epoch_s,
    verification_from_json,
    verification_from_proto,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    CityCreditError,
    CodeError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
    error_for_code,
)

__all__ = [
    "GatewayClient",
    "GrpcTransport",
    "Redemption",
    "RestTransport",
    "StatusFetch",
    "Transport",
]

ERROR_CODE_METADATA = "cc-error-code"
PROTOBUF_MEDIA_TYPE = "application/x-protobuf"
STATUS_VERSION_HEADER = "x-status-list-version"
At = int | float | datetime | None
_T = TypeVar("_T")
_R = TypeVar("_R")


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusFetch:
    """A city's status list as served: StatusListUpdate bytes (whole list or delta), or None when current.

    The bytes are unverified until opened against the city's status keys (`open_status_update`).
    """

    version: int
    data: bytes | None
    etag: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redemption:
    """The answer to a redemption: the decision, and the redemption id when a benefit was spent."""

    decision: Decision
    redemption_id: str | None
    # True when the gateway replayed the first answer given for this idempotency key.
    replayed: bool = False

    def __post_init__(self) -> None:
        if (self.redemption_id is not None) != self.decision.eligible:
            raise InvalidArgumentError("a redemption has an id exactly when its decision is eligible")

    @property
    def redeemed(self) -> bool:
        return self.redemption_id is not None


# --- transports ------------------------------------------------------------------------------------


class Transport(Protocol):
    """One gateway operation per method; `GatewayClient` adds argument checks and defaults."""

    def trust_file(self, path: str) -> bytes: ...

    def status_list(self, city: int, known_version: int, etag: str | None) -> StatusFetch: ...

    def verify(self, codes: Sequence[str], at_s: int | None, venue: str) -> list[VerifiedCode | CityCreditError]: ...

    def offers(self, city: int | None) -> list[Offer]: ...

    def check(self, code: str, offer_id: str, at_s: int | None, venue: str) -> Decision: ...

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str) -> Redemption: ...

    def close(self) -> None: ...


class RestTransport:
    """The gateway's REST API over an `httpx.Client` (its own, or one handed in: a test client, a proxy)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, http: httpx.Client | None = None) -> None:
        parts = httpx.URL(url) if isinstance(url, str) and "://" in url else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.host:
            raise InvalidArgumentError(f"a gateway URL is http(s)://host[:port][/prefix], not {url!r}")
        if timeout_s <= 0:
            raise InvalidArgumentError("timeout_s must be positive")
        self.base_url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout_s, headers={"user-agent": "citycredit-sdk"})

    @property
    def http(self) -> httpx.Client:
        """The HTTP client (the trust sync fetches TUF metadata through it)."""
        return self._http

    def close(self) -> None:
        if self._own:
            self._http.close()

    def _call(self, method: str, path: str, *, body: object = None, headers: Mapping[str, str] | None = None,
              query: Mapping[str, str] | None = None) -> httpx.Response:
        all_headers = {"accept": "application/json, application/problem+json", **(headers or {})}
        try:
            response = self._http.request(method, self.base_url + path, json=body, headers=all_headers,
                                          params=query, timeout=self.timeout_s)
        except httpx.HTTPError as exc:  # refused, reset, timed out, or the answer broke off
            raise UnavailableError(f"cannot reach the gateway at {self.base_url}: {exc or type(exc).__name__}") \
                from None
        if not 200 <= response.status_code < 300 and response.status_code != 304:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(method, path, **kwargs)
        try:
            doc = response.json()
        except ValueError:
            raise UnavailableError(f"the gateway answered {method} {path} with something other than JSON") from None
        if not isinstance(doc, dict):
            raise UnavailableError(f"the gateway answered {method} {path} with JSON that is not an object")
        return doc

    def trust_file(self, path: str) -> bytes:
        response = self._call("GET", f"/v1/trust/{path}", headers={"accept": "*/*"})
        if len(response.content) > MAX_TRUST_FILE_BYTES:
            raise BundleMalformedError(f"the served {path} is larger than {MAX_TRUST_FILE_BYTES} bytes")
        return response.content

    def status_list(self, city: int, known_version: int, etag: str | None) -> StatusFetch:
        headers = {"accept": PROTOBUF_MEDIA_TYPE}
        if etag:
            headers["if-none-match"] = etag
        query = {"since": str(known_version)} if known_version else None
        response = self._call("GET", f"/v1/cities/{city:06d}/status-list", headers=headers, query=query)
        version = _int_header(response.headers.get(STATUS_VERSION_HEADER))
        served_etag = response.headers.get("etag", etag)
        if response.status_code == 304:
            return StatusFetch(version=version or known_version, data=None, etag=served_etag)
        if len(response.content) > MAX_TRUST_FILE_BYTES:
            raise BundleMalformedError(f"the served status list is larger than {MAX_TRUST_FILE_BYTES} bytes")
        return StatusFetch(version=version, data=response.content, etag=served_etag)

    def verify(self, codes: Sequence[str], at_s: int | None, venue: str) -> list[VerifiedCode | CityCreditError]:
        extra: dict[str, object] = {} if at_s is None else {"at": at_s}
        if venue:
            extra["venue"] = venue
        if len(codes) == 1:
            try:
                doc = self._json("POST", "/v1/codes:verify", body={"code": codes[0], **extra})
            except (CodeError, BundleError) as exc:  # a refusal may come as problem+json
                return [exc]
            return [_parsed(verification_from_json, doc, "verification")]
        doc = self._json("POST", "/v1/codes:batchVerify", body={"codes": list(codes), **extra})
        items = doc.get("verifications")
        if not isinstance(items, list) or len(items) != len(codes):
            raise UnavailableError(f"the gateway answered {len(codes)} codes with a malformed batch")
        return [_parsed(verification_from_json, item, "verification") for item in items]

    def offers(self, city: int | None) -> list[Offer]:
        doc = self._json("GET", "/v1/offers", query=None if city is None else {"city": f"{city:06d}"})
        items = doc.get("offers")
        if not isinstance(items, list):
            raise UnavailableError("the gateway's offer list is malformed")
        return [_parsed(lambda d: from_json(Offer, d), item, "offer") for item in items]

    def check(self, code: str, offer_id: str, at_s: int | None, venue: str) -> Decision:
        body: dict[str, object] = {"code": code, "offer_id": offer_id}
        if at_s is not None:
            body["at"] = at_s
        if venue:
            body["venue"] = venue
        doc = self._json("POST", "/v1/eligibility:check", body=body)
        return _decision_from_json(doc.get("decision", doc))

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str) -> Redemption:
        doc = self._json("POST", "/v1/redemptions", body={"code": code, "offer_id": offer_id},
                         headers={"authorization": f"Bearer {api_key}", "idempotency-key": idempotency_key})
        return _redemption_from_json(doc)


class GrpcTransport:
    """The gateway's gRPC API; needs `grpcio` (pip install 'citycredit[grpc]')."""

    def __init__(self, target: str, *, timeout_s: float = 5.0, credentials: Any = None,
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        try:
            import grpc  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415 - optional: the grpc extra

            from citycredit._gen.citycredit.v1 import service_pb2_grpc  # noqa: PLC0415 - imports grpc
        except ImportError:
            raise InvalidArgumentError(
                "the gRPC transport needs grpcio: pip install 'citycredit[grpc]' (or use GatewayClient.rest)") \
                from None
        if timeout_s <= 0:
            raise InvalidArgumentError("timeout_s must be positive")
        self._grpc = grpc
        self._pb = service_pb2
        self.target = target
        self.timeout_s = timeout_s
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=list(options))
        else:
            self._channel = grpc.secure_channel(target, credentials, options=list(options))
        self._trust = service_pb2_grpc.TrustServiceStub(self._channel)
        self._verification = service_pb2_grpc.VerificationServiceStub(self._channel)
        self._eligibility = service_pb2_grpc.EligibilityServiceStub(self._channel)
        self._redemption = service_pb2_grpc.RedemptionServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Callable[..., Any], request: Any, metadata: Sequence[tuple[str, str]] = ()) -> Any:
        try:
            return method(request, timeout=self.timeout_s, metadata=list(metadata) or None)
        except self._grpc.RpcError as exc:
            raise _grpc_error(exc, self.target) from None

    def trust_file(self, path: str) -> bytes:
        reply: service_pb2.GetTrustFileResponse = self._call(
            self._trust.GetTrustFile, self._pb.GetTrustFileRequest(path=path))
        return bytes(reply.data)

    def status_list(self, city: int, known_version: int, etag: str | None) -> StatusFetch:
        reply: service_pb2.GetStatusListResponse = self._call(
            self._trust.GetStatusList, self._pb.GetStatusListRequest(city=city, known_version=known_version))
        if reply.not_modified:
            return StatusFetch(version=reply.version or known_version, data=None, etag=etag)
        return StatusFetch(version=reply.version, data=reply.update.SerializeToString(deterministic=True))

    def verify(self, codes: Sequence[str], at_s: int | None, venue: str) -> list[VerifiedCode | CityCreditError]:
        if len(codes) == 1:
            one: service_pb2.VerifyCodeResponse = self._call(
                self._verification.VerifyCode, self._pb.VerifyCodeRequest(code=codes[0], at=at_s or 0, venue=venue))
            return [_parsed(verification_from_proto, one.verification, "verification")]
        many: service_pb2.VerifyCodesResponse = self._call(
            self._verification.VerifyCodes, self._pb.VerifyCodesRequest(codes=list(codes), at=at_s or 0, venue=venue))
        if len(many.verifications) != len(codes):
            raise UnavailableError(f"the gateway answered {len(codes)} codes with {len(many.verifications)} results")
        return [_parsed(verification_from_proto, v, "verification") for v in many.verifications]

    def offers(self, city: int | None) -> list[Offer]:
        reply: service_pb2.ListOffersResponse = self._call(
            self._eligibility.ListOffers, self._pb.ListOffersRequest(city=city or 0))
        return [_parsed(lambda m: from_proto(Offer, m), o, "offer") for o in reply.offers]

    def check(self, code: str, offer_id: str, at_s: int | None, venue: str) -> Decision:
        reply: service_pb2.CheckEligibilityResponse = self._call(
            self._eligibility.CheckEligibility,
            self._pb.CheckEligibilityRequest(code=code, offer_id=offer_id, at=at_s or 0, venue=venue))
        return _decision_from_proto(reply.decision)

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str) -> Redemption:
        reply: service_pb2.RedeemResponse = self._call(
            self._redemption.Redeem,
            self._pb.RedeemRequest(code=code, offer_id=offer_id, idempotency_key=idempotency_key),
            metadata=[("authorization", f"Bearer {api_key}")])
        return _parsed(lambda r: Redemption(decision=_decision_from_proto(r.decision),
                                            redemption_id=r.redemption_id or None, replayed=r.replayed),
                       reply, "redemption")


# --- the client ------------------------------------------------------------------------------------


class GatewayClient:
    """A merchant's client for one gateway. Build it with `GatewayClient.rest(...)` or `.grpc(...)`.

    Thread-safe: each call is one independent request.
    """

    def __init__(self, transport: Transport, *, api_key: str | None = None) -> None:
        self.transport = transport
        self._api_key = api_key

    @classmethod
    def rest(cls, url: str, *, api_key: str | None = None, timeout_s: float = 5.0,
             http: httpx.Client | None = None) -> GatewayClient:
        """REST over httpx; `http` is the client to use (e.g. `InMemoryGateway.http()`), else one of its own."""
        return cls(RestTransport(url, timeout_s=timeout_s, http=http), api_key=api_key)

    @classmethod
    def grpc(cls, target: str, *, api_key: str | None = None, timeout_s: float = 5.0, credentials: Any = None,
             options: Sequence[tuple[str, Any]] = ()) -> GatewayClient:
        """gRPC to `host:port`; plaintext unless `credentials` (a `grpc.ChannelCredentials`) is given."""
        return cls(GrpcTransport(target, timeout_s=timeout_s, credentials=credentials, options=options),
                   api_key=api_key)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def trust_file(self, path: str) -> bytes:
        """One file of the gateway's TUF repository, unverified: `timestamp.json`, `3.snapshot.json` …"""
        _require_text(path, "path")
        return self.transport.trust_file(path)

    def status_list(self, city: int, *, known_version: int = 0, etag: str | None = None) -> StatusFetch:
        """A city's status list: the whole list, a delta from `known_version`, or `not_modified`."""
        if isinstance(known_version, bool) or not isinstance(known_version, int) or known_version < 0:
            raise InvalidArgumentError(f"known_version is a non-negative integer, not {known_version!r}")
        return self.transport.status_list(_city(city), known_version, etag)

    def verify(self, code: str, *, at: At = None, venue: str = "") -> VerifiedCode:
        """Verify one code at the gateway; raises the `CodeError` saying why it was refused."""
        result = self.verify_many([code], at=at, venue=venue)[0]
        if isinstance(result, CityCreditError):
            raise result
        return result

    def verify_many(self, codes: Iterable[str], *, at: At = None, venue: str = "",
                    ) -> list[VerifiedCode | CityCreditError]:
        """Verify codes in one request: per code, in order, the claims or the error that refused it.

        `venue` names where the codes are shown: a presentation already seen there inside its
        window is refused as replayed.
        """
        codes = list(codes)
        if not codes:
            return []
        for code in codes:
            _require_text(code, "code")
        return self.transport.verify(codes, _at_s(at), venue)

    def offers(self, city: int | None = None) -> list[Offer]:
        """The alliance's offers, or those of one host city."""
        return self.transport.offers(None if city is None else _city(city))

    def check(self, code: str, offer_id: str, *, at: At = None, venue: str = "") -> Decision:
        """Whether the code's holder may have the offer (nothing is spent); every "no" names its reason."""
        _require_text(code, "code")
        _require_text(offer_id, "offer_id")
        return self.transport.check(code, offer_id, _at_s(at), venue)

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str | None = None) -> Redemption:
        """Spend the offer for the holder; repeating `idempotency_key` returns the first answer again.

        Retry with the same key after a timeout or `UnavailableError`: a redemption the
        gateway recorded is then replayed, never spent twice.
        """
        _require_text(code, "code")
        _require_text(offer_id, "offer_id")
        _require_text(idempotency_key, "idempotency_key")
        key = api_key or self._api_key
        if not key:
            raise UnauthenticatedError("redeeming needs a merchant API key (api_key=...)")
        return self.transport.redeem(code, offer_id, idempotency_key, key)


def _city(city: object) -> int:
    if isinstance(city, bool) or not isinstance(city, int) or not 0 < city < 1_000_000:
        raise InvalidArgumentError(f"city is a six-digit GB/T 2260 code, not {city!r}")
    return city


def _require_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string, not {value!r}")


def _at_s(at: At) -> int | None:
    return None if at is None else to_epoch_s(at, "a validation time")


# --- wire formats ----------------------------------------------------------------------------------

# Used when an error answer carries no catalogue code (a proxy, a crash page).
_HTTP_FALLBACK: dict[int, type[CityCreditError]] = {
    400: InvalidArgumentError, 401: UnauthenticatedError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 413: PayloadTooLargeError, 422: InvalidArgumentError, 429: RateLimitedError,
    502: UnavailableError, 503: UnavailableError, 504: UnavailableError,
}
_GRPC_FALLBACK: dict[str, type[CityCreditError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError, "UNAUTHENTICATED": UnauthenticatedError,
    "PERMISSION_DENIED": PermissionDeniedError, "NOT_FOUND": NotFoundError, "ALREADY_EXISTS": ConflictError,
    "RESOURCE_EXHAUSTED": RateLimitedError, "UNAVAILABLE": UnavailableError, "DEADLINE_EXCEEDED": UnavailableError,
}


def error_from_response(response: httpx.Response) -> CityCreditError:
    """The catalogue error of an RFC 9457 problem+json answer (or the closest one for a bare status)."""
    message = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        doc = json.loads(response.content)
        if isinstance(doc, dict):
            detail = doc.get("detail") or doc.get("title")
            message = detail if isinstance(detail, str) else None
            code = doc.get("code")
            if isinstance(code, str) and code:
                return error_for_code(code, message)
    fallback = _HTTP_FALLBACK.get(response.status_code)
    text = message or f"the gateway answered HTTP {response.status_code}"
    return fallback(text) if fallback else CityCreditError(text)


def _grpc_error(exc: Any, target: str) -> CityCreditError:
    details = exc.details() if callable(getattr(exc, "details", None)) else None
    metadata = exc.trailing_metadata() if callable(getattr(exc, "trailing_metadata", None)) else None
    for key, value in metadata or ():
        if key == ERROR_CODE_METADATA:
            return error_for_code(value.decode() if isinstance(value, bytes) else str(value), details)
    status = exc.code().name if callable(getattr(exc, "code", None)) else "UNKNOWN"
    fallback = _GRPC_FALLBACK.get(status)
    if fallback is UnavailableError:
        return UnavailableError(f"cannot reach the gateway at {target}: {details or status}")
    text = details or f"the gateway answered gRPC {status}"
    return fallback(text) if fallback else CityCreditError(text)


def _int_header(value: str | None) -> int:
    return int(value) if value and value.strip().isdigit() else 0


def _parsed(build: Callable[[_T], _R], value: _T, what: str) -> _R:
    """Build a typed result from the gateway's answer; a malformed answer is the gateway's failure."""
    try:
        return build(value)
    except CityCreditError as exc:
        raise UnavailableError(f"the gateway sent a malformed {what}: {exc.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnavailableError(f"the gateway sent a malformed {what}: {exc!r}") from None


def _decision_from_json(doc: object) -> Decision:
    """The gateway's decision JSON; members a newer gateway added are ignored (forward compatibility)."""
    return _parsed(lambda d: decision_from_json(d, strict=False), doc, "decision")


def _decision_from_proto(msg: offer_pb2.Decision) -> Decision:
    return _parsed(lambda m: from_proto(Decision, m), msg, "decision")


def _redemption_from_json(doc: Mapping[str, Any]) -> Redemption:
    return _parsed(lambda d: Redemption(decision=_decision_from_json(d["decision"]),
                                        redemption_id=d.get("redemption_id") or None,
                                        replayed=bool(d.get("replayed", False))), doc, "redemption")
