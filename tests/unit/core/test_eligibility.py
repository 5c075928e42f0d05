"""The eligibility core: a decision table over every reason, quotas, periods, and the typed objects."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from citycredit._gen.citycredit.v1 import offer_pb2
from citycredit.core import (
    NO_PERIOD,
    Agreement,
    Benefit,
    BenefitKind,
    Catalogue,
    Category,
    Decision,
    Offer,
    Period,
    Quota,
    Reason,
    Rules,
    Tier,
    VerifiedCode,
    decide,
    decide_redemption,
    decision_for_error,
    from_json,
    from_proto,
    parse_time_s,
    period_key,
    redemption_period,
    to_json,
    to_proto,
)
from citycredit.errors import (
    BundleStaleError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    CodeSuspendedError,
    DeviceProofRequiredError,
    InvalidArgumentError,
    OfferUnknownError,
    PresentationReplayedError,
    SignatureInvalidError,
)
from citycredit.testing import InMemoryAlliance
from hypothesis import given, settings
from hypothesis import strategies as st

HANGZHOU, QUZHOU, WENZHOU, XIAMEN = 330100, 330800, 330300, 350200
DAY = 86400
AGREED = parse_time_s("2020-04-30")  # Hangzhou–Quzhou in force from here, open-ended
TOURISM_FROM, TOURISM_UNTIL = parse_time_s("2021-01-01"), parse_time_s("2022-01-01")
OFFER_FROM, OFFER_UNTIL = parse_time_s("2021-03-01"), parse_time_s("2021-06-01")
NOW = parse_time_s("2021-04-15T10:00:00+08:00")  # inside every window above


def _benefit(kind: BenefitKind = BenefitKind.WAIVER, **kw: int) -> Benefit:
    return Benefit(kind=kind, text_zh="免押金", text_en="no deposit", **kw)


PARKING = Offer(id="quzhou-parking-free-3", city=QUZHOU, category=Category.PARKING, min_tier=Tier.EXCELLENT,
                benefit=_benefit(BenefitKind.FREE_USES, count=3), title_zh="免费停车", title_en="Free parking",
                quota=Quota(uses=3, period=Period.MONTH))
HOUSING = Offer(id="quzhou-housing-fund", city=QUZHOU, category=Category.HOUSING_FUND, min_tier=Tier.EXCELLENT,
                benefit=_benefit(BenefitKind.EXTRA_ALLOWANCE, amount_fen=10_000_000), title_zh="公积金",
                local_only=True)
LIBRARY = Offer(id="quzhou-library-spring", city=QUZHOU, category=Category.LIBRARY, min_tier=Tier.GOOD,
                benefit=_benefit(), title_zh="借书证免押金", valid_from_s=OFFER_FROM, valid_until_s=OFFER_UNTIL)
SCENIC = Offer(id="quzhou-scenic", city=QUZHOU, category=Category.SCENIC_SPOT, min_tier=Tier.FAIR,
               benefit=_benefit(BenefitKind.DISCOUNT, discount_percent=20), title_zh="景区八折")
OFFERS = [PARKING, HOUSING, LIBRARY, SCENIC]
AGREEMENTS = [
    Agreement(id="hangzhou-quzhou", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=AGREED),
    Agreement(id="wenzhou-quzhou-tourism", cities=frozenset({WENZHOU, QUZHOU}),
              categories=frozenset({Category.SCENIC_SPOT}), not_before_s=TOURISM_FROM, not_after_s=TOURISM_UNTIL),
]
RULES = Rules.from_offers(OFFERS)


def holder(city: int, tier: Tier, *, issued_at_s: int = NOW - 60, expires_at_s: int = NOW + 240,
           audience: int = QUZHOU) -> VerifiedCode:
    """Verified claims of a code for use in `audience` (every offer here is a Quzhou one)."""
    return VerifiedCode(city=city, tier=tier, band=tier.label_zh, issued_at_s=issued_at_s, expires_at_s=expires_at_s,
                        code_id=bytes(16), holder=b"pseudonym-12", status_index=7, kid=bytes(8),
                        policy_version=1, audience=audience)


# name, home city, tier, offer, now, used, reason (None = eligible), treated_as_local, agreement, quota_remaining
TABLE: list[tuple[str, int, Tier, Offer, int, int, Reason | None, bool, str | None, int | None]] = [
    ("local meets minimum", QUZHOU, Tier.EXCELLENT, PARKING, NOW, 0, None, True, None, 2),
    ("local above minimum", QUZHOU, Tier.OUTSTANDING, PARKING, NOW, 1, None, True, None, 1),
    ("local one tier short", QUZHOU, Tier.GOOD, PARKING, NOW, 0, Reason.TIER_TOO_LOW, True, None, 3),
    ("local, last use of the quota", QUZHOU, Tier.EXCELLENT, PARKING, NOW, 2, None, True, None, 0),
    ("local, quota spent", QUZHOU, Tier.EXCELLENT, PARKING, NOW, 3, Reason.QUOTA_EXHAUSTED, True, None, 0),
    ("local, quota overspent", QUZHOU, Tier.EXCELLENT, PARKING, NOW, 9, Reason.QUOTA_EXHAUSTED, True, None, 0),
    ("local gets a local-only offer", QUZHOU, Tier.EXCELLENT, HOUSING, NOW, 0, None, True, None, None),
    ("visitor under agreement", HANGZHOU, Tier.EXCELLENT, PARKING, NOW, 0, None, True, "hangzhou-quzhou", 2),
    ("visitor at the agreement's first second", HANGZHOU, Tier.EXCELLENT, SCENIC, AGREED, 0, None, True,
     "hangzhou-quzhou", None),
    ("visitor before the agreement", HANGZHOU, Tier.EXCELLENT, SCENIC, AGREED - 1, 0, Reason.NO_AGREEMENT, False,
     None, None),
    ("visitor under agreement, tier too low", HANGZHOU, Tier.GOOD, PARKING, NOW, 0, Reason.TIER_TOO_LOW, True,
     "hangzhou-quzhou", 3),
    ("visitor under agreement, quota spent", HANGZHOU, Tier.EXCELLENT, PARKING, NOW, 3, Reason.QUOTA_EXHAUSTED,
     True, "hangzhou-quzhou", 0),
    ("visitor, local-only offer", HANGZHOU, Tier.OUTSTANDING, HOUSING, NOW, 0, Reason.OFFER_LOCAL_ONLY, False,
     None, None),
    ("visitor from a city without agreement", XIAMEN, Tier.OUTSTANDING, SCENIC, NOW, 0, Reason.NO_AGREEMENT,
     False, None, None),
    ("visitor without agreement, tier low too", XIAMEN, Tier.RESTRICTED, SCENIC, NOW, 0, Reason.NO_AGREEMENT,
     False, None, None),
    ("tourism agreement, inside", WENZHOU, Tier.FAIR, SCENIC, NOW, 0, None, True, "wenzhou-quzhou-tourism", None),
    ("tourism agreement, first second", WENZHOU, Tier.FAIR, SCENIC, TOURISM_FROM, 0, None, True,
     "wenzhou-quzhou-tourism", None),
    ("tourism agreement, before", WENZHOU, Tier.FAIR, SCENIC, TOURISM_FROM - 1, 0, Reason.NO_AGREEMENT, False,
     None, None),
    ("tourism agreement, at its end", WENZHOU, Tier.FAIR, SCENIC, TOURISM_UNTIL, 0, Reason.NO_AGREEMENT, False,
     None, None),
    ("tourism agreement, category not covered", WENZHOU, Tier.OUTSTANDING, PARKING, NOW, 0, Reason.NO_AGREEMENT,
     False, None, 3),
    ("offer not started", QUZHOU, Tier.GOOD, LIBRARY, OFFER_FROM - 1, 0, Reason.OFFER_NOT_ACTIVE, False, None,
     None),
    ("offer first second", QUZHOU, Tier.GOOD, LIBRARY, OFFER_FROM, 0, None, True, None, None),
    ("offer ended", QUZHOU, Tier.GOOD, LIBRARY, OFFER_UNTIL, 0, Reason.OFFER_NOT_ACTIVE, False, None, None),
    ("visitor, offer ended", HANGZHOU, Tier.GOOD, LIBRARY, OFFER_UNTIL + DAY, 0, Reason.OFFER_NOT_ACTIVE, False,
     None, None),
]


@pytest.mark.parametrize(("name", "home", "tier", "offer", "now", "used", "reason", "local", "agreement", "left"),
                         TABLE, ids=[row[0] for row in TABLE])
def test_decision_table(name: str, home: int, tier: Tier, offer: Offer, now: int, used: int, reason: Reason | None,
                        local: bool, agreement: str | None, left: int | None) -> None:
    code = holder(home, tier, issued_at_s=now - 60, expires_at_s=now + 240)
    decision = decide(holder=code, offer=offer, agreements=AGREEMENTS, rules=RULES, now_s=now, used_in_period=used)
    assert (decision.eligible, decision.reason) == (reason is None, reason)
    assert (decision.treated_as_local, decision.agreement_id, decision.quota_remaining) == (local, agreement, left)
    assert (decision.offer_id, decision.tier, decision.benefit) == (offer.id, tier, offer.benefit.text_zh)
    assert decision.detail


def test_agreement_window_detail_says_why() -> None:
    early = decide(holder=holder(WENZHOU, Tier.FAIR, issued_at_s=0, expires_at_s=2**40), offer=SCENIC,
                   agreements=AGREEMENTS, rules=RULES, now_s=TOURISM_FROM - 1)
    late = decide(holder=holder(WENZHOU, Tier.FAIR, issued_at_s=0, expires_at_s=2**40), offer=SCENIC,
                  agreements=AGREEMENTS, rules=RULES, now_s=TOURISM_UNTIL)
    assert "only from" in early.detail and "ended" in late.detail


def test_no_rules_for_the_host_city_or_category() -> None:
    code = holder(QUZHOU, Tier.OUTSTANDING)
    no_city = decide(holder=code, offer=SCENIC, agreements=AGREEMENTS, rules=Rules({}), now_s=NOW)
    assert (no_city.eligible, no_city.reason) == (False, Reason.NO_RULES)
    only_parking = Rules({QUZHOU: frozenset({Category.PARKING})})
    no_category = decide(holder=code, offer=SCENIC, agreements=AGREEMENTS, rules=only_parking, now_s=NOW)
    assert no_category.reason is Reason.NO_RULES and "scenic_spot" in no_category.detail
    assert decide(holder=code, offer=PARKING, agreements=[], rules=only_parking, now_s=NOW).eligible
    # A city outside the members has no rules even with offers published.
    outside = Rules.from_offers(OFFERS, members=[HANGZHOU])
    assert decide(holder=code, offer=PARKING, agreements=[], rules=outside, now_s=NOW).reason is Reason.NO_RULES


def test_code_window_is_checked_at_decision_time() -> None:
    code = holder(QUZHOU, Tier.OUTSTANDING, issued_at_s=NOW, expires_at_s=NOW + 300)
    args = {"holder": code, "offer": SCENIC, "agreements": AGREEMENTS, "rules": RULES}
    assert decide(**args, now_s=NOW - 1).reason is Reason.CODE_NOT_YET_VALID  # type: ignore[arg-type]
    assert decide(**args, now_s=NOW).eligible  # type: ignore[arg-type]
    assert decide(**args, now_s=NOW + 300).reason is Reason.CODE_EXPIRED  # type: ignore[arg-type]


def test_negative_use_count_is_a_bad_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        decide(holder=holder(QUZHOU, Tier.EXCELLENT), offer=PARKING, agreements=[], rules=RULES, now_s=NOW,
               used_in_period=-1)


@pytest.mark.parametrize(("error", "reason"), [
    (CodeExpiredError(), Reason.CODE_EXPIRED),
    (CodeNotYetValidError(), Reason.CODE_NOT_YET_VALID),
    (CodeRevokedError("status index 7 is revoked"), Reason.CODE_REVOKED),
    (CodeSuspendedError("status index 7 is suspended"), Reason.CODE_SUSPENDED),
    (DeviceProofRequiredError(), Reason.CODE_INVALID),
    (PresentationReplayedError(), Reason.CODE_INVALID),
    (SignatureInvalidError(), Reason.CODE_INVALID),
    (OfferUnknownError("no offer 'x'"), Reason.OFFER_UNKNOWN),
])
def test_decision_for_error(error: CodeExpiredError, reason: Reason) -> None:
    decision = decision_for_error(error, "quzhou-parking-free-3")
    assert (decision.eligible, decision.reason, decision.tier) == (False, reason, None)
    assert decision.error_code == error.code and decision.detail == error.message
    assert to_json(decision)["error"] == error.code


def test_errors_about_the_verifier_itself_are_not_decisions() -> None:
    with pytest.raises(BundleStaleError):
        decision_for_error(BundleStaleError(), "x")


def test_every_reason_is_reachable_and_mirrors_the_proto() -> None:
    reached = {row[6] for row in TABLE}
    code = holder(QUZHOU, Tier.GOOD, issued_at_s=NOW, expires_at_s=NOW + 1)
    for now, rules in ((NOW - 1, RULES), (NOW + 1, RULES), (NOW, Rules({}))):
        reached.add(decide(holder=code, offer=SCENIC, agreements=[], rules=rules, now_s=now).reason)
    reached.add(decide(holder=holder(QUZHOU, Tier.GOOD, audience=HANGZHOU), offer=SCENIC, agreements=[], rules=RULES,
                       now_s=NOW).reason)
    errors = [CodeRevokedError(), CodeSuspendedError(), SignatureInvalidError(), OfferUnknownError()]
    reached |= {decision_for_error(error, "x").reason for error in errors}
    assert reached - {None} == set(Reason)
    assert {f"REASON_{r.value}" for r in Reason} == set(offer_pb2.Reason.keys()) - {"REASON_UNSPECIFIED"}


# --- the catalogue facade --------------------------------------------------------------------------


def test_catalogue_decides_by_offer_id() -> None:
    catalogue = Catalogue.build(offers=OFFERS, agreements=AGREEMENTS)
    decision = catalogue.decide(holder=holder(HANGZHOU, Tier.EXCELLENT), offer_id=PARKING.id, now_s=NOW)
    assert (decision.eligible, decision.agreement_id) == (True, "hangzhou-quzhou")
    unknown = catalogue.decide(holder=holder(HANGZHOU, Tier.EXCELLENT), offer_id="nope", now_s=NOW)
    assert (unknown.reason, unknown.error_code) == (Reason.OFFER_UNKNOWN, "CC_OFFER_UNKNOWN")
    with pytest.raises(OfferUnknownError):
        catalogue.offer("nope")
    assert catalogue.agreements_between(QUZHOU, HANGZHOU) == (AGREEMENTS[0],)
    assert catalogue.agreements_between(HANGZHOU, WENZHOU) == ()
    assert [o.id for o in catalogue.find(city=QUZHOU, category=Category.PARKING)] == [PARKING.id]
    with pytest.raises(InvalidArgumentError, match="used twice"):
        Catalogue.build(offers=[PARKING, PARKING], agreements=[])


def test_verified_code_from_a_real_signature() -> None:
    alliance = InMemoryAlliance(now_s=NOW)
    verifier = alliance.verifier()
    catalogue = Catalogue.build(offers=OFFERS, agreements=AGREEMENTS)
    for_quzhou = verifier.verify(alliance.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU).code)
    assert for_quzhou.audience == QUZHOU
    assert catalogue.decide(holder=for_quzhou, offer_id=PARKING.id, now_s=NOW + 10).eligible
    assert catalogue.decide(holder=for_quzhou, offer_id=PARKING.id, now_s=NOW + 300).reason is Reason.CODE_EXPIRED
    at_home = verifier.verify(alliance.issue(HANGZHOU, Tier.EXCELLENT).code)
    assert catalogue.decide(holder=at_home, offer_id=PARKING.id, now_s=NOW + 10).reason is Reason.WRONG_AUDIENCE


# --- audiences (DESIGN 4, SPEC 8.5 E2) ---------------------------------------------------------------------


def test_a_code_for_another_host_city_is_refused_naming_the_reason() -> None:
    for audience in (HANGZHOU, WENZHOU):
        decision = decide(holder=holder(HANGZHOU, Tier.OUTSTANDING, audience=audience), offer=PARKING,
                          agreements=AGREEMENTS, rules=RULES, now_s=NOW)
        assert (decision.eligible, decision.reason, decision.treated_as_local) == (False, Reason.WRONG_AUDIENCE, False)
        assert f"{audience:06d}" in decision.detail and f"{QUZHOU:06d}" in decision.detail
    local_elsewhere = decide(holder=holder(QUZHOU, Tier.OUTSTANDING, audience=HANGZHOU), offer=PARKING,
                             agreements=AGREEMENTS, rules=RULES, now_s=NOW)
    assert local_elsewhere.reason is Reason.WRONG_AUDIENCE  # a Quzhou resident's code made for Hangzhou


def test_the_audience_is_checked_after_the_codes_window_and_before_everything_else() -> None:
    wrong = holder(HANGZHOU, Tier.RESTRICTED, audience=HANGZHOU, issued_at_s=NOW, expires_at_s=NOW + 10)
    args = {"holder": wrong, "agreements": [], "rules": Rules({})}
    assert decide(**args, offer=LIBRARY, now_s=NOW + 10).reason is Reason.CODE_EXPIRED  # type: ignore[arg-type]
    assert decide(**args, offer=LIBRARY, now_s=NOW).reason is Reason.WRONG_AUDIENCE  # type: ignore[arg-type]


def test_quotas_bind_within_one_audience_whatever_code_the_holder_shows() -> None:
    """Every code of one holder for Quzhou carries one pseudonym, so a ledger counting per pseudonym holds."""
    alliance = InMemoryAlliance(now_s=NOW, offers=[PARKING], agreements=[AGREEMENTS[0]])
    verifier = alliance.verifier()
    catalogue = verifier.snapshot.catalogue
    ledger: dict[tuple[bytes, str], int] = {}
    outcomes = []
    for n in range(5):  # five fresh codes, each presented once
        code = verifier.verify(alliance.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU, holder_ref="visitor-7",
                                              now_s=NOW + n).code, at=NOW + n)
        period = redemption_period(catalogue, PARKING.id, NOW + n)
        used = ledger.get((code.holder, period), 0)
        redeemed = decide_redemption(catalogue, code, PARKING.id, now_s=NOW + n, used_in_period=used)
        if redeemed.spent:
            ledger[(code.holder, period)] = used + 1
        outcomes.append(redeemed.decision.reason)
    assert outcomes == [None, None, None, Reason.QUOTA_EXHAUSTED, Reason.QUOTA_EXHAUSTED]
    assert len(ledger) == 1  # one holder, one period
    other = verifier.verify(alliance.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU, holder_ref="visitor-8").code)
    assert other.holder not in {h for h, _ in ledger}


def test_a_suspended_code_is_a_no_naming_code_suspended() -> None:
    alliance = InMemoryAlliance(now_s=NOW, offers=[PARKING])
    issued = alliance.issue(QUZHOU, Tier.OUTSTANDING, status_index=12)
    assert alliance.verifier().check(issued.code, PARKING.id).eligible
    alliance.set_status(QUZHOU, 12, 2)
    decision = alliance.verifier().check(issued.code, PARKING.id)
    assert (decision.eligible, decision.reason, decision.error_code) == (False, Reason.CODE_SUSPENDED, "CC_SUSPENDED")
    assert decision.tier is None and not decision.treated_as_local
    alliance.set_status(QUZHOU, 12, 1)
    assert alliance.verifier().check(issued.code, PARKING.id).reason is Reason.CODE_REVOKED


# --- properties ------------------------------------------------------------------------------------


@given(uses=st.integers(1, 12), used=st.integers(0, 40), tier=st.sampled_from(list(Tier)))
def test_quota_never_overspends(uses: int, used: int, tier: Tier) -> None:
    offer = replace(PARKING, min_tier=Tier.RESTRICTED, quota=Quota(uses=uses, period=Period.DAY))
    decision = decide(holder=holder(QUZHOU, tier), offer=offer, agreements=[], rules=RULES, now_s=NOW,
                      used_in_period=used)
    assert decision.eligible == (used < uses)
    assert decision.quota_remaining == (uses - used - 1 if used < uses else 0)


@given(uses=st.integers(1, 12))
def test_redeeming_until_refused_spends_exactly_the_quota(uses: int) -> None:
    offer = replace(PARKING, quota=Quota(uses=uses, period=Period.WEEK))
    code = holder(HANGZHOU, Tier.OUTSTANDING)
    spent = 0
    while decide(holder=code, offer=offer, agreements=AGREEMENTS, rules=RULES, now_s=NOW,
                 used_in_period=spent).eligible:
        spent += 1
        assert spent <= uses
    assert spent == uses


@given(home=st.sampled_from([QUZHOU, HANGZHOU, WENZHOU, XIAMEN]), tier=st.sampled_from(list(Tier)),
       offer=st.sampled_from(OFFERS), now=st.integers(AGREED - DAY, TOURISM_UNTIL + DAY), used=st.integers(0, 5))
def test_never_a_yes_below_the_minimum_or_without_a_way_in(home: int, tier: Tier, offer: Offer, now: int,
                                                          used: int) -> None:
    decision = decide(holder=holder(home, tier, issued_at_s=now, expires_at_s=now + 1), offer=offer,
                      agreements=AGREEMENTS, rules=RULES, now_s=now, used_in_period=used)
    if decision.eligible:
        assert tier >= offer.min_tier and offer.active_at(now)
        assert home == offer.city or (decision.agreement_id is not None and not offer.local_only)
    else:
        assert decision.reason is not None and decision.detail
    assert from_proto(Decision, to_proto(decision)) == decision  # what gRPC carries is the whole decision


# --- the typed objects -----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: Quota(uses=0, period=Period.DAY),
    lambda: Quota(uses=1, period="day"),
    lambda: replace(PARKING, min_tier=3),
    lambda: replace(PARKING, id="Has Spaces"),
    lambda: replace(PARKING, city=12345),
    lambda: replace(PARKING, category="parking"),
    lambda: replace(PARKING, title_zh=" "),
    lambda: replace(PARKING, valid_from_s=10, valid_until_s=5),
    lambda: replace(PARKING, local_only=1),
    lambda: _benefit(BenefitKind.DISCOUNT, discount_percent=0),
    lambda: _benefit(BenefitKind.DISCOUNT, discount_percent=101),
    lambda: _benefit(BenefitKind.WAIVER, discount_percent=10),
    lambda: _benefit(BenefitKind.FREE_USES, count=0),
    lambda: _benefit(BenefitKind.PAY_LATER, amount_fen=-1),
    lambda: Benefit(kind=BenefitKind.WAIVER, text_zh=""),
    lambda: replace(AGREEMENTS[0], cities=frozenset({HANGZHOU})),
    lambda: replace(AGREEMENTS[0], cities=frozenset({HANGZHOU, 1})),
    lambda: replace(AGREEMENTS[0], categories=frozenset({"parking"})),
    lambda: replace(AGREEMENTS[0], not_after_s=AGREED),
    lambda: Decision(eligible=True, reason=Reason.TIER_TOO_LOW, offer_id="x", tier=Tier.GOOD),
    lambda: Decision(eligible=False, reason=None, offer_id="x", tier=Tier.GOOD),
])
def test_constructors_check_their_fields(build: object) -> None:
    with pytest.raises(InvalidArgumentError):
        build()  # type: ignore[operator]


def test_offer_json_and_proto_round_trip() -> None:
    for offer in OFFERS:
        assert from_json(Offer, json.loads(json.dumps(to_json(offer)))) == offer
        assert from_proto(Offer, to_proto(offer)) == offer
    for agreement in AGREEMENTS:
        assert from_json(Agreement, to_json(agreement)) == agreement
        assert from_proto(Agreement, to_proto(agreement)) == agreement
    msg = to_proto(PARKING)
    assert (msg.category, msg.min_tier, msg.quota.uses, msg.quota.period) == (1, 5, 3, 3)


def test_from_dict_and_from_proto_refuse_bad_input() -> None:
    data = to_json(PARKING)
    with pytest.raises(InvalidArgumentError, match="unknown field"):
        from_json(Offer, {**data, "surprise": 1})
    with pytest.raises(InvalidArgumentError, match="unknown category"):
        from_json(Offer, {**data, "category": "casino"})
    with pytest.raises(InvalidArgumentError, match="tier"):
        from_json(Offer, {**data, "min_tier": 5})
    assert from_json(Offer, {**data, "category": "CATEGORY_PARKING", "min_tier": "tier_excellent"}) == PARKING
    msg = to_proto(PARKING)
    msg.min_tier = 0  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError, match="min_tier"):
        from_proto(Offer, msg)
    msg = to_proto(PARKING)
    msg.category = 0  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError, match="Category"):
        from_proto(Offer, msg)


def _integer_leaves(data: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _integer_leaves(value, (*path, key))
    elif isinstance(data, int) and not isinstance(data, bool):
        yield path


def _with_leaf(data: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    head, *rest = path
    return {**data, head: _with_leaf(data[head], tuple(rest), value) if rest else value}


@pytest.mark.parametrize("kind", [Offer, Agreement])
def test_a_number_that_is_not_an_integer_is_refused_wherever_an_integer_goes(kind: type[Offer | Agreement]) -> None:
    # JSON has one kind of number: 0.0, -0.0 and 1.0 equal integers, and 0.0 == 0 let a float through the check
    # that only a discount has discount_percent, which then broke every later signing of the city's part.
    for item in OFFERS if kind is Offer else AGREEMENTS:
        data = to_json(item)
        leaves = list(_integer_leaves(data))
        assert leaves
        for path in leaves:
            value = functools.reduce(lambda d, k: d[k], path, data)
            for bad in (float(value), -float(value), True, False):
                with pytest.raises(InvalidArgumentError):
                    from_json(kind, _with_leaf(data, path, bad))


def test_decision_forms() -> None:
    decision = decide(holder=holder(HANGZHOU, Tier.EXCELLENT), offer=PARKING, agreements=AGREEMENTS, rules=RULES,
                      now_s=NOW, used_in_period=1)
    as_dict = to_json(decision)
    assert {k: as_dict[k] for k in ("eligible", "reason", "offer", "tier", "treated_as_local", "benefit")} == {
        "eligible": True, "reason": None, "offer": PARKING.id, "tier": "EXCELLENT", "treated_as_local": True,
        "benefit": "免押金"}
    assert (as_dict["agreement"], as_dict["quota_remaining"]) == ("hangzhou-quzhou", 1)
    assert from_json(Decision, json.loads(json.dumps(as_dict))) == decision
    msg = to_proto(decision)
    assert (msg.eligible, msg.reason, msg.tier, msg.agreement_id, msg.quota_remaining) == (
        True, 0, 5, "hangzhou-quzhou", 1)
    refused = to_proto(decision_for_error(CodeRevokedError(), PARKING.id))
    assert (refused.reason, refused.tier, refused.HasField("quota_remaining")) == (8, 0, False)


@settings(max_examples=100)
@given(uses=st.integers(1, 5), attempts=st.lists(st.integers(0, 90 * DAY), min_size=1, max_size=40))
def test_a_ledger_over_decide_redemption_never_overspends_a_period(uses: int, attempts: list[int]) -> None:
    offer = replace(PARKING, quota=Quota(uses=uses, period=Period.WEEK))
    catalogue = Catalogue.build(offers=[offer], agreements=AGREEMENTS)
    ledger: dict[str, int] = {}
    for offset in sorted(attempts):
        now = NOW + offset
        code = holder(HANGZHOU, Tier.EXCELLENT, issued_at_s=now, expires_at_s=now + 60)
        period = redemption_period(catalogue, offer.id, now)
        redeemed = decide_redemption(catalogue, code, offer.id, now_s=now, used_in_period=ledger.get(period, 0))
        assert redeemed.period == period == period_key(Period.WEEK, now)
        if redeemed.spent:
            assert redeemed.redemption_id and redeemed.redemption_id.startswith("rdm-")
            ledger[period] = ledger.get(period, 0) + 1
        else:
            assert redeemed.redemption_id is None and redeemed.decision.reason is Reason.QUOTA_EXHAUSTED
    assert all(count <= uses for count in ledger.values())
    assert sum(ledger.values()) == sum(min(uses, n) for n in _per_period(attempts).values())


def _per_period(attempts: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for offset in attempts:
        key = period_key(Period.WEEK, NOW + offset)
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_redemption_of_a_refused_code_spends_nothing() -> None:
    catalogue = Catalogue.build(offers=OFFERS, agreements=AGREEMENTS)
    redeemed = decide_redemption(catalogue, CodeRevokedError(), PARKING.id, now_s=NOW, used_in_period=0)
    assert not redeemed.spent and redeemed.decision.reason is Reason.CODE_REVOKED
    assert redeemed.period == period_key(Period.MONTH, NOW)
    assert decide_redemption(catalogue, holder(QUZHOU, Tier.GOOD), HOUSING.id, now_s=NOW,
                             used_in_period=0).period == NO_PERIOD
    with pytest.raises(OfferUnknownError):
        decide_redemption(catalogue, holder(QUZHOU, Tier.GOOD), "no-such-offer", now_s=NOW, used_in_period=0)
