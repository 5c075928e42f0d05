from citycredit._gen.citycredit.v1 import trust_pb2 as _trust_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusListHead(_message.Message):
    __slots__ = ("city", "version", "bits", "size", "list_sha256", "issued_at", "expires_at", "ttl_s")
    CITY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LIST_SHA256_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    city: int
    version: int
    bits: int
    size: int
    list_sha256: bytes
    issued_at: int
    expires_at: int
    ttl_s: int
    def __init__(self, city: _Optional[int] = ..., version: _Optional[int] = ..., bits: _Optional[int] = ..., size: _Optional[int] = ..., list_sha256: _Optional[bytes] = ..., issued_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., ttl_s: _Optional[int] = ...) -> None: ...

class SignedStatusList(_message.Message):
    __slots__ = ("head", "list_zlib")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    LIST_ZLIB_FIELD_NUMBER: _ClassVar[int]
    head: _trust_pb2.SignedPart
    list_zlib: bytes
    def __init__(self, head: _Optional[_Union[_trust_pb2.SignedPart, _Mapping]] = ..., list_zlib: _Optional[bytes] = ...) -> None: ...

class StatusListDelta(_message.Message):
    __slots__ = ("head", "from_version", "indexes", "statuses")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    head: _trust_pb2.SignedPart
    from_version: int
    indexes: _containers.RepeatedScalarFieldContainer[int]
    statuses: bytes
    def __init__(self, head: _Optional[_Union[_trust_pb2.SignedPart, _Mapping]] = ..., from_version: _Optional[int] = ..., indexes: _Optional[_Iterable[int]] = ..., statuses: _Optional[bytes] = ...) -> None: ...

class StatusListUpdate(_message.Message):
    __slots__ = ("list", "delta")
    LIST_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    list: SignedStatusList
    delta: StatusListDelta
    def __init__(self, list: _Optional[_Union[SignedStatusList, _Mapping]] = ..., delta: _Optional[_Union[StatusListDelta, _Mapping]] = ...) -> None: ...
