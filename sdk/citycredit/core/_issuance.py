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
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import serialization

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core._claims import HOLDER_BYTES
from citycredit.core._envelope import MAX_PRESENTATION_CHARS, SIGNATURE_BYTES, encode_code, presentation_chars
from citycredit.core._keys import Algorithm, Signer, VerifyingKey
from citycredit.core._offers import check_city
from citycredit.core._status import MIN_STATUS_LIST_SIZE
from citycredit.core._tiers import Tier
from citycredit.errors import InvalidArgumentError, NotFoundError, UnavailableError

__all__ = [
    "MAX_TTL_S",
    "IssuedCode",
    "Issuer",
    "Mac",
    "RandomSource",
    "StatusIndexPicker",
    "device_key",
    "hmac_sha256",
    "holder_pseudonym",
    "pick_signing_key",
    "pick_status_index",
]

MAX_TTL_S = 5 * 366 * 86400  # printed long-lived codes: at most about five years
_RANDOM_TRIES = 64
_PARENTHETICAL = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")


class RandomSource(Protocol):
    """What issuance draws on; the `secrets` module is one."""

    def randbelow(self, exclusive_upper_bound: int) -> int: ...

    def token_bytes(self, nbytes: int | None = None) -> bytes: ...


# (size of the list, is this index free?, how many are not free, randomness) -> index
StatusIndexPicker = Callable[[int, Callable[[int], bool], int, RandomSource], int]
# HMAC-SHA256 under the city's pseudonym secret (which may never leave a key store or HSM).
Mac = Callable[[bytes], bytes]


def hmac_sha256(secret: bytes) -> Mac:
    """A `Mac` over a secret held in memory (tests, the in-memory alliance)."""
    if len(secret) < 16:
        raise InvalidArgumentError("the pseudonym secret must be at least 16 bytes")
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def holder_pseudonym(mac: Mac, audience: int, holder_ref: str) -> bytes:
    """The holder's pseudonym for one host city: HMAC over the audience and the identity, 12 bytes.

    Pairwise: two audiences give unrelated pseudonyms (merchants of two cities cannot link
    one holder's visits), while one audience always gives the same (quotas there still count).
    """
    check_city(audience, "the audience")
    if not holder_ref:
        raise InvalidArgumentError("the holder reference is empty")
    return mac(b"citycredit-holder/2\x00" + f"{audience:06d}".encode() + b"\x00" + holder_ref.encode())[:HOLDER_BYTES]


def device_key(key: Signer | VerifyingKey) -> code_pb2.DeviceKey:
    """The raw form a code carries of a device's public key (Ed25519 32 bytes, P-256 compressed 33 bytes)."""
    # Checked first: `cryptography` cannot even load an SM2 key, and its error is not the catalogue's.
    if key.algorithm not in (Algorithm.ED25519, Algorithm.P256):
        raise InvalidArgumentError(f"a device key is Ed25519 or P-256, not {key.algorithm.slug}")
    public = serialization.load_der_public_key(key.spki)
    if key.algorithm is Algorithm.ED25519:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return code_pb2.DeviceKey(algorithm=key.algorithm.proto, public_key=raw)


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

    key: Signer
    not_before_s: int
    active: bool = True


def pick_signing_key(keys: Iterable[HeldKey], algorithm: Algorithm | None = None) -> Signer:
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
    audience: int
    device_bound: bool = False


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """Signs codes for one city with one key. The clock, the status index and randomness come from the caller."""

    city: int
    key: Signer
    pseudonym: Mac = field(repr=False)
    policy_version: int = 0
    status_list_size: int = MIN_STATUS_LIST_SIZE

    def issue(self, *, holder_ref: str, tier: Tier, band: str, now_s: int, ttl_s: int = 300,
              status_index: int | None = None, audience: int | None = None,
              device_key: code_pb2.DeviceKey | None = None, rng: RandomSource = secrets) -> IssuedCode:
        """Sign a code for `holder_ref` for use in `audience` (the home city by default).

        With `device_key` the code is bound to the holder's device: it is valid only inside
        the `CP1:` presentations that device makes, which fit a version-12 QR at M: a band label
        too long for that (more than 21 UTF-8 bytes can be) is shortened in the code, first by a
        trailing parenthetical, then from its end (`IssuedCode.band` is what the code carries; the
        label is for display only, the tier is what counts).
        """
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidArgumentError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds")
        if status_index is None:
            status_index = rng.randbelow(self.status_list_size)
        elif not 0 <= status_index < self.status_list_size:
            raise InvalidArgumentError(f"status index {status_index} is outside the list")
        audience = self.city if audience is None else audience
        holder = holder_pseudonym(self.pseudonym, audience, holder_ref)
        claims = code_pb2.CreditCode(
            code_id=rng.token_bytes(16), city=self.city, holder=holder, tier=Tier(tier).proto, band=band,
            issued_at=now_s, expires_at=now_s + ttl_s, status_index=status_index,
            policy_version=self.policy_version, audience=audience)
        if device_key is not None:
            claims.device_key.CopyFrom(device_key)
            self._fit_band(claims)
        return IssuedCode(code=encode_code(claims, self.key), city=self.city, tier=Tier(tier), band=claims.band,
                          code_id=claims.code_id, holder=holder, status_index=status_index,
                          issued_at_s=now_s, expires_at_s=now_s + ttl_s, audience=audience,
                          device_bound=device_key is not None)

    def _fit_band(self, claims: code_pb2.CreditCode) -> None:
        """Shorten the band label of device-bound `claims` until a presentation of the code fits a version-12 QR."""

        def fits() -> bool:
            envelope = code_pb2.SignedCreditCode(payload=claims.SerializeToString(deterministic=True),
                                                 kid=self.key.kid, signature=bytes(SIGNATURE_BYTES))
            chars = presentation_chars(envelope.SerializeToString(deterministic=True), claims.expires_at)
            return chars <= MAX_PRESENTATION_CHARS

        if fits():
            return
        claims.band = _PARENTHETICAL.sub("", claims.band)
        while claims.band and not fits():
            claims.band = claims.band[:-1]
