"""The one error catalogue of citycredit, shared by the SDK, the CLI and the gateway.

::

    CityCreditError                      base: stable `code`, gRPC status, HTTP status
    ├── CodeError                        a credit code was refused
    │   ├── CodeUnreadableError          not a credit code at all (a request error on the gateway)
    │   │   ├── CodeTooLongError         CC_TOO_LONG
    │   │   ├── CodePrefixError          CC_PREFIX
    │   │   ├── CodeBase45Error          CC_BASE45
    │   │   └── CodeMalformedError       CC_MALFORMED
    │   ├── KeyUnknownError              CC_KEY_UNKNOWN
    │   ├── SignatureInvalidError        CC_SIGNATURE_INVALID
    │   ├── KeyNotValidError             CC_KEY_NOT_VALID
    │   ├── CityMismatchError            CC_CITY_MISMATCH
    │   ├── CodeExpiredError             CC_EXPIRED
    │   ├── CodeNotYetValidError         CC_NOT_YET_VALID
    │   └── CodeRevokedError             CC_REVOKED
    ├── BundleError                      a trust bundle was refused
    │   ├── BundleMalformedError         CC_BUNDLE_MALFORMED
    │   ├── BundleThresholdError         CC_BUNDLE_THRESHOLD
    │   ├── BundleRollbackError          CC_BUNDLE_ROLLBACK
    │   └── BundleStaleError             CC_BUNDLE_STALE
    ├── PolicyError                      a local credit record or scheme was refused
    │   ├── LocalRecordError             CC_LOCAL_RECORD
    │   └── SchemeInvalidError           CC_SCHEME_INVALID
    └── RequestError                     a caller's request was refused
        ├── InvalidArgumentError         CC_INVALID_ARGUMENT
        ├── NotFoundError                CC_NOT_FOUND
        ├── CityUnknownError             CC_CITY_UNKNOWN
        ├── OfferUnknownError            CC_OFFER_UNKNOWN
        ├── UnauthenticatedError         CC_UNAUTHENTICATED
        ├── PermissionDeniedError        CC_PERMISSION_DENIED
        ├── RateLimitedError             CC_RATE_LIMITED
        ├── PayloadTooLargeError         CC_PAYLOAD_TOO_LARGE
        ├── ConflictError                CC_CONFLICT
        └── UnavailableError             CC_UNAVAILABLE

Every class has a stable machine-readable `code`; `error_for_code` turns a code
(from JSON, gRPC details or problem+json) back into the right class.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BundleError",
    "BundleMalformedError",
    "BundleRollbackError",
    "BundleStaleError",
    "BundleThresholdError",
    "CityCreditError",
    "CityMismatchError",
    "CityUnknownError",
    "CodeBase45Error",
    "CodeError",
    "CodeExpiredError",
    "CodeMalformedError",
    "CodeNotYetValidError",
    "CodePrefixError",
    "CodeRevokedError",
    "CodeTooLongError",
    "CodeUnreadableError",
    "ConflictError",
    "InvalidArgumentError",
    "KeyNotValidError",
    "KeyUnknownError",
    "LocalRecordError",
    "NotFoundError",
    "OfferUnknownError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyError",
    "RateLimitedError",
    "RequestError",
    "SchemeInvalidError",
    "SignatureInvalidError",
    "UnauthenticatedError",
    "UnavailableError",
    "all_errors",
    "error_for_code",
]

_REGISTRY: dict[str, type[CityCreditError]] = {}


class CityCreditError(Exception):
    """Base of every error citycredit raises on purpose.

    `grpc_status` is the name of a `grpc.StatusCode` member so that this module
    needs no gRPC import.
    """

    code: ClassVar[str] = "CC_INTERNAL"
    title: ClassVar[str] = "internal error"
    grpc_status: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.title
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY:
                raise TypeError(f"duplicate error code {cls.code}")
            _REGISTRY[cls.code] = cls

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def error_for_code(code: str, message: str | None = None) -> CityCreditError:
    """Rebuild the exception for a catalogue code; unknown codes give the base class."""
    cls = _REGISTRY.get(code)
    if cls is None:
        err = CityCreditError(message)
        err.code = code  # type: ignore[misc]  # keep the foreign code visible
        return err
    return cls(message)


def all_errors() -> dict[str, type[CityCreditError]]:
    """Every registered catalogue code and its class."""
    return dict(_REGISTRY)


# --- credit codes ---------------------------------------------------------------------------------


class CodeError(CityCreditError):
    """A credit code was refused."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 422


class CodeUnreadableError(CodeError):
    """The input is not a credit code at all: too long, unprefixed, not Base45, not the envelope.

    A service answers these as bad requests, while a readable code that fails
    (bad signature, expired, revoked) gets a verdict.
    """


class CodeTooLongError(CodeUnreadableError):
    code = "CC_TOO_LONG"
    title = "the code is longer than 1,024 characters"
    http_status = 413


class CodePrefixError(CodeUnreadableError):
    code = "CC_PREFIX"
    title = "the code does not start with CC1:"


class CodeBase45Error(CodeUnreadableError):
    code = "CC_BASE45"
    title = "the code is not valid Base45"


class CodeMalformedError(CodeUnreadableError):
    code = "CC_MALFORMED"
    title = "the code's contents are malformed"


class KeyUnknownError(CodeError):
    code = "CC_KEY_UNKNOWN"
    title = "no key in the trust bundle has this kid"
    grpc_status = "FAILED_PRECONDITION"


class SignatureInvalidError(CodeError):
    code = "CC_SIGNATURE_INVALID"
    title = "the signature does not verify"
    grpc_status = "PERMISSION_DENIED"


class KeyNotValidError(CodeError):
    code = "CC_KEY_NOT_VALID"
    title = "the signing key was not valid when the code was issued"
    grpc_status = "FAILED_PRECONDITION"


class CityMismatchError(CodeError):
    code = "CC_CITY_MISMATCH"
    title = "the code names a city other than the one that owns the signing key"
    grpc_status = "PERMISSION_DENIED"


class CodeExpiredError(CodeError):
    code = "CC_EXPIRED"
    title = "the code has expired"
    grpc_status = "FAILED_PRECONDITION"


class CodeNotYetValidError(CodeError):
    code = "CC_NOT_YET_VALID"
    title = "the code is not valid yet"
    grpc_status = "FAILED_PRECONDITION"


class CodeRevokedError(CodeError):
    code = "CC_REVOKED"
    title = "the code has been revoked"
    grpc_status = "FAILED_PRECONDITION"


# --- trust bundles ---------------------------------------------------------------------------------


class BundleError(CityCreditError):
    """A trust bundle was refused."""

    grpc_status = "FAILED_PRECONDITION"
    http_status = 422


class BundleMalformedError(BundleError):
    code = "CC_BUNDLE_MALFORMED"
    title = "the trust bundle is malformed"


class BundleThresholdError(BundleError):
    code = "CC_BUNDLE_THRESHOLD"
    title = "the trust bundle lacks the required number of valid governance signatures"


class BundleRollbackError(BundleError):
    code = "CC_BUNDLE_ROLLBACK"
    title = "the trust bundle is older than, or conflicts with, one already accepted"


class BundleStaleError(BundleError):
    code = "CC_BUNDLE_STALE"
    title = "the trust bundle has expired beyond the offline grace period"


# --- tier policy -----------------------------------------------------------------------------------


class PolicyError(CityCreditError):
    """A local credit record or a scheme definition was refused."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 422


class LocalRecordError(PolicyError):
    code = "CC_LOCAL_RECORD"
    title = "the local credit record is out of range or malformed"


class SchemeInvalidError(PolicyError):
    code = "CC_SCHEME_INVALID"
    title = "the scheme definition is invalid"


# --- requests --------------------------------------------------------------------------------------


class RequestError(CityCreditError):
    """A caller's request was refused."""

    grpc_status = "INVALID_ARGUMENT"
    http_status = 400


class InvalidArgumentError(RequestError):
    code = "CC_INVALID_ARGUMENT"
    title = "the request is invalid"


class NotFoundError(RequestError):
    code = "CC_NOT_FOUND"
    title = "not found"
    grpc_status = "NOT_FOUND"
    http_status = 404


class CityUnknownError(RequestError):
    code = "CC_CITY_UNKNOWN"
    title = "the city is not a member of the alliance"
    grpc_status = "NOT_FOUND"
    http_status = 404


class OfferUnknownError(RequestError):
    code = "CC_OFFER_UNKNOWN"
    title = "no such offer"
    grpc_status = "NOT_FOUND"
    http_status = 404


class UnauthenticatedError(RequestError):
    code = "CC_UNAUTHENTICATED"
    title = "missing, unknown or revoked credentials"
    grpc_status = "UNAUTHENTICATED"
    http_status = 401


class PermissionDeniedError(RequestError):
    code = "CC_PERMISSION_DENIED"
    title = "these credentials may not do this"
    grpc_status = "PERMISSION_DENIED"
    http_status = 403


class RateLimitedError(RequestError):
    code = "CC_RATE_LIMITED"
    title = "too many requests for this key"
    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 429


class PayloadTooLargeError(RequestError):
    code = "CC_PAYLOAD_TOO_LARGE"
    title = "the request body is too large"
    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 413


class ConflictError(RequestError):
    code = "CC_CONFLICT"
    title = "the request conflicts with an earlier one"
    grpc_status = "ALREADY_EXISTS"
    http_status = 409


class UnavailableError(RequestError):
    code = "CC_UNAVAILABLE"
    title = "the service is unavailable"
    grpc_status = "UNAVAILABLE"
    http_status = 503
