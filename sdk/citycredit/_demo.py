"""The demonstration alliance: every member scheme, two keys per city, the demo offers and agreements."""

from __future__ import annotations

from citycredit._home import Home
from citycredit.adapters import demo_catalogue, load_registry
from citycredit.core import Algorithm, Alliance, CityRecord, SigningKey, TrustAnchor, to_proto
from citycredit.errors import InvalidArgumentError

__all__ = ["ALLIANCE_NAME", "init_demo"]

ALLIANCE_NAME = "长三角·闽粤 信用互认示范联盟 (demonstration)"
GOVERNANCE_KEYS, GOVERNANCE_THRESHOLD = 3, 2


def init_demo(home: Home, *, now_s: int) -> bool:
    """Create the demo alliance in `home`. Returns False (and changes nothing) if one is there already.

    Refuses to write into a directory that has files but no alliance, so keys are never
    overwritten silently.
    """
    if home.exists():
        return False
    if home.path.exists() and any(p.name != "schemes" for p in home.path.iterdir()):
        raise InvalidArgumentError(f"{home.path} is not empty and holds no alliance; refusing to write keys there")
    registry = load_registry(home.schemes_dir if home.schemes_dir.is_dir() else None)
    governance = [SigningKey.generate() for _ in range(GOVERNANCE_KEYS)]
    for key in governance:
        home.add_governance_key(key)
    anchor = TrustAnchor(threshold=GOVERNANCE_THRESHOLD, keys=tuple(k.verifying_key() for k in governance))
    alliance = Alliance(name=ALLIANCE_NAME, governance=anchor)
    for scheme in registry.schemes():
        alliance.add_city(CityRecord(city=scheme.city, slug=scheme.slug, name_zh=scheme.name_zh,
                                     name_en=scheme.name_en, status_updated_at_s=now_s,
                                     tier_policy=scheme.tier_policy()))
        for algorithm in (Algorithm.ED25519, Algorithm.P256):
            home.add_city_key(alliance, scheme.city, SigningKey.generate(algorithm), now_s=now_s)
        home.holder_secret(scheme.city)
    offers, agreements = demo_catalogue()
    alliance.offers = [to_proto(o) for o in offers]
    alliance.agreements = [to_proto(a) for a in agreements]
    home.publish(alliance, now_s=now_s)
    return True
