"""Same-city treatment (DESIGN 6): the pure eligibility decision and the catalogue it runs on.

Nothing here reads a clock, a file or a database: the holder's verified claims,
the offer, the agreements, the host cities' rules, the time and the holder's
redemptions in the current period are all arguments. Whoever keeps redemptions
counts them per holder pseudonym and `period_key`; `decide` only compares.

A decision runs these checks in order and stops at the first "no":

1. the code is inside its validity window at `now_s` (`CODE_NOT_YET_VALID`, `CODE_EXPIRED`);
2. the code is for the offer's host city, its audience (`WRONG_AUDIENCE`);
3. the host city runs same-city rules for the offer's category (`NO_RULES`);
4. the offer is in its validity window (`OFFER_NOT_ACTIVE`);
5. a visitor needs an agreement between home and host city covering the category
   in force at `now_s` (`NO_AGREEMENT`), and an offer open to visitors
   (`OFFER_LOCAL_ONLY`); from here on the visitor is treated as a local;
6. the holder's tier reaches the offer's minimum (`TIER_TOO_LOW`);
7. a quota has uses left this period (`QUOTA_EXHAUSTED`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from citycredit.core._claims import VerifiedCode
from citycredit.core._offers import Agreement, Category, Choice, Offer, check
from citycredit.core._tiers import Tier
from citycredit.errors import (
    CityCreditError,
    CodeError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    CodeSuspendedError,
    InvalidArgumentError,
    OfferUnknownError,
)

__all__ = ["Catalogue", "Decision", "Reason", "Rules", "decide", "decision_for_error"]


class Reason(Choice):
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
    WRONG_AUDIENCE = "WRONG_AUDIENCE"
    CODE_SUSPENDED = "CODE_SUSPENDED"


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
    if holder.audience and holder.audience != offer.city:
        return no(Reason.WRONG_AUDIENCE, f"the code is for use in {holder.audience:06d}, not in {offer.city:06d}: "
                                         "ask the holder for a code for this city")
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
    (CodeSuspendedError, Reason.CODE_SUSPENDED),
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
            check(offer.id not in by_id, f"offer id {offer.id} is used twice")
            by_id[offer.id] = offer
        check(len({a.id for a in agreements}) == len(agreements), "agreement ids must be unique")
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
