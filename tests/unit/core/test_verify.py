from __future__ import annotations

import pytest
from citycredit import Algorithm, Tier
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import CityKey, b45decode, b45encode
from citycredit.errors import (
    BundleStaleError,
    CityCreditError,
    CityMismatchError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    KeyNotValidError,
    KeyUnknownError,
    SignatureInvalidError,
)
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

ALGORITHMS = [Algorithm.ED25519, Algorithm.P256]


def reencode(env: code_pb2.SignedCreditCode) -> str:
    return "CC1:" + b45encode(env.SerializeToString())


def envelope(code: str) -> code_pb2.SignedCreditCode:
    env = code_pb2.SignedCreditCode()
    env.ParseFromString(b45decode(code[4:]))
    return env


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.slug)
@pytest.mark.parametrize("city", [330100, 330800, 330400])
def test_round_trip(alliance_session: InMemoryAlliance, city: int, algorithm: Algorithm) -> None:
    issued = alliance_session.issue(city, Tier.EXCELLENT, band="钱江分·优秀", algorithm=algorithm)
    result = alliance_session.verifier().verify(issued.code)
    assert (result.city, result.tier, result.band) == (city, Tier.EXCELLENT, "钱江分·优秀")
    assert (result.code_id, result.holder, result.status_index) == (issued.code_id, issued.holder,
                                                                     issued.status_index)
    assert result.expires_at_s == NOW_S + 300 and result.expires_at.year == 2026


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.slug)
@pytest.mark.parametrize("part", ["payload", "kid", "signature"])
def test_tampering_any_byte_is_caught(alliance_session: InMemoryAlliance, algorithm: Algorithm, part: str) -> None:
    verifier = alliance_session.verifier()
    env = envelope(alliance_session.issue(330100, algorithm=algorithm).code)
    original = getattr(env, part)
    for i in range(len(original)):
        tampered = bytearray(original)
        tampered[i] ^= 0x01
        env_copy = code_pb2.SignedCreditCode()
        env_copy.CopyFrom(env)
        setattr(env_copy, part, bytes(tampered))
        with pytest.raises(CityCreditError) as err:
            verifier.verify(reencode(env_copy))
        expected = {"payload": "CC_SIGNATURE_INVALID", "kid": "CC_KEY_UNKNOWN", "signature": "CC_SIGNATURE_INVALID"}
        assert err.value.code == expected[part], (part, i)


def test_time_window(alliance_session: InMemoryAlliance) -> None:
    verifier = alliance_session.verifier()
    code = alliance_session.issue(330100, ttl_s=300).code
    assert verifier.verify(code, at=NOW_S).tier is Tier.GOOD
    assert verifier.verify(code, at=NOW_S + 299).tier is Tier.GOOD
    with pytest.raises(CodeExpiredError):
        verifier.verify(code, at=NOW_S + 300)
    with pytest.raises(CodeNotYetValidError):
        verifier.verify(code, at=NOW_S - 1)


def test_naive_datetime_is_refused(alliance_session: InMemoryAlliance) -> None:
    from datetime import datetime

    with pytest.raises(CityCreditError, match="time zone"):
        alliance_session.verifier().verify(alliance_session.issue(330100).code, at=datetime(2026, 11, 18))


def test_revoked_status_index(alliance: InMemoryAlliance) -> None:
    revoked = alliance.issue(330800, status_index=4242)
    kept = alliance.issue(330800, status_index=4243)
    alliance.alliance.revoke_index(330800, 4242, now_s=NOW_S)
    alliance.publish()
    verifier = alliance.verifier()
    with pytest.raises(CodeRevokedError):
        verifier.verify(revoked.code)
    assert verifier.verify(kept.code).status_index == 4243
    # The same index in another city is unaffected.
    assert verifier.verify(alliance.issue(330100, status_index=4242).code).city == 330100


def test_holder_revocation_has_a_cut_off(alliance: InMemoryAlliance) -> None:
    before = alliance.issue(330100, holder_ref="downgraded", now_s=NOW_S - 10)
    alliance.alliance.revoke_holder(330100, before.holder, cutoff_s=NOW_S - 5)
    alliance.publish()
    after = alliance.issue(330100, holder_ref="downgraded", now_s=NOW_S - 1)
    other = alliance.issue(330100, holder_ref="someone else", now_s=NOW_S - 10)
    verifier = alliance.verifier()
    with pytest.raises(CodeRevokedError):
        verifier.verify(before.code)
    assert verifier.verify(after.code).holder == before.holder  # a code issued after the downgrade is fine
    assert verifier.verify(other.code).holder != before.holder


def test_unknown_kid(alliance_session: InMemoryAlliance) -> None:
    stranger = InMemoryAlliance(now_s=NOW_S, cities=[(330100, "hangzhou", "杭州", "Hangzhou")])
    with pytest.raises(KeyUnknownError):
        alliance_session.verifier().verify(stranger.issue(330100).code)


def test_key_outside_its_window(alliance: InMemoryAlliance) -> None:
    record = alliance.alliance.city(330100).keys[0]
    record.not_before_s, record.not_after_s = NOW_S - 1000, NOW_S - 100
    alliance.publish()
    verifier = alliance.verifier()
    inside = alliance.issue(330100, now_s=NOW_S - 200, ttl_s=86400)
    assert verifier.verify(inside.code).city == 330100  # issued inside the window, still current
    with pytest.raises(KeyNotValidError):
        verifier.verify(alliance.issue(330100, now_s=NOW_S - 50).code)  # issued after the window closed
    with pytest.raises(KeyNotValidError):
        verifier.verify(alliance.issue(330100, now_s=NOW_S - 1001, ttl_s=86400).code)  # before it opened


def test_retired_key_still_verifies_inside_its_window(alliance: InMemoryAlliance) -> None:
    old = alliance.issue(330100, now_s=NOW_S - 100, ttl_s=86400)
    record = alliance.alliance.city(330100).keys[0]
    record.status, record.not_after_s = "retired", NOW_S - 50
    alliance.publish()
    assert alliance.verifier().verify(old.code).city == 330100
    with pytest.raises(KeyNotValidError):
        alliance.verifier().verify(alliance.issue(330100).code)


def test_compromised_key_voids_codes_from_its_revocation_on(alliance: InMemoryAlliance) -> None:
    old = alliance.issue(330100, now_s=NOW_S - 100, ttl_s=86400)
    record = alliance.alliance.city(330100).keys[0]
    record.status, record.revoked_at_s = "revoked", NOW_S - 60
    alliance.publish()
    assert alliance.verifier().verify(old.code).city == 330100
    with pytest.raises(KeyNotValidError):
        alliance.verifier().verify(alliance.issue(330100, now_s=NOW_S - 30).code)


def test_a_city_key_cannot_sign_for_another_city(alliance_session: InMemoryAlliance) -> None:
    hangzhou_key = alliance_session.keys[(330100, Algorithm.ED25519)]
    claims = code_pb2.CreditCode(code_id=bytes(16), city=330800, holder=bytes(16), tier=6, band="信安分·蓝码",
                                 issued_at=NOW_S, expires_at=NOW_S + 60)
    from citycredit.core import encode_code

    with pytest.raises(CityMismatchError):
        alliance_session.verifier().verify(encode_code(claims, hangzhou_key))


def test_algorithm_comes_from_the_bundle_not_the_code(alliance_session: InMemoryAlliance) -> None:
    # A P-256 signature presented under an Ed25519 kid fails: the kid's key decides the algorithm.
    p256 = envelope(alliance_session.issue(330100, algorithm=Algorithm.P256).code)
    ed = envelope(alliance_session.issue(330100, algorithm=Algorithm.ED25519).code)
    p256.kid = ed.kid
    with pytest.raises(SignatureInvalidError):
        alliance_session.verifier().verify(reencode(p256))


def test_colliding_kids_are_each_tried(alliance_session: InMemoryAlliance) -> None:
    verifier = alliance_session.verifier()
    issued = alliance_session.issue(330800)
    kid = envelope(issued.code).kid
    genuine = verifier.snapshot.keys_by_kid[kid][0]
    impostor = CityKey(city=330100, kid=kid, algorithm=Algorithm.P256,
                       spki=alliance_session.keys[(330100, Algorithm.P256)].spki, not_before_s=0, not_after_s=0,
                       status=1, revoked_at_s=0)
    verifier.snapshot.keys_by_kid[kid] = [impostor, genuine]
    try:
        assert verifier.verify(issued.code).city == 330800
    finally:
        verifier.snapshot.keys_by_kid[kid] = [genuine]


def test_stale_bundle_refuses_verification_after_the_grace(alliance_session: InMemoryAlliance) -> None:
    expires = alliance_session.verifier().snapshot.expires_at_s
    code = alliance_session.issue(330100, now_s=expires + 10, ttl_s=3600).code
    graced = alliance_session.verifier(now_s=expires + 10, grace_s=60)
    assert graced.verify(code).city == 330100
    with pytest.raises(BundleStaleError):
        graced.verify(code, at=expires + 61)
