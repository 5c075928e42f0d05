"""In-memory alliances, distinct codes and the raw `cryptography` baseline over the same signatures.

Everything is built through the public SDK (`Issuer`, `SigningKey`, `Verifier`)
and the in-memory `Alliance`, exactly as a city office and a merchant would.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from citycredit import Algorithm, Issuer, SigningKey, Tier, TrustAnchor, Verifier
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.core import (
    MIN_STATUS_LIST_SIZE,
    SIGNING_CONTEXT,
    Alliance,
    CityRecord,
    KeyRecord,
    StatusBits,
    decode_envelope,
)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchmarks.harness import Settings

__all__ = [
    "BASE_CITIES",
    "CityFixture",
    "Context",
    "Federation",
    "build_federation",
    "issue_codes",
    "raw_verify_batch",
    "sdk_verify_batch",
]

# Ten member cities whose codes the benchmarks verify (DESIGN 5).
BASE_CITIES: tuple[tuple[int, str, str], ...] = (
    (330100, "hangzhou", "钱江分"),
    (330200, "ningbo", "天一分"),
    (330300, "wenzhou", "瓯江分"),
    (330400, "jiaxing", "嘉信分"),
    (330500, "huzhou", "南太湖分"),
    (330700, "jinhua", "金信分"),
    (330800, "quzhou", "信安分"),
    (350100, "fuzhou", "茉莉分"),
    (350200, "xiamen", "白鹭分"),
    (441300, "huizhou", "惠信码"),
)
_TIERS = tuple(Tier)
BUNDLE_TTL_S = 86400
CODE_TTL_S = 3 * 3600  # long enough that no code expires during a full run


@dataclass(frozen=True)
class CityFixture:
    city: int
    scheme: str
    key: SigningKey
    issuer: Issuer


@dataclass
class Federation:
    """An alliance, its governance signers and the issuers of its base cities."""

    alliance: Alliance
    anchor: TrustAnchor
    signers: list[SigningKey]
    cities: list[CityFixture]
    now_s: int

    def public_keys(self) -> dict[bytes, tuple[Algorithm, bytes]]:
        return {f.key.kid: (f.key.algorithm, f.key.spki) for f in self.cities}

    def publish(self) -> bytes:
        return self.alliance.publish(self.signers, now_s=self.now_s, ttl_s=BUNDLE_TTL_S)

    def verifier(self) -> Verifier:
        return Verifier.from_bundle_bytes(self.publish(), anchor=self.anchor)

    def add_filler_cities(self, count: int) -> None:
        """Members that issue nothing here: one Ed25519 key and an empty status list each."""
        empty = StatusBits()
        for i in range(count):
            key = SigningKey.generate(Algorithm.ED25519)
            city = 500000 + i
            self.alliance.add_city(CityRecord(
                city=city, slug=f"member-{city}", name_zh=f"成员{city}", name_en=f"Member {city}",
                keys=[KeyRecord(algorithm=key.algorithm, spki=key.spki, not_before_s=self.now_s - 86400)],
                status=empty))

    def set_status_lists(self, *, size: int, revoked: int) -> None:
        """Give every base city a list of `size` entries whose first `revoked` entries are revoked."""
        whole, rest = divmod(revoked, 8)
        head = b"\xff" * whole + (bytes((0xFF << (8 - rest)) & 0xFF,) if rest else b"")
        bits = head + bytes(size // 8 - len(head))
        for fixture in self.cities:
            self.alliance.city(fixture.city).status = StatusBits(size, bits)


def build_federation(algorithm: Algorithm, *, status_list_size: int = MIN_STATUS_LIST_SIZE,
                     now_s: int | None = None) -> Federation:
    """Ten cities, each with one key of `algorithm`; a 2-of-3 governance."""
    now = int(time.time()) if now_s is None else now_s
    governance = [SigningKey.generate(Algorithm.ED25519) for _ in range(3)]
    anchor = TrustAnchor(threshold=2, keys=tuple(k.verifying_key() for k in governance))
    alliance = Alliance(name="benchmark alliance", governance=anchor)
    cities = []
    for city, slug, scheme in BASE_CITIES:
        key = SigningKey.generate(algorithm)
        alliance.add_city(CityRecord(
            city=city, slug=slug, name_zh=scheme, name_en=slug.title(),
            keys=[KeyRecord(algorithm=algorithm, spki=key.spki, not_before_s=now - 86400)],
            status=StatusBits(status_list_size),
            # A tier policy makes the city a full member with same-city rules (see TrustSnapshot.catalogue).
            tier_policy=bundle_pb2.TierPolicy(scheme=slug, version=1, digest=bytes(32), confirmed=False)))
        cities.append(CityFixture(city=city, scheme=scheme, key=key, issuer=Issuer(
            city=city, key=key, holder_secret=secrets.token_bytes(32), status_list_size=status_list_size)))
    return Federation(alliance=alliance, anchor=anchor, signers=governance[:2], cities=cities, now_s=now)


def issue_codes(federation: Federation, count: int, *, status_range: tuple[int, int] | None = None) -> list[str]:
    """`count` distinct codes, round-robin over the base cities, tiers and holders all varying."""
    codes = []
    for i in range(count):
        fixture = federation.cities[i % len(federation.cities)]
        tier = _TIERS[i % len(_TIERS)]
        index = None if status_range is None else secrets.randbelow(status_range[1] - status_range[0]) + status_range[0]
        codes.append(fixture.issuer.issue(
            holder_ref=f"holder-{i}", tier=tier, band=f"{fixture.scheme}·{tier.label_zh}",
            now_s=federation.now_s, ttl_s=CODE_TTL_S, status_index=index).code)
    return codes


_ECDSA = ec.ECDSA(hashes.SHA256())


def raw_verify_batch(keys: Mapping[bytes, tuple[Algorithm, bytes]], codes: Sequence[str]) -> Callable[[], None]:
    """The limit: `cryptography` verifying the same signatures over the same bytes, nothing else.

    `keys` maps each kid to its algorithm and SPKI. Keys are loaded and P-256
    signatures converted to DER beforehand, so the batch is only the library's
    verify calls.
    """
    public = {kid: serialization.load_der_public_key(spki) for kid, (_, spki) in keys.items()}
    ed25519_items, p256_items = [], []
    for code in codes:
        envelope = decode_envelope(code)
        message = SIGNING_CONTEXT + envelope.payload
        verify = public[envelope.kid].verify
        if keys[envelope.kid][0] is Algorithm.P256:
            p256_items.append((verify, encode_dss_signature(int.from_bytes(envelope.signature[:32], "big"),
                                                            int.from_bytes(envelope.signature[32:], "big")), message))
        else:
            ed25519_items.append((verify, envelope.signature, message))

    def batch() -> None:
        for verify, sig, message in ed25519_items:
            verify(sig, message)
        for verify, sig, message in p256_items:
            verify(sig, message, _ECDSA)  # type: ignore[call-arg]
    return batch


def sdk_verify_batch(verifier: Verifier, codes: Sequence[str]) -> Callable[[], None]:
    """What a merchant writes: `verifier.verify(code)` per code, with the verifier's own clock."""
    verify = verifier.verify

    def batch() -> None:
        for code in codes:
            verify(code)
    return batch


@dataclass
class Signed:
    """A federation with a published verifier and a batch of distinct codes from its base cities."""

    federation: Federation
    verifier: Verifier
    codes: list[str]


@dataclass
class Context:
    """What one run shares between benchmark modules, built on first use."""

    settings: Settings
    # Servers and temporary directories that live until the end of the run.
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _signed: dict[Algorithm, Signed] = field(default_factory=dict)

    def signed(self, algorithm: Algorithm) -> Signed:
        """Ten cities with `algorithm` keys and `settings.codes` distinct codes from them."""
        if algorithm not in self._signed:
            federation = build_federation(algorithm)
            codes = issue_codes(federation, self.settings.codes)
            self._signed[algorithm] = Signed(federation, federation.verifier(), codes)
        return self._signed[algorithm]
