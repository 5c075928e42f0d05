"""The signed claims of a code (DESIGN 4): parsed, checked, and what a verified code tells its reader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._envelope import _canonical
from citycredit.core._keys import Algorithm
from citycredit.core._offers import is_city
from citycredit.core._tiers import Tier
from citycredit.core._time import MAX_TIME_S
from citycredit.errors import CodeMalformedError

__all__ = ["HOLDER_BYTES", "MAX_BAND_CHARS", "TIERS", "VerifiedCode", "parse_claims", "read_claims"]

HOLDER_BYTES = 12
MAX_BAND_CHARS = 64
# Raw device keys: Ed25519 32 bytes, P-256 a 33-byte compressed point.
_DEVICE_KEY_BYTES = {Algorithm.ED25519.value: 32, Algorithm.P256.value: 33}
# Tier by proto number: a tuple index is 20 times cheaper than calling the enum on the hot path.
TIERS: tuple[Tier, ...] = (Tier.RESTRICTED, *Tier)


class VerifiedCode(NamedTuple):
    """The claims of a code that passed every check.

    (A named tuple rather than a dataclass: one is made per code verified, and a tuple is made
    several times faster than a frozen dataclass.)
    """

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
    read_claims(payload)
    return code_pb2.CreditCode.FromString(payload)


def read_claims(payload: bytes, kid: bytes = b"") -> tuple[VerifiedCode, tuple[int, bytes] | None]:
    """Parse and check the signed claims: what they say as the `VerifiedCode` a verifier returns once every
    rule holds, and the device key (its `KeyAlgorithm` number and raw public key) when the code has one.

    Each field is read from the message once: this runs for every code verified.
    """
    claims = code_pb2.CreditCode()
    _canonical(claims, payload, "payload")
    city, tier, band = claims.city, claims.tier, claims.band
    issued_at, expires_at, audience = claims.issued_at, claims.expires_at, claims.audience
    code_id, holder = claims.code_id, claims.holder
    if len(code_id) != 16:
        raise CodeMalformedError("the code id must be 16 bytes")
    if not is_city(city):
        raise CodeMalformedError(f"{city} is not a GB/T 2260 division code")
    if len(holder) != HOLDER_BYTES:
        raise CodeMalformedError(f"the holder pseudonym must be {HOLDER_BYTES} bytes")
    if not 1 <= tier <= 6:
        raise CodeMalformedError(f"tier {tier} is not on the alliance ladder")
    if expires_at <= issued_at or issued_at <= 0:
        raise CodeMalformedError("expires_at must come after a positive issued_at")
    if expires_at > MAX_TIME_S:
        raise CodeMalformedError("expires_at is after 9999-12-31T23:59:59Z")
    if len(band) > MAX_BAND_CHARS:
        raise CodeMalformedError(f"the band label is longer than {MAX_BAND_CHARS} characters")
    if audience and not is_city(audience):
        raise CodeMalformedError(f"audience {audience} is not a GB/T 2260 division code")
    device = None
    if claims.HasField("device_key"):
        key = claims.device_key
        device = key.algorithm, key.public_key
        if len(device[1]) != _DEVICE_KEY_BYTES.get(device[0]):
            raise CodeMalformedError("the device key is not a raw Ed25519 (32 bytes) or compressed P-256 "
                                     "(33 bytes) public key")
    return VerifiedCode(city, TIERS[tier], band, issued_at, expires_at, code_id, holder, claims.status_index, kid,
                        claims.policy_version, audience or city, device is not None), device
