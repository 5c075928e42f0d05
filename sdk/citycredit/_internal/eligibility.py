"""Same-city treatment (DESIGN 6): offers, agreements, and the pure eligibility decision.

Nothing here reads a clock, a file or a database: the holder's verified claims,
the offer, the agreements, the host cities' rules, the time and the holder's
redemptions in the current period are all arguments. The gateway counts
redemptions per holder pseudonym and `period_key`; `decide` only compares.

A decision runs these checks in order and stops at the first "no":

1. the code is inside its validity window at `now_s` (`CODE_NOT_YET_VALID`, `CODE_EXPIRED`);
2. the host city runs same-city rules for the offer's category (`NO_RULES`);
3. the offer is in its validity window (`OFFER_NOT_ACTIVE`);
4. a visitor needs an agreement between home and host city covering the category
   in force at `now_s` (`NO_AGREEMENT`), and an offer open to visitors
   (`OFFER_LOCAL_ONLY`); from here on the visitor is treated as a local;
5. the holder's tier reaches the offer's minimum (`TIER_TOO_LOW`);
6. a quota has uses left this period (`QUOTA_EXHAUSTED`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Self

from citycredit._gen.citycredit.v1 import offer_pb2
from citycredit._internal.tiers import Tier
from citycredit._internal.verify import VerifiedCode
from citycredit.errors import (
    CityCreditError,
    CodeError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    InvalidArgumentError,
    OfferUnknownError,
)

__all__ = [
    "HOST_TZ",
    "Agreement",
    "Benefit",
    "BenefitKind",
    "Catalogue",
    "Category",
    "Decision",
    "Offer",
    "Period",
    "Quota",
    "Reason",
    "Rules",
    "decide",
    "decision_for_error",
    "parse_time_s",
    "period_key",
]

# Host cities are all in China: periods are calendar days, weeks, months and years in UTC+8.
HOST_TZ = timezone(timedelta(hours=8), "UTC+08:00")
_MIN_CITY, _MAX_CITY = 110000, 829999  # GB/T 2260 province codes run from 11 to 82.
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_UINT32 = 2**32
_UINT64 = 2**64


class _Choice(enum.StrEnum):
    """A string enum that also reads the proto's names (`CATEGORY_PARKING`) and any case."""

    @classmethod
    def _proto_prefix(cls) -> str:
        return _PROTO_PREFIXES[cls.__name__]

    @classmethod
    def parse(cls, value: str) -> Self:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().upper().removeprefix(cls._proto_prefix())
            if key in cls.__members__:
                return cls[key]
        choices = ", ".join(m.value for m in cls)
        raise InvalidArgumentError(f"unknown {cls.__name__.lower()} {value!r}; use one of {choices}")

    @classmethod
    def from_proto(cls, number: int) -> Self:
        for member in cls:
            if member.to_proto() == number:
                return member
        raise InvalidArgumentError(f"{cls.__name__} {number} is unspecified or unknown")

    def to_proto(self) -> int:
        return int(getattr(offer_pb2, self._proto_prefix() + self.name))


class Category(_Choice):
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


class BenefitKind(_Choice):
    DISCOUNT = "discount"
    WAIVER = "waiver"
    FREE_USES = "free_uses"
    PAY_LATER = "pay_later"
    EXTRA_ALLOWANCE = "extra_allowance"


class Period(_Choice):
    """Calendar periods in UTC+8 over which a quota counts."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Reason(_Choice):
    """Why a decision said no (mirrors offer.proto `Reason`)."""

    TIER_TOO_LOW = "TIER_TOO_LOW"
    NO_AGREEMENT = "NO_AGREEMENT"
    OFFER_LOCAL_ONLY = "OFFER_LOCAL_ONLY"
    QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
    OFFER_NOT_ACTIVE = "OFFER_NOT_ACTIVE"
    CODE_EXPIRED = "CODE_EXPIRED"
    CODE_NOT_YET_VALID = "CODE_NOT_YET_VALID"
    CODE_REVOKED = "CODE_REVOKED"
    CODE_INVALID = "CODE_INVALID"
    NO_RULES = "NO_RULES"
    OFFER_UNKNOWN = "OFFER_UNKNOWN"


# The generated enums' value names: `CATEGORY_PARKING`, `REASON_TIER_TOO_LOW` …
_PROTO_PREFIXES = {"Category": "CATEGORY_", "BenefitKind": "BENEFIT_KIND_", "Period": "PERIOD_",
                   "Reason": "REASON_"}


# --- checks shared by the constructors ----------------------------------------------------------


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgumentError(message)


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high


def _check_city(city: object, what: str) -> None:
    _check(_is_int(city, _MIN_CITY, _MAX_CITY + 1), f"{what} must be a six-digit GB/T 2260 code, not {city!r}")


def _check_window(start: object, end: object, what: str) -> None:
    _check(_is_int(start, -(2**63), 2**63) and _is_int(end, -(2**63), 2**63),
           f"{what}: the window bounds are integer seconds")
    assert isinstance(start, int) and isinstance(end, int)
    _check(end == 0 or end > start, f"{what}: the window ends ({end}) before it starts ({start})")


def _in_window(now_s: int, start_s: int, end_s: int) -> bool:
    return start_s <= now_s and (end_s == 0 or now_s < end_s)


def parse_time_s(value: object, what: str = "time") -> int:
    """Seconds since the epoch from an int, or an ISO-8601 date or datetime (UTC+8 unless it says)."""
    if _is_int(value, -(2**63), 2**63):
        assert isinstance(value, int)
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                day = date.fromisoformat(value.strip())
                return int(datetime(day.year, day.month, day.day, tzinfo=HOST_TZ).timestamp())
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return int((moment if moment.tzinfo else moment.replace(tzinfo=HOST_TZ)).timestamp())
    raise InvalidArgumentError(f"{what} must be seconds or an ISO-8601 date or time, not {value!r}")


def _fields(data: object, what: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    _check(isinstance(data, Mapping), f"{what} must be a JSON object")
    assert isinstance(data, Mapping)
    missing = sorted(required - data.keys())
    unknown = sorted(str(k) for k in data.keys() - required - optional)
    _check(not missing, f"{what}: missing {', '.join(missing)}")
    _check(not unknown, f"{what}: unknown field(s) {', '.join(unknown)}")
    return data


# --- offers ----------------------------------------------------------------------------------------


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
        _check(isinstance(self.kind, BenefitKind), f"benefit kind must be a BenefitKind, not {self.kind!r}")
        _check(isinstance(self.text_zh, str) and bool(self.text_zh.strip()), "a benefit needs Chinese text")
        _check(isinstance(self.text_en, str), "text_en must be text")
        if self.kind is BenefitKind.DISCOUNT:
            _check(_is_int(self.discount_percent, 1, 101), "a discount is 1 to 100 percent")
        else:
            _check(self.discount_percent == 0, "only a discount has discount_percent")
        _check(_is_int(self.amount_fen, 0, _UINT64), "amount_fen must be a non-negative integer")
        _check(_is_int(self.count, 0, _UINT32), "count must be a non-negative integer")
        if self.kind is BenefitKind.FREE_USES:
            _check(self.count >= 1, "free uses need a count of at least 1")

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "discount_percent": self.discount_percent, "amount_fen": self.amount_fen,
                "count": self.count, "text_zh": self.text_zh, "text_en": self.text_en}

    @classmethod
    def from_dict(cls, data: object) -> Benefit:
        d = _fields(data, "benefit", {"kind", "text_zh"}, {"text_en", "discount_percent", "amount_fen", "count"})
        return cls(kind=BenefitKind.parse(d["kind"]), text_zh=d["text_zh"], text_en=d.get("text_en", ""),
                   discount_percent=d.get("discount_percent", 0), amount_fen=d.get("amount_fen", 0),
                   count=d.get("count", 0))

    def to_proto(self) -> offer_pb2.Benefit:
        return offer_pb2.Benefit(kind=self.kind.to_proto(), discount_percent=self.discount_percent,  # type: ignore[arg-type]
                                 amount_fen=self.amount_fen, count=self.count, text_zh=self.text_zh,
                                 text_en=self.text_en)

    @classmethod
    def from_proto(cls, msg: offer_pb2.Benefit) -> Benefit:
        return cls(kind=BenefitKind.from_proto(msg.kind), text_zh=msg.text_zh, text_en=msg.text_en,
                   discount_percent=msg.discount_percent, amount_fen=msg.amount_fen, count=msg.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """At most `uses` redemptions per holder pseudonym per calendar `period` (UTC+8)."""

    uses: int
    period: Period

    def __post_init__(self) -> None:
        _check(_is_int(self.uses, 1, _UINT32), f"a quota allows at least 1 use, not {self.uses!r}")
        _check(isinstance(self.period, Period), f"a quota period must be a Period, not {self.period!r}")

    def to_dict(self) -> dict[str, object]:
        return {"uses": self.uses, "period": self.period.value}

    @classmethod
    def from_dict(cls, data: object) -> Quota:
        d = _fields(data, "quota", {"uses", "period"}, set())
        return cls(uses=d["uses"], period=Period.parse(d["period"]))


_OFFER_REQUIRED = {"id", "city", "category", "min_tier", "benefit", "title_zh"}
_OFFER_OPTIONAL = {"title_en", "venue", "valid_from_s", "valid_until_s", "local_only", "quota", "assumed"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A benefit a host city (optionally one venue in it) grants from a portable tier up.

    The window is [valid_from_s, valid_until_s) in seconds; valid_until_s = 0 is
    open-ended. `assumed` marks a threshold that is a demonstration value, not a
    published rule.
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

    def __post_init__(self) -> None:
        _check(isinstance(self.id, str) and _ID.fullmatch(self.id) is not None,
               f"an offer id is lowercase letters, digits, '.', '_' or '-' (at most 64), not {self.id!r}")
        _check_city(self.city, f"offer {self.id}: city")
        _check(isinstance(self.category, Category), f"offer {self.id}: category must be a Category")
        _check(isinstance(self.min_tier, Tier), f"offer {self.id}: min_tier must be set to a Tier")
        _check(isinstance(self.benefit, Benefit), f"offer {self.id}: benefit must be a Benefit")
        _check(isinstance(self.title_zh, str) and bool(self.title_zh.strip()), f"offer {self.id}: needs title_zh")
        _check(isinstance(self.title_en, str) and isinstance(self.venue, str), f"offer {self.id}: text fields")
        _check_window(self.valid_from_s, self.valid_until_s, f"offer {self.id}")
        _check(isinstance(self.local_only, bool) and isinstance(self.assumed, bool),
               f"offer {self.id}: local_only and assumed are true or false")
        _check(self.quota is None or isinstance(self.quota, Quota), f"offer {self.id}: quota must be a Quota")

    def active_at(self, now_s: int) -> bool:
        return _in_window(now_s, self.valid_from_s, self.valid_until_s)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "city": self.city,
            "venue": self.venue,
            "category": self.category.value,
            "min_tier": self.min_tier.name,
            "benefit": self.benefit.to_dict(),
            "valid_from_s": self.valid_from_s,
            "valid_until_s": self.valid_until_s,
            "local_only": self.local_only,
            "quota": None if self.quota is None else self.quota.to_dict(),
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "assumed": self.assumed,
        }

    @classmethod
    def from_dict(cls, data: object) -> Offer:
        """Read the JSON form; times may be seconds or ISO-8601 dates (UTC+8)."""
        d = _fields(data, "offer", _OFFER_REQUIRED, _OFFER_OPTIONAL)
        what = f"offer {d['id']!r}"
        tier = d["min_tier"]
        _check(isinstance(tier, str), f"{what}: min_tier is a tier name such as GOOD")
        quota = d.get("quota")
        return cls(
            id=d["id"],
            city=d["city"],
            category=Category.parse(d["category"]),
            min_tier=Tier.parse(tier),
            benefit=Benefit.from_dict(d["benefit"]),
            title_zh=d["title_zh"],
            title_en=d.get("title_en", ""),
            venue=d.get("venue", ""),
            valid_from_s=parse_time_s(d.get("valid_from_s", 0), f"{what}: valid_from_s"),
            valid_until_s=parse_time_s(d.get("valid_until_s", 0), f"{what}: valid_until_s"),
            local_only=d.get("local_only", False),
            quota=None if quota is None else Quota.from_dict(quota),
            assumed=d.get("assumed", False),
        )

    def to_proto(self) -> offer_pb2.Offer:
        msg = offer_pb2.Offer(
            id=self.id, city=self.city, venue=self.venue, category=self.category.to_proto(),  # type: ignore[arg-type]
            min_tier=int(self.min_tier), benefit=self.benefit.to_proto(),  # type: ignore[arg-type]
            valid_from=self.valid_from_s, valid_until=self.valid_until_s, local_only=self.local_only,
            title_zh=self.title_zh, title_en=self.title_en, assumed=self.assumed)
        if self.quota is not None:
            msg.quota.uses = self.quota.uses
            msg.quota.period = self.quota.period.to_proto()  # type: ignore[assignment]
        return msg

    @classmethod
    def from_proto(cls, msg: offer_pb2.Offer) -> Offer:
        _check(1 <= msg.min_tier <= len(Tier), f"offer {msg.id}: min_tier is unspecified or unknown")
        quota = None
        if msg.HasField("quota"):
            quota = Quota(uses=msg.quota.uses, period=Period.from_proto(msg.quota.period))
        return cls(
            id=msg.id, city=msg.city, category=Category.from_proto(msg.category), min_tier=Tier(msg.min_tier),
            benefit=Benefit.from_proto(msg.benefit), title_zh=msg.title_zh, title_en=msg.title_en,
            venue=msg.venue, valid_from_s=msg.valid_from, valid_until_s=msg.valid_until,
            local_only=msg.local_only, quota=quota, assumed=msg.assumed)


# --- agreements ------------------------------------------------------------------------------------


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
        _check(isinstance(self.id, str) and _ID.fullmatch(self.id) is not None,
               f"an agreement id is lowercase letters, digits, '.', '_' or '-', not {self.id!r}")
        _check(isinstance(self.cities, frozenset) and len(self.cities) >= 2,
               f"agreement {self.id}: needs at least two distinct cities")
        for city in self.cities:
            _check_city(city, f"agreement {self.id}: city")
        _check(isinstance(self.categories, frozenset) and all(isinstance(c, Category) for c in self.categories),
               f"agreement {self.id}: categories must be Categories")
        _check_window(self.not_before_s, self.not_after_s, f"agreement {self.id}")
        _check(isinstance(self.title, str), f"agreement {self.id}: title must be text")

    def in_force_at(self, now_s: int) -> bool:
        return _in_window(now_s, self.not_before_s, self.not_after_s)

    def covers(self, home: int, host: int, category: Category) -> bool:
        """Whether a resident of `home` is opened `category` in `host` (ignoring time)."""
        return (home != host and home in self.cities and host in self.cities
                and (not self.categories or category in self.categories))

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "cities": sorted(self.cities),
            "categories": sorted(c.value for c in self.categories),
            "not_before_s": self.not_before_s,
            "not_after_s": self.not_after_s,
            "title": self.title,
        }

    @classmethod
    def from_dict(cls, data: object) -> Agreement:
        d = _fields(data, "agreement", {"id", "cities", "not_before_s"}, {"not_after_s", "categories", "title"})
        what = f"agreement {d['id']!r}"
        cities, categories = d["cities"], d.get("categories", [])
        _check(isinstance(cities, list) and isinstance(categories, list), f"{what}: cities and categories are lists")
        return cls(
            id=d["id"],
            cities=frozenset(cities),
            categories=frozenset(Category.parse(c) for c in categories),
            not_before_s=parse_time_s(d["not_before_s"], f"{what}: not_before_s"),
            not_after_s=parse_time_s(d.get("not_after_s", 0), f"{what}: not_after_s"),
            title=d.get("title", ""),
        )

    def to_proto(self) -> offer_pb2.Agreement:
        return offer_pb2.Agreement(
            id=self.id, cities=sorted(self.cities),
            categories=sorted(c.to_proto() for c in self.categories),  # type: ignore[misc]
            not_before=self.not_before_s, not_after=self.not_after_s, title=self.title)

    @classmethod
    def from_proto(cls, msg: offer_pb2.Agreement) -> Agreement:
        return cls(id=msg.id, cities=frozenset(msg.cities),
                   categories=frozenset(Category.from_proto(c) for c in msg.categories),
                   not_before_s=msg.not_before, not_after_s=msg.not_after, title=msg.title)


# --- rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """Which host cities run same-city rules, and in which categories.

    A city has rules in a category when it is a member of the alliance (it has a
    tier policy, so its thresholds mean something on the portable ladder) and has
    published at least one offer in that category. Anything else is `NO_RULES`:
    an explicit no, never a silent yes.
    """

    categories_by_city: Mapping[int, frozenset[Category]]

    @classmethod
    def from_offers(cls, offers: Iterable[Offer], *, members: Iterable[int] | None = None) -> Rules:
        """Rules from published offers; with `members`, offers of non-member cities give no rules."""
        allowed = None if members is None else frozenset(members)
        found: dict[int, set[Category]] = {}
        for offer in offers:
            if allowed is None or offer.city in allowed:
                found.setdefault(offer.city, set()).add(offer.category)
        return cls({city: frozenset(cats) for city, cats in found.items()})

    def covers(self, city: int, category: Category) -> bool:
        categories = self.categories_by_city.get(city)
        return categories is not None and category in categories


# --- decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of one eligibility check; `reason` is None exactly when eligible.

    `quota_remaining` is None for an offer without a quota; otherwise the uses left
    this period once this decision is acted on (one fewer when eligible).
    """

    eligible: bool
    reason: Reason | None
    offer_id: str
    tier: Tier | None
    treated_as_local: bool = False
    agreement_id: str | None = None
    quota_remaining: int | None = None
    benefit: str = ""
    benefit_en: str = ""
    detail: str = ""
    # The error catalogue code when the code itself was refused (e.g. CC_EXPIRED).
    error_code: str | None = None

    def __post_init__(self) -> None:
        if self.eligible == (self.reason is not None):
            raise InvalidArgumentError("a decision has a reason exactly when it is not eligible")

    def to_dict(self) -> dict[str, object]:
        """The JSON form the CLI prints and the REST API returns."""
        return {
            "eligible": self.eligible,
            "reason": None if self.reason is None else self.reason.value,
            "offer": self.offer_id,
            "tier": None if self.tier is None else self.tier.name,
            "treated_as_local": self.treated_as_local,
            "agreement": self.agreement_id,
            "quota_remaining": self.quota_remaining,
            "benefit": self.benefit,
            "benefit_en": self.benefit_en,
            "detail": self.detail,
            "error": self.error_code,
        }

    @classmethod
    def from_dict(cls, data: object) -> Decision:
        """The inverse of `to_dict` (a stored or transmitted decision)."""
        d = _fields(data, "decision", set(_DECISION_KEYS), set())
        reason, tier = d["reason"], d["tier"]
        return cls(eligible=d["eligible"], reason=None if reason is None else Reason.parse(reason),
                   offer_id=d["offer"], tier=None if tier is None else Tier.parse(tier),
                   treated_as_local=d["treated_as_local"], agreement_id=d["agreement"],
                   quota_remaining=d["quota_remaining"], benefit=d["benefit"], benefit_en=d["benefit_en"],
                   detail=d["detail"], error_code=d["error"])

    def to_proto(self) -> offer_pb2.Decision:
        msg = offer_pb2.Decision(
            eligible=self.eligible, reason=0 if self.reason is None else self.reason.to_proto(),  # type: ignore[arg-type]
            offer_id=self.offer_id, tier=0 if self.tier is None else int(self.tier),  # type: ignore[arg-type]
            treated_as_local=self.treated_as_local, agreement_id=self.agreement_id or "", detail=self.detail,
            benefit_zh=self.benefit, benefit_en=self.benefit_en, error_code=self.error_code or "")
        if self.quota_remaining is not None:
            msg.quota_remaining = self.quota_remaining
        return msg

    @classmethod
    def from_proto(cls, msg: offer_pb2.Decision) -> Decision:
        return cls(eligible=msg.eligible, reason=Reason.from_proto(msg.reason) if msg.reason else None,
                   offer_id=msg.offer_id, tier=Tier(msg.tier) if msg.tier else None,
                   treated_as_local=msg.treated_as_local, agreement_id=msg.agreement_id or None,
                   quota_remaining=msg.quota_remaining if msg.HasField("quota_remaining") else None,
                   benefit=msg.benefit_zh, benefit_en=msg.benefit_en, detail=msg.detail,
                   error_code=msg.error_code or None)


_DECISION_KEYS = ("eligible", "reason", "offer", "tier", "treated_as_local", "agreement", "quota_remaining",
                  "benefit", "benefit_en", "detail", "error")


def _agreement_for(agreements: Sequence[Agreement], home: int, host: int, category: Category,
                   now_s: int) -> Agreement | None:
    for agreement in agreements:
        if agreement.covers(home, host, category) and agreement.in_force_at(now_s):
            return agreement
    return None


def _why_no_agreement(agreements: Sequence[Agreement], home: int, host: int, category: Category,
                      now_s: int) -> str:
    covering = [a for a in agreements if a.covers(home, host, category)]
    if not covering:
        return f"no agreement opens {category.value} in {host} to residents of {home}"
    a = covering[0]
    if now_s < a.not_before_s:
        return f"agreement {a.id} covers {category.value} only from {a.not_before_s}; it is now {now_s}"
    return f"agreement {a.id} ended at {a.not_after_s}; it is now {now_s}"


def decide(*, holder: VerifiedCode, offer: Offer, agreements: Sequence[Agreement], rules: Rules,
           now_s: int, used_in_period: int = 0) -> Decision:
    """Whether `holder` may have `offer` at `now_s`, having redeemed it `used_in_period` times this period.

    `agreements` may be all of them or only those between the two cities (see
    `Catalogue`); `used_in_period` counts the holder's redemptions of this offer
    in `period_key(offer.quota.period, now_s)`.
    """
    if used_in_period < 0:
        raise InvalidArgumentError(f"used_in_period cannot be negative ({used_in_period})")
    tier = holder.tier
    quota = offer.quota
    left = None if quota is None else max(quota.uses - used_in_period, 0)

    def no(reason: Reason, detail: str, *, local: bool = False, agreement_id: str | None = None) -> Decision:
        return Decision(eligible=False, reason=reason, offer_id=offer.id, tier=tier, treated_as_local=local,
                        agreement_id=agreement_id, quota_remaining=left, benefit=offer.benefit.text_zh,
                        benefit_en=offer.benefit.text_en, detail=detail)

    if now_s < holder.issued_at_s:
        return no(Reason.CODE_NOT_YET_VALID, f"the code is valid from {holder.issued_at_s}; it is now {now_s}")
    if now_s >= holder.expires_at_s:
        return no(Reason.CODE_EXPIRED, f"the code expired at {holder.expires_at_s}; it is now {now_s}")
    if not rules.covers(offer.city, offer.category):
        return no(Reason.NO_RULES, f"city {offer.city} has no same-city rules for {offer.category.value}")
    if not offer.active_at(now_s):
        return no(Reason.OFFER_NOT_ACTIVE,
                  f"offer {offer.id} runs from {offer.valid_from_s} until {offer.valid_until_s or 'further notice'}")
    agreement_id = None
    if holder.city != offer.city:
        agreement = _agreement_for(agreements, holder.city, offer.city, offer.category, now_s)
        if agreement is None:
            return no(Reason.NO_AGREEMENT,
                      _why_no_agreement(agreements, holder.city, offer.city, offer.category, now_s))
        if offer.local_only:
            return no(Reason.OFFER_LOCAL_ONLY, f"offer {offer.id} is for residents of {offer.city} only")
        agreement_id = agreement.id
    if tier < offer.min_tier:
        return no(Reason.TIER_TOO_LOW, f"tier {tier.name} is below the offer's minimum {offer.min_tier.name}",
                  local=True, agreement_id=agreement_id)
    if quota is not None:
        if used_in_period >= quota.uses:
            return no(Reason.QUOTA_EXHAUSTED,
                      f"{used_in_period} of {quota.uses} uses this {quota.period.value} already redeemed",
                      local=True, agreement_id=agreement_id)
        left = quota.uses - used_in_period - 1
    how = "resident" if agreement_id is None else f"visitor under agreement {agreement_id}"
    return Decision(eligible=True, reason=None, offer_id=offer.id, tier=tier, treated_as_local=True,
                    agreement_id=agreement_id, quota_remaining=left, benefit=offer.benefit.text_zh,
                    benefit_en=offer.benefit.text_en,
                    detail=f"{how}; tier {tier.name} meets the minimum {offer.min_tier.name}")


_ERROR_REASONS: tuple[tuple[type[CityCreditError], Reason], ...] = (
    (CodeExpiredError, Reason.CODE_EXPIRED),
    (CodeNotYetValidError, Reason.CODE_NOT_YET_VALID),
    (CodeRevokedError, Reason.CODE_REVOKED),
    (CodeError, Reason.CODE_INVALID),
    (OfferUnknownError, Reason.OFFER_UNKNOWN),
)


def decision_for_error(err: CityCreditError, offer_id: str) -> Decision:
    """The "no" for a code that failed verification, or an offer id that names nothing.

    Any other error (a stale bundle, a bad argument) says nothing about the holder,
    so it is raised again rather than dressed up as a decision.
    """
    for error_type, reason in _ERROR_REASONS:
        if isinstance(err, error_type):
            return Decision(eligible=False, reason=reason, offer_id=offer_id, tier=None, detail=err.message,
                            error_code=err.code)
    raise err


def period_key(period: Period | str, now_s: int) -> str:
    """The calendar bucket (UTC+8) a quota counts in: "2026-11-03", "2026-W45", "2026-11" or "2026"."""
    period = Period.parse(period)
    moment = datetime.fromtimestamp(now_s, HOST_TZ)
    if period is Period.DAY:
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if period is Period.WEEK:
        iso = moment.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if period is Period.MONTH:
        return f"{moment.year:04d}-{moment.month:02d}"
    return f"{moment.year:04d}"


# --- a catalogue: offers and agreements indexed for decisions -------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """Offers and agreements, indexed so that a decision by offer id costs a few dict look-ups."""

    offers: tuple[Offer, ...]
    agreements: tuple[Agreement, ...]
    rules: Rules
    _by_id: Mapping[str, Offer] = field(repr=False)
    _by_pair: Mapping[tuple[int, int], tuple[Agreement, ...]] = field(repr=False)

    @classmethod
    def build(cls, *, offers: Iterable[Offer], agreements: Iterable[Agreement],
              members: Iterable[int] | None = None) -> Catalogue:
        """Index offers by id and agreements by (home, host); `members` limits who has rules."""
        offers = tuple(sorted(offers, key=lambda o: (o.city, o.category.value, o.min_tier, o.id)))
        agreements = tuple(agreements)
        by_id: dict[str, Offer] = {}
        for offer in offers:
            _check(offer.id not in by_id, f"offer id {offer.id} is used twice")
            by_id[offer.id] = offer
        _check(len({a.id for a in agreements}) == len(agreements), "agreement ids must be unique")
        by_pair: dict[tuple[int, int], list[Agreement]] = {}
        for agreement in agreements:
            for home in agreement.cities:
                for host in agreement.cities - {home}:
                    by_pair.setdefault((home, host), []).append(agreement)
        return cls(offers, agreements, Rules.from_offers(offers, members=members), by_id,
                   {pair: tuple(found) for pair, found in by_pair.items()})

    def offer(self, offer_id: str) -> Offer:
        """The offer with this id; raises OfferUnknownError."""
        found = self._by_id.get(offer_id)
        if found is None:
            raise OfferUnknownError(f"no offer {offer_id!r}")
        return found

    def find(self, *, city: int | None = None, category: Category | None = None) -> list[Offer]:
        """Offers of a host city and/or category, by city, category, then minimum tier."""
        return [o for o in self.offers
                if (city is None or o.city == city) and (category is None or o.category is category)]

    def agreements_between(self, home: int, host: int) -> tuple[Agreement, ...]:
        """Agreements naming both cities, whatever their window or categories."""
        return self._by_pair.get((home, host), ())

    def decide(self, *, holder: VerifiedCode, offer_id: str, now_s: int, used_in_period: int = 0) -> Decision:
        """`decide` for an offer id; an unknown id is an `OFFER_UNKNOWN` decision, not an exception."""
        offer = self._by_id.get(offer_id)
        if offer is None:
            return Decision(eligible=False, reason=Reason.OFFER_UNKNOWN, offer_id=offer_id, tier=holder.tier,
                            detail=f"no offer {offer_id!r}", error_code=OfferUnknownError.code)
        return decide(holder=holder, offer=offer, agreements=self.agreements_between(holder.city, offer.city),
                      rules=self.rules, now_s=now_s, used_in_period=used_in_period)
