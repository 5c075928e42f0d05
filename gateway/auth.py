"""Credentials: city-office tokens and merchant API keys, and per-key rate limits.

Tokens are 256-bit random strings shown once (`ccs_…` for city offices, `ccm_…`
for merchants); the database keeps only their SHA-256, which is enough for
high-entropy secrets. A credential is scoped to one city (and a merchant key
optionally to one venue) and can be revoked. Rate limits are token buckets held
in the process, so each replica enforces its own share.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from citycredit.errors import PermissionDeniedError, RateLimitedError, UnauthenticatedError

__all__ = [
    "CITY_OFFICE",
    "MERCHANT",
    "Principal",
    "RateLimiter",
    "bearer_token",
    "hash_token",
    "new_credential_id",
    "new_token",
]

CITY_OFFICE = "city_office"
MERCHANT = "merchant"
_PREFIX = {CITY_OFFICE: "ccs_", MERCHANT: "ccm_"}
MAX_TOKEN_CHARS = 200


def new_token(kind: str) -> str:
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def new_credential_id(kind: str) -> str:
    return ("city-" if kind == CITY_OFFICE else "mkey-") + secrets.token_hex(6)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer …` value; refuses anything else."""
    if not header:
        raise UnauthenticatedError("credentials required: send Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError("use Authorization: Bearer <token>")
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise UnauthenticatedError("unknown or revoked credentials")
    return token


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a credential id (the audit actor), its kind and its scope."""

    id: str
    kind: str
    city: int
    venue: str | None = None

    def require_city_office(self, city: int) -> None:
        """Only a city office of `city` may act on it."""
        if self.kind != CITY_OFFICE:
            raise PermissionDeniedError("this call needs city-office credentials, not a merchant key")
        if self.city != city:
            raise PermissionDeniedError(f"credentials of city {self.city} may not act for city {city}")

    def require_merchant(self) -> None:
        if self.kind != MERCHANT:
            raise PermissionDeniedError("this call needs a merchant API key")


class RateLimiter:
    """A token bucket per credential id (per replica)."""

    def __init__(self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token or raise RateLimitedError with how long to wait."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait_s = (1.0 - tokens) / self.rate_per_s
                err = RateLimitedError(f"rate limit of {self.rate_per_s:g}/s for this key; retry in {wait_s:.2f} s")
                err.retry_after_s = wait_s  # type: ignore[attr-defined]
                raise err
            self._buckets[key] = (tokens - 1.0, now)
