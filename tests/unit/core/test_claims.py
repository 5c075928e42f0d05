"""The signed claims (SPEC 3): sizes, city codes, tiers, bands, times, device keys, canonical encoding."""

from __future__ import annotations

import pytest
from citycredit.core import (
    HOLDER_BYTES,
    MAX_BAND_CHARS,
    MAX_TIME_S,
    Algorithm,
    SigningKey,
    Tier,
    b45encode,
    device_key,
    encode_code,
    is_city,
    iso,
    parse_claims,
    verification_to_json,
)
from citycredit.errors import CodeMalformedError, SignatureInvalidError
from citycredit.testing import InMemoryAlliance
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW_S
from tests.unit.core.codes import claims, sign_payload, wrap
from tests.unit.core.protowire import field, varint_field


def payload(**fields: object) -> bytes:
    return claims(**fields).SerializeToString(deterministic=True)


def test_plausible_claims_parse() -> None:
    parsed = parse_claims(payload())
    assert (parsed.city, parsed.tier, parsed.band, parsed.audience) == (330100, 4, "钱江分·良好", 330100)


@pytest.mark.parametrize(("name", "value"), [
    ("code_id", bytes(15)), ("code_id", bytes(17)), ("code_id", b""),
    ("holder", bytes(HOLDER_BYTES - 1)), ("holder", bytes(HOLDER_BYTES + 1)), ("holder", bytes(8)),
    ("holder", bytes(32)), ("holder", b""),
    ("tier", 0), ("tier", 7), ("tier", 99),
    ("issued_at", 0), ("issued_at", -5),
    ("expires_at", NOW_S - 60), ("expires_at", NOW_S - 61), ("expires_at", MAX_TIME_S + 1),
    ("band", "x" * (MAX_BAND_CHARS + 1)), ("band", "优" * (MAX_BAND_CHARS + 1)),
])
def test_implausible_claims_are_malformed(name: str, value: object) -> None:
    with pytest.raises(CodeMalformedError):
        parse_claims(payload(**{name: value}))


@pytest.mark.parametrize("band", ["", "x" * MAX_BAND_CHARS, "优" * MAX_BAND_CHARS, "钱江分·优秀（示范）"])
def test_band_is_counted_in_code_points(band: str) -> None:
    assert parse_claims(payload(band=band)).band == band  # 64 CJK characters are 192 bytes, still allowed


def test_a_band_that_is_not_utf8_is_malformed() -> None:
    good = payload(band="ab")
    bad = good.replace(field(5, b"ab"), field(5, b"a\xff"))
    assert bad != good
    with pytest.raises(CodeMalformedError):
        parse_claims(bad)


@pytest.mark.parametrize("tier", list(Tier))
def test_every_tier_of_the_ladder(tier: Tier) -> None:
    assert parse_claims(payload(tier=tier.value)).tier == tier.value


# --- GB/T 2260 city codes (SPEC 3.3) ---------------------------------------------------------------------


@pytest.mark.parametrize("city", [110000, 110101, 330100, 330199, 330800, 441300, 371082, 650100, 829999, 810000])
def test_valid_city_codes(city: int) -> None:
    assert is_city(city)
    assert parse_claims(payload(city=city, audience=city)).city == city


@pytest.mark.parametrize("city", [0, 12, 100000, 109999, 160000, 250000, 300000, 390000, 470000, 550000, 700000,
                                  720000, 800000, 830000, 999999, 1_000_000, 2**32 - 1])
def test_invalid_city_codes(city: int) -> None:
    assert not is_city(city)
    with pytest.raises(CodeMalformedError):
        parse_claims(payload(city=city, audience=330100))
    if city:  # audience 0 means the issuing city
        with pytest.raises(CodeMalformedError):
            parse_claims(payload(audience=city))


def test_audience_zero_means_the_issuing_city(alliance_session: InMemoryAlliance) -> None:
    raw = payload(audience=0)
    assert parse_claims(raw).audience == 0
    verified = alliance_session.verifier().verify(wrap(sign_payload(alliance_session, raw).SerializeToString()))
    assert verified.audience == 330100


# --- times: the year-9999 edge (SPEC 9.3) ----------------------------------------------------------------


def test_a_code_expiring_in_the_last_second_of_9999_verifies(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.keys[(330100, Algorithm.ED25519)]
    code = encode_code(claims(issued_at=NOW_S - 60, expires_at=MAX_TIME_S), key)
    verified = alliance_session.verifier().verify(code)
    assert verified.expires_at_s == MAX_TIME_S
    assert verified.expires_at.year == 9999 and verified.issued_at.year == 2026  # no OSError
    assert verification_to_json(verified)["expires_at"] == "9999-12-31T23:59:59Z" == iso(MAX_TIME_S)


def test_a_code_expiring_after_9999_is_malformed_not_a_crash(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.keys[(330100, Algorithm.ED25519)]
    for expires in (MAX_TIME_S + 1, 2**62, 2**63 - 1):
        with pytest.raises(CodeMalformedError):
            alliance_session.verifier().verify(encode_code(claims(expires_at=expires), key))


# --- device keys (SPEC 3.2) ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256], ids=lambda a: a.slug)
def test_raw_device_keys(algorithm: Algorithm) -> None:
    raw = device_key(SigningKey.generate(algorithm))
    assert len(raw.public_key) == {Algorithm.ED25519: 32, Algorithm.P256: 33}[algorithm]
    if algorithm is Algorithm.P256:
        assert raw.public_key[0] in (2, 3)  # the compressed point
    parsed = parse_claims(claims(device_key=raw).SerializeToString(deterministic=True))
    assert parsed.HasField("device_key") and parsed.device_key == raw


@pytest.mark.parametrize(("algorithm", "size"), [(1, 31), (1, 33), (2, 32), (2, 65), (3, 33), (3, 65), (0, 32),
                                                 (9, 32), (0, 0)])
def test_malformed_device_keys(algorithm: int, size: int) -> None:
    bad = claims()
    bad.device_key.algorithm = algorithm  # type: ignore[assignment]
    bad.device_key.public_key = bytes(size)
    with pytest.raises(CodeMalformedError):
        parse_claims(bad.SerializeToString(deterministic=True))


def test_an_empty_device_key_is_present_and_malformed() -> None:
    raw = payload() + field(11, b"")  # 5a 00: present, with algorithm 0
    with pytest.raises(CodeMalformedError):
        parse_claims(raw)


def test_device_keys_of_other_algorithms_cannot_be_built() -> None:
    from citycredit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        device_key(SigningKey.generate(Algorithm.SM2))


# --- canonical claims (SPEC 2.4) -------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    pytest.param(lambda p: p + varint_field(4, 1), id="tier written twice (RESTRICTED after GOOD)"),
    pytest.param(lambda p: varint_field(4, 5) + p, id="tier written twice (EXCELLENT before GOOD)"),
    pytest.param(lambda p: p[18:] + p[:18], id="code_id after the other fields"),
    pytest.param(lambda p: p + varint_field(9, 0), id="an explicit default"),
    pytest.param(lambda p: p + b"\x00", id="a trailing byte"),
    pytest.param(lambda p: field(99, b"?") + p, id="an unknown field first"),
    pytest.param(lambda p: p.replace(varint_field(4, 4), varint_field(4, 4, pad=1)), id="a non-minimal tier"),
    pytest.param(lambda p: p.replace(varint_field(4, 4), varint_field(4, 4, tag_pad=1)), id="a non-minimal tag"),
    pytest.param(lambda p: p.replace(varint_field(8, 4242), varint_field(8, 4242 + 2**32)),
                 id="a status index beyond 32 bits"),
])
def test_non_canonical_claims_are_malformed(change) -> None:  # type: ignore[no-untyped-def]
    raw = payload()
    changed = change(raw)
    assert changed != raw
    with pytest.raises(CodeMalformedError):
        parse_claims(changed)


def test_unknown_claims_after_the_known_ones_are_kept_and_signed(alliance_session: InMemoryAlliance) -> None:
    raw = payload() + varint_field(99, 42) + field(100, b"later")
    assert parse_claims(raw).SerializeToString(deterministic=True) == raw  # kept byte for byte
    verified = alliance_session.verifier().verify(wrap(sign_payload(alliance_session, raw).SerializeToString()))
    assert verified.tier is Tier.GOOD
    # The unknown tail of the payload is signed: changing it breaks the signature.
    env = sign_payload(alliance_session, raw)
    env.payload = raw[:-1] + b"!"
    with pytest.raises(SignatureInvalidError):
        alliance_session.verifier().verify(wrap(env.SerializeToString()))


def test_claims_are_read_only_under_a_valid_signature(alliance_session: InMemoryAlliance) -> None:
    garbage = b"\xff\xfe not claims"
    signed = sign_payload(alliance_session, garbage)
    with pytest.raises(CodeMalformedError):  # signature holds (V4), then the claims fail (V5)
        alliance_session.verifier().verify(wrap(signed.SerializeToString()))
    signed.signature = bytes(64)
    with pytest.raises(SignatureInvalidError):  # V4 comes first
        alliance_session.verifier().verify(wrap(signed.SerializeToString()))


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=300))
def test_parsing_arbitrary_payload_bytes_only_says_malformed(data: bytes) -> None:
    try:
        parse_claims(data)
    except CodeMalformedError as exc:
        assert exc.code == "CC_MALFORMED"


@given(st.integers(0, 2**32 - 1))
def test_is_city_is_the_spec_rule(city: int) -> None:
    provinces = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
                 54, 61, 62, 63, 64, 65, 71, 81, 82}
    assert is_city(city) == (110000 <= city <= 829999 and city // 10000 in provinces)


def test_base45_of_claims_is_never_accepted_as_an_envelope() -> None:
    # A bare CreditCode is not a SignedCreditCode: field 1 is bytes in both, but a payload alone has no kid.
    with pytest.raises(CodeMalformedError):
        from citycredit.core import decode_text

        decode_text("CC1:" + b45encode(payload()))
