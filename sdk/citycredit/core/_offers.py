"""Offers and agreements (DESIGN 6): what a host city grants, and which cities open what to whom.

The types check themselves in their constructors, so an `Offer` or `Agreement` that
exists is valid; their JSON and protobuf forms are in `_wire`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Self

from citycredit.core._tiers import Tier
from citycredit.errors import InvalidArgumentError

__all__ = [
    "MAX_CITY",
    "MIN_CITY",
    "Agreement",
    "Benefit",
    "BenefitKind",
    "Category",
    "Offer",
    "Period",
    "Quota",
    "check_city",
    "is_city",
]

# GB/T 2260 division codes: six digits whose first two name a province (the 34 of GB/T 2260).
MIN_CITY, MAX_CITY = 110000, 829999
PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
                       53, 54, 61, 62, 63, 64, 65, 71, 81, 82})
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_UINT32 = 2**32
_UINT64 = 2**64
_INT64 = 2**63


class Choice(enum.StrEnum):
    """A string enum that also reads the proto's value names (`CATEGORY_PARKING`) and any case."""

    @classmethod
    def proto_prefix(cls) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper() + "_"

    @classmethod
    def parse(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().upper().removeprefix(cls.proto_prefix())
            if key in cls.__members__:
                return cls[key]
        choices = ", ".join(m.value for m in cls)
        raise InvalidArgumentError(f"unknown {cls.__name__.lower()} {value!r}; use one of {choices}")


class Category(Choice):
    """Scenarios a host city may open to visitors."""

    PARKING = "parking"
    SCENIC_SPOT = "scenic_spot"
    LIBRARY = "library"
    PUBLIC_TRANSPORT = "public_transport"
    PUBLIC_BIKE = "public_bike"
    HOSPITAL = "hospital"
    HOTEL = "hotel"
    DINING = "dining"
    FITNESS = "fitness"
    HOUSEKEEPING = "housekeeping"
    HOUSING_FUND = "housing_fund"
    RENTAL = "rental"
    OTHER = "other"


class BenefitKind(Choice):
    DISCOUNT = "discount"
    WAIVER = "waiver"
    FREE_USES = "free_uses"
    PAY_LATER = "pay_later"
    EXTRA_ALLOWANCE = "extra_allowance"


class Period(Choice):
    """Calendar periods in UTC+8 over which a quota counts (see `period_key`)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgumentError(message)


def is_text(value: object) -> bool:
    """A str that is valid Unicode text (no lone surrogate: it must encode as UTF-8, as protobuf writes it)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high


def is_city(city: object) -> bool:
    """A six-digit GB/T 2260 division code whose first two digits name a province."""
    # `type(...) is int`, not is_int: this runs twice per code verified (a bool is not a city either).
    return type(city) is int and MIN_CITY <= city <= MAX_CITY and city // 10000 in PROVINCES


def check_city(city: object, what: str) -> None:
    check(is_city(city), f"{what} must be a six-digit GB/T 2260 code, not {city!r}")


def _check_window(start: object, end: object, what: str) -> None:
    check(is_int(start, -_INT64, _INT64) and is_int(end, -_INT64, _INT64),
          f"{what}: the window bounds are integer seconds")
    assert isinstance(start, int) and isinstance(end, int)
    check(end == 0 or end > start, f"{what}: the window ends ({end}) before it starts ({start})")


def in_window(now_s: int, start_s: int, end_s: int) -> bool:
    """[start, end) with end 0 meaning open-ended."""
    return start_s <= now_s and (end_s == 0 or now_s < end_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Benefit:
    """What a qualifying holder gets; amounts in fen (0.01 CNY)."""

    kind: BenefitKind
    text_zh: str
    text_en: str = ""
    discount_percent: int = 0
    amount_fen: int = 0
    count: int = 0

    def __post_init__(self) -> None:
        check(isinstance(self.kind, BenefitKind), f"benefit kind must be a BenefitKind, not {self.kind!r}")
        check(is_text(self.text_zh) and bool(self.text_zh.strip()), "a benefit needs Chinese text")
        check(is_text(self.text_en), "text_en must be text")
        if self.kind is BenefitKind.DISCOUNT:
            check(is_int(self.discount_percent, 1, 101), "a discount is 1 to 100 percent")
        else:
            check(is_int(self.discount_percent, 0, 1), "only a discount has discount_percent")
        check(is_int(self.amount_fen, 0, _UINT64), "amount_fen must be a non-negative integer")
        check(is_int(self.count, 0, _UINT32), "count must be a non-negative integer")
        if self.kind is BenefitKind.FREE_USES:
            check(self.count >= 1, "free uses need a count of at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """At most `uses` redemptions per holder pseudonym per calendar `period` (UTC+8)."""

    uses: int
    period: Period

    def __post_init__(self) -> None:
        check(is_int(self.uses, 1, _UINT32), f"a quota allows at least 1 use, not {self.uses!r}")
        check(isinstance(self.period, Period), f"a quota period must be a Period, not {self.period!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A benefit a host city (optionally one venue in it) grants from a portable tier up.

    The window is [valid_from_s, valid_until_s) in seconds; valid_until_s = 0 is
    open-ended. `assumed` marks a threshold that is a demonstration value, not a
    published rule. `offline_redemption` lets a merchant record a redemption while
    offline and send it later (never with a quota).
    """

    id: str
    city: int
    category: Category
    min_tier: Tier
    benefit: Benefit
    title_zh: str
    title_en: str = ""
    venue: str = ""
    valid_from_s: int = 0
    valid_until_s: int = 0
    local_only: bool = False
    quota: Quota | None = None
    assumed: bool = False
    # A merchant may record a redemption offline and send it later; only offers without a quota.
    offline_redemption: bool = False

    def __post_init__(self) -> None:
        check(isinstance(self.id, str) and _ID.fullmatch(self.id) is not None,
              f"an offer id is lowercase letters, digits, '.', '_' or '-' (at most 64), not {self.id!r}")
        check_city(self.city, f"offer {self.id}: city")
        check(isinstance(self.category, Category), f"offer {self.id}: category must be a Category")
        check(isinstance(self.min_tier, Tier), f"offer {self.id}: min_tier must be set to a Tier")
        check(isinstance(self.benefit, Benefit), f"offer {self.id}: benefit must be a Benefit")
        check(is_text(self.title_zh) and bool(self.title_zh.strip()), f"offer {self.id}: needs title_zh")
        check(is_text(self.title_en) and is_text(self.venue), f"offer {self.id}: text fields")
        _check_window(self.valid_from_s, self.valid_until_s, f"offer {self.id}")
        check(isinstance(self.local_only, bool) and isinstance(self.assumed, bool),
              f"offer {self.id}: local_only and assumed are true or false")
        check(self.quota is None or isinstance(self.quota, Quota), f"offer {self.id}: quota must be a Quota")
        check(isinstance(self.offline_redemption, bool), f"offer {self.id}: offline_redemption is true or false")
        check(not (self.offline_redemption and self.quota is not None),
              f"offer {self.id}: a quota offer cannot be redeemed offline (the quota could be overspent)")

    def active_at(self, now_s: int) -> bool:
        return in_window(now_s, self.valid_from_s, self.valid_until_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """Cities opening categories to each other's residents, in force in [not_before_s, not_after_s).

    Every ordered pair of the cities is covered; no categories means every
    category (local-only offers stay local all the same); not_after_s = 0 is open-ended.
    """

    id: str
    cities: frozenset[int]
    not_before_s: int
    not_after_s: int = 0
    categories: frozenset[Category] = frozenset()
    title: str = ""

    def __post_init__(self) -> None:
        check(isinstance(self.id, str) and _ID.fullmatch(self.id) is not None,
              f"an agreement id is lowercase letters, digits, '.', '_' or '-', not {self.id!r}")
        check(isinstance(self.cities, frozenset) and len(self.cities) >= 2,
              f"agreement {self.id}: needs at least two distinct cities")
        for city in self.cities:
            check_city(city, f"agreement {self.id}: city")
        check(isinstance(self.categories, frozenset) and all(isinstance(c, Category) for c in self.categories),
              f"agreement {self.id}: categories must be Categories")
        _check_window(self.not_before_s, self.not_after_s, f"agreement {self.id}")
        check(is_text(self.title), f"agreement {self.id}: title must be text")

    def in_force_at(self, now_s: int) -> bool:
        return in_window(now_s, self.not_before_s, self.not_after_s)

    def covers(self, home: int, host: int, category: Category) -> bool:
        """Whether a resident of `home` is opened `category` in `host` (ignoring time)."""
        return (home != host and home in self.cities and host in self.cities
                and (not self.categories or category in self.categories))
