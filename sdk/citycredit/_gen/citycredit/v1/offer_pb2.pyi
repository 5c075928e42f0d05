from citycredit._gen.citycredit.v1 import tier_pb2 as _tier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_PARKING: _ClassVar[Category]
    CATEGORY_SCENIC_SPOT: _ClassVar[Category]
    CATEGORY_LIBRARY: _ClassVar[Category]
    CATEGORY_PUBLIC_TRANSPORT: _ClassVar[Category]
    CATEGORY_PUBLIC_BIKE: _ClassVar[Category]
    CATEGORY_HOSPITAL: _ClassVar[Category]
    CATEGORY_HOTEL: _ClassVar[Category]
    CATEGORY_DINING: _ClassVar[Category]
    CATEGORY_FITNESS: _ClassVar[Category]
    CATEGORY_HOUSEKEEPING: _ClassVar[Category]
    CATEGORY_HOUSING_FUND: _ClassVar[Category]
    CATEGORY_RENTAL: _ClassVar[Category]
    CATEGORY_OTHER: _ClassVar[Category]

class BenefitKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BENEFIT_KIND_UNSPECIFIED: _ClassVar[BenefitKind]
    BENEFIT_KIND_DISCOUNT: _ClassVar[BenefitKind]
    BENEFIT_KIND_WAIVER: _ClassVar[BenefitKind]
    BENEFIT_KIND_FREE_USES: _ClassVar[BenefitKind]
    BENEFIT_KIND_PAY_LATER: _ClassVar[BenefitKind]
    BENEFIT_KIND_EXTRA_ALLOWANCE: _ClassVar[BenefitKind]

class Period(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERIOD_UNSPECIFIED: _ClassVar[Period]
    PERIOD_DAY: _ClassVar[Period]
    PERIOD_WEEK: _ClassVar[Period]
    PERIOD_MONTH: _ClassVar[Period]
    PERIOD_YEAR: _ClassVar[Period]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_TIER_TOO_LOW: _ClassVar[Reason]
    REASON_NO_AGREEMENT: _ClassVar[Reason]
    REASON_OFFER_LOCAL_ONLY: _ClassVar[Reason]
    REASON_QUOTA_EXHAUSTED: _ClassVar[Reason]
    REASON_OFFER_NOT_ACTIVE: _ClassVar[Reason]
    REASON_CODE_EXPIRED: _ClassVar[Reason]
    REASON_CODE_NOT_YET_VALID: _ClassVar[Reason]
    REASON_CODE_REVOKED: _ClassVar[Reason]
    REASON_CODE_INVALID: _ClassVar[Reason]
    REASON_NO_RULES: _ClassVar[Reason]
    REASON_OFFER_UNKNOWN: _ClassVar[Reason]
    REASON_WRONG_AUDIENCE: _ClassVar[Reason]
    REASON_CODE_SUSPENDED: _ClassVar[Reason]
CATEGORY_UNSPECIFIED: Category
CATEGORY_PARKING: Category
CATEGORY_SCENIC_SPOT: Category
CATEGORY_LIBRARY: Category
CATEGORY_PUBLIC_TRANSPORT: Category
CATEGORY_PUBLIC_BIKE: Category
CATEGORY_HOSPITAL: Category
CATEGORY_HOTEL: Category
CATEGORY_DINING: Category
CATEGORY_FITNESS: Category
CATEGORY_HOUSEKEEPING: Category
CATEGORY_HOUSING_FUND: Category
CATEGORY_RENTAL: Category
CATEGORY_OTHER: Category
BENEFIT_KIND_UNSPECIFIED: BenefitKind
BENEFIT_KIND_DISCOUNT: BenefitKind
BENEFIT_KIND_WAIVER: BenefitKind
BENEFIT_KIND_FREE_USES: BenefitKind
BENEFIT_KIND_PAY_LATER: BenefitKind
BENEFIT_KIND_EXTRA_ALLOWANCE: BenefitKind
PERIOD_UNSPECIFIED: Period
PERIOD_DAY: Period
PERIOD_WEEK: Period
PERIOD_MONTH: Period
PERIOD_YEAR: Period
REASON_UNSPECIFIED: Reason
REASON_TIER_TOO_LOW: Reason
REASON_NO_AGREEMENT: Reason
REASON_OFFER_LOCAL_ONLY: Reason
REASON_QUOTA_EXHAUSTED: Reason
REASON_OFFER_NOT_ACTIVE: Reason
REASON_CODE_EXPIRED: Reason
REASON_CODE_NOT_YET_VALID: Reason
REASON_CODE_REVOKED: Reason
REASON_CODE_INVALID: Reason
REASON_NO_RULES: Reason
REASON_OFFER_UNKNOWN: Reason
REASON_WRONG_AUDIENCE: Reason
REASON_CODE_SUSPENDED: Reason

class Benefit(_message.Message):
    __slots__ = ("kind", "discount_percent", "amount_fen", "count", "text_zh", "text_en")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FEN_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TEXT_ZH_FIELD_NUMBER: _ClassVar[int]
    TEXT_EN_FIELD_NUMBER: _ClassVar[int]
    kind: BenefitKind
    discount_percent: int
    amount_fen: int
    count: int
    text_zh: str
    text_en: str
    def __init__(self, kind: _Optional[_Union[BenefitKind, str]] = ..., discount_percent: _Optional[int] = ..., amount_fen: _Optional[int] = ..., count: _Optional[int] = ..., text_zh: _Optional[str] = ..., text_en: _Optional[str] = ...) -> None: ...

class Quota(_message.Message):
    __slots__ = ("uses", "period")
    USES_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    uses: int
    period: Period
    def __init__(self, uses: _Optional[int] = ..., period: _Optional[_Union[Period, str]] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("id", "city", "venue", "category", "min_tier", "benefit", "valid_from", "valid_until", "local_only", "quota", "title_zh", "title_en", "assumed", "offline_redemption")
    ID_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MIN_TIER_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    TITLE_ZH_FIELD_NUMBER: _ClassVar[int]
    TITLE_EN_FIELD_NUMBER: _ClassVar[int]
    ASSUMED_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_REDEMPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    city: int
    venue: str
    category: Category
    min_tier: _tier_pb2.Tier
    benefit: Benefit
    valid_from: int
    valid_until: int
    local_only: bool
    quota: Quota
    title_zh: str
    title_en: str
    assumed: bool
    offline_redemption: bool
    def __init__(self, id: _Optional[str] = ..., city: _Optional[int] = ..., venue: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., min_tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., benefit: _Optional[_Union[Benefit, _Mapping]] = ..., valid_from: _Optional[int] = ..., valid_until: _Optional[int] = ..., local_only: _Optional[bool] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ..., title_zh: _Optional[str] = ..., title_en: _Optional[str] = ..., assumed: _Optional[bool] = ..., offline_redemption: _Optional[bool] = ...) -> None: ...

class Agreement(_message.Message):
    __slots__ = ("id", "cities", "categories", "not_before", "not_after", "title")
    ID_FIELD_NUMBER: _ClassVar[int]
    CITIES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    cities: _containers.RepeatedScalarFieldContainer[int]
    categories: _containers.RepeatedScalarFieldContainer[Category]
    not_before: int
    not_after: int
    title: str
    def __init__(self, id: _Optional[str] = ..., cities: _Optional[_Iterable[int]] = ..., categories: _Optional[_Iterable[_Union[Category, str]]] = ..., not_before: _Optional[int] = ..., not_after: _Optional[int] = ..., title: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("eligible", "reason", "offer_id", "tier", "treated_as_local", "agreement_id", "quota_remaining", "detail", "benefit_zh", "benefit_en", "error_code")
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    TREATED_AS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_REMAINING_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_ZH_FIELD_NUMBER: _ClassVar[int]
    BENEFIT_EN_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    eligible: bool
    reason: Reason
    offer_id: str
    tier: _tier_pb2.Tier
    treated_as_local: bool
    agreement_id: str
    quota_remaining: int
    detail: str
    benefit_zh: str
    benefit_en: str
    error_code: str
    def __init__(self, eligible: _Optional[bool] = ..., reason: _Optional[_Union[Reason, str]] = ..., offer_id: _Optional[str] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., treated_as_local: _Optional[bool] = ..., agreement_id: _Optional[str] = ..., quota_remaining: _Optional[int] = ..., detail: _Optional[str] = ..., benefit_zh: _Optional[str] = ..., benefit_en: _Optional[str] = ..., error_code: _Optional[str] = ...) -> None: ...
