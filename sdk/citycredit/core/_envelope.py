"""The wire formats of DESIGN 4: `CC1:` codes and `CP1:` presentations, Base45 over protobuf.

Decoding is strict and canonical (proto/SPEC.md "Encoding"): the text is taken exactly
as given (no whitespace is stripped; a shell that reads lines strips the line ending),
at most 1,024 characters, checked before anything else; the Base45 is strict (RFC 9285);
the decoded message must equal its canonical encoding (each field once, in number order,
minimal varints, no trailing bytes), so one code has one encoding.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from google.protobuf.message import DecodeError, Message

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._base45 import b45decode, b45encode
from citycredit.core._keys import Signer
from citycredit.errors import CodeBase45Error, CodeMalformedError, CodePrefixError, CodeTooLongError

__all__ = [
    "CODE_PREFIX",
    "MAX_CODE_CHARS",
    "MAX_PRESENTATION_CHARS",
    "PRESENTATION_CONTEXT",
    "PRESENTATION_PREFIX",
    "SIGNING_CONTEXT",
    "Envelope",
    "Presented",
    "decode_envelope",
    "decode_text",
    "encode_code",
    "encode_presentation",
    "presentation_chars",
    "presentation_message",
]

CODE_PREFIX = "CC1:"
PRESENTATION_PREFIX = "CP1:"
MAX_CODE_CHARS = 1024
# What a version-12 QR holds at error correction M in alphanumeric mode: the most a presentation may take.
MAX_PRESENTATION_CHARS = 419
SIGNING_CONTEXT = b"CC1\x00"
PRESENTATION_CONTEXT = b"CP1\x00"
KID_BYTES = 8
SIGNATURE_BYTES = 64


class Envelope(NamedTuple):
    """A code split into what was signed and how: payload bytes as received, the key id, the signature.

    (A named tuple rather than a dataclass: one is made per code verified, and a tuple is made
    several times faster than a frozen dataclass.)
    """

    payload: bytes
    kid: bytes
    signature: bytes
    # The serialized SignedCreditCode (what a presentation hashes).
    raw: bytes


class Presented(NamedTuple):
    """A `CP1:` presentation: the code inside it, when it was made, and the device's signature."""

    envelope: Envelope
    presented_at_s: int
    signature: bytes


def _text(text: str | bytes) -> str:
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_CODE_CHARS:
            raise CodeTooLongError(f"the code has {len(text)} bytes; at most {MAX_CODE_CHARS} are allowed")
        try:
            return bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise CodeBase45Error("the code contains non-ASCII bytes") from None
    if not isinstance(text, str):
        raise CodeMalformedError(f"a code is a string, not {type(text).__name__}")
    if len(text) > MAX_CODE_CHARS:
        raise CodeTooLongError(f"the code has {len(text)} characters; at most {MAX_CODE_CHARS} are allowed")
    return text


def _canonical(message: Message, raw: bytes, what: str) -> None:
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise CodeMalformedError(f"the {what} is not a valid {type(message).__name__} message") from None
    if message.SerializeToString(deterministic=True) != raw:
        raise CodeMalformedError(f"the {what} is not canonically encoded (a field repeated or out of order, "
                                 "a non-minimal varint, or trailing bytes)")


# The bytes around the fixed-size fields of a canonical SignedCreditCode: field 2 (kid, 8 bytes) and
# field 3 (signature, 64 bytes), each a tag and a one-byte length.
_KID_TAG, _SIGNATURE_TAG = b"\x12\x08", b"\x1a\x40"
# Where the kid, the signature's tag and the signature start after the payload, and where the envelope ends.
_KID_AT = len(_KID_TAG)
_SIGNATURE_TAG_AT = _KID_AT + KID_BYTES
_SIGNATURE_AT = _SIGNATURE_TAG_AT + len(_SIGNATURE_TAG)
_ENVELOPE_TAIL = _SIGNATURE_AT + SIGNATURE_BYTES


def _length_prefixed_field_1(raw: bytes) -> tuple[int, int]:
    """Where the bytes of field 1 end and start when `raw` opens with it as a canonical length-delimited field
    of 1 to 16,383 bytes (tag 0x0A, a minimal one- or two-byte length), else (0, 0)."""
    if len(raw) < 3 or raw[0] != 0x0A:
        return 0, 0
    length = raw[1]
    if length < 0x80:
        return (2 + length, 2) if length else (0, 0)
    high = raw[2]
    if not 0 < high < 0x80:  # a zero high byte would be a non-minimal varint; a third byte is beyond the limit
        return 0, 0
    return 3 + (length & 0x7F | high << 7), 3


def _sliced_envelope(raw: bytes) -> Envelope | None:
    """The envelope when `raw` has the one layout a canonical envelope has (payload, then the 8-byte kid,
    then the 64-byte signature), read by slicing; else None. Bytes with that layout are the deterministic
    encoding of the fields they hold, so whatever this reads, `_parsed_envelope` reads the same."""
    end, start = _length_prefixed_field_1(raw)
    if end and len(raw) == end + _ENVELOPE_TAIL and raw.startswith(_KID_TAG, end) \
            and raw.startswith(_SIGNATURE_TAG, end + _SIGNATURE_TAG_AT):
        return Envelope(raw[start:end], raw[end + _KID_AT:end + _SIGNATURE_TAG_AT], raw[end + _SIGNATURE_AT:], raw)
    return None


def _parsed_envelope(raw: bytes) -> Envelope:
    """The envelope through the protobuf parser, refused when it is not canonical or its fields are amiss."""
    envelope = code_pb2.SignedCreditCode()
    _canonical(envelope, raw, "envelope")
    payload, kid, signature = envelope.payload, envelope.kid, envelope.signature
    if len(kid) != KID_BYTES:
        raise CodeMalformedError(f"the kid must be {KID_BYTES} bytes, not {len(kid)}")
    if len(signature) != SIGNATURE_BYTES:
        raise CodeMalformedError(f"the signature must be {SIGNATURE_BYTES} bytes, not {len(signature)}")
    if not payload:
        raise CodeMalformedError("the payload is empty")
    return Envelope(payload, kid, signature, raw)


def _envelope(raw: bytes) -> Envelope:
    # Every issued code has the sliced layout: the parser is for everything else (it costs twice as much).
    return _sliced_envelope(raw) or _parsed_envelope(raw)


def decode_text(text: str | bytes) -> Envelope | Presented:
    """A `CC1:` code or a `CP1:` presentation, decoded and checked for canonical form (not verified)."""
    text = _text(text)
    prefix = text[:4]
    if prefix == CODE_PREFIX:
        return _envelope(b45decode(text[4:]))
    if prefix == PRESENTATION_PREFIX:
        presentation = code_pb2.Presentation()
        _canonical(presentation, b45decode(text[4:]), "presentation")
        if len(presentation.signature) != SIGNATURE_BYTES:
            raise CodeMalformedError(f"the device signature must be {SIGNATURE_BYTES} bytes")
        return Presented(_envelope(presentation.code), presentation.presented_at, presentation.signature)
    raise CodePrefixError(f"a code starts with {CODE_PREFIX!r} (or a presentation with {PRESENTATION_PREFIX!r})")


def decode_envelope(text: str | bytes) -> Envelope:
    """The code of a `CC1:` string, or the one inside a `CP1:` presentation."""
    decoded = decode_text(text)
    return decoded.envelope if isinstance(decoded, Presented) else decoded


def encode_code(claims: code_pb2.CreditCode, key: Signer) -> str:
    """Serialize, sign the exact payload bytes and wrap as a `CC1:` string."""
    payload = claims.SerializeToString(deterministic=True)
    signature = key.sign(SIGNING_CONTEXT + payload)
    envelope = code_pb2.SignedCreditCode(payload=payload, kid=key.kid, signature=signature)
    return CODE_PREFIX + b45encode(envelope.SerializeToString(deterministic=True))


def presentation_message(code: bytes, presented_at_s: int) -> bytes:
    """What the device signs: b"CP1\\0" || SHA-256(code bytes) || the time as 8 bytes big-endian."""
    return PRESENTATION_CONTEXT + hashlib.sha256(code).digest() + presented_at_s.to_bytes(8, "big", signed=True)


def _presentation_text(code: bytes, presented_at_s: int, signature: bytes) -> str:
    message = code_pb2.Presentation(code=code, presented_at=presented_at_s, signature=signature)
    return PRESENTATION_PREFIX + b45encode(message.SerializeToString(deterministic=True))


def encode_presentation(code: str | bytes, device: Signer, *, presented_at_s: int) -> str:
    """A `CP1:` presentation of a device-bound code, signed by the holder's device now."""
    raw = decode_envelope(code).raw
    return _presentation_text(raw, presented_at_s, device.sign(presentation_message(raw, presented_at_s)))


def presentation_chars(code: bytes, presented_at_s: int) -> int:
    """How many characters a presentation of the serialized `SignedCreditCode` made at `presented_at_s` takes
    (every device signature is 64 bytes, so the length does not depend on the device)."""
    return len(_presentation_text(code, presented_at_s, bytes(SIGNATURE_BYTES)))
