"""Decoding `CC1:` and `CP1:` text (SPEC 2): the length cap first, exact prefix, strict Base45, canonical protobuf."""

from __future__ import annotations

import pytest
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import (
    MAX_CODE_CHARS,
    Envelope,
    Presented,
    SigningKey,
    b45decode,
    b45encode,
    decode_envelope,
    decode_text,
    encode_presentation,
)
from citycredit.core import _envelope as envelope_module
from citycredit.errors import (
    CityCreditError,
    CodeBase45Error,
    CodeMalformedError,
    CodePrefixError,
    CodeTooLongError,
    CodeUnreadableError,
)
from citycredit.testing import InMemoryAlliance
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW_S
from tests.unit.core.codes import envelope, presentation, wrap
from tests.unit.core.protowire import field, varint, varint_field


@pytest.fixture(scope="module")
def code(alliance_session: InMemoryAlliance) -> str:
    return alliance_session.issue(330100).code


@pytest.fixture(scope="module")
def parts(code: str) -> tuple[bytes, bytes, bytes]:
    """The three records of a real envelope: payload, kid, signature, each serialized on its own."""
    env = envelope(code)
    return field(1, env.payload), field(2, env.kid), field(3, env.signature)


# --- the length cap, before anything else (SPEC 2.2) ---------------------------------------------------


@pytest.mark.parametrize("text", [
    "x" * (MAX_CODE_CHARS + 1),                       # not prefixed either
    "CC1:" + "~" * (MAX_CODE_CHARS - 3),              # not Base45 either
    "é" * (MAX_CODE_CHARS + 1),                       # code points, not bytes, are counted
    b"\xff" * (MAX_CODE_CHARS + 1),                   # byte input: bytes are counted, before the ASCII check
])
def test_over_long_input_is_too_long_whatever_else_is_wrong(text: str | bytes) -> None:
    with pytest.raises(CodeTooLongError) as caught:
        decode_text(text)
    assert caught.value.code == "CC_TOO_LONG"


def test_the_cap_is_checked_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(text: str) -> bytes:
        raise AssertionError("Base45 was decoded before the length was checked")

    monkeypatch.setattr(envelope_module, "b45decode", no_work)
    with pytest.raises(CodeTooLongError):
        decode_text("CC1:" + "0" * MAX_CODE_CHARS)


def test_exactly_the_cap_is_read() -> None:
    # 1,024 characters with the prefix: 1,020 of Base45 (a multiple of 3) is decoded, then judged as protobuf.
    with pytest.raises(CodeMalformedError):
        decode_text("CC1:" + "000" * 340)
    # 1,024 non-ASCII code points are within the cap: refused for what they are, not for their length.
    with pytest.raises(CodePrefixError):
        decode_text("é" * MAX_CODE_CHARS)


# --- prefix and Base45 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "CC1", "HC1:BB8", "cc1:BB8", "cp1:BB8", "CC2:BB8", " CC1:", "CC1 BB8",
                                  "\u3000CC1:BB8"])
def test_the_prefix_is_exactly_cc1_or_cp1(text: str) -> None:
    with pytest.raises(CodePrefixError):
        decode_text(text)


@pytest.mark.parametrize("body", ["a", "BB8~", "GGW", "V5", "BB8A", "ÄÖÜ", "BB\u3000"])
def test_the_body_is_strict_base45(body: str) -> None:
    for prefix in ("CC1:", "CP1:"):
        with pytest.raises(CodeBase45Error):
            decode_text(prefix + body)


def test_byte_input_must_be_ascii_before_the_prefix_is_looked_at(code: str) -> None:
    with pytest.raises(CodeBase45Error):
        decode_text(b"\xffCC1:BB8")
    with pytest.raises(CodeBase45Error):
        decode_text(code.encode()[:-1] + "é".encode())
    assert decode_text(code.encode()) == decode_text(code)


@pytest.mark.parametrize("change", [
    lambda c: c + "\n", lambda c: c + "\r\n", lambda c: " " + c, lambda c: c + " ", lambda c: "\t" + c,
    lambda c: c + "\u3000", lambda c: c[:40] + "\n" + c[40:],
])
def test_no_whitespace_is_stripped_or_tolerated(code: str, change) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CodeUnreadableError):
        decode_text(change(code))


def test_a_non_string_is_malformed() -> None:
    with pytest.raises(CodeMalformedError):
        decode_text(12345)  # type: ignore[arg-type]


# --- canonical envelopes (SPEC 2.4, 2.5) ------------------------------------------------------------------


def test_the_issued_envelope_is_canonical(code: str, parts: tuple[bytes, bytes, bytes]) -> None:
    payload, kid, signature = parts
    assert b45decode(code[4:]) == payload + kid + signature
    decoded = decode_text(code)
    assert isinstance(decoded, Envelope) and decoded.raw == payload + kid + signature


@pytest.mark.parametrize("build", [
    pytest.param(lambda p, k, s: k + p + s, id="fields out of order"),
    pytest.param(lambda p, k, s: p + k + k + s, id="kid twice"),
    pytest.param(lambda p, k, s: p + field(2, b"rogue-id") + k + s, id="a foreign kid first"),
    pytest.param(lambda p, k, s: p + p + k + s, id="payload twice"),
    pytest.param(lambda p, k, s: field(1, envelope_payload(p), pad=1) + k + s, id="non-minimal length"),
    pytest.param(lambda p, k, s: varint(1 << 3 | 2, pad=1) + p[1:] + k + s, id="non-minimal tag"),
    pytest.param(lambda p, k, s: p + k + s + b"\x00", id="a trailing zero byte"),
    pytest.param(lambda p, k, s: p + k + s + b"\x22", id="a truncated trailing record"),
    pytest.param(lambda p, k, s: p + k + s[:-1], id="truncated"),
    pytest.param(lambda p, k, s: field(9, b"x") + p + k + s, id="an unknown field before the known ones"),
    pytest.param(lambda p, k, s: p + k + field(9, b"x") + s, id="an unknown field between known ones"),
    pytest.param(lambda p, k, s: field(1, b"") + p + k + s, id="an explicit empty payload"),
])
def test_non_canonical_envelopes_are_malformed(parts: tuple[bytes, bytes, bytes], build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CodeMalformedError):
        decode_text(wrap(build(*parts)))


def envelope_payload(record: bytes) -> bytes:
    """The data of a length-delimited record written with a one- or two-byte length."""
    return code_pb2.SignedCreditCode.FromString(record).payload


def test_an_unknown_tail_is_kept_verbatim_and_verifies(alliance_session: InMemoryAlliance, code: str,
                                                       parts: tuple[bytes, bytes, bytes]) -> None:
    # An unknown field after the known ones is allowed (forward compatibility) and signed by nobody (SPEC 11.5):
    # the string differs, the claims do not.
    tail = field(9, b"future") + varint_field(10, 7)
    extended = wrap(b"".join(parts) + tail)
    decoded = decode_text(extended)
    assert isinstance(decoded, Envelope) and decoded.raw.endswith(tail)
    verifier = alliance_session.verifier()
    assert verifier.verify(extended).code_id == verifier.verify(code).code_id


@pytest.mark.parametrize(("kid", "signature", "payload"), [
    (bytes(7), bytes(64), b"x"), (bytes(9), bytes(64), b"x"), (bytes(8), bytes(63), b"x"),
    (bytes(8), bytes(65), b"x"), (bytes(8), bytes(64), b""), (b"", b"", b""),
])
def test_envelope_field_sizes(kid: bytes, signature: bytes, payload: bytes) -> None:
    raw = code_pb2.SignedCreditCode(payload=payload, kid=kid, signature=signature).SerializeToString(
        deterministic=True)
    with pytest.raises(CodeMalformedError):
        decode_text(wrap(raw))


def test_the_payload_is_not_parsed_while_decoding() -> None:
    # Claims are read only after the signature holds (SPEC 2.7): garbage payload bytes decode fine here.
    raw = code_pb2.SignedCreditCode(payload=b"\xff\xff", kid=bytes(8), signature=bytes(64)).SerializeToString()
    assert decode_envelope(wrap(raw)).payload == b"\xff\xff"


# --- presentations (SPEC 2.6) -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def device() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def bound(alliance_session: InMemoryAlliance, device: SigningKey) -> str:
    return alliance_session.issue(330100, device=device).code


def test_a_presentation_carries_the_envelope_bytes_exactly(bound: str, device: SigningKey) -> None:
    text = encode_presentation(bound, device, presented_at_s=NOW_S)
    decoded = decode_text(text)
    assert isinstance(decoded, Presented)
    assert decoded.envelope.raw == b45decode(bound[4:]) and decoded.presented_at_s == NOW_S
    assert len(decoded.signature) == 64
    assert decode_envelope(text) == decode_envelope(bound)


def test_a_negative_presentation_time_is_a_ten_byte_varint(bound: str, device: SigningKey) -> None:
    text = encode_presentation(bound, device, presented_at_s=-1)
    raw = code_pb2.Presentation.FromString(b45decode(text[4:])).SerializeToString(deterministic=True)
    assert varint_field(2, 2**64 - 1) in raw
    decoded = decode_text(text)
    assert isinstance(decoded, Presented) and decoded.presented_at_s == -1


@pytest.mark.parametrize("build", [
    pytest.param(lambda c, t, s: field(1, c) + field(1, c) + t + s, id="code twice"),
    pytest.param(lambda c, t, s: t + field(1, c) + s, id="out of order"),
    pytest.param(lambda c, t, s: field(1, c) + varint_field(2, NOW_S, pad=1) + s, id="non-minimal time"),
    pytest.param(lambda c, t, s: field(1, c) + varint_field(2, 0) + s, id="an explicit zero time"),
    pytest.param(lambda c, t, s: field(1, c) + t + field(3, bytes(63)), id="a 63-byte signature"),
    pytest.param(lambda c, t, s: field(1, c) + t, id="no signature"),
    pytest.param(lambda c, t, s: field(1, c + b"\x00") + t + s, id="an envelope with a trailing byte"),
    pytest.param(lambda c, t, s: field(1, b"") + t + s, id="no envelope"),
])
def test_non_canonical_presentations_are_malformed(bound: str, build) -> None:  # type: ignore[no-untyped-def]
    raw = b45decode(bound[4:])
    text = "CP1:" + b45encode(build(raw, varint_field(2, NOW_S), field(3, bytes(64))))
    with pytest.raises(CodeMalformedError):
        decode_text(text)


def test_a_presentation_of_a_non_canonical_envelope_is_malformed(bound: str, device: SigningKey) -> None:
    env = envelope(bound)
    swapped = field(2, env.kid) + field(1, env.payload) + field(3, env.signature)
    with pytest.raises(CodeMalformedError):
        decode_text(presentation(swapped, device, NOW_S))


# --- properties -------------------------------------------------------------------------------------------

_UNREADABLE = {"CC_TOO_LONG", "CC_PREFIX", "CC_BASE45", "CC_MALFORMED"}


@settings(max_examples=400)
@given(st.one_of(
    st.text(max_size=1100), st.binary(max_size=1100),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=500).map("CC1:".__add__),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=500).map("CP1:".__add__),
    st.binary(max_size=400).map(lambda b: "CC1:" + b45encode(b)),
    st.binary(max_size=400).map(lambda b: "CP1:" + b45encode(b)),
))
def test_decoding_never_crashes(data: str | bytes) -> None:
    try:
        decode_text(data)
    except CityCreditError as exc:
        assert isinstance(exc, CodeUnreadableError) and exc.code in _UNREADABLE


@settings(max_examples=300)
@given(st.data())
def test_no_mutation_of_a_real_envelope_yields_other_claims(alliance_session: InMemoryAlliance, code: str,
                                                            data: st.DataObject) -> None:
    """One signed code, one meaning: any byte-level change is refused or (an unknown tail) reads the same."""
    raw = bytearray(b45decode(code[4:]))
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif kind == "insert":
            raw.insert(at, data.draw(st.integers(0, 255)))
        elif len(raw) > 1:
            del raw[at]
    verifier = alliance_session.verifier()
    try:
        result = verifier.verify(wrap(bytes(raw)))
    except CityCreditError as exc:
        assert exc.code.startswith("CC_") and not exc.code.startswith("CC_BUNDLE")
    else:
        assert result == verifier.verify(code)


def _parsed_or_error(raw: bytes) -> Envelope | str:
    try:
        return envelope_module._parsed_envelope(raw)
    except CodeMalformedError:
        return "malformed"


@settings(max_examples=500)
@given(st.data())
def test_the_sliced_envelope_reads_exactly_what_the_parser_accepts(code: str, data: st.DataObject) -> None:
    """The fast path is an optimisation, not a second decoder: on real envelopes, their mutations and
    envelopes built record by record (lengths around the one- and two-byte varint boundary), whenever it
    reads an envelope the parser reads the same one, and the decoder's verdict is the parser's."""
    raw = b45decode(code[4:])
    choice = data.draw(st.sampled_from(["real", "mutated", "built"]))
    if choice == "mutated":
        mutable = bytearray(raw)
        at = data.draw(st.integers(0, len(mutable) - 1))
        mutable[at] = data.draw(st.integers(0, 255))
        raw = bytes(mutable)
    elif choice == "built":
        payload = data.draw(st.binary(min_size=0, max_size=300) | st.sampled_from([b"x" * 127, b"y" * 128]))
        kid = data.draw(st.binary(min_size=7, max_size=9))
        signature = data.draw(st.binary(min_size=63, max_size=65))
        records = [field(1, payload, pad=data.draw(st.integers(0, 1))), field(2, kid), field(3, signature)]
        order = data.draw(st.permutations(records))
        raw = b"".join(order) + data.draw(st.sampled_from([b"", b"\x20\x01"]))
    sliced = envelope_module._sliced_envelope(raw)
    parsed = _parsed_or_error(raw)
    if sliced is not None:
        assert sliced == parsed
    try:
        decoded: Envelope | str = envelope_module._envelope(raw)
    except CodeMalformedError:
        decoded = "malformed"
    assert decoded == parsed


def test_every_issued_code_takes_the_sliced_path(alliance_session: InMemoryAlliance) -> None:
    payload_sizes = set()
    for band in ("", "银", "钱江分·优秀信用（A+）", "信" * 60):
        raw = b45decode(alliance_session.issue(330100, band=band).code[4:])
        sliced = envelope_module._sliced_envelope(raw)
        assert sliced is not None and sliced == envelope_module._parsed_envelope(raw)
        payload_sizes.add(len(sliced.payload))
    assert min(payload_sizes) < 128 <= max(payload_sizes)  # one- and two-byte length varints both seen
