"""Verify + eligibility decision (`Verifier.check`) vs raw verification of the same signatures.

The bundle carries, for each of the ten cities, a visitor-open scenic-spot offer
with a monthly quota and a local-only parking offer, and one agreement opening
scenic spots, hotels and parking among all ten. Each code is checked at an offer of a
host city chosen round-robin, so the batch mixes locals and visitors, eligible
holders, tiers too low and local-only refusals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from citycredit import Algorithm, Tier, Verifier
from citycredit.core import Agreement, Benefit, BenefitKind, Category, Offer, Period, Quota, to_proto

from benchmarks.fixtures import BASE_CITIES, Context, Federation, raw_verify_batch
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure

NAME = "eligibility"
TARGET = AT_LEAST(0.8)
FIGURES = (Spec("sdk.ed25519.verify_decide", "codes/s", TARGET),)


def add_offers(federation: Federation) -> list[str]:
    """Offers and an agreement for the base cities; returns the offer ids."""
    since = federation.now_s - 365 * 86400
    ids = []
    for city, slug, _ in BASE_CITIES:
        scenic = Offer(id=f"{slug}.scenic", city=city, category=Category.SCENIC_SPOT, min_tier=Tier.GOOD,
                       benefit=Benefit(kind=BenefitKind.WAIVER, text_zh="景区门票免费", text_en="free admission"),
                       title_zh="信用游", valid_from_s=since, quota=Quota(uses=3, period=Period.MONTH))
        parking = Offer(id=f"{slug}.parking", city=city, category=Category.PARKING, min_tier=Tier.EXCELLENT,
                        benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=10, text_zh="停车九折"),
                        title_zh="信用停车", valid_from_s=since, local_only=True)
        federation.alliance.offers.extend([to_proto(scenic), to_proto(parking)])
        ids += [scenic.id, parking.id]
    federation.alliance.agreements.append(to_proto(Agreement(
        id="all-ten", cities=frozenset(c for c, _, _ in BASE_CITIES), not_before_s=since,
        categories=frozenset({Category.SCENIC_SPOT, Category.HOTEL, Category.PARKING}), title="十城互认")))
    return ids


def pair_offers(codes: Sequence[str], offer_ids: Sequence[str]) -> list[tuple[str, str]]:
    # Code i goes to offer 3i mod n: host cities rotate against home cities, so most checks are visitors'.
    return [(code, offer_ids[3 * i % len(offer_ids)]) for i, code in enumerate(codes)]


def check_batch(verifier: Verifier, pairs: Sequence[tuple[str, str]]) -> Callable[[], None]:
    check = verifier.check

    def batch() -> None:
        for code, offer_id in pairs:
            check(code, offer_id)
    return batch


def run(ctx: Context) -> list[Figure]:
    signed = ctx.signed(Algorithm.ED25519)
    offer_ids = add_offers(signed.federation)
    verifier = signed.federation.verifier()
    pairs = pair_offers(signed.codes, offer_ids)
    outcomes = Counter(decision.reason.value if decision.reason else "ELIGIBLE"
                       for decision in (verifier.check(code, offer_id) for code, offer_id in pairs))
    if "ELIGIBLE" not in outcomes or any(reason.startswith("CODE_") for reason in outcomes):
        raise RuntimeError(f"unexpected decisions: {dict(outcomes)}")
    batch = check_batch(verifier, pairs)
    raw = raw_verify_batch(signed.federation.public_keys(), signed.codes)
    paired = paired_rounds(batch, raw, rounds=ctx.settings.rounds)
    return [throughput_figure(
        "sdk.ed25519.verify_decide", paired, ops=len(signed.codes), unit="codes/s", baseline_name="raw",
        target=TARGET, note=f"Verifier.check(code, offer) on {len(signed.codes)} distinct codes, 20 offers, "
                            "1 agreement; " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))]
