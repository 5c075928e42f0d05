"""Issuing codes: the city side of the CC1 format, written once for every issuer.

`Issuer.issue` is the one issuance pipeline: holder pseudonym, claims, signature,
`CC1:` text. The choices around it are core functions too, so that every issuer makes
them alike: `pick_signing_key` (which of the city's keys signs) and `pick_status_index`
(where in the status list the code sits). Randomness (code ids, status indexes) comes
from a `RandomSource` argument: the `secrets` module in production, a seeded one in tests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._envelope import encode_code
from citycredit.core._keys import Algorithm, SigningKey
from citycredit.core._status import MIN_STATUS_LIST_SIZE
from citycredit.core._tiers import Tier
from citycredit.errors import InvalidArgumentError, NotFoundError, UnavailableError

__all__ = [
    "HOLDER_BYTES",
    "MAX_TTL_S",
    "IssuedCode",
    "Issuer",
    "RandomSource",
    "StatusIndexPicker",
    "holder_pseudonym",
    "pick_signing_key",
    "pick_status_index",
]

HOLDER_BYTES = 16
MAX_TTL_S = 5 * 366 * 86400  # printed long-lived codes: at most about five years
_RANDOM_TRIES = 64


class RandomSource(Protocol):
    """What issuance draws on; the `secrets` module is one."""

    def randbelow(self, exclusive_upper_bound: int) -> int: ...

    def token_bytes(self, nbytes: int | None = None) -> bytes: ...


# (size of the list, is this index free?, how many are not free, randomness) -> index
StatusIndexPicker = Callable[[int, Callable[[int], bool], int, RandomSource], int]


def holder_pseudonym(secret: bytes, holder_ref: str) -> bytes:
    """HMAC-SHA256 of the holder's identity under the city's secret, truncated to 16 bytes."""
    if len(secret) < 16:
        raise InvalidArgumentError("the holder secret must be at least 16 bytes")
    if not holder_ref:
        raise InvalidArgumentError("the holder reference is empty")
    return hmac.new(secret, b"citycredit-holder/1\x00" + holder_ref.encode(), hashlib.sha256).digest()[:HOLDER_BYTES]


def pick_status_index(size: int, is_free: Callable[[int], bool], used: int, rng: RandomSource = secrets) -> int:
    """A uniformly random index among the free ones of a list of `size` entries, `used` of them not free.

    Random draws find one quickly while the list is mostly free; past `_RANDOM_TRIES` misses
    the k-th free index is taken for a random k, so a nearly full list still gets a uniform
    pick and a full one a clear error, never an endless loop.
    """
    free = size - used
    if free <= 0:
        raise UnavailableError(f"the status list's {size} entries are all in use; enlarge it")
    for _ in range(_RANDOM_TRIES):
        index = rng.randbelow(size)
        if is_free(index):
            return index
    k = rng.randbelow(free)
    for index in range(size):
        if is_free(index):
            if k == 0:
                return index
            k -= 1
    raise UnavailableError("the status list has fewer free entries than counted")


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A city key whose private half the issuer holds, with its window start (seconds)."""

    key: SigningKey
    not_before_s: int
    active: bool = True


def pick_signing_key(keys: Iterable[HeldKey], algorithm: Algorithm | None = None) -> SigningKey:
    """The newest active key (of `algorithm` when given; Ed25519 first otherwise) the issuer holds."""
    usable = [k for k in keys if k.active and (algorithm is None or k.key.algorithm is algorithm)]
    if not usable:
        wanted = f" {algorithm.slug}" if algorithm else ""
        raise NotFoundError(f"no active{wanted} signing key is held for this city")
    usable.sort(key=lambda k: (k.key.algorithm is Algorithm.ED25519, k.not_before_s))
    return usable[-1].key


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
    """Signs codes for one city with one key. The clock, the status index and randomness come from the caller."""

    city: int
    key: SigningKey
    holder_secret: bytes = field(repr=False)
    policy_version: int = 0
    status_list_size: int = MIN_STATUS_LIST_SIZE

    def issue(self, *, holder_ref: str, tier: Tier, band: str, now_s: int, ttl_s: int = 300,
              status_index: int | None = None, rng: RandomSource = secrets) -> IssuedCode:
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidArgumentError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds")
        if status_index is None:
            status_index = rng.randbelow(self.status_list_size)
        elif not 0 <= status_index < self.status_list_size:
            raise InvalidArgumentError(f"status index {status_index} is outside the list")
        holder = holder_pseudonym(self.holder_secret, holder_ref)
        claims = code_pb2.CreditCode(
            code_id=rng.token_bytes(16), city=self.city, holder=holder, tier=Tier(tier).proto, band=band,
            issued_at=now_s, expires_at=now_s + ttl_s, status_index=status_index,
            policy_version=self.policy_version)
        return IssuedCode(code=encode_code(claims, self.key), city=self.city, tier=Tier(tier), band=band,
                          code_id=claims.code_id, holder=holder, status_index=status_index,
                          issued_at_s=now_s, expires_at_s=now_s + ttl_s)
