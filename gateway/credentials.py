"""Who may call: merchant keys and city-office tokens, each vouched for by a city, and the principal a token names.

The gateway never mints a credential. Every one exists only under a grant its city signed
(`open_merchant_grant`): a merchant's with one of the city's status keys, the office's own
with the city's authority key. The database keeps the SHA-256 of each token (enough for
256-bit random secrets) and the grant, so anyone can check that every credential a
redemption names was granted by a city; a grant signed again with `revoked_at` withdraws
the credential, and a withdrawn credential never comes back.

Credentials are looked up once per `auth_cache_s` per replica: a revocation through this
replica bites at once, through another within `auth_cache_s`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import VerifyingKey, open_merchant_grant
from citycredit.errors import (
    BundleError,
    InvalidArgumentError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from citycredit.gateway.db import Database
from citycredit.gateway.models import CredentialRow
from sqlmodel import Session, select

__all__ = ["CITY_OFFICE", "MERCHANT", "CredentialStore", "Principal", "hash_token"]

CITY_OFFICE = "city_office"
MERCHANT = "merchant"
_CACHE_ENTRIES = 10_000


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a credential id (the log's actor), its kind and its scope."""

    id: str
    kind: str
    city: int
    # The venues a merchant key may redeem at; empty: every venue of its city.
    venues: tuple[str, ...] = ()
    merchant_id: str = ""

    def require_city_office(self, city: int) -> None:
        """Only a city office of `city` may act for it."""
        if self.kind != CITY_OFFICE:
            raise PermissionDeniedError("this call needs city-office credentials, not a merchant key")
        if self.city != city:
            raise PermissionDeniedError(f"credentials of {self.city:06d} may not act for {city:06d}")

    def require_merchant(self) -> None:
        if self.kind != MERCHANT:
            raise PermissionDeniedError("this call needs a merchant API key")

    def may_redeem_at(self, city: int, venue: str) -> None:
        """A merchant key redeems only its own city's offers, and only at its venues when it names some."""
        self.require_merchant()
        if city != self.city:
            raise PermissionDeniedError(f"a merchant key of {self.city:06d} cannot redeem offers of {city:06d}")
        if self.venues and venue not in self.venues:
            raise PermissionDeniedError(f"this merchant key may redeem at {', '.join(self.venues)}, not at "
                                        f"{venue or 'a city-wide offer'}")


def _issued_at(signed: bytes) -> int:
    part = trust_pb2.SignedPart.FromString(signed)
    return int(trust_pb2.MerchantGrant.FromString(part.body).issued_at)


def _principal(row: CredentialRow) -> Principal:
    venues = tuple(v for v in row.venues.split("\n") if v)
    return Principal(id=row.id, kind=row.kind, city=row.city, venues=venues, merchant_id=row.merchant_id)


class CredentialStore:
    """Credential look-ups (cached per replica) and the grants cities upload."""

    def __init__(self, db: Database, *, cache_s: float = 1.0) -> None:
        self.db = db
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal:
        """The principal of a live credential; refuses unknown and revoked tokens alike."""
        token_hash = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(token_hash)
        if cached is not None and now - cached[0] < self.cache_s:
            principal = cached[1]
        else:
            with self.db.read() as session:
                row = session.exec(select(CredentialRow).where(CredentialRow.token_hash == token_hash)).first()
            principal = _principal(row) if row is not None and row.revoked_at_s is None else None
            with self._lock:
                if len(self._cache) >= _CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[token_hash] = (now, principal)
        if principal is None:
            raise UnauthenticatedError("unknown or revoked credentials")
        return principal

    def forget(self, credential_id: str) -> None:
        with self._lock:
            for key, (_at, principal) in list(self._cache.items()):
                if principal is not None and principal.id == credential_id:
                    del self._cache[key]

    # --- what cities vouch for ----------------------------------------------------------------------

    def accept_grant(self, session: Session, data: bytes, *, status_keys: Mapping[int, Mapping[bytes, VerifyingKey]],
                     authorities: Mapping[int, VerifyingKey], city: int | None,
                     now_s: int) -> tuple[CredentialRow, bool]:
        """Store a grant its city signed (or its revocation); returns (row, whether it changed).

        Refuses a grant not signed by its city's status key, one for another city than `city`
        (the uploader's), and any attempt to bring a revoked credential back or move it.
        """
        try:
            grant = open_merchant_grant(data, status_keys=status_keys, authorities=authorities)
        except BundleError as exc:
            raise PermissionDeniedError(f"the grant is refused: {exc.message}") from None
        if city is not None and grant.city != city:
            raise PermissionDeniedError(f"a grant of {grant.city:06d} cannot be uploaded for {city:06d}")
        if not grant.credential_id or len(grant.credential_id) > 64:
            raise InvalidArgumentError("a grant names a credential id of 1 to 64 characters")
        token_hash = grant.token_sha256.hex()
        row = session.get(CredentialRow, grant.credential_id)
        revoked = grant.revoked_at or None
        if row is None:
            clash = session.exec(select(CredentialRow).where(CredentialRow.token_hash == token_hash)).first()
            if clash is not None:
                raise PermissionDeniedError("another credential already has this token")
            row = CredentialRow(id=grant.credential_id, kind=CITY_OFFICE if grant.office else MERCHANT, city=grant.city,
                                venues="\n".join(grant.venues),
                                merchant_id=grant.merchant_id, label=grant.name, token_hash=token_hash,
                                created_at_s=now_s, revoked_at_s=revoked, grant=data)
            session.add(row)
            return row, True
        kind = CITY_OFFICE if grant.office else MERCHANT
        if row.kind != kind or row.city != grant.city or row.token_hash != token_hash:
            raise PermissionDeniedError(f"credential {grant.credential_id!r} exists with another city or token")
        if row.revoked_at_s is not None:
            return row, False  # withdrawn for good: an older grant replayed changes nothing
        if row.grant == data or (row.grant is not None and _issued_at(row.grant) > grant.issued_at):
            return row, False  # the same grant again, or an older one
        row.venues, row.label, row.merchant_id = "\n".join(grant.venues), grant.name, grant.merchant_id
        row.revoked_at_s, row.grant = revoked, data
        session.add(row)
        return row, True

    def merchants(self, city: int) -> list[CredentialRow]:
        with self.db.read() as session:
            return list(session.exec(select(CredentialRow).where(CredentialRow.city == city,
                                                                 CredentialRow.kind == MERCHANT)).all())
