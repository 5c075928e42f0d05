"""Code verification: the pure core every surface wraps (no I/O, the clock is an argument)."""

from __future__ import annotations

from citycredit.core._claims import TIERS, VerifiedCode, parse_claims
from citycredit.core._envelope import SIGNING_CONTEXT, decode_envelope
from citycredit.core._trust import TrustSnapshot
from citycredit.errors import (
    BundleStaleError,
    CityMismatchError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    KeyNotValidError,
    KeyUnknownError,
    SignatureInvalidError,
)

__all__ = ["VerifiedCode", "verify_code"]

def verify_code(snapshot: TrustSnapshot, code: str | bytes, *, now_s: int, grace_s: int) -> VerifiedCode:
    """Decode, authenticate and check a code at `now_s`; raises a CodeError or BundleStaleError."""
    if now_s > snapshot.expires_at_s + grace_s:
        raise BundleStaleError(
            f"the trust bundle (version {snapshot.version}) expired and its offline grace is over; refresh it")
    envelope = decode_envelope(code)
    candidates = snapshot.keys_by_kid.get(envelope.kid)
    if not candidates:
        raise KeyUnknownError(f"no key with kid {envelope.kid.hex()} in trust bundle version {snapshot.version}")
    signed = SIGNING_CONTEXT + envelope.payload
    for city_key in candidates:  # kids may collide: try each
        if city_key.key.verify(envelope.signature, signed):
            break
    else:
        raise SignatureInvalidError(f"the signature does not verify under key {envelope.kid.hex()}")
    claims = parse_claims(envelope.payload)
    if claims.city != city_key.city:
        raise CityMismatchError(f"key {envelope.kid.hex()} belongs to {city_key.city}, not {claims.city}")
    if not city_key.valid_at_issue(claims.issued_at):
        raise KeyNotValidError(f"key {envelope.kid.hex()} was not valid for codes issued at {claims.issued_at}")
    if now_s < claims.issued_at:
        raise CodeNotYetValidError(f"the code is valid from {claims.issued_at}, it is now {now_s}")
    if now_s >= claims.expires_at:
        raise CodeExpiredError(f"the code expired at {claims.expires_at}, it is now {now_s}")
    bits = snapshot.status_bits(claims.city)
    if bits is not None and bits.is_revoked(claims.status_index):
        raise CodeRevokedError(f"status index {claims.status_index} of city {claims.city} is revoked")
    cutoff = snapshot.holder_cutoffs(claims.city).get(claims.holder)
    if cutoff is not None and claims.issued_at < cutoff:
        raise CodeRevokedError("the holder's codes issued before a downgrade are revoked")
    return VerifiedCode(
        city=claims.city,
        tier=TIERS[claims.tier],  # parse_claims checked 1 <= tier <= 6
        band=claims.band,
        issued_at_s=claims.issued_at,
        expires_at_s=claims.expires_at,
        code_id=claims.code_id,
        holder=claims.holder,
        status_index=claims.status_index,
        kid=envelope.kid,
        policy_version=claims.policy_version,
    )
