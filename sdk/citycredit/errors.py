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
    │   ├── CodeRevokedError             CC_REVOKED
    │   ├── CodeSuspendedError           CC_SUSPENDED
    │   ├── DeviceProofRequiredError     CC_DEVICE_PROOF_REQUIRED
    │   ├── DeviceSignatureInvalidError  CC_DEVICE_SIGNATURE_INVALID
    │   ├── PresentationStaleError       CC_PRESENTATION_STALE
    │   └── PresentationReplayedError    CC_PRESENTATION_REPLAYED
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
        ├── IdempotencyMismatchError     CC_IDEMPOTENCY_MISMATCH
        ├── RetiredError                 CC_RETIRED
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
    "CodeSuspendedError",
    "CodeTooLongError",
    "CodeUnreadableError",
    "ConflictError",
    "DeviceProofRequiredError",
    "DeviceSignatureInvalidError",
    "IdempotencyMismatchError",
    "InvalidArgumentError",
    "KeyNotValidError",
    "KeyUnknownError",
    "LocalRecordError",
    "NotFoundError",
    "OfferUnknownError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyError",
    "PresentationReplayedError",
    "PresentationStaleError",
    "RateLimitedError",
    "RequestError",
    "RetiredError",
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
    # The title in Chinese, for the people at a till or an office.
    title_zh: ClassVar[str] = "内部错误"
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
    title_zh = "此信用码已被发码城市撤销"
    grpc_status = "FAILED_PRECONDITION"


class CodeSuspendedError(CodeError):
    """Suspended, not revoked: under appeal or a credit commitment (信用承诺), it may become valid again."""

    code = "CC_SUSPENDED"
    title = "the code is suspended (under appeal or a credit commitment); ask the holder's city"
    title_zh = "此信用码暂停使用（申诉或信用承诺期间），请咨询发码城市"
    grpc_status = "FAILED_PRECONDITION"


class DeviceProofRequiredError(CodeError):
    code = "CC_DEVICE_PROOF_REQUIRED"
    title = "this code is bound to the holder's phone: scan the rotating code it shows, not a copy"
    title_zh = "此信用码绑定持码人手机，请扫描手机上实时刷新的码"
    grpc_status = "FAILED_PRECONDITION"


class DeviceSignatureInvalidError(CodeError):
    code = "CC_DEVICE_SIGNATURE_INVALID"
    title = "the presentation was not signed by the holder's device"
    title_zh = "出示码并非由持码人设备签名"
    grpc_status = "PERMISSION_DENIED"


class PresentationStaleError(CodeError):
    code = "CC_PRESENTATION_STALE"
    title = "the presentation is outside its time window (a screenshot, or the phone's clock is wrong)"
    title_zh = "出示码已过时（可能是截图，或手机时间不准）"
    grpc_status = "FAILED_PRECONDITION"


class PresentationReplayedError(CodeError):
    code = "CC_PRESENTATION_REPLAYED"
    title = "this presentation was already scanned here; ask the holder to show the code again"
    title_zh = "此出示码已在本处扫描过，请持码人重新出示"
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

    def __init__(self, message: str | None = None, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        # How long the caller should wait before trying again (REST: the Retry-After header).
        self.retry_after_s = retry_after_s


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


class IdempotencyMismatchError(RequestError):
    code = "CC_IDEMPOTENCY_MISMATCH"
    title = "this idempotency key was used for a different request"
    http_status = 422


class RetiredError(RequestError):
    code = "CC_RETIRED"
    title = "this operation is retired"
    grpc_status = "FAILED_PRECONDITION"
    http_status = 410


class UnavailableError(RequestError):
    code = "CC_UNAVAILABLE"
    title = "the service is unavailable"
    grpc_status = "UNAVAILABLE"
    http_status = 503
