from citycredit._gen.citycredit.v1 import offer_pb2 as _offer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_ALGORITHM_UNSPECIFIED: _ClassVar[KeyAlgorithm]
    KEY_ALGORITHM_ED25519: _ClassVar[KeyAlgorithm]
    KEY_ALGORITHM_ECDSA_P256_SHA256: _ClassVar[KeyAlgorithm]
    KEY_ALGORITHM_SM2_SM3: _ClassVar[KeyAlgorithm]

class KeyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATUS_UNSPECIFIED: _ClassVar[KeyStatus]
    KEY_STATUS_ACTIVE: _ClassVar[KeyStatus]
    KEY_STATUS_RETIRED: _ClassVar[KeyStatus]
    KEY_STATUS_REVOKED: _ClassVar[KeyStatus]
KEY_ALGORITHM_UNSPECIFIED: KeyAlgorithm
KEY_ALGORITHM_ED25519: KeyAlgorithm
KEY_ALGORITHM_ECDSA_P256_SHA256: KeyAlgorithm
KEY_ALGORITHM_SM2_SM3: KeyAlgorithm
KEY_STATUS_UNSPECIFIED: KeyStatus
KEY_STATUS_ACTIVE: KeyStatus
KEY_STATUS_RETIRED: KeyStatus
KEY_STATUS_REVOKED: KeyStatus

class PublicKey(_message.Message):
    __slots__ = ("kid", "algorithm", "spki", "not_before", "not_after", "status", "revoked_at")
    KID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SPKI_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    kid: bytes
    algorithm: KeyAlgorithm
    spki: bytes
    not_before: int
    not_after: int
    status: KeyStatus
    revoked_at: int
    def __init__(self, kid: _Optional[bytes] = ..., algorithm: _Optional[_Union[KeyAlgorithm, str]] = ..., spki: _Optional[bytes] = ..., not_before: _Optional[int] = ..., not_after: _Optional[int] = ..., status: _Optional[_Union[KeyStatus, str]] = ..., revoked_at: _Optional[int] = ...) -> None: ...

class StatusList(_message.Message):
    __slots__ = ("size", "bits_zlib", "updated_at")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    BITS_ZLIB_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    size: int
    bits_zlib: bytes
    updated_at: int
    def __init__(self, size: _Optional[int] = ..., bits_zlib: _Optional[bytes] = ..., updated_at: _Optional[int] = ...) -> None: ...

class HolderRevocation(_message.Message):
    __slots__ = ("holder", "cutoff")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    holder: bytes
    cutoff: int
    def __init__(self, holder: _Optional[bytes] = ..., cutoff: _Optional[int] = ...) -> None: ...

class TierPolicy(_message.Message):
    __slots__ = ("scheme", "version", "digest", "confirmed")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    version: int
    digest: bytes
    confirmed: bool
    def __init__(self, scheme: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[bytes] = ..., confirmed: _Optional[bool] = ...) -> None: ...

class MemberCity(_message.Message):
    __slots__ = ("city", "name_zh", "name_en", "slug", "keys", "status_list", "holder_revocations", "tier_policy")
    CITY_FIELD_NUMBER: _ClassVar[int]
    NAME_ZH_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    STATUS_LIST_FIELD_NUMBER: _ClassVar[int]
    HOLDER_REVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TIER_POLICY_FIELD_NUMBER: _ClassVar[int]
    city: int
    name_zh: str
    name_en: str
    slug: str
    keys: _containers.RepeatedCompositeFieldContainer[PublicKey]
    status_list: StatusList
    holder_revocations: _containers.RepeatedCompositeFieldContainer[HolderRevocation]
    tier_policy: TierPolicy
    def __init__(self, city: _Optional[int] = ..., name_zh: _Optional[str] = ..., name_en: _Optional[str] = ..., slug: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[PublicKey, _Mapping]]] = ..., status_list: _Optional[_Union[StatusList, _Mapping]] = ..., holder_revocations: _Optional[_Iterable[_Union[HolderRevocation, _Mapping]]] = ..., tier_policy: _Optional[_Union[TierPolicy, _Mapping]] = ...) -> None: ...

class Governance(_message.Message):
    __slots__ = ("threshold", "keys")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    threshold: int
    keys: _containers.RepeatedCompositeFieldContainer[PublicKey]
    def __init__(self, threshold: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[PublicKey, _Mapping]]] = ...) -> None: ...

class BundleBody(_message.Message):
    __slots__ = ("version", "issued_at", "expires_at", "alliance", "governance", "cities", "agreements", "offers")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ALLIANCE_FIELD_NUMBER: _ClassVar[int]
    GOVERNANCE_FIELD_NUMBER: _ClassVar[int]
    CITIES_FIELD_NUMBER: _ClassVar[int]
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    version: int
    issued_at: int
    expires_at: int
    alliance: str
    governance: Governance
    cities: _containers.RepeatedCompositeFieldContainer[MemberCity]
    agreements: _containers.RepeatedCompositeFieldContainer[_offer_pb2.Agreement]
    offers: _containers.RepeatedCompositeFieldContainer[_offer_pb2.Offer]
    def __init__(self, version: _Optional[int] = ..., issued_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., alliance: _Optional[str] = ..., governance: _Optional[_Union[Governance, _Mapping]] = ..., cities: _Optional[_Iterable[_Union[MemberCity, _Mapping]]] = ..., agreements: _Optional[_Iterable[_Union[_offer_pb2.Agreement, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[_offer_pb2.Offer, _Mapping]]] = ...) -> None: ...

class BundleSignature(_message.Message):
    __slots__ = ("kid", "signature")
    KID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    kid: bytes
    signature: bytes
    def __init__(self, kid: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TrustBundle(_message.Message):
    __slots__ = ("body", "signatures")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signatures: _containers.RepeatedCompositeFieldContainer[BundleSignature]
    def __init__(self, body: _Optional[bytes] = ..., signatures: _Optional[_Iterable[_Union[BundleSignature, _Mapping]]] = ...) -> None: ...
