"""The signed claims of a code (DESIGN 4): parsed, checked, and what a verified code tells its reader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._envelope import _canonical
from citycredit.core._keys import Algorithm
from citycredit.core._offers import is_city
from citycredit.core._tiers import Tier
from citycredit.core._time import MAX_TIME_S
from citycredit.errors import CodeMalformedError

__all__ = ["HOLDER_BYTES", "MAX_BAND_CHARS", "TIERS", "VerifiedCode", "parse_claims"]

HOLDER_BYTES = 16
MAX_BAND_CHARS = 64
# Raw device keys: Ed25519 32 bytes, P-256 a 33-byte compressed point.
_DEVICE_KEY_BYTES = {Algorithm.ED25519.value: 32, Algorithm.P256.value: 33}
# Tier by proto number: a tuple index is 20 times cheaper than calling the enum on the hot path.
TIERS: tuple[Tier, ...] = (Tier.RESTRICTED, *Tier)


@dataclass(frozen=True, slots=True)
class VerifiedCode:
    """The claims of a code that passed every check."""

    city: int
    tier: Tier
    band: str
    issued_at_s: int
    expires_at_s: int
    code_id: bytes
    holder: bytes
    status_index: int
    kid: bytes
    policy_version: int
    # The host city the code is for (its issuing city when the code names none).
    audience: int = 0
    # True when the code is bound to the holder's device (it was verified inside a presentation).
    device_bound: bool = False

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.issued_at_s, UTC)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at_s, UTC)


def parse_claims(payload: bytes) -> code_pb2.CreditCode:
    """Parse and check the signed claims (canonical encoding; unknown fields are kept after the known ones)."""
    claims = code_pb2.CreditCode()
    _canonical(claims, payload, "payload")
    if len(claims.code_id) != 16:
        raise CodeMalformedError("the code id must be 16 bytes")
    if not is_city(claims.city):
        raise CodeMalformedError(f"{claims.city} is not a GB/T 2260 division code")
    if len(claims.holder) != HOLDER_BYTES:
        raise CodeMalformedError(f"the holder pseudonym must be {HOLDER_BYTES} bytes")
    if not 1 <= claims.tier <= 6:
        raise CodeMalformedError(f"tier {claims.tier} is not on the alliance ladder")
    if claims.expires_at <= claims.issued_at or claims.issued_at <= 0:
        raise CodeMalformedError("expires_at must come after a positive issued_at")
    if claims.expires_at > MAX_TIME_S:
        raise CodeMalformedError("expires_at is after 9999-12-31T23:59:59Z")
    if len(claims.band) > MAX_BAND_CHARS:
        raise CodeMalformedError(f"the band label is longer than {MAX_BAND_CHARS} characters")
    if claims.audience and not is_city(claims.audience):
        raise CodeMalformedError(f"audience {claims.audience} is not a GB/T 2260 division code")
    if claims.HasField("device_key"):
        size = _DEVICE_KEY_BYTES.get(claims.device_key.algorithm)
        if size is None or len(claims.device_key.public_key) != size:
            raise CodeMalformedError("the device key is not a raw Ed25519 (32 bytes) or compressed P-256 "
                                     "(33 bytes) public key")
    return claims
