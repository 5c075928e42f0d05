from __future__ import annotations

import pytest
from citycredit import Tier
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import MAX_CODE_CHARS, b45decode, b45encode, decode_envelope, encode_code, parse_claims
from citycredit.errors import (
    CityCreditError,
    CodeBase45Error,
    CodeMalformedError,
    CodePrefixError,
    CodeTooLongError,
)
from citycredit.testing import InMemoryAlliance
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW_S


def envelope_of(code: str) -> code_pb2.SignedCreditCode:
    msg = code_pb2.SignedCreditCode()
    msg.ParseFromString(b45decode(code[4:]))
    return msg


def test_length_is_checked_before_anything_else() -> None:
    # Over-long input is refused as too long even though it is also unprefixed and not Base45.
    for junk in ("x" * (MAX_CODE_CHARS + 1), "CC1:" + "~" * MAX_CODE_CHARS, b"\xff" * (MAX_CODE_CHARS + 1)):
        with pytest.raises(CodeTooLongError) as err:
            decode_envelope(junk)
        assert err.value.code == "CC_TOO_LONG"


@pytest.mark.parametrize("text", ["", "HC1:ABC", "cc1:ABC", "CC2:BB8", " CC0:"])
def test_wrong_prefix(text: str) -> None:
    with pytest.raises(CodePrefixError):
        decode_envelope(text)


@pytest.mark.parametrize("text", ["CC1:a", "CC1:BB8~", "CC1:GGW", "CC1:ÄÖÜ"])
def test_non_base45(text: str) -> None:
    with pytest.raises(CodeBase45Error):
        decode_envelope(text)


def test_non_ascii_bytes_are_refused_as_base45() -> None:
    with pytest.raises(CodeBase45Error):
        decode_envelope(b"CC1:" + b"\xc3\xa9")


@pytest.mark.parametrize(
    "envelope",
    [
        b"\xff\xff\xff",  # not protobuf
        code_pb2.SignedCreditCode(payload=b"x", kid=b"1234567", signature=bytes(64)).SerializeToString(),
        code_pb2.SignedCreditCode(payload=b"x", kid=bytes(8), signature=bytes(63)).SerializeToString(),
        code_pb2.SignedCreditCode(payload=b"", kid=bytes(8), signature=bytes(64)).SerializeToString(),
    ],
)
def test_malformed_envelopes(envelope: bytes) -> None:
    with pytest.raises(CodeMalformedError):
        decode_envelope("CC1:" + b45encode(envelope))


def test_surrounding_whitespace_from_scanners_is_tolerated(alliance_session: InMemoryAlliance) -> None:
    code = alliance_session.issue(330100).code
    assert decode_envelope(code + "\r\n") == decode_envelope(code)


def test_bytes_input_is_accepted(alliance_session: InMemoryAlliance) -> None:
    code = alliance_session.issue(330100).code
    assert decode_envelope(code.encode()) == decode_envelope(code)


def test_unknown_payload_fields_are_kept_and_signed(alliance_session: InMemoryAlliance) -> None:
    claims = code_pb2.CreditCode(code_id=bytes(16), city=330100, holder=bytes(16), tier=Tier.GOOD.proto,
                                 band="良好", issued_at=NOW_S, expires_at=NOW_S + 60)
    # Field 99 (a varint) is unknown to this version of the schema.
    payload = claims.SerializeToString() + b"\x98\x06\x2a"
    parsed = parse_claims(payload)
    assert parsed.SerializeToString() == payload  # kept byte for byte
    signature = alliance_session.keys[(330100, alliance_session.issuer(330100).key.algorithm)].sign(
        b"CC1\x00" + payload)
    env = code_pb2.SignedCreditCode(payload=payload, kid=alliance_session.issuer(330100).key.kid,
                                    signature=signature)
    verified = alliance_session.verifier().verify("CC1:" + b45encode(env.SerializeToString()))
    assert verified.tier is Tier.GOOD


@pytest.mark.parametrize(
    ("field", "value"),
    [("code_id", b"short"), ("city", 12), ("holder", b""), ("tier", 0), ("tier", 9), ("expires_at", 1),
     ("issued_at", 0), ("band", "x" * 65)],
)
def test_implausible_claims_are_malformed(field: str, value: object) -> None:
    claims = code_pb2.CreditCode(code_id=bytes(16), city=330100, holder=bytes(16), tier=4, band="良好",
                                 issued_at=NOW_S, expires_at=NOW_S + 60)
    setattr(claims, field, value)
    with pytest.raises(CodeMalformedError):
        parse_claims(claims.SerializeToString())


def test_encode_signs_the_exact_payload(alliance_session: InMemoryAlliance) -> None:
    key = alliance_session.issuer(330800).key
    claims = code_pb2.CreditCode(code_id=bytes(16), city=330800, holder=bytes(16), tier=5, band="信安分·蓝码",
                                 issued_at=NOW_S, expires_at=NOW_S + 300)
    env = envelope_of(encode_code(claims, key))
    assert env.kid == key.kid
    assert key.verifying_key().verify(env.signature, b"CC1\x00" + env.payload)
    assert not key.verifying_key().verify(env.signature, env.payload)  # the context prefix is signed too


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=1100), st.binary(max_size=1100),
                 st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=400).map("CC1:".__add__)))
def test_decoding_arbitrary_input_raises_only_catalogue_errors(data: str | bytes) -> None:
    try:
        env = decode_envelope(data)
        parse_claims(env.payload)
    except CityCreditError as exc:
        assert exc.code.startswith("CC_")


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=300))
def test_arbitrary_payload_bytes_raise_only_catalogue_errors(payload: bytes) -> None:
    try:
        parse_claims(payload)
    except CityCreditError as exc:
        assert exc.code == "CC_MALFORMED"


def test_non_string_input() -> None:
    with pytest.raises(CodeMalformedError):
        decode_envelope(12345)  # type: ignore[arg-type]
