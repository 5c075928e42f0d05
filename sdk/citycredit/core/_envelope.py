"""The CC1 wire format (DESIGN 4): `CC1:` + Base45(SignedCreditCode)."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._base45 import b45decode, b45encode
from citycredit.core._keys import SigningKey
from citycredit.errors import CodeBase45Error, CodeMalformedError, CodePrefixError, CodeTooLongError

__all__ = [
    "CODE_PREFIX",
    "MAX_CODE_CHARS",
    "SIGNING_CONTEXT",
    "Envelope",
    "decode_envelope",
    "encode_code",
]

CODE_PREFIX = "CC1:"
MAX_CODE_CHARS = 1024
SIGNING_CONTEXT = b"CC1\x00"
KID_BYTES = 8
SIGNATURE_BYTES = 64


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


def encode_code(claims: code_pb2.CreditCode, key: SigningKey) -> str:
    """Serialize, sign the exact payload bytes and wrap as a `CC1:` string."""
    payload = claims.SerializeToString(deterministic=True)
    signature = key.sign(SIGNING_CONTEXT + payload)
    envelope = code_pb2.SignedCreditCode(payload=payload, kid=key.kid, signature=signature)
    return CODE_PREFIX + b45encode(envelope.SerializeToString(deterministic=True))

