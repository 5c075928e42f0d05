from __future__ import annotations

from citycredit import Tier


def test_tiers_print_by_name_and_compare_by_standing() -> None:
    assert str(Tier.EXCELLENT) == "EXCELLENT" and f"{Tier.GOOD}" == "GOOD"
    assert Tier.RESTRICTED < Tier.NEEDS_IMPROVEMENT < Tier.FAIR < Tier.GOOD < Tier.EXCELLENT < Tier.OUTSTANDING
    assert Tier.parse("优秀") is Tier.EXCELLENT and Tier.parse("tier_good") is Tier.GOOD
