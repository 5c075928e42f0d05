"""Building codes, envelopes and presentations by hand from an in-memory alliance (real keys, real signatures)."""

from __future__ import annotations

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import (
    CODE_PREFIX,
    PRESENTATION_PREFIX,
    SIGNING_CONTEXT,
    Algorithm,
    Signer,
    b45decode,
    b45encode,
    presentation_message,
)
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

__all__ = ["claims", "envelope", "presentation", "sign_payload", "wrap"]


def claims(city: int = 330100, **fields: object) -> code_pb2.CreditCode:
    """Plausible claims of a live code (each field can be overridden)."""
    values: dict[str, object] = {"code_id": bytes(range(16)), "city": city, "holder": bytes(range(16, 28)),
                                 "tier": 4, "band": "钱江分·良好", "issued_at": NOW_S - 60, "expires_at": NOW_S + 240,
                                 "status_index": 4242, "policy_version": 1, "audience": city}
    values.update(fields)
    return code_pb2.CreditCode(**values)  # type: ignore[arg-type]


def envelope(code: str) -> code_pb2.SignedCreditCode:
    """The envelope of a `CC1:` string."""
    return code_pb2.SignedCreditCode.FromString(b45decode(code[4:]))


def wrap(raw_envelope: bytes) -> str:
    return CODE_PREFIX + b45encode(raw_envelope)


def sign_payload(alliance: InMemoryAlliance, payload: bytes, *, city: int = 330100,
                 algorithm: Algorithm = Algorithm.ED25519) -> code_pb2.SignedCreditCode:
    """An envelope over `payload` exactly as given (any encoding), signed by the city's key."""
    key = alliance.keys[(city, algorithm)]
    return code_pb2.SignedCreditCode(payload=payload, kid=key.kid, signature=key.sign(SIGNING_CONTEXT + payload))


def presentation(raw_envelope: bytes, device: Signer, presented_at_s: int, *,
                 signature: bytes | None = None) -> str:
    """A `CP1:` of an envelope, signed by `device` (or carrying `signature` as given)."""
    if signature is None:
        signature = device.sign(presentation_message(raw_envelope, presented_at_s))
    message = code_pb2.Presentation(code=raw_envelope, presented_at=presented_at_s, signature=signature)
    return PRESENTATION_PREFIX + b45encode(message.SerializeToString(deterministic=True))
