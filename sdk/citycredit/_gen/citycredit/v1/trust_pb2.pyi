from citycredit._gen.citycredit.v1 import bundle_pb2 as _bundle_pb2
from citycredit._gen.citycredit.v1 import offer_pb2 as _offer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Membership(_message.Message):
    __slots__ = ("alliance", "members")
    ALLIANCE_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    alliance: str
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, alliance: _Optional[str] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("city", "name_zh", "name_en", "slug")
    CITY_FIELD_NUMBER: _ClassVar[int]
    NAME_ZH_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    city: int
    name_zh: str
    name_en: str
    slug: str
    def __init__(self, city: _Optional[int] = ..., name_zh: _Optional[str] = ..., name_en: _Optional[str] = ..., slug: _Optional[str] = ...) -> None: ...

class CityKeys(_message.Message):
    __slots__ = ("city", "code_keys", "status_keys", "issuer_url")
    CITY_FIELD_NUMBER: _ClassVar[int]
    CODE_KEYS_FIELD_NUMBER: _ClassVar[int]
    STATUS_KEYS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_URL_FIELD_NUMBER: _ClassVar[int]
    city: int
    code_keys: _containers.RepeatedCompositeFieldContainer[_bundle_pb2.PublicKey]
    status_keys: _containers.RepeatedCompositeFieldContainer[_bundle_pb2.PublicKey]
    issuer_url: str
    def __init__(self, city: _Optional[int] = ..., code_keys: _Optional[_Iterable[_Union[_bundle_pb2.PublicKey, _Mapping]]] = ..., status_keys: _Optional[_Iterable[_Union[_bundle_pb2.PublicKey, _Mapping]]] = ..., issuer_url: _Optional[str] = ...) -> None: ...

class CityOffers(_message.Message):
    __slots__ = ("city", "offers")
    CITY_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    city: int
    offers: _containers.RepeatedCompositeFieldContainer[_offer_pb2.Offer]
    def __init__(self, city: _Optional[int] = ..., offers: _Optional[_Iterable[_Union[_offer_pb2.Offer, _Mapping]]] = ...) -> None: ...

class CityPolicy(_message.Message):
    __slots__ = ("city", "tier_policy", "withdrawals")
    CITY_FIELD_NUMBER: _ClassVar[int]
    TIER_POLICY_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWALS_FIELD_NUMBER: _ClassVar[int]
    city: int
    tier_policy: _bundle_pb2.TierPolicy
    withdrawals: _containers.RepeatedCompositeFieldContainer[AgreementWithdrawal]
    def __init__(self, city: _Optional[int] = ..., tier_policy: _Optional[_Union[_bundle_pb2.TierPolicy, _Mapping]] = ..., withdrawals: _Optional[_Iterable[_Union[AgreementWithdrawal, _Mapping]]] = ...) -> None: ...

class AgreementWithdrawal(_message.Message):
    __slots__ = ("agreement_id", "at")
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    agreement_id: str
    at: int
    def __init__(self, agreement_id: _Optional[str] = ..., at: _Optional[int] = ...) -> None: ...

class SignedPart(_message.Message):
    __slots__ = ("body", "kid", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    kid: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., kid: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class MerchantGrant(_message.Message):
    __slots__ = ("city", "merchant_id", "name", "venues", "credential_id", "token_sha256", "issued_at", "revoked_at", "office")
    CITY_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VENUES_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SHA256_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    OFFICE_FIELD_NUMBER: _ClassVar[int]
    city: int
    merchant_id: str
    name: str
    venues: _containers.RepeatedScalarFieldContainer[str]
    credential_id: str
    token_sha256: bytes
    issued_at: int
    revoked_at: int
    office: bool
    def __init__(self, city: _Optional[int] = ..., merchant_id: _Optional[str] = ..., name: _Optional[str] = ..., venues: _Optional[_Iterable[str]] = ..., credential_id: _Optional[str] = ..., token_sha256: _Optional[bytes] = ..., issued_at: _Optional[int] = ..., revoked_at: _Optional[int] = ..., office: _Optional[bool] = ...) -> None: ...
