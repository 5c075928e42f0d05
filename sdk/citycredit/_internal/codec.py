"""The CC1 wire format (DESIGN 4): `CC1:` + Base45(SignedCreditCode)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit._internal.base45 import b45decode, b45encode
from citycredit._internal.keys import SigningKey
from citycredit.errors import CodeBase45Error, CodeMalformedError, CodePrefixError, CodeTooLongError

__all__ = [
    "CODE_PREFIX",
    "MAX_CODE_CHARS",
    "SIGNING_CONTEXT",
    "Envelope",
    "decode_envelope",
    "encode_code",
    "parse_claims",
]

CODE_PREFIX = "CC1:"
MAX_CODE_CHARS = 1024
SIGNING_CONTEXT = b"CC1\x00"
KID_BYTES = 8
SIGNATURE_BYTES = 64
_MIN_CITY, _MAX_CITY = 110000, 829999  # GB/T 2260 province codes run from 11 to 82.


@dataclass(frozen=True, slots=True)
class Envelope:
    payload: bytes
    kid: bytes
    signature: bytes


def decode_envelope(text: str | bytes) -> Envelope:
    """Split a code into payload, kid and signature. Checks the length before anything else."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_CODE_CHARS:
            raise CodeTooLongError(f"the code has {len(text)} characters; at most {MAX_CODE_CHARS} are allowed")
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise CodeBase45Error("the code contains non-ASCII bytes") from None
    elif not isinstance(text, str):
        raise CodeMalformedError(f"a code is a string, not {type(text).__name__}")
    if len(text) > MAX_CODE_CHARS:
        raise CodeTooLongError(f"the code has {len(text)} characters; at most {MAX_CODE_CHARS} are allowed")
    text = text.strip()
    if not text.startswith(CODE_PREFIX):
        raise CodePrefixError(f"the code must start with {CODE_PREFIX!r}")
    raw = b45decode(text[4:])
    envelope = code_pb2.SignedCreditCode()
    try:
        envelope.ParseFromString(raw)
    except DecodeError:
        raise CodeMalformedError("the envelope is not a valid SignedCreditCode message") from None
    if len(envelope.kid) != KID_BYTES:
        raise CodeMalformedError(f"the kid must be {KID_BYTES} bytes, not {len(envelope.kid)}")
    if len(envelope.signature) != SIGNATURE_BYTES:
        raise CodeMalformedError(f"the signature must be {SIGNATURE_BYTES} bytes, not {len(envelope.signature)}")
    if not envelope.payload:
        raise CodeMalformedError("the payload is empty")
    return Envelope(envelope.payload, envelope.kid, envelope.signature)


def parse_claims(payload: bytes) -> code_pb2.CreditCode:
    """Parse and check the signed claims; unknown fields are kept."""
    claims = code_pb2.CreditCode()
    try:
        claims.ParseFromString(payload)
    except DecodeError:
        raise CodeMalformedError("the payload is not a valid CreditCode message") from None
    if len(claims.code_id) != 16:
        raise CodeMalformedError("the code id must be 16 bytes")
    if not _MIN_CITY <= claims.city <= _MAX_CITY:
        raise CodeMalformedError(f"{claims.city} is not a GB/T 2260 six-digit city code")
    if not 8 <= len(claims.holder) <= 32:
        raise CodeMalformedError("the holder pseudonym must be 8 to 32 bytes")
    if not 1 <= claims.tier <= 6:
        raise CodeMalformedError(f"tier {claims.tier} is not on the alliance ladder")
    if claims.expires_at <= claims.issued_at or claims.issued_at <= 0:
        raise CodeMalformedError("expires_at must come after a positive issued_at")
    if len(claims.band) > 64:
        raise CodeMalformedError("the band label is longer than 64 characters")
    return claims


def encode_code(claims: code_pb2.CreditCode, key: SigningKey) -> str:
    """Serialize, sign the exact payload bytes and wrap as a `CC1:` string."""
    payload = claims.SerializeToString(deterministic=True)
    signature = key.sign(SIGNING_CONTEXT + payload)
    envelope = code_pb2.SignedCreditCode(payload=payload, kid=key.kid, signature=signature)
    return CODE_PREFIX + b45encode(envelope.SerializeToString(deterministic=True))

