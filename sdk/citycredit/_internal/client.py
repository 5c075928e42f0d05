"""`GatewayClient`: the merchant's client for a citycredit gateway, over REST or gRPC.

    client = GatewayClient.rest("https://gateway.example", api_key="ccm_…")
    decision = client.check("CC1:…", "quzhou-parking-free-3")
    if decision.eligible:
        client.redeem("CC1:…", "quzhou-parking-free-3", idempotency_key=scan_id)

Both transports return the same small typed objects (`VerifiedCode`, `Offer`,
`Decision`, `Redemption`) and raise the one error catalogue: the gateway's
problem+json `code` member or gRPC `cc-error-code` trailer becomes the matching
`CityCreditError` subclass; a gateway that cannot be reached is `UnavailableError`.

REST needs only the standard library. gRPC needs `grpcio` (the `grpc` extra),
imported only when a gRPC client is built.

`verifier_from_gateway` (exposed as `Verifier.from_gateway`) keeps an offline
`Verifier` in step with a gateway's trust bundle: it fetches by version/ETag,
opens every bundle against the pinned anchor, refuses rollback below the version
it accepted before, caches the bundle on disk, and keeps working from that cache
while the gateway is unreachable, until the bundle's offline grace runs out.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from citycredit._internal.bundle import MAX_BUNDLE_BYTES, AcceptedBundle, TrustAnchor, TrustSnapshot, open_bundle
from citycredit._internal.eligibility import _DECISION_KEYS, Decision, Offer
from citycredit._internal.home import write_public
from citycredit._internal.tiers import Tier
from citycredit._internal.verifier import Verifier, VerifierConfig, to_epoch_s
from citycredit._internal.verify import VerifiedCode
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleStaleError,
    BundleThresholdError,
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

if TYPE_CHECKING:
    from citycredit._gen.citycredit.v1 import offer_pb2, service_pb2

__all__ = [
    "BundleFetch",
    "GatewayClient",
    "GatewayVerifier",
    "GrpcTransport",
    "HttpRequest",
    "HttpResponse",
    "Redemption",
    "RestTransport",
    "Transport",
    "verifier_from_gateway",
]

ERROR_CODE_METADATA = "cc-error-code"
BUNDLE_MEDIA_TYPE = "application/x-protobuf"
BUNDLE_VERSION_HEADER = "x-bundle-version"
_MAX_JSON_BYTES = 16 * 1024 * 1024
At = int | float | datetime | None
_T = TypeVar("_T")
_R = TypeVar("_R")


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleFetch:
    """A trust bundle as served: the signed bytes, or None when the caller's copy is current.

    The bytes are unverified until opened against a pinned anchor (`Verifier.from_bundle_bytes`).
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

    def trust_bundle(self, known_version: int, etag: str | None) -> BundleFetch: ...

    def verify(self, codes: Sequence[str], at_s: int | None) -> list[VerifiedCode | CityCreditError]: ...

    def offers(self, city: int | None) -> list[Offer]: ...

    def check(self, code: str, offer_id: str, at_s: int | None) -> Decision: ...

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str) -> Redemption: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    # Header names in lower case.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def of_json(cls, status: int, doc: object, *, content_type: str = "application/json") -> HttpResponse:
        return cls(status, {"content-type": content_type}, json.dumps(doc, ensure_ascii=False).encode())


# Sends one HTTP request; raises OSError when the gateway cannot be reached.
Send = Callable[[HttpRequest, float], HttpResponse]


def urllib_send(request: HttpRequest, timeout_s: float) -> HttpResponse:
    """The standard library's HTTP client; non-2xx answers are returned, not raised."""
    req = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers),
                                 method=request.method)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return HttpResponse(resp.status, _lower(resp.headers.items()), resp.read(MAX_BUNDLE_BYTES + 1))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, _lower(exc.headers.items()), exc.read(_MAX_JSON_BYTES + 1))
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise OSError(str(reason) if not isinstance(reason, OSError) else reason.strerror or str(reason)) from None
    except http.client.HTTPException as exc:  # the connection broke mid-answer (e.g. the gateway died)
        raise OSError(f"{type(exc).__name__}: {exc}") from None


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


class RestTransport:
    """The gateway's REST API over the standard library (or any `send` function, e.g. `InMemoryGateway`)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, send: Send | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentError(f"a gateway URL is http(s)://host[:port][/prefix], not {url!r}")
        if timeout_s <= 0:
            raise InvalidArgumentError("timeout_s must be positive")
        self.base_url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._send = send or urllib_send

    def close(self) -> None:
        """Nothing to release: urllib opens a connection per request."""

    def _call(self, method: str, path: str, *, body: object = None, headers: Mapping[str, str] | None = None,
              query: Mapping[str, str] | None = None) -> HttpResponse:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        all_headers = {"accept": "application/json, application/problem+json", "user-agent": "citycredit-sdk"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        try:
            response = self._send(HttpRequest(method, url, all_headers, data), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise UnavailableError(f"cannot reach the gateway at {self.base_url}: {exc}") from None
        if not 200 <= response.status < 300 and response.status != 304:
            raise _problem_error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(method, path, **kwargs)
        try:
            doc = json.loads(response.body)
        except ValueError:
            raise UnavailableError(f"the gateway answered {method} {path} with something other than JSON") from None
        if not isinstance(doc, dict):
            raise UnavailableError(f"the gateway answered {method} {path} with JSON that is not an object")
        return doc

    def trust_bundle(self, known_version: int, etag: str | None) -> BundleFetch:
        headers = {"accept": BUNDLE_MEDIA_TYPE}
        if etag:
            headers["if-none-match"] = etag
        response = self._call("GET", "/v1/trust-bundle", headers=headers)
        served_etag = response.headers.get("etag", etag)
        version = _int_header(response.headers.get(BUNDLE_VERSION_HEADER))
        if response.status == 304:
            return BundleFetch(version=version or known_version, data=None, etag=served_etag)
        if len(response.body) > MAX_BUNDLE_BYTES:
            raise BundleMalformedError(f"the served bundle is larger than {MAX_BUNDLE_BYTES} bytes")
        return BundleFetch(version=version or _etag_version(served_etag), data=response.body, etag=served_etag)

    def verify(self, codes: Sequence[str], at_s: int | None) -> list[VerifiedCode | CityCreditError]:
        at = {} if at_s is None else {"at": at_s}
        if len(codes) == 1:
            try:
                doc = self._json("POST", "/v1/codes:verify", body={"code": codes[0], **at})
            except (CodeError, BundleError) as exc:  # a refusal may come as problem+json
                return [exc]
            return [_verification_from_json(doc)]
        doc = self._json("POST", "/v1/codes:batchVerify", body={"codes": list(codes), **at})
        items = _first(doc, "verifications", "results")
        if not isinstance(items, list) or len(items) != len(codes):
            raise UnavailableError(f"the gateway answered {len(codes)} codes with a malformed batch")
        return [_verification_from_json(item) for item in items]

    def offers(self, city: int | None) -> list[Offer]:
        doc = self._json("GET", "/v1/offers", query=None if city is None else {"city": str(city)})
        items = doc.get("offers")
        if not isinstance(items, list):
            raise UnavailableError("the gateway's offer list is malformed")
        return [_parsed(Offer.from_dict, item, "offer") for item in items]

    def check(self, code: str, offer_id: str, at_s: int | None) -> Decision:
        body: dict[str, object] = {"code": code, "offer_id": offer_id}
        if at_s is not None:
            body["at"] = at_s
        doc = self._json("POST", "/v1/eligibility:check", body=body)
        return _decision_from_json(doc.get("decision", doc))

    def redeem(self, code: str, offer_id: str, idempotency_key: str, api_key: str) -> Redemption:
        doc = self._json("POST", "/v1/redemptions",
                         body={"code": code, "offer_id": offer_id, "idempotency_key": idempotency_key},
                         headers={"authorization": f"Bearer {api_key}", "idempotency-key": idempotency_key})
        return _redemption_from_json(doc)


class GrpcTransport:
    """The gateway's gRPC API; needs `grpcio` (pip install 'citycredit[grpc]')."""

    def __init__(self, target: str, *, timeout_s: float = 5.0, credentials: Any = None,
                 options: Sequence[tuple[str, Any]] = ()) -> None:
        try:
            import grpc  # type: ignore[import-untyped,unused-ignore]  # grpcio ships no type information

            from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
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

    def trust_bundle(self, known_version: int, etag: str | None) -> BundleFetch:
        reply: service_pb2.GetTrustBundleResponse = self._call(
            self._trust.GetTrustBundle, self._pb.GetTrustBundleRequest(known_version=known_version))
        if reply.not_modified:
            return BundleFetch(version=reply.version or known_version, data=None, etag=etag)
        data = bytes(reply.bundle.SerializeToString(deterministic=True))
        return BundleFetch(version=reply.version, data=data, etag=f'"{reply.version}"')

    def verify(self, codes: Sequence[str], at_s: int | None) -> list[VerifiedCode | CityCreditError]:
        if len(codes) == 1:
            one: service_pb2.VerifyCodeResponse = self._call(
                self._verification.VerifyCode, self._pb.VerifyCodeRequest(code=codes[0], at=at_s or 0))
            return [_verification_from_proto(one.verification)]
        many: service_pb2.VerifyCodesResponse = self._call(
            self._verification.VerifyCodes, self._pb.VerifyCodesRequest(codes=list(codes), at=at_s or 0))
        if len(many.verifications) != len(codes):
            raise UnavailableError(f"the gateway answered {len(codes)} codes with {len(many.verifications)} results")
        return [_verification_from_proto(v) for v in many.verifications]

    def offers(self, city: int | None) -> list[Offer]:
        reply: service_pb2.ListOffersResponse = self._call(
            self._eligibility.ListOffers, self._pb.ListOffersRequest(city=city or 0))
        return [_parsed(Offer.from_proto, o, "offer") for o in reply.offers]

    def check(self, code: str, offer_id: str, at_s: int | None) -> Decision:
        reply: service_pb2.CheckEligibilityResponse = self._call(
            self._eligibility.CheckEligibility,
            self._pb.CheckEligibilityRequest(code=code, offer_id=offer_id, at=at_s or 0))
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
             send: Send | None = None) -> GatewayClient:
        """REST over the standard library; `send` replaces the HTTP client (e.g. with an `InMemoryGateway`)."""
        return cls(RestTransport(url, timeout_s=timeout_s, send=send), api_key=api_key)

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

    def trust_bundle(self, known_version: int = 0, *, etag: str | None = None) -> BundleFetch:
        """The served bundle, or `not_modified` when it is still `known_version` (or `etag`)."""
        if isinstance(known_version, bool) or not isinstance(known_version, int) or known_version < 0:
            raise InvalidArgumentError(f"known_version is a non-negative integer, not {known_version!r}")
        return self.transport.trust_bundle(known_version, etag)

    def verify(self, code: str, *, at: At = None) -> VerifiedCode:
        """Verify one code at the gateway; raises the `CodeError` saying why it was refused."""
        result = self.verify_many([code], at=at)[0]
        if isinstance(result, CityCreditError):
            raise result
        return result

    def verify_many(self, codes: Iterable[str], *, at: At = None) -> list[VerifiedCode | CityCreditError]:
        """Verify codes in one request: per code, in order, the claims or the error that refused it."""
        codes = list(codes)
        if not codes:
            return []
        for code in codes:
            _require_text(code, "code")
        return self.transport.verify(codes, _at_s(at))

    def offers(self, city: int | None = None) -> list[Offer]:
        """The alliance's offers, or those of one host city."""
        if city is not None and (isinstance(city, bool) or not isinstance(city, int) or not 0 < city < 2**32):
            raise InvalidArgumentError(f"city is a six-digit GB/T 2260 code, not {city!r}")
        return self.transport.offers(city)

    def check(self, code: str, offer_id: str, *, at: At = None) -> Decision:
        """Whether the code's holder may have the offer (nothing is spent); every "no" names its reason."""
        _require_text(code, "code")
        _require_text(offer_id, "offer_id")
        return self.transport.check(code, offer_id, _at_s(at))

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


def _require_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string, not {value!r}")


def _at_s(at: At) -> int | None:
    return None if at is None else to_epoch_s(at)


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


def _problem_error(response: HttpResponse) -> CityCreditError:
    """The catalogue error of an RFC 9457 problem+json answer (or the closest one for a bare status)."""
    message = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        doc = json.loads(response.body[:_MAX_JSON_BYTES])
        if isinstance(doc, dict):
            detail = doc.get("detail") or doc.get("title")
            message = detail if isinstance(detail, str) else None
            code = doc.get("code")
            if isinstance(code, str) and code:
                return error_for_code(code, message)
    fallback = _HTTP_FALLBACK.get(response.status)
    text = message or f"the gateway answered HTTP {response.status}"
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


def _etag_version(etag: str | None) -> int:
    """The version in a `"<version>"` ETag (the gateway's form), else 0."""
    return _int_header((etag or "").removeprefix("W/").strip('"'))


def _first(doc: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in doc:
            return doc[name]
    return None


def _parsed(build: Callable[[_T], _R], value: _T, what: str) -> _R:
    """Build a typed result from the gateway's answer; a malformed answer is the gateway's failure."""
    try:
        return build(value)
    except CityCreditError as exc:
        raise UnavailableError(f"the gateway sent a malformed {what}: {exc.message}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnavailableError(f"the gateway sent a malformed {what}: {exc!r}") from None


def _bytes_field(value: object) -> bytes:
    return bytes.fromhex(value) if isinstance(value, str) else b""


def _time_s(value: object) -> int:
    """Seconds from the gateway's ISO-8601 times ("2026-11-18T07:06:40Z") or plain seconds."""
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"time without a zone: {value!r}")
        return int(moment.timestamp())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"not a time: {value!r}")


def _tier(value: object) -> Tier:
    if isinstance(value, str):
        return Tier.parse(value)
    if isinstance(value, int):
        return Tier(value)
    raise ValueError(f"not a tier: {value!r}")


def _verification_from_json(doc: object) -> VerifiedCode | CityCreditError:
    """Claims from the gateway's verification JSON (the CLI's `verify --json` shape).

    That shape carries no kid, status index or policy version (they stay empty), and
    the code id and holder pseudonym only where the gateway adds them (hex).
    """
    def build(d: Any) -> VerifiedCode | CityCreditError:
        if not d["valid"]:
            error = d.get("error") or {}
            return error_for_code(error.get("code") or "CC_MALFORMED", error.get("message"))
        return VerifiedCode(
            city=int(d["city"]), tier=_tier(d["tier"]), band=str(d.get("band") or ""),
            issued_at_s=_time_s(d["issued_at"]), expires_at_s=_time_s(d["expires_at"]),
            code_id=_bytes_field(d.get("code_id")), holder=_bytes_field(d.get("holder")),
            status_index=int(d.get("status_index") or 0), kid=_bytes_field(d.get("kid")),
            policy_version=int(d.get("policy_version") or 0))

    return _parsed(build, doc, "verification")


def _verification_from_proto(msg: service_pb2.Verification) -> VerifiedCode | CityCreditError:
    """Claims from the proto's `Verification`, which carries no kid, status index or policy version."""
    if not msg.valid:
        return error_for_code(msg.error.code or "CC_MALFORMED", msg.error.message or None)
    return _parsed(lambda m: VerifiedCode(
        city=m.city, tier=Tier(m.tier), band=m.band, issued_at_s=m.issued_at, expires_at_s=m.expires_at,
        code_id=bytes(m.code_id), holder=bytes(m.holder), status_index=0, kid=b"", policy_version=0),
        msg, "verification")


def _decision_from_json(doc: object) -> Decision:
    """The gateway's decision JSON; members a newer gateway added are ignored (forward compatibility)."""
    known = {k: v for k, v in doc.items() if k in _DECISION_KEYS} if isinstance(doc, dict) else doc
    return _parsed(Decision.from_dict, known, "decision")


def _decision_from_proto(msg: offer_pb2.Decision) -> Decision:
    return _parsed(Decision.from_proto, msg, "decision")


def _redemption_from_json(doc: Mapping[str, Any]) -> Redemption:
    return _parsed(lambda d: Redemption(decision=_decision_from_json(d["decision"]),
                                        redemption_id=d.get("redemption_id") or None,
                                        replayed=bool(d.get("replayed", False))), doc, "redemption")


# --- a verifier that follows a gateway -------------------------------------------------------------

_CACHE_FORMAT = "citycredit-bundle-cache/1"
_CACHE_BUNDLE = "bundle.ccb"
_CACHE_STATE = "state.json"


@dataclass(frozen=True, slots=True)
class _CacheState:
    accepted: AcceptedBundle
    etag: str | None
    # The governance anchor the accepted bundle established (it differs from the pinned one after a rotation).
    anchor: TrustAnchor | None


class BundleCache:
    """The last accepted bundle and what the client remembers of it, in one directory.

    `bundle.ccb` holds the signed bytes, `state.json` the accepted version and body
    digest (the rollback floor), the ETag and the governance anchor that bundle
    established. Both are written atomically, bundle first, so a crash leaves
    either the old pair or a newer bundle whose own version and digest then serve
    as the floor. Use one directory per alliance.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def load(self) -> tuple[bytes | None, _CacheState | None]:
        data = state = None
        with contextlib.suppress(OSError):
            data = (self.directory / _CACHE_BUNDLE).read_bytes()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, BundleError):
            doc = json.loads((self.directory / _CACHE_STATE).read_bytes())
            if doc["format"] == _CACHE_FORMAT:
                anchor = doc.get("anchor")
                state = _CacheState(AcceptedBundle(int(doc["version"]), bytes.fromhex(doc["digest"])),
                                    doc.get("etag"), TrustAnchor.from_json(json.dumps(anchor)) if anchor else None)
        return data, state

    def save(self, data: bytes, snapshot: TrustSnapshot, etag: str | None) -> None:
        write_public(self.directory / _CACHE_BUNDLE, data)
        doc = {"format": _CACHE_FORMAT, "version": snapshot.version, "digest": snapshot.digest.hex(), "etag": etag,
               "anchor": json.loads(snapshot.anchor.to_json())}
        write_public(self.directory / _CACHE_STATE, (json.dumps(doc, indent=2) + "\n").encode())


class GatewayVerifier(Verifier):
    """A `Verifier` whose bundle comes from a gateway; `refresh()` pulls a newer one."""

    def __init__(self, snapshot: TrustSnapshot, *, client: GatewayClient, cache: BundleCache | None,
                 etag: str | None, offline: bool, config: VerifierConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(snapshot, config=config, clock=clock)
        self.client = client
        self.cache = cache
        self._etag = etag
        # True when the bundle came from the cache because the gateway could not be reached.
        self.offline = offline

    def refresh(self) -> bool:
        """Fetch and adopt a newer bundle; False when the gateway still serves this one.

        Raises `UnavailableError` when the gateway cannot be reached (the current
        bundle stays in use until its grace runs out) and a `BundleError` when the
        served bundle is refused (rollback, too few signatures, stale).
        """
        fetched = self.client.trust_bundle(self.version, etag=self._etag)
        self.offline = False
        if fetched.data is None:
            return False
        snapshot = _open(fetched.data, self.snapshot.anchor, self.snapshot.accepted, self._config, self._clock)
        if snapshot.version == self.version:
            return False
        if self.cache is not None:
            self.cache.save(fetched.data, snapshot, fetched.etag)
        self._snapshot, self._etag = snapshot, fetched.etag
        return True

    def update(self, data: bytes) -> bool:
        """Adopt a newer bundle obtained elsewhere; it is cached like a fetched one."""
        adopted = super().update(data)
        if adopted and self.cache is not None:
            self.cache.save(data, self.snapshot, None)
            self._etag = None
        return adopted


def _open(data: bytes, anchor: TrustAnchor, accepted: AcceptedBundle | None, config: VerifierConfig,
          clock: Callable[[], float]) -> TrustSnapshot:
    return open_bundle(data, anchor=anchor, now_s=int(clock()), grace_s=config.grace_s, accepted=accepted)


def _open_cached(data: bytes, anchor: TrustAnchor, state: _CacheState | None, config: VerifierConfig,
                 clock: Callable[[], float]) -> TrustSnapshot:
    """The cached bundle, opened against the pinned anchor or, after a rotation, the one it established."""
    floor = state.accepted if state is not None else None
    try:
        return _open(data, anchor, floor, config, clock)
    except BundleThresholdError:
        if state is None or state.anchor is None or state.anchor.same_keys(anchor):
            raise
        return _open(data, state.anchor, floor, config, clock)


def verifier_from_gateway(source: str | GatewayClient, *, anchor: TrustAnchor, cache_dir: str | Path | None = None,
                          config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                          timeout_s: float = 5.0) -> GatewayVerifier:
    """A verifier over the gateway's current bundle, opened against the pinned `anchor`.

    `source` is the gateway's base URL (REST) or a `GatewayClient`. With `cache_dir`,
    the accepted bundle is kept there: later starts send its version and ETag (the
    gateway answers "not modified" when nothing changed), refuse any bundle older
    than it (rollback), and, when the gateway cannot be reached, verify with the
    cached bundle until its expiry plus `config.grace_s`; past that they raise
    `BundleStaleError`. Without a usable cache an unreachable gateway is `UnavailableError`.
    """
    config = config or VerifierConfig()
    client = GatewayClient.rest(source, timeout_s=timeout_s) if isinstance(source, str) else source
    cache = BundleCache(cache_dir) if cache_dir is not None else None
    cached: TrustSnapshot | None = None
    cache_problem: BundleError | None = None
    floor: AcceptedBundle | None = None
    etag: str | None = None
    if cache is not None:
        data, state = cache.load()
        floor = state.accepted if state is not None else None
        if data is not None:
            try:
                cached = _open_cached(data, anchor, state, config, clock)
            except BundleError as exc:  # stale, damaged or foreign: the gateway's copy decides
                cache_problem = exc
            if cached is not None:
                floor = cached.accepted
                etag = state.etag if state is not None and state.accepted == cached.accepted else None
    try:
        fetched = client.trust_bundle(cached.version if cached else 0, etag=etag)
    except UnavailableError as exc:
        if cached is not None:
            return GatewayVerifier(cached, client=client, cache=cache, etag=etag, offline=True, config=config,
                                   clock=clock)
        if isinstance(cache_problem, BundleStaleError):
            raise BundleStaleError(f"the gateway cannot be reached ({exc.message}) and the cached bundle is "
                                   f"past its offline grace: {cache_problem.message}") from None
        raise
    if fetched.data is None:
        if cached is None:
            raise UnavailableError("the gateway answered 'not modified' to a client that holds no bundle")
        return GatewayVerifier(cached, client=client, cache=cache, etag=fetched.etag or etag, offline=False,
                               config=config, clock=clock)
    snapshot = _open(fetched.data, cached.anchor if cached else anchor, floor, config, clock)
    if cache is not None and (cached is None or snapshot.version != cached.version or fetched.etag != etag):
        cache.save(fetched.data, snapshot, fetched.etag)
    return GatewayVerifier(snapshot, client=client, cache=cache, etag=fetched.etag, offline=False, config=config,
                           clock=clock)
