"""The national-scale trust set (DESIGN 7), and the retired single-signature bundle of the same content.

`build_national` makes an `InMemoryAlliance` of `cities` members, each with `keys` code keys
(Ed25519 and P-256 alternating), `offers` offers and a tier policy, and `agreements`
agreements binding two to four cities each (every bound city signs). Cities get real GB/T
2260-shaped codes (province prefix, city number); the random choices are seeded, so every
run builds the same shape.

`single_bundle` is the baseline the TUF parts replace: one `TrustBundle` (the retired
format, still in bundle.proto) whose body carries every member with its keys, every offer
and every agreement, signed once with Ed25519 over `b"CCB1\\0" + body`; `open_single_bundle`
verifies and parses it into what a verifier needs (the keys loaded, the offers and
agreements converted by the core's own `from_proto`), which is also what `open_trust` builds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
    TrustFiles,
    VerifyingKey,
    from_proto,
    to_proto,
)
from citycredit.testing import InMemoryAlliance

__all__ = ["BUNDLE_CONTEXT", "National", "build_national", "national_cities", "open_single_bundle", "single_bundle"]

BUNDLE_CONTEXT = b"CCB1\x00"
_PROVINCES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
              61, 62, 63, 64, 65)
_CATEGORIES = tuple(Category)
_TIERS = (Tier.FAIR, Tier.GOOD, Tier.EXCELLENT, Tier.OUTSTANDING)


def national_cities(count: int) -> list[tuple[int, str, str, str]]:
    """`count` member cities (code, slug, name_zh, name_en), provinces taken in turn."""
    out = []
    for i in range(count):
        province, number = _PROVINCES[i % len(_PROVINCES)], 1 + i // len(_PROVINCES)
        city = province * 10000 + number * 100
        out.append((city, f"c{city}", f"城市{city}", f"City {city}"))
    return out


def _offers(city: int, count: int, since_s: int, rng: random.Random) -> list[Offer]:
    offers = []
    for k in range(count):
        category = _CATEGORIES[k % len(_CATEGORIES)]
        quota = Quota(uses=1 + k % 5, period=Period.MONTH) if k % 3 == 0 else None
        offers.append(Offer(
            id=f"{city}-{category.value}-{k}", city=city, category=category, min_tier=rng.choice(_TIERS),
            benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=5 + k % 20, text_zh=f"信用优惠{k}",
                            text_en=f"credit discount {k}"),
            title_zh=f"{city}信用惠民{k}", title_en=f"Credit offer {k} of {city}", valid_from_s=since_s,
            quota=quota, local_only=k % 7 == 0))
    return offers


def _agreements(cities: list[int], count: int, since_s: int, rng: random.Random) -> list[Agreement]:
    out = []
    for n in range(count):
        bound = frozenset(rng.sample(cities, min(len(cities), rng.choice((2, 2, 3, 4)))))
        out.append(Agreement(id=f"agreement-{n:04d}", cities=bound, not_before_s=since_s,
                             categories=frozenset(rng.sample(_CATEGORIES, 4)), title=f"互认协议{n}"))
    return out


@dataclass
class National:
    """The national trust set, its files as a verifier fetches them, and the single-bundle baseline."""

    alliance: InMemoryAlliance
    offers: list[Offer]
    agreements: list[Agreement]
    bundle: bytes
    bundle_key: VerifyingKey

    def files(self) -> TrustFiles:
        assert self.alliance.repository is not None
        return self.alliance.repository.files(trusted_root_version=1)

    def tuf_bytes(self) -> int:
        """Bytes of every metadata and part file a first sync downloads (status lists aside)."""
        files = self.files()
        return (len(files.root) + len(files.timestamp) + len(files.snapshot) + len(files.targets)
                + sum(len(d) for d in files.roles.values()) + sum(len(d) for d in files.targets_files.values()))


def build_national(*, cities: int, keys: int, offers: int, agreements: int, now_s: int) -> National:
    rng = random.Random(20261122)
    members = national_cities(cities)
    since = now_s - 30 * 86400
    all_offers = [o for city, _, _, _ in members for o in _offers(city, offers, since, rng)]
    all_agreements = _agreements([c for c, _, _, _ in members], agreements, since, rng)
    algorithms = [(Algorithm.ED25519, Algorithm.P256)[k % 2] for k in range(keys)]
    alliance = InMemoryAlliance(now_s=now_s, cities=members, algorithms=algorithms, offers=all_offers,
                                agreements=all_agreements, name="全国信用互认联盟 (benchmark)")
    signer = SigningKey.generate(Algorithm.ED25519)
    return National(alliance=alliance, offers=all_offers, agreements=all_agreements,
                    bundle=single_bundle(alliance, all_offers, all_agreements, signer, now_s=now_s),
                    bundle_key=signer.verifying_key())


def single_bundle(alliance: InMemoryAlliance, offers: list[Offer], agreements: list[Agreement], signer: SigningKey,
                  *, now_s: int, status_lists: dict[int, bundle_pb2.StatusList] | None = None) -> bytes:
    """The same content as one signed `TrustBundle` (optionally carrying every city's list, as it used to)."""
    body = bundle_pb2.BundleBody(version=1, issued_at=now_s, expires_at=now_s + 86400, alliance=alliance.name)
    for city, member in sorted(alliance.members.items()):
        entry = body.cities.add(city=city, name_zh=member.name_zh, name_en=member.name_en, slug=member.slug)
        entry.keys.extend(alliance.key_entries[city])
        if status_lists is not None and city in status_lists:
            entry.status_list.CopyFrom(status_lists[city])
    body.offers.extend(to_proto(o) for o in offers)
    body.agreements.extend(to_proto(a) for a in agreements)
    data = body.SerializeToString(deterministic=True)
    bundle = bundle_pb2.TrustBundle(body=data)
    bundle.signatures.add(kid=signer.kid, signature=signer.sign(BUNDLE_CONTEXT + data))
    return bundle.SerializeToString(deterministic=True)


def open_single_bundle(data: bytes, key: VerifyingKey) -> int:
    """Verify the one signature, parse, load every key and convert every offer and agreement; keys loaded."""
    bundle = bundle_pb2.TrustBundle.FromString(data)
    if not any(s.kid == key.kid and key.verify(s.signature, BUNDLE_CONTEXT + bundle.body) for s in bundle.signatures):
        raise RuntimeError("the bundle's signature does not verify")
    body = bundle_pb2.BundleBody.FromString(bundle.body)
    loaded = {k.kid: VerifyingKey(algorithm=Algorithm(k.algorithm), spki=k.spki) for c in body.cities for k in c.keys}
    offers = [from_proto(Offer, o) for o in body.offers]
    agreements = [from_proto(Agreement, a) for a in body.agreements]
    return len(loaded) + len(offers) + len(agreements)
