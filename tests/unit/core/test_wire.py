"""The one JSON and protobuf shape of each core type (SPEC 8.8)."""

from __future__ import annotations

import json

import pytest
from citycredit import Tier
from citycredit.core import (
    DECISION_KEYS,
    MAX_TIME_S,
    Decision,
    Reason,
    VerifiedCode,
    city_from_json,
    city_to_json,
    decision_from_json,
    to_json,
    verification_from_json,
    verification_from_proto,
    verification_to_json,
    verification_to_proto,
)
from citycredit.errors import CodeExpiredError, CodeSuspendedError, InvalidArgumentError

CODE = VerifiedCode(city=330100, tier=Tier.GOOD, band="钱江分·良好", issued_at_s=1795000000, expires_at_s=MAX_TIME_S,
                    code_id=bytes(range(16)), holder=bytes(range(16, 28)), status_index=9, kid=bytes(8),
                    policy_version=1, audience=330800, device_bound=True)


def test_a_verification_as_json() -> None:
    doc = verification_to_json(CODE)
    assert doc == {"valid": True, "city": "330100", "tier": "GOOD", "band": "钱江分·良好",
                   "issued_at": "2026-11-18T11:06:40Z", "expires_at": "9999-12-31T23:59:59Z",
                   "code_id": bytes(range(16)).hex(), "holder": bytes(range(16, 28)).hex(), "audience": "330800",
                   "device_bound": True, "error": None}
    back = verification_from_json(json.loads(json.dumps(doc)))
    assert isinstance(back, VerifiedCode)
    assert (back.city, back.tier, back.expires_at_s, back.audience, back.device_bound) == (
        330100, Tier.GOOD, MAX_TIME_S, 330800, True)


@pytest.mark.parametrize("error", [CodeExpiredError("expired at 1"), CodeSuspendedError()])
def test_a_refusal_as_json_and_protobuf(error: Exception) -> None:
    doc = verification_to_json(error)  # type: ignore[arg-type]
    assert doc["valid"] is False and doc["city"] is None and doc["error"]["code"] == error.code  # type: ignore[attr-defined]
    assert type(verification_from_json(doc)) is type(error)
    assert type(verification_from_proto(verification_to_proto(error))) is type(error)  # type: ignore[arg-type]


def test_a_verification_as_protobuf() -> None:
    back = verification_from_proto(verification_to_proto(CODE))
    assert isinstance(back, VerifiedCode)
    assert (back.city, back.tier, back.band, back.code_id, back.holder, back.audience, back.device_bound) == (
        CODE.city, CODE.tier, CODE.band, CODE.code_id, CODE.holder, CODE.audience, CODE.device_bound)


def test_a_decision_has_exactly_the_spec_members_in_order() -> None:
    decision = Decision(eligible=False, reason=Reason.WRONG_AUDIENCE, offer_id="o", tier=Tier.GOOD, detail="d")
    doc = to_json(decision)
    assert tuple(doc) == DECISION_KEYS == ("eligible", "reason", "offer", "tier", "treated_as_local", "agreement",
                                           "quota_remaining", "benefit", "benefit_en", "detail", "error")
    assert doc["reason"] == "WRONG_AUDIENCE" and decision_from_json(doc) == decision
    with pytest.raises(InvalidArgumentError, match="unknown"):
        decision_from_json({**doc, "from_the_future": 1})
    assert decision_from_json({**doc, "from_the_future": 1}, strict=False) == decision


def test_cities_are_six_digit_strings() -> None:
    assert city_to_json(110101) == "110101" and city_from_json("330100") == city_from_json(330100) == 330100
    for bad in ("33010", "3301000", "33O100", True, 1.5, None, "３３０１００"):
        with pytest.raises(InvalidArgumentError):
            city_from_json(bad)
