"""Issuing codes: the city side of the CC1 format."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit._internal.codec import encode_code
from citycredit._internal.keys import SigningKey
from citycredit._internal.statuslist import MIN_STATUS_LIST_SIZE
from citycredit._internal.tiers import Tier
from citycredit.errors import InvalidArgumentError

__all__ = ["IssuedCode", "Issuer", "holder_pseudonym"]

HOLDER_BYTES = 16
MAX_TTL_S = 5 * 366 * 86400  # printed long-lived codes: at most about five years


def holder_pseudonym(secret: bytes, holder_ref: str) -> bytes:
    """HMAC-SHA256 of the holder's identity under the city's secret, truncated to 16 bytes."""
    if len(secret) < 16:
        raise InvalidArgumentError("the holder secret must be at least 16 bytes")
    if not holder_ref:
        raise InvalidArgumentError("the holder reference is empty")
    return hmac.new(secret, b"citycredit-holder/1\x00" + holder_ref.encode(), hashlib.sha256).digest()[:HOLDER_BYTES]


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    city: int
    tier: Tier
    band: str
    code_id: bytes
    holder: bytes
    status_index: int
    issued_at_s: int
    expires_at_s: int


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """Signs codes for one city. The clock and the status index come from the caller."""

    city: int
    key: SigningKey
    holder_secret: bytes
    policy_version: int = 0
    status_list_size: int = MIN_STATUS_LIST_SIZE

    def issue(self, *, holder_ref: str, tier: Tier, band: str, now_s: int, ttl_s: int = 300,
              status_index: int | None = None) -> IssuedCode:
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidArgumentError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds")
        if status_index is None:
            status_index = secrets.randbelow(self.status_list_size)
        elif not 0 <= status_index < self.status_list_size:
            raise InvalidArgumentError(f"status index {status_index} is outside the list")
        holder = holder_pseudonym(self.holder_secret, holder_ref)
        claims = code_pb2.CreditCode(
            code_id=secrets.token_bytes(16), city=self.city, holder=holder, tier=Tier(tier).proto, band=band,
            issued_at=now_s, expires_at=now_s + ttl_s, status_index=status_index,
            policy_version=self.policy_version)
        return IssuedCode(code=encode_code(claims, self.key), city=self.city, tier=Tier(tier), band=band,
                          code_id=claims.code_id, holder=holder, status_index=status_index,
                          issued_at_s=now_s, expires_at_s=now_s + ttl_s)
