from __future__ import annotations

import contextlib

import pytest
from citycredit.core import BASE45_ALPHABET, b45decode, b45encode
from citycredit.errors import CodeBase45Error
from hypothesis import given
from hypothesis import strategies as st

# The examples of RFC 9285 section 4.
RFC_EXAMPLES = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_rfc_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


def test_empty() -> None:
    assert b45encode(b"") == "" and b45decode("") == b""


@pytest.mark.parametrize("text", ["A", "BB8A", "GGW", "ZZZ", "bb8", "BB~", "BB\u00e9", ":::"])
def test_invalid_text_is_refused(text: str) -> None:
    # Wrong length, lowercase, foreign characters and groups above 65535 (GGW = 65536) all fail the same way.
    with pytest.raises(CodeBase45Error):
        b45decode(text)


def test_largest_group_values() -> None:
    assert b45decode("FGW") == b"\xff\xff"
    assert b45decode("U5") == b"\xff"
    with pytest.raises(CodeBase45Error):
        b45decode("V5")  # 256 in a trailing pair


@given(st.binary(max_size=600))
def test_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(BASE45_ALPHABET)
    assert b45decode(text) == data


@given(st.text(max_size=60))
def test_decoding_any_text_raises_only_base45_errors(text: str) -> None:
    with contextlib.suppress(CodeBase45Error):
        b45decode(text)


def _reference_decode(text: str) -> bytes | None:
    """RFC 9285 section 4.2, one group at a time: the specification read literally."""
    if len(text) % 3 == 1 or any(c not in BASE45_ALPHABET for c in text):
        return None
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [BASE45_ALPHABET.index(c) for c in text[i:i + 3]]
        value = sum(d * 45**k for k, d in enumerate(chunk))
        if value >= (65536 if len(chunk) == 3 else 256):
            return None
        out += value.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


@given(st.text(alphabet=BASE45_ALPHABET + "a~é", max_size=90))
def test_decoder_agrees_with_the_literal_reading_of_the_rfc(text: str) -> None:
    expected = _reference_decode(text)
    if expected is None:
        with pytest.raises(CodeBase45Error):
            b45decode(text)
    else:
        assert b45decode(text) == expected
