"""What the benchmark modules share: in-memory alliances, distinct codes, the raw baselines, and the run's context.

Every alliance is a `citycredit.testing.InMemoryAlliance`: real keys, every part signed by the
key its role names, opened by a verifier through `open_trust` exactly as a merchant's would be
(the chain anchor → governance → city → key is checked once, when the part is accepted).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citycredit import Algorithm, Tier, Verifier
from citycredit.core import (
    SIGNING_CONTEXT,
    Agreement,
    Benefit,
    BenefitKind,
    Category,
    Offer,
    Period,
    Quota,
    decode_envelope,
)
from citycredit.testing import InMemoryAlliance
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchmarks.harness import Settings
from benchmarks.national_set import National, build_national

if TYPE_CHECKING:  # the gateway extra may be missing: imported only when a gateway module asks
    from benchmarks.gateway_common import GatewayRun

__all__ = [
    "BASE_CITIES",
    "CODE_TTL_S",
    "TIERS",
    "Base",
    "Context",
    "KeyTable",
    "RawItem",
    "base_catalogue",
    "issue_codes",
    "key_table",
    "raw_der",
    "raw_verify_batch",
    "raw_verify_items",
    "sdk_verify_batch",
]

# Ten member cities whose codes the in-process benchmarks verify (DESIGN 5).
BASE_CITIES: tuple[tuple[int, str, str, str], ...] = (
    (330100, "hangzhou", "杭州", "Hangzhou"),
    (330200, "ningbo", "宁波", "Ningbo"),
    (330300, "wenzhou", "温州", "Wenzhou"),
    (330400, "jiaxing", "嘉兴", "Jiaxing"),
    (330500, "huzhou", "湖州", "Huzhou"),
    (330700, "jinhua", "金华", "Jinhua"),
    (330800, "quzhou", "衢州", "Quzhou"),
    (350100, "fuzhou", "福州", "Fuzhou"),
    (350200, "xiamen", "厦门", "Xiamen"),
    (441300, "huizhou", "惠州", "Huizhou"),
)
TIERS = tuple(Tier)
CODE_TTL_S = 3 * 3600  # long enough that no code expires during a full run
KeyTable = dict[bytes, tuple[Algorithm, bytes]]  # kid -> (algorithm, SPKI)
RawItem = tuple[Callable[..., None], bytes, bytes, "ec.ECDSA | None"]


def base_catalogue(now_s: int) -> tuple[list[Offer], list[Agreement]]:
    """Per city a visitor-open scenic-spot offer with a monthly quota and a local-only parking offer; one
    agreement opening scenic spots, hotels and parking among all ten."""
    since = now_s - 365 * 86400
    offers = []
    for city, slug, _, _ in BASE_CITIES:
        offers.append(Offer(id=f"{slug}.scenic", city=city, category=Category.SCENIC_SPOT, min_tier=Tier.GOOD,
                            benefit=Benefit(kind=BenefitKind.WAIVER, text_zh="景区门票免费", text_en="free admission"),
                            title_zh="信用游", valid_from_s=since, quota=Quota(uses=3, period=Period.MONTH)))
        offers.append(Offer(id=f"{slug}.parking", city=city, category=Category.PARKING, min_tier=Tier.EXCELLENT,
                            benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=10, text_zh="停车九折"),
                            title_zh="信用停车", valid_from_s=since, local_only=True))
    agreement = Agreement(id="all-ten", cities=frozenset(c for c, _, _, _ in BASE_CITIES), not_before_s=since,
                          categories=frozenset({Category.SCENIC_SPOT, Category.HOTEL, Category.PARKING}),
                          title="十城互认")
    return offers, [agreement]


def issue_codes(alliance: InMemoryAlliance, count: int, algorithm: Algorithm = Algorithm.ED25519, *,
                index: Callable[[int, int], int | None] | None = None, tag: str = "holder") -> list[str]:
    """`count` distinct codes, round-robin over the alliance's cities, every tier, distinct holders.

    `index(i, city)` picks code i's status index (random among the list when None).
    """
    cities = list(alliance.members)
    codes = []
    for i in range(count):
        city = cities[i % len(cities)]
        tier = TIERS[i % len(TIERS)]
        codes.append(alliance.issue(city, tier, band=f"基准·{tier.label_zh}", holder_ref=f"{tag}-{i}",
                                    ttl_s=CODE_TTL_S, algorithm=algorithm,
                                    status_index=None if index is None else index(i, city)).code)
    return codes


def key_table(alliance: InMemoryAlliance) -> KeyTable:
    return {key.kid: (key.algorithm, key.spki) for key in alliance.keys.values()}


_ECDSA = ec.ECDSA(hashes.SHA256())


def raw_der(signature: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def raw_verify_batch(keys: Mapping[bytes, tuple[Algorithm, bytes]], codes: Sequence[str]) -> Callable[[], None]:
    """The limit: `cryptography` verifying the codes' own signatures over their own signed bytes, nothing else.

    Keys are loaded and P-256 signatures converted to DER beforehand, so the batch is only the
    library's verify calls, in the codes' order (for a `CP1:` presentation: the city's signature
    of the code inside).
    """
    items = raw_verify_items(keys, codes)

    def batch() -> None:
        for verify, signature, message, ecdsa in items:
            if ecdsa is None:
                verify(signature, message)
            else:
                verify(signature, message, ecdsa)
    return batch


def raw_verify_items(keys: Mapping[bytes, tuple[Algorithm, bytes]], codes: Sequence[str]) -> list[RawItem]:
    """Per code: the loaded key's verify, the signature (DER for P-256), the signed bytes, the ECDSA scheme or None."""
    public: dict[bytes, Any] = {kid: serialization.load_der_public_key(spki) for kid, (_, spki) in keys.items()}
    items: list[RawItem] = []
    for code in codes:
        envelope = decode_envelope(code)
        message = SIGNING_CONTEXT + envelope.payload
        verify = public[envelope.kid].verify
        if keys[envelope.kid][0] is Algorithm.P256:
            items.append((verify, raw_der(envelope.signature), message, _ECDSA))
        else:
            items.append((verify, envelope.signature, message, None))
    return items


def sdk_verify_batch(verifier: Verifier, codes: Sequence[str], *, fresh_venue: bool = False) -> Callable[[], None]:
    """What a merchant writes: `verifier.verify(code)` per code, with the verifier's own clock.

    `fresh_venue`: each batch scans at a venue of its own, so a presentation verified in an
    earlier round is not refused as replayed (the replay check itself still runs).
    """
    verify = verifier.verify
    rounds = iter(range(1 << 62))

    def batch() -> None:
        venue = f"bench-{next(rounds)}" if fresh_venue else None
        for code in codes:
            verify(code, venue=venue)
    return batch


@dataclass
class Base:
    """Ten cities (an Ed25519 and a P-256 code key each), their offers and agreement, opened by a verifier."""

    alliance: InMemoryAlliance
    verifier: Verifier
    codes: dict[Algorithm, list[str]]
    keys: KeyTable


@dataclass
class Context:
    """What one run shares between benchmark modules, built on first use."""

    settings: Settings
    # Servers, clusters and temporary directories that live until the end of the run.
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    now_s: int = field(default_factory=lambda: int(time.time()))
    _cache: dict[str, Any] = field(default_factory=dict)

    def base(self) -> Base:
        if "base" not in self._cache:
            offers, agreements = base_catalogue(self.now_s)
            alliance = InMemoryAlliance(now_s=self.now_s, cities=BASE_CITIES, offers=offers, agreements=agreements,
                                        algorithms=(Algorithm.ED25519, Algorithm.P256))
            codes = {alg: issue_codes(alliance, self.settings.codes, alg) for alg in (Algorithm.ED25519,
                                                                                      Algorithm.P256)}
            self._cache["base"] = Base(alliance, alliance.verifier(), codes, key_table(alliance))
        return self._cache["base"]  # type: ignore[no-any-return]

    def national(self) -> National:
        """The national-scale trust set (`benchmarks.national_set`), built once (about a minute in a full run)."""
        if "national" not in self._cache:
            s = self.settings
            self._cache["national"] = build_national(cities=s.national_cities, keys=s.national_keys,
                                                     offers=s.national_offers, agreements=s.national_agreements,
                                                     now_s=self.now_s)
        return self._cache["national"]  # type: ignore[no-any-return]

    def gateway(self) -> GatewayRun:
        """One gateway replica of the demo alliance (SQLite) in its own process, with codes it accepts."""
        if "gateway" not in self._cache:
            from benchmarks.gateway_common import start_gateway  # noqa: PLC0415 - optional: needs the gateway extra

            self._cache["gateway"] = start_gateway(self, codes=self.settings.gateway_requests)
        return self._cache["gateway"]  # type: ignore[no-any-return]
