"""Every core type to and from its JSON and protobuf forms: the one place each shape is written.

    to_json(offer)                 -> dict          from_json(Offer, doc)       -> Offer
    to_proto(offer)                -> offer_pb2     from_proto(Offer, message)  -> Offer
    verification_to_json(result)   -> dict          verification_from_json(doc) -> VerifiedCode | CityCreditError

JSON conventions, the same on every surface (CLI, REST, web pages, files):

- a city is its six-digit GB/T 2260 code as a string (`"330100"`); readers also take the integer;
- times are ISO 8601 in UTC (`"2026-11-18T07:06:40Z"`, see `_time`); offer and agreement
  windows are written as seconds (`valid_from_s`) and read as seconds, ISO 8601 with a zone,
  or a bare date in UTC+8;
- enums are lowercase values (`"parking"`), tiers and reasons their upper-case names;
- byte strings (code ids, pseudonyms, kids) are lowercase hex.

Readers refuse unknown members of the objects they own, except in answers from a
newer peer (`decision_from_json(..., strict=False)`), which keep working when it adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from citycredit._gen.citycredit.v1 import offer_pb2, service_pb2
from citycredit.core._claims import VerifiedCode
from citycredit.core._eligibility import Decision, Reason
from citycredit.core._offers import (
    Agreement,
    Benefit,
    BenefitKind,
    Category,
    Choice,
    Offer,
    Period,
    Quota,
    check,
    is_int,
)
from citycredit.core._tiers import Tier
from citycredit.core._time import iso, parse_time_s
from citycredit.errors import CityCreditError, InvalidArgumentError, error_for_code

__all__ = [
    "DECISION_KEYS",
    "city_from_json",
    "city_to_json",
    "from_json",
    "from_proto",
    "to_json",
    "to_proto",
    "verification_from_json",
    "verification_from_proto",
    "verification_to_json",
    "verification_to_proto",
]

T = TypeVar("T")
C = TypeVar("C", bound=Choice)


# --- small pieces ----------------------------------------------------------------------------------


def city_to_json(city: int) -> str:
    return f"{city:06d}"


def city_from_json(value: object, what: str = "city") -> int:
    """A city code from JSON: `"330100"` or `330100` (range checks are the reader's constructor's)."""
    if is_int(value, 0, 1_000_000):
        return cast(int, value)
    if isinstance(value, str) and len(value) == 6 and value.isascii() and value.isdigit():
        return int(value)
    raise InvalidArgumentError(f"{what} is a six-digit GB/T 2260 code, not {value!r}")


def _members(data: object, what: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    check(isinstance(data, Mapping), f"{what} must be a JSON object")
    assert isinstance(data, Mapping)
    missing = sorted(required - data.keys())
    unknown = sorted(str(k) for k in data.keys() - required - optional)
    check(not missing, f"{what}: missing {', '.join(missing)}")
    check(not unknown, f"{what}: unknown field(s) {', '.join(unknown)}")
    return data


def _text(value: object, what: str) -> str:
    check(isinstance(value, str), f"{what} must be text")
    return cast(str, value)


def enum_to_proto(value: Choice) -> int:
    """The proto number of a core enum member (`Category.PARKING` -> `CATEGORY_PARKING` = 1)."""
    return int(getattr(offer_pb2, value.proto_prefix() + value.name))


def enum_from_proto(cls: type[C], number: int) -> C:
    for member in cls:
        if enum_to_proto(member) == number:
            return member
    raise InvalidArgumentError(f"{cls.__name__} {number} is unspecified or unknown")


def _tier_from_json(value: object, what: str) -> Tier:
    check(isinstance(value, str), f"{what} is a tier name such as GOOD")
    return Tier.parse(cast(str, value))


def _tier_from_proto(number: int, what: str) -> Tier:
    check(1 <= number <= len(Tier), f"{what} is unspecified or unknown")
    return Tier(number)


# --- offers ------------------------------------------------------------------------------------------


def _benefit_to_json(b: Benefit) -> dict[str, Any]:
    return {"kind": b.kind.value, "discount_percent": b.discount_percent, "amount_fen": b.amount_fen,
            "count": b.count, "text_zh": b.text_zh, "text_en": b.text_en}


def _benefit_from_json(data: object) -> Benefit:
    d = _members(data, "benefit", {"kind", "text_zh"}, {"text_en", "discount_percent", "amount_fen", "count"})
    return Benefit(kind=BenefitKind.parse(d["kind"]), text_zh=d["text_zh"], text_en=d.get("text_en", ""),
                   discount_percent=d.get("discount_percent", 0), amount_fen=d.get("amount_fen", 0),
                   count=d.get("count", 0))


def _benefit_to_proto(b: Benefit) -> offer_pb2.Benefit:
    return offer_pb2.Benefit(kind=enum_to_proto(b.kind), discount_percent=b.discount_percent,  # type: ignore[arg-type]
                             amount_fen=b.amount_fen, count=b.count, text_zh=b.text_zh, text_en=b.text_en)


def _benefit_from_proto(m: offer_pb2.Benefit) -> Benefit:
    return Benefit(kind=enum_from_proto(BenefitKind, m.kind), text_zh=m.text_zh, text_en=m.text_en,
                   discount_percent=m.discount_percent, amount_fen=m.amount_fen, count=m.count)


def _quota_to_json(q: Quota | None) -> dict[str, Any] | None:
    return None if q is None else {"uses": q.uses, "period": q.period.value}


def _quota_from_json(data: object) -> Quota | None:
    if data is None:
        return None
    d = _members(data, "quota", {"uses", "period"}, set())
    return Quota(uses=d["uses"], period=Period.parse(d["period"]))


def _offer_to_json(o: Offer) -> dict[str, Any]:
    return {"id": o.id, "city": city_to_json(o.city), "venue": o.venue, "category": o.category.value,
            "min_tier": o.min_tier.name, "benefit": _benefit_to_json(o.benefit), "valid_from_s": o.valid_from_s,
            "valid_until_s": o.valid_until_s, "local_only": o.local_only, "quota": _quota_to_json(o.quota),
            "title_zh": o.title_zh, "title_en": o.title_en, "assumed": o.assumed,
            "offline_redemption": o.offline_redemption}


_OFFER_REQUIRED = {"id", "city", "category", "min_tier", "benefit", "title_zh"}
_OFFER_OPTIONAL = {"title_en", "venue", "valid_from_s", "valid_until_s", "local_only", "quota", "assumed",
                   "offline_redemption"}


def _offer_from_json(data: object) -> Offer:
    d = _members(data, "offer", _OFFER_REQUIRED, _OFFER_OPTIONAL)
    what = f"offer {d['id']!r}"
    return Offer(
        id=d["id"], city=city_from_json(d["city"], f"{what}: city"), category=Category.parse(d["category"]),
        min_tier=_tier_from_json(d["min_tier"], f"{what}: min_tier"), benefit=_benefit_from_json(d["benefit"]),
        title_zh=d["title_zh"], title_en=d.get("title_en", ""), venue=d.get("venue", ""),
        valid_from_s=parse_time_s(d.get("valid_from_s", 0), f"{what}: valid_from_s"),
        valid_until_s=parse_time_s(d.get("valid_until_s", 0), f"{what}: valid_until_s"),
        local_only=d.get("local_only", False), quota=_quota_from_json(d.get("quota")), assumed=d.get("assumed", False),
        offline_redemption=d.get("offline_redemption", False))


def _offer_to_proto(o: Offer) -> offer_pb2.Offer:
    msg = offer_pb2.Offer(
        id=o.id, city=o.city, venue=o.venue, category=enum_to_proto(o.category),  # type: ignore[arg-type]
        min_tier=int(o.min_tier), benefit=_benefit_to_proto(o.benefit),  # type: ignore[arg-type]
        valid_from=o.valid_from_s, valid_until=o.valid_until_s, local_only=o.local_only,
        title_zh=o.title_zh, title_en=o.title_en, assumed=o.assumed,
        offline_redemption=o.offline_redemption)
    if o.quota is not None:
        msg.quota.uses = o.quota.uses
        msg.quota.period = enum_to_proto(o.quota.period)  # type: ignore[assignment]
    return msg


def _offer_from_proto(m: offer_pb2.Offer) -> Offer:
    quota = None
    if m.HasField("quota"):
        quota = Quota(uses=m.quota.uses, period=enum_from_proto(Period, m.quota.period))
    return Offer(
        id=m.id, city=m.city, category=enum_from_proto(Category, m.category),
        min_tier=_tier_from_proto(m.min_tier, f"offer {m.id}: min_tier"), benefit=_benefit_from_proto(m.benefit),
        title_zh=m.title_zh, title_en=m.title_en, venue=m.venue, valid_from_s=m.valid_from,
        valid_until_s=m.valid_until, local_only=m.local_only, quota=quota, assumed=m.assumed,
        offline_redemption=m.offline_redemption)


# --- agreements ----------------------------------------------------------------------------------------


def _agreement_to_json(a: Agreement) -> dict[str, Any]:
    return {"id": a.id, "cities": [city_to_json(c) for c in sorted(a.cities)],
            "categories": sorted(c.value for c in a.categories), "not_before_s": a.not_before_s,
            "not_after_s": a.not_after_s, "title": a.title}


def _agreement_from_json(data: object) -> Agreement:
    d = _members(data, "agreement", {"id", "cities", "not_before_s"}, {"not_after_s", "categories", "title"})
    what = f"agreement {d['id']!r}"
    cities, categories = d["cities"], d.get("categories", [])
    check(isinstance(cities, list) and isinstance(categories, list), f"{what}: cities and categories are lists")
    return Agreement(
        id=d["id"], cities=frozenset(city_from_json(c, f"{what}: city") for c in cities),
        categories=frozenset(Category.parse(c) for c in categories),
        not_before_s=parse_time_s(d["not_before_s"], f"{what}: not_before_s"),
        not_after_s=parse_time_s(d.get("not_after_s", 0), f"{what}: not_after_s"), title=d.get("title", ""))


def _agreement_to_proto(a: Agreement) -> offer_pb2.Agreement:
    return offer_pb2.Agreement(id=a.id, cities=sorted(a.cities),
                               categories=sorted(enum_to_proto(c) for c in a.categories),  # type: ignore[misc]
                               not_before=a.not_before_s, not_after=a.not_after_s, title=a.title)


def _agreement_from_proto(m: offer_pb2.Agreement) -> Agreement:
    return Agreement(id=m.id, cities=frozenset(m.cities),
                     categories=frozenset(enum_from_proto(Category, c) for c in m.categories),
                     not_before_s=m.not_before, not_after_s=m.not_after, title=m.title)


# --- decisions -----------------------------------------------------------------------------------------

# The members of a decision's JSON, in the order they are written.
DECISION_KEYS = ("eligible", "reason", "offer", "tier", "treated_as_local", "agreement", "quota_remaining",
                 "benefit", "benefit_en", "detail", "error")


def _decision_to_json(d: Decision) -> dict[str, Any]:
    return {"eligible": d.eligible, "reason": None if d.reason is None else d.reason.value, "offer": d.offer_id,
            "tier": None if d.tier is None else d.tier.name, "treated_as_local": d.treated_as_local,
            "agreement": d.agreement_id, "quota_remaining": d.quota_remaining, "benefit": d.benefit,
            "benefit_en": d.benefit_en, "detail": d.detail, "error": d.error_code}


def decision_from_json(data: object, *, strict: bool = True) -> Decision:
    """A decision's JSON; `strict=False` ignores members a newer gateway added (forward compatibility)."""
    if not strict and isinstance(data, Mapping):
        data = {k: v for k, v in data.items() if k in DECISION_KEYS}
    d = _members(data, "decision", set(DECISION_KEYS), set())
    reason, tier = d["reason"], d["tier"]
    return Decision(eligible=d["eligible"], reason=None if reason is None else Reason.parse(reason),
                    offer_id=d["offer"], tier=None if tier is None else _tier_from_json(tier, "decision tier"),
                    treated_as_local=d["treated_as_local"], agreement_id=d["agreement"],
                    quota_remaining=d["quota_remaining"], benefit=d["benefit"], benefit_en=d["benefit_en"],
                    detail=d["detail"], error_code=d["error"])


def _decision_to_proto(d: Decision) -> offer_pb2.Decision:
    msg = offer_pb2.Decision(
        eligible=d.eligible, reason=0 if d.reason is None else enum_to_proto(d.reason),  # type: ignore[arg-type]
        offer_id=d.offer_id, tier=0 if d.tier is None else int(d.tier),  # type: ignore[arg-type]
        treated_as_local=d.treated_as_local, agreement_id=d.agreement_id or "", detail=d.detail,
        benefit_zh=d.benefit, benefit_en=d.benefit_en, error_code=d.error_code or "")
    if d.quota_remaining is not None:
        msg.quota_remaining = d.quota_remaining
    return msg


def _decision_from_proto(m: offer_pb2.Decision) -> Decision:
    return Decision(eligible=m.eligible, reason=enum_from_proto(Reason, m.reason) if m.reason else None,
                    offer_id=m.offer_id, tier=Tier(m.tier) if m.tier else None, treated_as_local=m.treated_as_local,
                    agreement_id=m.agreement_id or None,
                    quota_remaining=m.quota_remaining if m.HasField("quota_remaining") else None,
                    benefit=m.benefit_zh, benefit_en=m.benefit_en, detail=m.detail, error_code=m.error_code or None)


# --- the generic entry points ------------------------------------------------------------------------

_TO_JSON: dict[type, Callable[[Any], dict[str, Any]]] = {
    Offer: _offer_to_json, Agreement: _agreement_to_json, Decision: _decision_to_json, Benefit: _benefit_to_json}
_FROM_JSON: dict[type, Callable[[object], Any]] = {
    Offer: _offer_from_json, Agreement: _agreement_from_json, Decision: decision_from_json,
    Benefit: _benefit_from_json}
_TO_PROTO: dict[type, Callable[[Any], Any]] = {
    Offer: _offer_to_proto, Agreement: _agreement_to_proto, Decision: _decision_to_proto, Benefit: _benefit_to_proto}
_FROM_PROTO: dict[type, Callable[[Any], Any]] = {
    Offer: _offer_from_proto, Agreement: _agreement_from_proto, Decision: _decision_from_proto,
    Benefit: _benefit_from_proto}


def to_json(value: Offer | Agreement | Decision | Benefit) -> dict[str, Any]:
    return _TO_JSON[type(value)](value)


def from_json(cls: type[T], data: object) -> T:
    """Read `cls` from its JSON form; a malformed document is an `InvalidArgumentError`."""
    try:
        return cast(T, _FROM_JSON[cls](data))
    except CityCreditError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidArgumentError(f"malformed {cls.__name__.lower()}: {exc!r}") from None


def to_proto(value: Offer | Agreement | Decision | Benefit) -> Any:
    return _TO_PROTO[type(value)](value)


def from_proto(cls: type[T], message: object) -> T:
    return cast(T, _FROM_PROTO[cls](message))


# --- verification results ------------------------------------------------------------------------------


def verification_to_json(result: VerifiedCode | CityCreditError) -> dict[str, Any]:
    """The one JSON shape of a verification: the claims when valid, the catalogue error when not."""
    if isinstance(result, CityCreditError):
        return {"valid": False, "city": None, "tier": None, "band": None, "issued_at": None,
                "expires_at": None, "code_id": None, "holder": None, "audience": None, "device_bound": None,
                "error": result.to_dict()}
    return {"valid": True, "city": city_to_json(result.city), "tier": result.tier.name, "band": result.band,
            "issued_at": iso(result.issued_at_s), "expires_at": iso(result.expires_at_s),
            "code_id": result.code_id.hex(), "holder": result.holder.hex(), "audience": city_to_json(result.audience),
            "device_bound": result.device_bound, "error": None}


def verification_from_json(data: object) -> VerifiedCode | CityCreditError:
    """The inverse of `verification_to_json` (that shape carries no kid, status index or policy version)."""
    d = data if isinstance(data, Mapping) else {}
    if d.get("valid") is False:
        error = d.get("error") if isinstance(d.get("error"), Mapping) else {}
        assert isinstance(error, Mapping)
        return error_for_code(str(error.get("code") or "CC_MALFORMED"), error.get("message"))
    check(d.get("valid") is True, "a verification has valid true or false")
    return VerifiedCode(
        city=city_from_json(d["city"]), tier=_tier_from_json(d["tier"], "tier"),
        band=_text(d.get("band") or "", "band"), issued_at_s=parse_time_s(d["issued_at"], "issued_at"),
        expires_at_s=parse_time_s(d["expires_at"], "expires_at"),
        code_id=bytes.fromhex(_text(d.get("code_id") or "", "code_id")),
        holder=bytes.fromhex(_text(d.get("holder") or "", "holder")), status_index=0, kid=b"", policy_version=0,
        audience=city_from_json(d["audience"]) if d.get("audience") is not None else 0,
        device_bound=d.get("device_bound") is True)


def verification_to_proto(result: VerifiedCode | CityCreditError) -> service_pb2.Verification:
    if isinstance(result, CityCreditError):
        return service_pb2.Verification(valid=False, error=service_pb2.ErrorInfo(code=result.code,
                                                                                 message=result.message))
    return service_pb2.Verification(valid=True, city=result.city, tier=int(result.tier), band=result.band,  # type: ignore[arg-type]
                                    issued_at=result.issued_at_s, expires_at=result.expires_at_s,
                                    code_id=result.code_id, holder=result.holder, audience=result.audience,
                                    device_bound=result.device_bound)


def verification_from_proto(m: service_pb2.Verification) -> VerifiedCode | CityCreditError:
    if not m.valid:
        return error_for_code(m.error.code or "CC_MALFORMED", m.error.message or None)
    return VerifiedCode(city=m.city, tier=_tier_from_proto(m.tier, "tier"), band=m.band, issued_at_s=m.issued_at,
                        expires_at_s=m.expires_at, code_id=bytes(m.code_id), holder=bytes(m.holder), status_index=0,
                        kid=b"", policy_version=0, audience=m.audience, device_bound=m.device_bound)
