from citycredit._gen.citycredit.v1 import bundle_pb2 as _bundle_pb2
from citycredit._gen.citycredit.v1 import tier_pb2 as _tier_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignedCreditCode(_message.Message):
    __slots__ = ("payload", "kid", "signature")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    kid: bytes
    signature: bytes
    def __init__(self, payload: _Optional[bytes] = ..., kid: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class CreditCode(_message.Message):
    __slots__ = ("code_id", "city", "holder", "tier", "band", "issued_at", "expires_at", "status_index", "policy_version", "audience", "device_key")
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_INDEX_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_KEY_FIELD_NUMBER: _ClassVar[int]
    code_id: bytes
    city: int
    holder: bytes
    tier: _tier_pb2.Tier
    band: str
    issued_at: int
    expires_at: int
    status_index: int
    policy_version: int
    audience: int
    device_key: DeviceKey
    def __init__(self, code_id: _Optional[bytes] = ..., city: _Optional[int] = ..., holder: _Optional[bytes] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., band: _Optional[str] = ..., issued_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., status_index: _Optional[int] = ..., policy_version: _Optional[int] = ..., audience: _Optional[int] = ..., device_key: _Optional[_Union[DeviceKey, _Mapping]] = ...) -> None: ...

class DeviceKey(_message.Message):
    __slots__ = ("algorithm", "public_key")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    algorithm: _bundle_pb2.KeyAlgorithm
    public_key: bytes
    def __init__(self, algorithm: _Optional[_Union[_bundle_pb2.KeyAlgorithm, str]] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class Presentation(_message.Message):
    __slots__ = ("code", "presented_at", "signature")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PRESENTED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    code: bytes
    presented_at: int
    signature: bytes
    def __init__(self, code: _Optional[bytes] = ..., presented_at: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...
