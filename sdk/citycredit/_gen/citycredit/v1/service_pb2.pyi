from citycredit._gen.citycredit.v1 import bundle_pb2 as _bundle_pb2
from citycredit._gen.citycredit.v1 import offer_pb2 as _offer_pb2
from citycredit._gen.citycredit.v1 import status_pb2 as _status_pb2
from citycredit._gen.citycredit.v1 import tier_pb2 as _tier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetTrustFileRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class GetTrustFileResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class GetStatusListRequest(_message.Message):
    __slots__ = ("city", "known_version")
    CITY_FIELD_NUMBER: _ClassVar[int]
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    city: int
    known_version: int
    def __init__(self, city: _Optional[int] = ..., known_version: _Optional[int] = ...) -> None: ...

class GetStatusListResponse(_message.Message):
    __slots__ = ("not_modified", "version", "update")
    NOT_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    not_modified: bool
    version: int
    update: _status_pb2.StatusListUpdate
    def __init__(self, not_modified: _Optional[bool] = ..., version: _Optional[int] = ..., update: _Optional[_Union[_status_pb2.StatusListUpdate, _Mapping]] = ...) -> None: ...

class GetTrustBundleRequest(_message.Message):
    __slots__ = ("known_version",)
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: int
    def __init__(self, known_version: _Optional[int] = ...) -> None: ...

class GetTrustBundleResponse(_message.Message):
    __slots__ = ("not_modified", "version", "bundle")
    NOT_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    not_modified: bool
    version: int
    bundle: _bundle_pb2.TrustBundle
    def __init__(self, not_modified: _Optional[bool] = ..., version: _Optional[int] = ..., bundle: _Optional[_Union[_bundle_pb2.TrustBundle, _Mapping]] = ...) -> None: ...

class VerifyCodeRequest(_message.Message):
    __slots__ = ("code", "at", "venue")
    CODE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    code: str
    at: int
    venue: str
    def __init__(self, code: _Optional[str] = ..., at: _Optional[int] = ..., venue: _Optional[str] = ...) -> None: ...

class Verification(_message.Message):
    __slots__ = ("valid", "city", "tier", "band", "issued_at", "expires_at", "code_id", "holder", "error", "audience", "device_bound")
    VALID_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_BOUND_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    city: int
    tier: _tier_pb2.Tier
    band: str
    issued_at: int
    expires_at: int
    code_id: bytes
    holder: bytes
    error: ErrorInfo
    audience: int
    device_bound: bool
    def __init__(self, valid: _Optional[bool] = ..., city: _Optional[int] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., band: _Optional[str] = ..., issued_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., code_id: _Optional[bytes] = ..., holder: _Optional[bytes] = ..., error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., audience: _Optional[int] = ..., device_bound: _Optional[bool] = ...) -> None: ...

class ErrorInfo(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class VerifyCodeResponse(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: Verification
    def __init__(self, verification: _Optional[_Union[Verification, _Mapping]] = ...) -> None: ...

class VerifyCodesRequest(_message.Message):
    __slots__ = ("codes", "at", "venue")
    CODES_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    at: int
    venue: str
    def __init__(self, codes: _Optional[_Iterable[str]] = ..., at: _Optional[int] = ..., venue: _Optional[str] = ...) -> None: ...

class VerifyCodesResponse(_message.Message):
    __slots__ = ("verifications",)
    VERIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    verifications: _containers.RepeatedCompositeFieldContainer[Verification]
    def __init__(self, verifications: _Optional[_Iterable[_Union[Verification, _Mapping]]] = ...) -> None: ...

class VerifyCodeStreamRequest(_message.Message):
    __slots__ = ("code", "at", "venue")
    CODE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    code: str
    at: int
    venue: str
    def __init__(self, code: _Optional[str] = ..., at: _Optional[int] = ..., venue: _Optional[str] = ...) -> None: ...

class VerifyCodeStreamResponse(_message.Message):
    __slots__ = ("verification",)
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    verification: Verification
    def __init__(self, verification: _Optional[_Union[Verification, _Mapping]] = ...) -> None: ...

class ListOffersRequest(_message.Message):
    __slots__ = ("city",)
    CITY_FIELD_NUMBER: _ClassVar[int]
    city: int
    def __init__(self, city: _Optional[int] = ...) -> None: ...

class ListOffersResponse(_message.Message):
    __slots__ = ("offers",)
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[_offer_pb2.Offer]
    def __init__(self, offers: _Optional[_Iterable[_Union[_offer_pb2.Offer, _Mapping]]] = ...) -> None: ...

class CheckEligibilityRequest(_message.Message):
    __slots__ = ("code", "offer_id", "at", "venue")
    CODE_FIELD_NUMBER: _ClassVar[int]
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    code: str
    offer_id: str
    at: int
    venue: str
    def __init__(self, code: _Optional[str] = ..., offer_id: _Optional[str] = ..., at: _Optional[int] = ..., venue: _Optional[str] = ...) -> None: ...

class CheckEligibilityResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: _offer_pb2.Decision
    def __init__(self, decision: _Optional[_Union[_offer_pb2.Decision, _Mapping]] = ...) -> None: ...

class RedeemRequest(_message.Message):
    __slots__ = ("code", "offer_id", "idempotency_key", "at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    offer_id: str
    idempotency_key: str
    at: int
    def __init__(self, code: _Optional[str] = ..., offer_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., at: _Optional[int] = ...) -> None: ...

class RedeemResponse(_message.Message):
    __slots__ = ("decision", "redemption_id", "replayed")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    decision: _offer_pb2.Decision
    redemption_id: str
    replayed: bool
    def __init__(self, decision: _Optional[_Union[_offer_pb2.Decision, _Mapping]] = ..., redemption_id: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class IssueCodeRequest(_message.Message):
    __slots__ = ("city", "holder_ref", "local_record_json", "ttl_s")
    CITY_FIELD_NUMBER: _ClassVar[int]
    HOLDER_REF_FIELD_NUMBER: _ClassVar[int]
    LOCAL_RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    city: int
    holder_ref: str
    local_record_json: str
    ttl_s: int
    def __init__(self, city: _Optional[int] = ..., holder_ref: _Optional[str] = ..., local_record_json: _Optional[str] = ..., ttl_s: _Optional[int] = ...) -> None: ...

class IssueCodeResponse(_message.Message):
    __slots__ = ("code", "tier", "band", "expires_at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    tier: _tier_pb2.Tier
    band: str
    expires_at: int
    def __init__(self, code: _Optional[str] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., band: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...

class PublishKeyRequest(_message.Message):
    __slots__ = ("city", "key")
    CITY_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    city: int
    key: _bundle_pb2.PublicKey
    def __init__(self, city: _Optional[int] = ..., key: _Optional[_Union[_bundle_pb2.PublicKey, _Mapping]] = ...) -> None: ...

class PublishKeyResponse(_message.Message):
    __slots__ = ("bundle_version",)
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: int
    def __init__(self, bundle_version: _Optional[int] = ...) -> None: ...

class RetireKeyRequest(_message.Message):
    __slots__ = ("city", "kid", "not_after")
    CITY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    city: int
    kid: bytes
    not_after: int
    def __init__(self, city: _Optional[int] = ..., kid: _Optional[bytes] = ..., not_after: _Optional[int] = ...) -> None: ...

class RetireKeyResponse(_message.Message):
    __slots__ = ("bundle_version",)
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: int
    def __init__(self, bundle_version: _Optional[int] = ...) -> None: ...

class PublishOfferRequest(_message.Message):
    __slots__ = ("offer",)
    OFFER_FIELD_NUMBER: _ClassVar[int]
    offer: _offer_pb2.Offer
    def __init__(self, offer: _Optional[_Union[_offer_pb2.Offer, _Mapping]] = ...) -> None: ...

class PublishOfferResponse(_message.Message):
    __slots__ = ("bundle_version",)
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: int
    def __init__(self, bundle_version: _Optional[int] = ...) -> None: ...

class RevokeCodesRequest(_message.Message):
    __slots__ = ("city", "status_indexes", "holders")
    CITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_INDEXES_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    city: int
    status_indexes: _containers.RepeatedScalarFieldContainer[int]
    holders: _containers.RepeatedCompositeFieldContainer[_bundle_pb2.HolderRevocation]
    def __init__(self, city: _Optional[int] = ..., status_indexes: _Optional[_Iterable[int]] = ..., holders: _Optional[_Iterable[_Union[_bundle_pb2.HolderRevocation, _Mapping]]] = ...) -> None: ...

class RevokeCodesResponse(_message.Message):
    __slots__ = ("bundle_version",)
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: int
    def __init__(self, bundle_version: _Optional[int] = ...) -> None: ...
