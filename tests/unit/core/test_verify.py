"""The verification rules in SPEC 8.2 order, presentations included: the first rule that fails names the error."""

from __future__ import annotations

import pytest
from citycredit import Algorithm, SigningKey, Tier, Verifier, VerifierConfig
from citycredit.core import (
    PRESENTATION_WINDOW_S,
    CityKey,
    MemoryReplayCache,
    Status,
    b45decode,
    decode_envelope,
    encode_code,
    encode_presentation,
    presentation_message,
    verify_code,
)
from citycredit.errors import (
    BundleStaleError,
    CityCreditError,
    CityMismatchError,
    CodeExpiredError,
    CodeMalformedError,
    CodeNotYetValidError,
    CodeRevokedError,
    CodeSuspendedError,
    DeviceProofRequiredError,
    DeviceSignatureInvalidError,
    KeyNotValidError,
    KeyUnknownError,
    PresentationReplayedError,
    PresentationStaleError,
    SignatureInvalidError,
)
from citycredit.testing import InMemoryAlliance, public_key
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from tests.conftest import NOW_S
from tests.unit.core.codes import claims, envelope, presentation, wrap

HANGZHOU, QUZHOU, JIAXING = 330100, 330800, 330400
ALGORITHMS = [Algorithm.ED25519, Algorithm.P256]
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
DAY = 86400


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.slug)
@pytest.mark.parametrize("city", [HANGZHOU, QUZHOU, JIAXING])
def test_round_trip(alliance_session: InMemoryAlliance, city: int, algorithm: Algorithm) -> None:
    issued = alliance_session.issue(city, Tier.EXCELLENT, band="钱江分·优秀", algorithm=algorithm)
    result = alliance_session.verifier().verify(issued.code)
    assert (result.city, result.tier, result.band, result.audience) == (city, Tier.EXCELLENT, "钱江分·优秀", city)
    assert (result.code_id, result.holder, result.status_index) == (issued.code_id, issued.holder,
                                                                     issued.status_index)
    assert (result.issued_at_s, result.expires_at_s, result.policy_version) == (NOW_S, NOW_S + 300, 1)
    assert result.kid == alliance_session.keys[(city, algorithm)].kid and not result.device_bound
    with pytest.raises(AttributeError):
        result.tier = Tier.OUTSTANDING  # type: ignore[misc]  # what verified is read-only


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.slug)
@pytest.mark.parametrize("part", ["payload", "kid", "signature"])
def test_tampering_with_any_byte_is_caught(alliance_session: InMemoryAlliance, algorithm: Algorithm,
                                           part: str) -> None:
    verifier = alliance_session.verifier()
    env = envelope(alliance_session.issue(330100, algorithm=algorithm).code)
    original = getattr(env, part)
    expected = {"payload": "CC_SIGNATURE_INVALID", "kid": "CC_KEY_UNKNOWN", "signature": "CC_SIGNATURE_INVALID"}
    for i in range(len(original)):
        tampered = bytearray(original)
        tampered[i] ^= 0x01
        copy = type(env)()
        copy.CopyFrom(env)
        setattr(copy, part, bytes(tampered))
        with pytest.raises(CityCreditError) as caught:
            verifier.verify(wrap(copy.SerializeToString()))
        assert caught.value.code == expected[part], (part, i)


# --- V1 to V8: the trust set, the signature, the claims, the key, the city's role -------------------------


def test_v1_a_stale_trust_set_is_reported_before_anything_else(alliance_session: InMemoryAlliance) -> None:
    verifier = alliance_session.verifier()
    later = verifier.snapshot.expires_at_s + 1
    for text in ("garbage", "CC1:~", alliance_session.issue(HANGZHOU, now_s=later).code):
        with pytest.raises(BundleStaleError):
            verifier.verify(text, at=later)


def test_v3_an_unknown_kid(alliance_session: InMemoryAlliance) -> None:
    stranger = InMemoryAlliance(now_s=NOW_S, cities=[(HANGZHOU, "hangzhou", "杭州", "Hangzhou")])
    with pytest.raises(KeyUnknownError):
        alliance_session.verifier().verify(stranger.issue(HANGZHOU).code)


def test_v4_the_algorithm_comes_from_the_key_never_from_the_code(alliance_session: InMemoryAlliance) -> None:
    p256 = envelope(alliance_session.issue(HANGZHOU, algorithm=Algorithm.P256).code)
    p256.kid = alliance_session.keys[(HANGZHOU, Algorithm.ED25519)].kid
    with pytest.raises(SignatureInvalidError):
        alliance_session.verifier().verify(wrap(p256.SerializeToString()))


def test_v4_the_signing_context_is_part_of_what_is_signed(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.keys[(HANGZHOU, Algorithm.ED25519)]
    env = envelope(encode_code(claims(), key))
    assert key.verifying_key().verify(env.signature, b"CC1\x00" + env.payload)
    env.signature = key.sign(env.payload)  # without b"CC1\0"
    with pytest.raises(SignatureInvalidError):
        alliance_session.verifier().verify(wrap(env.SerializeToString()))


def test_v4_colliding_kids_are_each_tried(alliance_session: InMemoryAlliance) -> None:
    verifier = alliance_session.verifier()
    issued = alliance_session.issue(QUZHOU)
    kid = envelope(issued.code).kid
    genuine = verifier.snapshot.keys_by_kid[kid][0]
    impostor = CityKey(city=HANGZHOU, kid=kid, algorithm=Algorithm.P256,
                       spki=alliance_session.keys[(HANGZHOU, Algorithm.P256)].spki, not_before_s=0, not_after_s=0,
                       status=1, revoked_at_s=0)
    verifier.snapshot.keys_by_kid[kid] = [impostor, genuine]
    try:
        assert verifier.verify(issued.code).city == QUZHOU
    finally:
        verifier.snapshot.keys_by_kid[kid] = [genuine]


def test_v5_claims_under_a_valid_signature_must_be_well_formed(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.keys[(HANGZHOU, Algorithm.ED25519)]
    with pytest.raises(CodeMalformedError):
        alliance_session.verifier().verify(encode_code(claims(tier=0), key))


def test_v6_a_city_key_cannot_sign_for_another_city(alliance_session: InMemoryAlliance) -> None:
    hangzhou_key = alliance_session.keys[(HANGZHOU, Algorithm.ED25519)]
    with pytest.raises(CityMismatchError):
        alliance_session.verifier().verify(encode_code(claims(QUZHOU, tier=6), hangzhou_key))


@pytest.fixture
def windows() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S, algorithms=[Algorithm.ED25519])


def _set_key(alliance: InMemoryAlliance, **window: int) -> None:
    key = alliance.keys[(HANGZHOU, Algorithm.ED25519)]
    alliance.publish_city(HANGZHOU, keys=[public_key(key, **window)])  # type: ignore[arg-type]


def test_v7_key_window(windows: InMemoryAlliance) -> None:
    _set_key(windows, not_before_s=NOW_S - 1000, not_after_s=NOW_S - 100)
    verifier = windows.verifier()
    assert verifier.verify(windows.issue(HANGZHOU, now_s=NOW_S - 1000, ttl_s=DAY).code).city == HANGZHOU
    assert verifier.verify(windows.issue(HANGZHOU, now_s=NOW_S - 101, ttl_s=DAY).code).city == HANGZHOU
    for issued_at in (NOW_S - 100, NOW_S - 50, NOW_S - 1001):  # the end is outside; so is before the start
        with pytest.raises(KeyNotValidError):
            verifier.verify(windows.issue(HANGZHOU, now_s=issued_at, ttl_s=DAY).code)


def test_v7_a_retired_key_verifies_inside_its_window(windows: InMemoryAlliance) -> None:
    from citycredit._gen.citycredit.v1 import bundle_pb2

    old = windows.issue(HANGZHOU, now_s=NOW_S - 100, ttl_s=DAY)
    _set_key(windows, not_before_s=NOW_S - DAY, not_after_s=NOW_S - 50, status=bundle_pb2.KEY_STATUS_RETIRED)
    assert windows.verifier().verify(old.code).city == HANGZHOU
    with pytest.raises(KeyNotValidError):
        windows.verifier().verify(windows.issue(HANGZHOU).code)


def test_v7_a_revoked_key_voids_codes_claiming_an_issue_from_its_revocation_on(windows: InMemoryAlliance) -> None:
    from citycredit._gen.citycredit.v1 import bundle_pb2

    before = windows.issue(HANGZHOU, now_s=NOW_S - 61, ttl_s=DAY).code
    at = windows.issue(HANGZHOU, now_s=NOW_S - 60, ttl_s=DAY).code
    _set_key(windows, not_before_s=NOW_S - DAY, status=bundle_pb2.KEY_STATUS_REVOKED, revoked_at_s=NOW_S - 60)
    assert windows.verifier().verify(before).city == HANGZHOU
    with pytest.raises(KeyNotValidError):
        windows.verifier().verify(at)
    _set_key(windows, not_before_s=NOW_S - DAY, status=bundle_pb2.KEY_STATUS_REVOKED, revoked_at_s=0)
    with pytest.raises(KeyNotValidError):  # revoked_at 0: every code
        windows.verifier().verify(before)


def test_v8_a_stale_city_role_comes_before_the_presentation_rules(windows: InMemoryAlliance) -> None:
    device = SigningKey.generate()
    windows.now_s = NOW_S - 35 * DAY
    windows.publish_city(HANGZHOU)
    windows.now_s = NOW_S
    from tests.unit.core.trust_ops import republish

    windows.repository = republish(windows)
    bound = windows.issue(HANGZHOU, device=device).code
    with pytest.raises(BundleStaleError):
        windows.verifier().verify(bound)  # not CC_DEVICE_PROOF_REQUIRED: the city's part cannot judge


# --- V9 to V11: presentations (SPEC 5) -------------------------------------------------------------------


@pytest.fixture(params=ALGORITHMS, ids=lambda a: f"device-{a.slug}")
def device(request: pytest.FixtureRequest) -> SigningKey:
    return SigningKey.generate(request.param)


def test_v9_a_device_bound_code_needs_a_presentation(alliance_session: InMemoryAlliance, device: SigningKey) -> None:
    bound = alliance_session.issue(HANGZHOU, device=device).code
    with pytest.raises(DeviceProofRequiredError) as caught:
        alliance_session.verifier().verify(bound)
    assert caught.value.code == "CC_DEVICE_PROOF_REQUIRED"
    verified = alliance_session.verifier().verify(encode_presentation(bound, device, presented_at_s=NOW_S))
    assert verified.device_bound and verified.city == HANGZHOU


def test_v9_a_presentation_of_a_code_without_a_device_key_is_malformed(alliance_session: InMemoryAlliance,
                                                                       device: SigningKey) -> None:
    bare = alliance_session.issue(HANGZHOU).code
    with pytest.raises(CodeMalformedError):
        alliance_session.verifier().verify(encode_presentation(bare, device, presented_at_s=NOW_S))
    forged = envelope(bare)
    forged.signature = bytes(64)
    with pytest.raises(SignatureInvalidError):  # V4 before V9
        alliance_session.verifier().verify(presentation(forged.SerializeToString(), device, NOW_S))


def test_v10_the_device_signature(alliance_session: InMemoryAlliance, device: SigningKey) -> None:
    bound = alliance_session.issue(HANGZHOU, device=device).code
    raw = b45decode(bound[4:])
    verifier = alliance_session.verifier()
    other = SigningKey.generate(device.algorithm)
    wrong_time = presentation(raw, device, NOW_S, signature=device.sign(presentation_message(raw, NOW_S + 1)))
    for text in (presentation(raw, other, NOW_S), wrong_time, presentation(raw, device, NOW_S, signature=bytes(64)),
                 presentation(raw, device, NOW_S, signature=device.sign(b"CC1\x00" + raw))):
        with pytest.raises(DeviceSignatureInvalidError):
            verifier.verify(text)


def test_v10_a_high_s_device_signature_is_refused(alliance_session: InMemoryAlliance) -> None:
    device = SigningKey.generate(Algorithm.P256)
    raw = b45decode(alliance_session.issue(HANGZHOU, device=device).code[4:])
    signature = device.sign(presentation_message(raw, NOW_S))
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    twin = r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")
    verifier = alliance_session.verifier()
    with pytest.raises(DeviceSignatureInvalidError):
        verifier.verify(presentation(raw, device, NOW_S, signature=twin))
    assert verifier.verify(presentation(raw, device, NOW_S, signature=signature)).device_bound
    assert decode_dss_signature(encode_dss_signature(r, s)) == (r, s)


def test_v10_a_device_key_that_is_not_a_point_fails_the_device_signature(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.keys[(HANGZHOU, Algorithm.ED25519)]
    bound = claims()
    bound.device_key.algorithm = 2  # type: ignore[assignment]
    bound.device_key.public_key = b"\x02" + b"\xff" * 32  # x beyond the field: no such point
    code = encode_code(bound, key)
    device = SigningKey.generate(Algorithm.P256)
    with pytest.raises(DeviceSignatureInvalidError):
        alliance_session.verifier().verify(encode_presentation(code, device, presented_at_s=NOW_S))


@pytest.mark.parametrize(("offset", "stale"), [(0, False), (30, False), (-30, False), (31, True), (-31, True),
                                               (3600, True)])
def test_v11_the_presentation_window_is_thirty_seconds_each_way(alliance_session: InMemoryAlliance,
                                                                offset: int, stale: bool) -> None:
    device = SigningKey.generate()
    bound = alliance_session.issue(HANGZHOU, device=device, now_s=NOW_S - 100, ttl_s=600).code
    text = encode_presentation(bound, device, presented_at_s=NOW_S + offset)
    verifier = alliance_session.verifier()
    if stale:
        with pytest.raises(PresentationStaleError):
            verifier.verify(text)
    else:
        assert verifier.verify(text).device_bound
    assert PRESENTATION_WINDOW_S == 30


def test_v11_the_window_can_be_configured(alliance_session: InMemoryAlliance) -> None:
    device = SigningKey.generate()
    text = encode_presentation(alliance_session.issue(HANGZHOU, device=device).code, device, presented_at_s=NOW_S)
    narrow = Verifier(alliance_session.snapshot(), config=VerifierConfig(grace_s=0, window_s=5),
                      clock=lambda: NOW_S + 6)
    with pytest.raises(PresentationStaleError):
        narrow.verify(text)
    assert narrow.verify(text, at=NOW_S + 5).device_bound


# --- V12 to V14: the code's own window, then its status -------------------------------------------------


def test_v12_the_code_window_is_judged_at_now(alliance_session: InMemoryAlliance) -> None:
    verifier = alliance_session.verifier()
    code = alliance_session.issue(HANGZHOU, ttl_s=300).code
    assert verifier.verify(code, at=NOW_S).tier is Tier.GOOD
    assert verifier.verify(code, at=NOW_S + 299).tier is Tier.GOOD
    with pytest.raises(CodeExpiredError):
        verifier.verify(code, at=NOW_S + 300)
    with pytest.raises(CodeNotYetValidError):
        verifier.verify(code, at=NOW_S - 1)


def test_v12_a_presentation_made_while_the_code_lived_does_not_extend_it(alliance_session: InMemoryAlliance) -> None:
    device = SigningKey.generate()
    bound = alliance_session.issue(HANGZHOU, device=device, ttl_s=60).code
    text = encode_presentation(bound, device, presented_at_s=NOW_S + 59)
    with pytest.raises(CodeExpiredError):
        alliance_session.verifier().verify(text, at=NOW_S + 60)


def test_v12_a_naive_datetime_is_refused(alliance_session: InMemoryAlliance) -> None:
    from datetime import datetime

    with pytest.raises(CityCreditError, match="time zone"):
        alliance_session.verifier().verify(alliance_session.issue(HANGZHOU).code, at=datetime(2026, 11, 18))


def test_v13_no_status_list_held_means_the_city_cannot_be_judged(alliance_session: InMemoryAlliance) -> None:
    snapshot = alliance_session.snapshot()
    without = Verifier(snapshot, config=VerifierConfig(grace_s=0), clock=lambda: NOW_S)
    without._snapshot.statuses.pop(QUZHOU)  # a verifier that never synced Quzhou's list
    with pytest.raises(BundleStaleError, match=str(QUZHOU)):
        without.verify(alliance_session.issue(QUZHOU).code)
    assert without.verify(alliance_session.issue(HANGZHOU).code).city == HANGZHOU


def test_v13_a_stale_status_list_stops_only_its_city(alliance: InMemoryAlliance) -> None:
    alliance.sign_status(QUZHOU, now_s=NOW_S - 2 * DAY)  # expired a day ago
    snapshot = alliance.snapshot(grace_s=DAY)  # accepted inside the grace
    verifier = Verifier(snapshot, config=VerifierConfig(grace_s=DAY - 1), clock=lambda: NOW_S)
    with pytest.raises(BundleStaleError, match=str(QUZHOU)):
        verifier.verify(alliance.issue(QUZHOU).code)
    assert verifier.verify(alliance.issue(HANGZHOU).code).city == HANGZHOU
    with pytest.raises(CodeExpiredError):  # V12 before V13
        verifier.verify(alliance.issue(QUZHOU, now_s=NOW_S - 400).code)


@pytest.mark.parametrize(("status", "error"), [(Status.REVOKED, CodeRevokedError),
                                               (Status.SUSPENDED, CodeSuspendedError)])
def test_v14_status(alliance: InMemoryAlliance, status: Status, error: type[CityCreditError]) -> None:
    code = alliance.issue(QUZHOU, status_index=77).code
    alliance.set_status(QUZHOU, 77, status)
    with pytest.raises(error):
        alliance.verifier().verify(code)


# --- V15: replay per venue (SPEC 5.3) ---------------------------------------------------------------------


@pytest.fixture
def scanned(alliance: InMemoryAlliance, device: SigningKey) -> tuple[Verifier, str, bytes]:
    bound = alliance.issue(HANGZHOU, device=device, status_index=31)
    return alliance.verifier(), encode_presentation(bound.code, device, presented_at_s=NOW_S), b45decode(
        bound.code[4:])


def test_v15_a_presentation_is_accepted_once_per_venue(scanned: tuple[Verifier, str, bytes]) -> None:
    verifier, text, _ = scanned
    assert verifier.verify(text, venue="east-gate").device_bound
    with pytest.raises(PresentationReplayedError):
        verifier.verify(text, venue="east-gate")
    assert verifier.verify(text, venue="west-gate").device_bound  # another venue keeps its own cache
    assert verifier.verify(text).device_bound  # the default venue ("") is one more
    with pytest.raises(PresentationReplayedError):
        verifier.verify(text)


def test_v15_the_replay_key_is_the_signed_message_not_the_string(scanned: tuple[Verifier, str, bytes],
                                                                 device: SigningKey) -> None:
    verifier, text, raw = scanned
    assert verifier.verify(text, venue="till").device_bound
    # The same presentation message signed again (ECDSA signatures differ each time) or with an unknown tail.
    again = presentation(raw, device, NOW_S)
    with pytest.raises(PresentationReplayedError):
        verifier.verify(again, venue="till")
    from citycredit.core import b45encode

    with pytest.raises(PresentationReplayedError):
        verifier.verify("CP1:" + b45encode(b45decode(text[4:]) + b"\x22\x01x"), venue="till")


def test_v15_a_replayed_presentation_of_a_revoked_code_says_revoked(alliance: InMemoryAlliance,
                                                                    scanned: tuple[Verifier, str, bytes]) -> None:
    verifier, text, _ = scanned
    assert verifier.verify(text, venue="v").device_bound
    verifier.update_status_list(HANGZHOU, alliance.set_status(HANGZHOU, 31, Status.REVOKED))
    with pytest.raises(CodeRevokedError):  # V14 before V15
        verifier.verify(text, venue="v")


def test_v15_only_a_presentation_that_passed_every_other_rule_is_recorded(alliance: InMemoryAlliance,
                                                                         scanned: tuple[Verifier, str, bytes]) -> None:
    verifier, text, _ = scanned
    verifier.update_status_list(HANGZHOU, alliance.set_status(HANGZHOU, 31, Status.SUSPENDED))
    with pytest.raises(CodeSuspendedError):
        verifier.verify(text, venue="v")
    verifier.update_status_list(HANGZHOU, alliance.set_status(HANGZHOU, 31, Status.VALID))
    assert verifier.verify(text, venue="v").device_bound  # the refused scan was not remembered


def test_v15_after_the_window_a_presentation_is_stale_not_replayed(scanned: tuple[Verifier, str, bytes]) -> None:
    verifier, text, _ = scanned
    assert verifier.verify(text, venue="v", at=NOW_S + 30).device_bound
    with pytest.raises(PresentationReplayedError):
        verifier.verify(text, venue="v", at=NOW_S + 30)
    with pytest.raises(PresentationStaleError):
        verifier.verify(text, venue="v", at=NOW_S + 31)


def test_memory_replay_cache_expiry_and_bound() -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert cache.first_sighting("v", b"a", until_s=100, now_s=50)
    assert not cache.first_sighting("v", b"a", until_s=100, now_s=99)
    assert cache.first_sighting("v", b"a", until_s=200, now_s=100)  # its entry expired at until_s
    assert cache.first_sighting("v", b"b", until_s=300, now_s=100)
    assert cache.first_sighting("v", b"c", until_s=300, now_s=100)  # full: the oldest ("a") goes
    assert not cache.first_sighting("v", b"b", until_s=300, now_s=101)  # full, and still refuses its oldest
    assert not cache.first_sighting("v", b"c", until_s=300, now_s=101)
    assert cache.first_sighting("v", b"a", until_s=300, now_s=101)  # room for it: "b", the oldest, goes
    assert not cache.first_sighting("v", b"c", until_s=300, now_s=101)
    assert cache.first_sighting("w", b"c", until_s=300, now_s=101)  # per venue


def test_verify_code_without_a_replay_cache_accepts_a_presentation_twice(alliance_session: InMemoryAlliance) -> None:
    device = SigningKey.generate()
    text = encode_presentation(alliance_session.issue(HANGZHOU, device=device).code, device, presented_at_s=NOW_S)
    snapshot = alliance_session.snapshot()
    for _ in range(2):
        assert verify_code(snapshot, text, now_s=NOW_S, grace_s=0).device_bound
    assert decode_envelope(text).kid == alliance_session.keys[(HANGZHOU, Algorithm.ED25519)].kid
