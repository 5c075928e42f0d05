"""Issuing (SPEC 3.5, 3.6, A.2–A.4): pairwise pseudonyms, the one issuance pipeline, the key picker."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from citycredit import Algorithm, SigningKey, Tier
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import (
    MAX_TTL_S,
    HeldKey,
    Issuer,
    b45decode,
    decode_envelope,
    device_key,
    encode_code,
    encode_presentation,
    hmac_sha256,
    holder_pseudonym,
    is_city,
    parse_claims,
    pick_signing_key,
    presentation_message,
)
from citycredit.errors import InvalidArgumentError, NotFoundError
from citycredit.testing import InMemoryAlliance
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW_S

SECRET = b"\x42" * 32
CITIES = [330100, 330200, 330300, 330400, 330500, 330700, 330800, 350100, 350200, 371082, 441300, 110101, 440300]


def _ed25519(seed: bytes) -> SigningKey:
    return SigningKey(algorithm=Algorithm.ED25519, key=ed25519.Ed25519PrivateKey.from_private_bytes(seed))


# --- the worked examples of the spec ----------------------------------------------------------------------


def test_the_holder_pseudonym_of_appendix_a3() -> None:
    mac = hmac_sha256(SECRET)
    assert holder_pseudonym(mac, 330100, "330100-demo-0001").hex() == "1925fb2130772084660364df"
    assert holder_pseudonym(mac, 330800, "330100-demo-0001").hex() == "324e048079321eff81abe26c"


def test_the_complete_code_of_appendix_a2() -> None:
    key = _ed25519(bytes(range(32)))
    assert key.kid.hex() == "a050837d85070582"
    claims = code_pb2.CreditCode(
        code_id=bytes(range(16, 32)), city=330100, holder=bytes.fromhex("1925fb2130772084660364df"), tier=4,
        band="钱江分·良好", issued_at=1795000000, expires_at=1795000300, status_index=12345, policy_version=1,
        audience=330100)
    code = encode_code(claims, key)
    assert len(code) == 238
    assert code == ("CC1:SD1BC1I12$C2BO2UZ2423ND3.O3G 3K621LI8D3283TXVW56:44F+C%XC624EE5YNT2MMLKMZ0TS1HABNCIHJ1"
                    "TC-NIFOB9VHZ0Y+TB9VPZ0QJNS49OAA1LIQC20CK1SGZ GFV0FE3P%LKRL76U8QGQNV5XJ.+VG:6PE9UG7UJAEDN7M5"
                    "ZYUZ21NGRED9DAR2JK180ITM3J62*J$%JDK0%4F/ZO:ZUSFGYZQ8LRPTO")
    assert len(decode_envelope(code).payload) == 78


def test_the_presentation_message_of_appendix_a4() -> None:
    key, device = _ed25519(bytes(range(32))), _ed25519(bytes(range(32, 64)))
    claims = code_pb2.CreditCode(
        code_id=bytes(range(16, 32)), city=330100, holder=bytes.fromhex("1925fb2130772084660364df"), tier=4,
        band="钱江分·良好", issued_at=1795000000, expires_at=1795000300, status_index=12345, policy_version=1,
        audience=330100, device_key=device_key(device))
    assert claims.device_key.public_key.hex() == "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
    raw = decode_envelope(encode_code(claims, key)).raw
    assert len(raw) == 194
    assert hashlib.sha256(raw).hexdigest() == "37262ce0f302ffe9b889e8bd804bc4e58c47c37d861e6ce4641387a6ba006ff2"
    message = presentation_message(raw, 1795000010)
    assert message.hex() == ("4350310037262ce0f302ffe9b889e8bd804bc4e58c47c37d861e6ce4641387a6ba006ff2"
                             "000000006afd86ca")
    assert device.sign(message).hex() == ("b4088c5e3c6b706ec7c64fc6920977d7ddaf302c4464831421421928b080716e"
                                          "6e686163fbd04be100881abd559578219febe2adaa3e6e3e8798dad2ff68cc04")
    assert presentation_message(raw, -1).endswith(bytes.fromhex("ffffffffffffffff"))


# --- pairwise pseudonyms ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(holder_ref=st.text(min_size=1, max_size=40), audiences=st.lists(st.sampled_from(CITIES), min_size=2,
                                                                        max_size=6, unique=True),
       per_audience=st.integers(1, 4), seed=st.integers(0, 2**32))
def test_one_holders_codes_for_different_audiences_share_no_identifier(holder_ref: str, audiences: list[int],
                                                                       per_audience: int, seed: int) -> None:
    """Over many codes of one holder, no byte string of a code for one host city appears in a code for another;
    within one host city the holder pseudonym is the same every time (quotas there still count)."""
    issuer = Issuer(city=330100, key=_ISSUER_KEY, pseudonym=hmac_sha256(seed.to_bytes(5, "big") * 4),
                    policy_version=1)
    seen: dict[int, set[bytes]] = {}
    holders: dict[int, set[bytes]] = {}
    for audience, n in itertools.product(audiences, range(per_audience)):
        issued = issuer.issue(holder_ref=holder_ref, tier=Tier.GOOD, band="良好", now_s=NOW_S + n, audience=audience)
        claims = parse_claims(decode_envelope(issued.code).payload)
        assert claims.audience == audience and claims.holder == issued.holder
        seen.setdefault(audience, set()).update({claims.code_id, claims.holder})
        holders.setdefault(audience, set()).add(claims.holder)
    assert all(len(h) == 1 for h in holders.values())  # one pseudonym per audience
    for first, second in itertools.combinations(audiences, 2):
        assert not seen[first] & seen[second], (first, second)


_ISSUER_KEY = SigningKey.generate()


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_pseudonyms_differ_between_holders_and_secrets(first: str, second: str) -> None:
    mac = hmac_sha256(SECRET)
    if first != second:
        assert holder_pseudonym(mac, 330100, first) != holder_pseudonym(mac, 330100, second)
    assert holder_pseudonym(mac, 330100, first) != holder_pseudonym(hmac_sha256(b"\x43" * 32), 330100, first)
    assert len(holder_pseudonym(mac, 330800, first)) == 12


def test_pseudonym_inputs_are_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        hmac_sha256(bytes(15))
    mac = hmac_sha256(SECRET)
    for audience in (0, 250000, 12):
        assert not is_city(audience)
        with pytest.raises(InvalidArgumentError):
            holder_pseudonym(mac, audience, "someone")
    with pytest.raises(InvalidArgumentError):
        holder_pseudonym(mac, 330100, "")


# --- the issuance pipeline --------------------------------------------------------------------------------


def test_issue_fills_every_claim(alliance_session: InMemoryAlliance) -> None:
    device = SigningKey.generate(Algorithm.P256)
    issued = alliance_session.issue(330800, Tier.EXCELLENT, band="信安分·蓝码", holder_ref="qz-1",
                                    status_index=99, audience=330100, device=device, ttl_s=600)
    claims = parse_claims(decode_envelope(issued.code).payload)
    assert (claims.city, claims.tier, claims.band, claims.status_index, claims.audience) == (
        330800, 5, "信安分·蓝码", 99, 330100)
    assert (claims.issued_at, claims.expires_at, claims.policy_version) == (NOW_S, NOW_S + 600, 1)
    assert claims.device_key == device_key(device) and issued.device_bound
    assert (issued.city, issued.audience, issued.tier, issued.holder) == (330800, 330100, Tier.EXCELLENT,
                                                                          claims.holder)
    assert issued.holder == holder_pseudonym(hmac_sha256(alliance_session.secrets[330800]), 330100, "qz-1")
    verified = alliance_session.verifier().verify(encode_presentation(issued.code, device, presented_at_s=NOW_S))
    assert verified.device_bound and verified.audience == 330100


def test_the_home_city_is_the_default_audience_and_code_ids_are_fresh(alliance_session: InMemoryAlliance) -> None:
    first, second = (alliance_session.issue(330100, holder_ref="same") for _ in range(2))
    assert first.audience == second.audience == 330100
    assert first.holder == second.holder and first.code_id != second.code_id and len(first.code_id) == 16


@pytest.mark.parametrize(("argument", "value"), [("ttl_s", 0), ("ttl_s", MAX_TTL_S + 1), ("status_index", -1),
                                                 ("status_index", 131_072), ("audience", 250000)])
def test_issue_refuses_bad_arguments(alliance_session: InMemoryAlliance, argument: str, value: int) -> None:
    with pytest.raises(InvalidArgumentError):
        alliance_session.issue(330100, **{argument: value})  # type: ignore[arg-type]


def test_issue_draws_an_index_and_a_code_id_from_the_random_source() -> None:
    class Fixed:
        def randbelow(self, exclusive_upper_bound: int) -> int:
            return exclusive_upper_bound - 1

        def token_bytes(self, nbytes: int | None = None) -> bytes:
            return b"\x07" * (nbytes or 32)

    issuer = Issuer(city=330100, key=_ISSUER_KEY, pseudonym=hmac_sha256(SECRET))
    issued = issuer.issue(holder_ref="h", tier=Tier.FAIR, band="", now_s=NOW_S, rng=Fixed())
    assert (issued.status_index, issued.code_id) == (131_071, b"\x07" * 16)


def test_the_signing_key_picker() -> None:
    ed_old, ed_new, p256 = SigningKey.generate(), SigningKey.generate(), SigningKey.generate(Algorithm.P256)
    held = [HeldKey(ed_old, 10), HeldKey(ed_new, 20), HeldKey(p256, 30)]
    assert pick_signing_key(held) is ed_new  # the newest Ed25519 first
    assert pick_signing_key(held, Algorithm.P256) is p256
    assert pick_signing_key([HeldKey(ed_old, 10), HeldKey(ed_new, 20, active=False)]) is ed_old
    assert pick_signing_key([HeldKey(p256, 30)]) is p256
    with pytest.raises(NotFoundError):
        pick_signing_key(held, Algorithm.SM2)
    with pytest.raises(NotFoundError):
        pick_signing_key([HeldKey(ed_new, 20, active=False)])


def test_an_issued_code_is_canonical(alliance_session: InMemoryAlliance) -> None:
    issued = alliance_session.issue(330100)
    payload = decode_envelope(issued.code).payload
    assert parse_claims(payload).SerializeToString(deterministic=True) == payload
    assert b45decode(issued.code[4:]) == decode_envelope(issued.code).raw
