"""Merchant grants: unified social credit codes (GB 32100) and the grants a city signs for the gateway."""

from __future__ import annotations

import hashlib

import pytest
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import (
    MERCHANT_CONTEXT,
    USCC_ALPHABET,
    SigningKey,
    is_uscc,
    open_merchant_grant,
    sign_merchant_grant,
    uscc_check_character,
)
from citycredit.errors import BundleMalformedError, InvalidArgumentError
from hypothesis import given
from hypothesis import strategies as st

# Published unified social credit codes of well-known companies: the check character is GB 32100's.
REAL = ["914403001922038216", "91440300708461136T", "91330100716105852F", "91110000802100433B"]
HANGZHOU, QUZHOU = 330100, 330800


@pytest.mark.parametrize("code", REAL)
def test_real_codes_check(code: str) -> None:
    assert is_uscc(code) and uscc_check_character(code[:17]) == code[17]


@pytest.mark.parametrize("code", [
    REAL[0][:17] + "7", REAL[0][:17], REAL[0] + "0", REAL[1].lower(), "91440300708461136" + "I",
    "9144030070846113OT", "9144030070846113ST", "", 914403001922038216,
])
def test_malformed_or_wrong_codes_do_not(code: object) -> None:
    assert not is_uscc(code)


def test_the_alphabet_has_no_i_o_s_v_z() -> None:
    assert len(USCC_ALPHABET) == 31 and not set("IOSVZ") & set(USCC_ALPHABET)
    with pytest.raises(InvalidArgumentError):
        uscc_check_character("9144030070846113O")


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
def test_every_check_character_is_of_the_alphabet_and_a_changed_character_is_caught(first17: str) -> None:
    check = uscc_check_character(first17)
    assert check in USCC_ALPHABET and is_uscc(first17 + check)
    changed = first17[:5] + USCC_ALPHABET[(USCC_ALPHABET.index(first17[5]) + 1) % 31] + first17[6:]
    assert not is_uscc(changed + check)  # weights are coprime to 31: one changed character always shows


STATUS_KEY, AUTHORITY = SigningKey.generate(), SigningKey.generate()


def _grant(**overrides: object) -> bytes:
    values: dict[str, object] = {
        "city": QUZHOU, "merchant_id": REAL[2], "name": "衢州示范商户", "venues": ["east-gate", "east-gate", "b"],
        "credential_id": "mkey-1", "token_sha256": hashlib.sha256(b"ccm_x").digest(), "issued_at_s": 1,
        "revoked_at_s": 0, "signer": STATUS_KEY}
    values.update(overrides)
    return sign_merchant_grant(**values)  # type: ignore[arg-type]


def _open(data: bytes) -> trust_pb2.MerchantGrant:
    return open_merchant_grant(data, status_keys={QUZHOU: {STATUS_KEY.kid: STATUS_KEY.verifying_key()}},
                               authorities={QUZHOU: AUTHORITY.verifying_key()})


def test_a_grant_round_trips_signed_by_the_citys_status_key() -> None:
    grant = _open(_grant())
    assert (grant.city, grant.merchant_id, grant.credential_id, list(grant.venues)) == (
        QUZHOU, REAL[2], "mkey-1", ["b", "east-gate"])
    part = trust_pb2.SignedPart.FromString(_grant())
    assert STATUS_KEY.verifying_key().verify(part.signature, MERCHANT_CONTEXT + part.body)


def test_an_office_grant_is_signed_by_the_authority_key() -> None:
    assert _open(_grant(office=True, signer=AUTHORITY)).office
    with pytest.raises(BundleMalformedError, match="authority key"):
        _open(_grant(office=True))  # signed by the status key
    with pytest.raises(BundleMalformedError, match="status keys"):
        _open(_grant(signer=AUTHORITY))  # a merchant's grant signed by the authority key


def test_grants_that_must_be_refused() -> None:
    with pytest.raises(BundleMalformedError):
        _open(_grant(signer=SigningKey.generate()))
    with pytest.raises(BundleMalformedError, match="not a member"):
        _open(_grant(city=HANGZHOU))
    part = trust_pb2.SignedPart.FromString(_grant())
    part.body = part.body.replace(b"mkey-1", b"mkey-2")
    with pytest.raises(BundleMalformedError):
        _open(part.SerializeToString())
    with pytest.raises(BundleMalformedError):
        _open(b"\xff\xff")


@pytest.mark.parametrize("overrides", [{"merchant_id": REAL[2][:17] + "0"}, {"city": 250000},
                                       {"token_sha256": b"short"}, {"credential_id": ""}])
def test_a_city_cannot_sign_a_malformed_grant(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        _grant(**overrides)
