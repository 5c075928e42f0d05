"""The trust bundle: signing by m-of-n governance keys, and opening it into a snapshot.

Opening follows the TUF threat model: the client pins a `TrustAnchor`
(governance keys and threshold), refuses fewer than `threshold` distinct valid
signatures, refuses a version lower than one it accepted (rollback) or a
different body under an accepted version (fork), and refuses a bundle expired
beyond its offline grace. A new governance set in the body must be signed by
the thresholds of both the pinned set and the new one before it replaces the
anchor.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.core._eligibility import Catalogue
from citycredit.core._keys import Algorithm, SigningKey, VerifyingKey, kid_for_spki
from citycredit.core._offers import Agreement, Offer
from citycredit.core._status import StatusBits
from citycredit.core._wire import from_proto
from citycredit.errors import (
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
    CityCreditError,
)

__all__ = [
    "BUNDLE_CONTEXT",
    "AcceptedBundle",
    "CityKey",
    "TrustAnchor",
    "TrustSnapshot",
    "open_bundle",
    "sign_bundle",
]

BUNDLE_CONTEXT = b"CCB1\x00"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TrustAnchor:
    """The governance keys and threshold a client pins (TUF's root of trust)."""

    threshold: int
    keys: tuple[VerifyingKey, ...]

    def __post_init__(self) -> None:
        kids = {k.kid for k in self.keys}
        if len(kids) != len(self.keys):
            raise BundleMalformedError("governance keys must be distinct")
        if not 1 <= self.threshold <= len(self.keys):
            raise BundleMalformedError(
                f"threshold {self.threshold} is impossible with {len(self.keys)} governance keys")

    @classmethod
    def from_proto(cls, governance: bundle_pb2.Governance) -> TrustAnchor:
        keys = []
        for key in governance.keys:
            try:
                alg = Algorithm(key.algorithm)
            except ValueError:
                raise BundleMalformedError(f"unknown governance key algorithm {key.algorithm}") from None
            keys.append(_load_key(alg, key.spki, key.kid))
        return cls(threshold=governance.threshold, keys=tuple(keys))

    def to_proto(self) -> bundle_pb2.Governance:
        return bundle_pb2.Governance(
            threshold=self.threshold,
            keys=[bundle_pb2.PublicKey(kid=k.kid, algorithm=k.algorithm.proto, spki=k.spki,
                                       status=bundle_pb2.KEY_STATUS_ACTIVE) for k in self.keys])

    def to_json(self) -> str:
        return json.dumps({
            "format": "citycredit-anchor/1",
            "threshold": self.threshold,
            "keys": [{"algorithm": k.algorithm.slug, "kid": k.kid.hex(),
                      "spki": base64.b64encode(k.spki).decode()} for k in self.keys],
        }, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> TrustAnchor:
        try:
            doc = json.loads(text)
            keys = tuple(_load_key(Algorithm.from_slug(k["algorithm"]), base64.b64decode(k["spki"], validate=True),
                                   bytes.fromhex(k["kid"]) if "kid" in k else None) for k in doc["keys"])
            threshold = doc["threshold"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleMalformedError(f"the trust anchor is malformed: {exc}") from None
        except CityCreditError as exc:
            raise BundleMalformedError(f"the trust anchor is malformed: {exc.message}") from None
        if not isinstance(threshold, int):
            raise BundleMalformedError("the trust anchor's threshold must be an integer")
        return cls(threshold=threshold, keys=keys)

    def same_keys(self, other: TrustAnchor) -> bool:
        return self.threshold == other.threshold and {k.kid for k in self.keys} == {k.kid for k in other.keys}


@dataclass(frozen=True)
class AcceptedBundle:
    """What a client remembers of the last bundle it accepted (rollback protection)."""

    version: int
    digest: bytes


@dataclass(eq=False)
class CityKey:
    """A city signing key from the bundle; the verifier is built on first use."""

    city: int
    kid: bytes
    algorithm: Algorithm
    spki: bytes
    not_before_s: int
    not_after_s: int
    status: int
    revoked_at_s: int
    _key: VerifyingKey | None = field(default=None, repr=False)

    @property
    def key(self) -> VerifyingKey:
        if self._key is None:
            self._key = _load_key(self.algorithm, self.spki, None)  # kid checked when the snapshot was built
        return self._key

    def valid_at_issue(self, issued_at_s: int) -> bool:
        if not self.not_before_s <= issued_at_s < (self.not_after_s or 1 << 62):
            return False
        return not (self.status == bundle_pb2.KEY_STATUS_REVOKED and issued_at_s >= self.revoked_at_s)


class TrustSnapshot:
    """A verified bundle, indexed for the verification hot path. Pure data: no I/O, no clock."""

    def __init__(self, body: bundle_pb2.BundleBody, digest: bytes, anchor: TrustAnchor) -> None:
        self.body = body
        self.digest = digest
        self.anchor = anchor
        self.version: int = body.version
        self.issued_at_s: int = body.issued_at
        self.expires_at_s: int = body.expires_at
        self.keys_by_kid: dict[bytes, list[CityKey]] = {}
        self.cities: dict[int, bundle_pb2.MemberCity] = {}
        self._status: dict[int, StatusBits] = {}
        self._holders: dict[int, dict[bytes, int]] = {}
        self._catalogue: Catalogue | None = None
        for city in body.cities:
            if not 100000 <= city.city <= 999999 or city.city in self.cities:
                raise BundleMalformedError(f"city code {city.city} is invalid or listed twice")
            self.cities[city.city] = city
            for key in city.keys:
                if kid_for_spki(key.spki) != key.kid:
                    raise BundleMalformedError(f"city {city.city}: kid {key.kid.hex()} does not match its key")
                try:
                    alg = Algorithm(key.algorithm)
                except ValueError:
                    raise BundleMalformedError(f"city {city.city}: unknown key algorithm {key.algorithm}") from None
                self.keys_by_kid.setdefault(key.kid, []).append(CityKey(
                    city=city.city, kid=key.kid, algorithm=alg, spki=key.spki, not_before_s=key.not_before,
                    not_after_s=key.not_after, status=key.status, revoked_at_s=key.revoked_at))

    @property
    def accepted(self) -> AcceptedBundle:
        return AcceptedBundle(self.version, self.digest)

    def status_bits(self, city: int) -> StatusBits | None:
        """The city's status list, inflated on first use (a bundle may list thousands of cities)."""
        bits = self._status.get(city)
        if bits is None:
            member = self.cities.get(city)
            if member is None or not member.HasField("status_list"):
                return None
            bits = self._status[city] = StatusBits.decompress(member.status_list.size,
                                                              member.status_list.bits_zlib)
        return bits

    @property
    def catalogue(self) -> Catalogue:
        """The bundle's offers and agreements, indexed for decisions (built on first use).

        Only member cities with a tier policy have rules: their thresholds mean something on the ladder.
        """
        if self._catalogue is None:
            try:
                self._catalogue = Catalogue.build(
                    offers=[from_proto(Offer, o) for o in self.body.offers],
                    agreements=[from_proto(Agreement, a) for a in self.body.agreements],
                    members=[c.city for c in self.body.cities if c.HasField("tier_policy")])
            except CityCreditError as exc:
                raise BundleMalformedError(f"the bundle's offers or agreements are invalid: {exc.message}") from None
        return self._catalogue

    def holder_cutoffs(self, city: int) -> dict[bytes, int]:
        cutoffs = self._holders.get(city)
        if cutoffs is None:
            member = self.cities.get(city)
            cutoffs = {} if member is None else {h.holder: h.cutoff for h in member.holder_revocations}
            self._holders[city] = cutoffs
        return cutoffs

    def city_by_slug(self, slug: str) -> int | None:
        for code, member in self.cities.items():
            if member.slug == slug:
                return code
        return None


def _load_key(alg: Algorithm, spki: bytes, kid: bytes | None) -> VerifyingKey:
    try:
        key = VerifyingKey(algorithm=alg, spki=spki)
    except CityCreditError as exc:
        raise BundleMalformedError(exc.message) from None
    if kid is not None and key.kid != kid:
        raise BundleMalformedError(f"kid {kid.hex()} does not match its key")
    return key


def sign_bundle(body: bundle_pb2.BundleBody, signers: Sequence[SigningKey]) -> bytes:
    """Serialize the body once and sign exactly those bytes with each governance key."""
    data = body.SerializeToString(deterministic=True)
    bundle = bundle_pb2.TrustBundle(body=data)
    for key in signers:
        bundle.signatures.add(kid=key.kid, signature=key.sign(BUNDLE_CONTEXT + data))
    return bytes(bundle.SerializeToString(deterministic=True))


def _count_valid(anchor: TrustAnchor, message: bytes, signatures: Iterable[bundle_pb2.BundleSignature]) -> int:
    by_kid: dict[bytes, list[VerifyingKey]] = {}
    for key in anchor.keys:
        by_kid.setdefault(key.kid, []).append(key)
    signed: set[bytes] = set()
    for sig in signatures:
        for key in by_kid.get(sig.kid, ()):
            if key.spki not in signed and key.verify(sig.signature, message):
                signed.add(key.spki)  # one key counts once, however many times it signed
    return len(signed)


def open_bundle(data: bytes, *, anchor: TrustAnchor, now_s: int, grace_s: int,
                accepted: AcceptedBundle | None = None) -> TrustSnapshot:
    """Verify a serialized TrustBundle and index it. Raises a BundleError on any refusal."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleMalformedError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    bundle = bundle_pb2.TrustBundle()
    try:
        bundle.ParseFromString(data)
    except DecodeError:
        raise BundleMalformedError("not a TrustBundle message") from None
    message = BUNDLE_CONTEXT + bundle.body
    valid = _count_valid(anchor, message, bundle.signatures)
    if valid < anchor.threshold:
        raise BundleThresholdError(
            f"{valid} valid governance signature(s); the pinned anchor requires {anchor.threshold}")
    body = bundle_pb2.BundleBody()
    try:
        body.ParseFromString(bundle.body)
    except DecodeError:
        raise BundleMalformedError("the signed body is not a BundleBody message") from None
    digest = hashlib.sha256(bundle.body).digest()
    if accepted is not None:
        if body.version < accepted.version:
            raise BundleRollbackError(f"version {body.version} is older than accepted version {accepted.version}")
        if body.version == accepted.version and digest != accepted.digest:
            raise BundleRollbackError(f"a different bundle was already accepted as version {body.version}")
    if body.expires_at <= body.issued_at:
        raise BundleMalformedError("the bundle's expiry must follow its issue time")
    if now_s > body.expires_at + grace_s:
        raise BundleStaleError(f"the bundle expired at {body.expires_at} and the grace of {grace_s} s is over")
    next_anchor = anchor
    if body.HasField("governance"):
        declared = TrustAnchor.from_proto(body.governance)
        if not declared.same_keys(anchor):
            rotated = _count_valid(declared, message, bundle.signatures)
            if rotated < declared.threshold:
                raise BundleThresholdError(
                    f"governance rotation signed by {rotated} new key(s); {declared.threshold} required")
            next_anchor = declared
    return TrustSnapshot(body, digest, next_anchor)


def describe(snapshot: TrustSnapshot) -> dict[str, Any]:
    """A JSON-ready summary of a snapshot for people and logs."""
    return {
        "version": snapshot.version,
        "alliance": snapshot.body.alliance,
        "issued_at": snapshot.issued_at_s,
        "expires_at": snapshot.expires_at_s,
        "threshold": snapshot.anchor.threshold,
        "governance_keys": len(snapshot.anchor.keys),
        "cities": [{"city": c.city, "slug": c.slug, "name": c.name_zh, "keys": len(c.keys)}
                   for c in snapshot.body.cities],
        "agreements": len(snapshot.body.agreements),
        "offers": len(snapshot.body.offers),
    }
