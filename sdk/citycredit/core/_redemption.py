"""The redemption decision, written once: what the gateway and the in-memory gateway both run.

A redemption is an eligibility decision at the moment of spending, given how many
times the holder already redeemed the offer in the quota period. When the decision is
"yes", the redemption gets an id and occupies the next quota slot; whoever stores it
makes the slot unique (the gateway's `uq_redemption_slot`, a dict in the fake), so a
quota is never overspent even when two requests race.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from citycredit.core._claims import VerifiedCode
from citycredit.core._eligibility import Catalogue, Decision, decision_for_error
from citycredit.core._issuance import RandomSource
from citycredit.core._time import period_key
from citycredit.errors import CityCreditError

__all__ = ["NO_PERIOD", "Redeemed", "decide_redemption", "redemption_period"]

# The period key of an offer without a quota: every redemption counts in one bucket.
NO_PERIOD = "-"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """The outcome of one redemption attempt: the decision and, when eligible, the new redemption's id."""

    decision: Decision
    redemption_id: str | None
    # The quota period the redemption counts in ("2026-11" …, or NO_PERIOD).
    period: str

    @property
    def spent(self) -> bool:
        return self.redemption_id is not None


def redemption_period(catalogue: Catalogue, offer_id: str, now_s: int) -> str:
    """The period key a redemption of this offer at `now_s` counts in (the offer must exist)."""
    offer = catalogue.offer(offer_id)
    return period_key(offer.quota.period, now_s) if offer.quota is not None else NO_PERIOD


def decide_redemption(catalogue: Catalogue, verified: VerifiedCode | CityCreditError, offer_id: str, *,
                      now_s: int, used_in_period: int, rng: RandomSource = secrets) -> Redeemed:
    """Decide a redemption of `offer_id` for a verified holder (or the error that refused the code)."""
    period = redemption_period(catalogue, offer_id, now_s)
    if isinstance(verified, CityCreditError):
        return Redeemed(decision_for_error(verified, offer_id), None, period)
    decision = catalogue.decide(holder=verified, offer_id=offer_id, now_s=now_s, used_in_period=used_in_period)
    redemption_id = "rdm-" + rng.token_bytes(8).hex() if decision.eligible else None
    return Redeemed(decision, redemption_id, period)
