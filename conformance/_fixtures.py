"""The vectors' world: the clock, the seeded keys, the member cities, their offers and agreements.

Two alliances are built from it (`main_alliance`, `lite_alliance`); every other trust set
of the vectors is one of them with one thing changed. The keys are test keys derived
from their seeds (`keys/keys.json` lists each with its seed), never to be used anywhere
else.
"""

from __future__ import annotations

import base64
from typing import Any

from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.core import (
    Agreement,
    Algorithm,
    Benefit,
    BenefitKind,
    Category,
    Offer,
    Period,
    Quota,
    SigningKey,
    Tier,
)

from ._deterministic import seeded_key
from ._trustsets import DAY, Alliance, CityConfig, StatusConfig, public_key

__all__ = [
    "AGREEMENTS",
    "HANGZHOU",
    "HUZHOU",
    "ISSUED",
    "JIAXING",
    "MARKED_INDEXES",
    "OFFERS",
    "PUBLISHED",
    "QUZHOU",
    "SHANGHAI",
    "T0",
    "TTL",
    "XIAMEN",
    "YEAR_2026",
    "Keys",
    "compressed_spki",
    "hangzhou_keys",
    "lite_alliance",
    "main_alliance",
    "offers_alliance",
]

T0 = 1_795_000_000  # 2026-11-18T11:06:40Z, the vectors' reference clock
PUBLISHED = T0 - 3600  # when the parties signed the trust sets: an hour before T0
ISSUED = T0 - 60  # the default code: issued a minute before T0, five minutes of life
TTL = 300
YEAR_2026 = 1_767_196_800  # 2026-01-01T00:00+08:00
HANGZHOU, QUZHOU, JIAXING, HUZHOU, XIAMEN, SHANGHAI = 330100, 330800, 330400, 330500, 350200, 310000
# Status entries the trust sets mark (the codes of other cases keep clear of them).
MARKED_INDEXES = (0, 1, 2, 3, 4, 5, 6, 7, 1234, 1240, 2000, 4321, 70000, 131_071)


def compressed_spki(key: SigningKey) -> bytes:
    """The key's SubjectPublicKeyInfo with its point compressed (0x02/0x03 || x) instead of 0x04 || x || y."""
    spki = key.spki
    x, y = spki[-64:-32], spki[-32:]
    algorithm = spki[2:2 + 2 + spki[3]]  # the AlgorithmIdentifier SEQUENCE
    bit_string = bytes([0x03, 34, 0x00, 0x02 | (y[-1] & 1)]) + x
    body = algorithm + bit_string
    return bytes([0x30, len(body)]) + body


class Keys:
    """Every key the vectors use, derived from its seed."""

    def __init__(self) -> None:
        self.roles: dict[str, SigningKey] = {}
        self.seeds: dict[str, str] = {}
        self.governance = [self._make(f"governance-{i}") for i in range(1, 7)]
        self.foreign_governance = [self._make(f"foreign-governance-{i}") for i in (1, 2, 3)]
        self.snapshot = self._make("gateway-snapshot")
        self.timestamp = self._make("gateway-timestamp")
        self.authority = {city: self._make(f"{slug}-authority") for city, slug in _SLUGS.items()}
        self.status = {city: self._make(f"{slug}-status") for city, slug in _SLUGS.items()}
        self.hz_ed = self._make("hangzhou-ed25519")
        self.hz_p256 = self._make("hangzhou-p256", Algorithm.P256)
        self.hz_sm2 = self._make("hangzhou-sm2", Algorithm.SM2)
        self.hz_p256_compressed = self._make("hangzhou-p256-compressed", Algorithm.P256)
        self.hz_sm2_compressed = self._make("hangzhou-sm2-compressed", Algorithm.SM2)
        self.hz_retired = self._make("hangzhou-ed25519-retired")
        self.hz_next = self._make("hangzhou-ed25519-next")
        self.hz_revoked = self._make("hangzhou-ed25519-revoked")
        self.qz_ed = self._make("quzhou-ed25519")
        self.jx_p256 = self._make("jiaxing-p256", Algorithm.P256)
        self.hu_ed = self._make("huzhou-ed25519")
        self.xm_ed = self._make("xiamen-ed25519")
        self.sh_ed = self._make("shanghai-ed25519")
        self.rogue = self._make("rogue-ed25519")
        self.device_p256 = self._make("device-p256", Algorithm.P256)
        self.device_ed = self._make("device-ed25519")
        self.device_other = self._make("device-other-p256", Algorithm.P256)

    def _make(self, role: str, algorithm: Algorithm = Algorithm.ED25519) -> SigningKey:
        seed = f"citycredit-conformance/v2/{role}"
        key = seeded_key(seed, algorithm)
        self.roles[role] = key
        self.seeds[role] = seed
        return key

    def code_key(self, city: int) -> SigningKey:
        return {HANGZHOU: self.hz_ed, QUZHOU: self.qz_ed, JIAXING: self.jx_p256, HUZHOU: self.hu_ed,
                XIAMEN: self.xm_ed, SHANGHAI: self.sh_ed}[city]

    def document(self) -> dict[str, Any]:
        return {
            "note": "TEST KEYS for the conformance vectors only. Each private key is derived from its seed: "
                    "Ed25519 from SHA-256(seed); P-256 and SM2 as SHA-256(seed) mod (n-1) + 1.",
            "keys": [{"role": role, "seed": self.seeds[role], "algorithm": key.algorithm.slug,
                      "kid": key.kid.hex(), "spki": base64.b64encode(key.spki).decode()}
                     for role, key in sorted(self.roles.items())],
        }


_SLUGS = {HANGZHOU: "hangzhou", QUZHOU: "quzhou", JIAXING: "jiaxing", HUZHOU: "huzhou", XIAMEN: "xiamen",
          SHANGHAI: "shanghai"}
_NAMES = {HANGZHOU: ("杭州", "Hangzhou"), QUZHOU: ("衢州", "Quzhou"), JIAXING: ("嘉兴", "Jiaxing"),
          HUZHOU: ("湖州", "Huzhou"), XIAMEN: ("厦门", "Xiamen"), SHANGHAI: ("上海", "Shanghai")}
KEY_START = T0 - 365 * DAY


def _offer(offer_id: str, city: int, category: Category, min_tier: Tier, kind: BenefitKind, text: str,
           **kwargs: Any) -> Offer:
    benefit = Benefit(kind=kind, text_zh=text, text_en=offer_id.replace("-", " "),
                      discount_percent=kwargs.pop("percent", 0), count=kwargs.pop("count", 0))
    return Offer(id=offer_id, city=city, category=category, min_tier=min_tier, benefit=benefit,
                 title_zh=f"{text}（测试）", title_en=offer_id, **kwargs)


OFFERS = (
    _offer("hz-library", HANGZHOU, Category.LIBRARY, Tier.GOOD, BenefitKind.WAIVER, "免押金借书",
           valid_from_s=YEAR_2026),
    _offer("hz-parking", HANGZHOU, Category.PARKING, Tier.FAIR, BenefitKind.DISCOUNT, "停车九折", percent=10),
    _offer("hz-housing-fund", HANGZHOU, Category.HOUSING_FUND, Tier.EXCELLENT, BenefitKind.EXTRA_ALLOWANCE,
           "公积金贷款额度上浮", local_only=True),
    _offer("hz-scenic-later", HANGZHOU, Category.SCENIC_SPOT, Tier.GOOD, BenefitKind.WAIVER, "景区免票",
           valid_from_s=T0 + 7200),
    _offer("hz-hotel-ended", HANGZHOU, Category.HOTEL, Tier.GOOD, BenefitKind.WAIVER, "酒店免押金",
           valid_from_s=YEAR_2026, valid_until_s=T0),
    _offer("qz-parking-free-3", QUZHOU, Category.PARKING, Tier.EXCELLENT, BenefitKind.FREE_USES, "每月免费停车3次",
           count=3, quota=Quota(uses=3, period=Period.MONTH)),
    _offer("jx-fitness", JIAXING, Category.FITNESS, Tier.GOOD, BenefitKind.DISCOUNT, "健身八折", percent=20),
    _offer("jx-library", JIAXING, Category.LIBRARY, Tier.GOOD, BenefitKind.WAIVER, "免押金借书"),
    _offer("hu-scenic", HUZHOU, Category.SCENIC_SPOT, Tier.FAIR, BenefitKind.WAIVER, "景区免票"),
    _offer("xm-bike", XIAMEN, Category.PUBLIC_BIKE, Tier.GOOD, BenefitKind.WAIVER, "免押金骑行"),
)
AGREEMENTS = (
    Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=1_588_176_000,
              title="杭衢信用互认 (from 2020-04-30)"),
    Agreement(id="jx-hu-tourism", cities=frozenset({JIAXING, HUZHOU}), not_before_s=YEAR_2026,
              categories=frozenset({Category.SCENIC_SPOT, Category.HOTEL, Category.DINING, Category.FITNESS}),
              title="嘉湖文旅互认"),
    Agreement(id="hz-xm-ended", cities=frozenset({HANGZHOU, XIAMEN}), not_before_s=YEAR_2026 - 730 * DAY,
              not_after_s=YEAR_2026 + 151 * DAY, title="杭厦互认 (ended 2026-06-01)"),
    Agreement(id="hz-hu-soon", cities=frozenset({HANGZHOU, HUZHOU}), not_before_s=T0 + 3600,
              title="杭湖互认 (from an hour after T0)"),
)


def _city(keys: Keys, city: int, code_keys: list[bundle_pb2.PublicKey], *, offers: bool = True,
          tier_policy: bool = True) -> CityConfig:
    zh, en = _NAMES[city]
    return CityConfig(city=city, slug=_SLUGS[city], name_zh=zh, name_en=en, authority=keys.authority[city],
                      status_key=keys.status[city], code_keys=code_keys, tier_policy=tier_policy,
                      offers=[o for o in OFFERS if o.city == city] if offers else [])


def hangzhou_keys(keys: Keys) -> list[bundle_pb2.PublicKey]:
    """Hangzhou's code keys: every algorithm, both point encodings, and keys in every state."""
    return [
        public_key(keys.hz_ed, not_before=KEY_START),
        public_key(keys.hz_p256, not_before=KEY_START),
        public_key(keys.hz_sm2, not_before=KEY_START),
        public_key(keys.hz_p256_compressed, not_before=KEY_START, spki=compressed_spki(keys.hz_p256_compressed)),
        public_key(keys.hz_sm2_compressed, not_before=KEY_START, spki=compressed_spki(keys.hz_sm2_compressed)),
        public_key(keys.hz_retired, not_before=T0 - 730 * DAY, not_after=T0 - 30 * DAY,
                   status=bundle_pb2.KEY_STATUS_RETIRED),
        public_key(keys.hz_next, not_before=T0 + 30 * DAY),
        public_key(keys.hz_revoked, not_before=KEY_START, status=bundle_pb2.KEY_STATUS_REVOKED,
                   revoked_at=T0 - 10 * DAY),
    ]


def _statuses() -> dict[int, StatusConfig]:
    return {
        # Byte 0 holds entries 0..3 least significant first (0 VALID, 1 REVOKED, 2 SUSPENDED, 3 reserved);
        # entry 4 opens byte 1.
        HANGZHOU: StatusConfig(version=2, entries={1: 1, 2: 2, 3: 3, 1234: 1, 1240: 2, 70000: 1, 131_071: 1}),
        QUZHOU: StatusConfig(entries={4321: 1}),
    }


def main_alliance(keys: Keys) -> Alliance:
    """Hangzhou (code keys of every algorithm and state), Quzhou and Jiaxing (P-256 only), no offers: the code
    vectors verify against it."""
    cities = [
        _city(keys, HANGZHOU, hangzhou_keys(keys), offers=False),
        _city(keys, QUZHOU, [public_key(keys.qz_ed, not_before=KEY_START)], offers=False),
        _city(keys, JIAXING, [public_key(keys.jx_p256, not_before=KEY_START)], offers=False),
    ]
    return Alliance(name="citycredit conformance alliance", governance=keys.governance[:3], threshold=2,
                    snapshot_key=keys.snapshot, timestamp_key=keys.timestamp, cities=cities, now_s=PUBLISHED,
                    statuses=_statuses())


def offers_alliance(keys: Keys) -> Alliance:
    """Five cities with offers and agreements (Xiamen without a tier policy): the eligibility vectors."""
    cities = [
        _city(keys, HANGZHOU, hangzhou_keys(keys)),
        _city(keys, QUZHOU, [public_key(keys.qz_ed, not_before=KEY_START)]),
        _city(keys, JIAXING, [public_key(keys.jx_p256, not_before=KEY_START)]),
        _city(keys, HUZHOU, [public_key(keys.hu_ed, not_before=KEY_START)]),
        _city(keys, XIAMEN, [public_key(keys.xm_ed, not_before=KEY_START)], tier_policy=False),
    ]
    return Alliance(name="citycredit conformance alliance", governance=keys.governance[:3], threshold=2,
                    snapshot_key=keys.snapshot, timestamp_key=keys.timestamp, cities=cities,
                    agreements=AGREEMENTS, now_s=PUBLISHED, statuses=_statuses())


def lite_alliance(keys: Keys, **options: Any) -> Alliance:
    """Hangzhou and Quzhou, one Ed25519 key each, one agreement: the trust and status vectors change it."""
    cities = [
        _city(keys, HANGZHOU, [public_key(keys.hz_ed, not_before=KEY_START)]),
        _city(keys, QUZHOU, [public_key(keys.qz_ed, not_before=KEY_START)]),
    ]
    for city in cities:
        city.offers = [o for o in city.offers if o.id in ("hz-library", "qz-parking-free-3")]
    statuses = {HANGZHOU: StatusConfig(version=2, entries={1234: 1, 1240: 2}), QUZHOU: StatusConfig(entries={4321: 1})}
    return Alliance(name="citycredit conformance alliance (lite)", governance=keys.governance[:3], threshold=2,
                    snapshot_key=keys.snapshot, timestamp_key=keys.timestamp, cities=cities,
                    agreements=[a for a in AGREEMENTS if a.id == "hz-qz"], now_s=PUBLISHED, statuses=statuses,
                    **options)
