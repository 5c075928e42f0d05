"""`citycredit demo init`: a complete demonstration alliance in one directory."""

from __future__ import annotations

import argparse
import time
from typing import Any

from citycredit._cli.output import Output
from citycredit._internal.alliance import Alliance, CityRecord
from citycredit._internal.bundle import TrustAnchor
from citycredit._internal.home import Home
from citycredit._internal.keys import Algorithm, SigningKey
from citycredit.errors import InvalidArgumentError

ALLIANCE_NAME = "长三角·闽粤 信用互认示范联盟 (demonstration)"
GOVERNANCE_KEYS, GOVERNANCE_THRESHOLD = 3, 2


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="create a demonstration alliance")
    sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="governance keys, a key pair per city, offers and a signed bundle in DIR")
    init.add_argument("--dir", required=True, help="directory to create (kept as is if it already holds one)")
    init.set_defaults(handler=_init)


def init_demo(home: Home, *, now_s: int) -> bool:
    """Create the demo alliance in `home`. Returns False (and changes nothing) if one is there already.

    Refuses to write into a directory that has files but no alliance, so keys are never
    overwritten silently.
    """
    if home.exists():
        return False
    if home.path.exists() and any(p.name != "schemes" for p in home.path.iterdir()):
        raise InvalidArgumentError(f"{home.path} is not empty and holds no alliance; refusing to write keys there")
    from citycredit.adapters import demo_catalogue, load_registry

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
    alliance.offers = [o.to_proto() for o in offers]
    alliance.agreements = [a.to_proto() for a in agreements]
    home.publish(alliance, now_s=now_s)
    return True


def _init(args: argparse.Namespace, out: Output) -> int:
    home = Home(args.dir)
    if not init_demo(home, now_s=int(time.time())):
        out.ok(f"{home.path} already holds an alliance; nothing changed")
        return 0
    alliance = home.load()
    out.ok(f"demo alliance created in {home.path}")
    out.field("bundle", f"{home.bundle_path} (version {alliance.version})")
    out.field("anchor", f"{home.anchor_path} ({alliance.governance.threshold}-of-{len(alliance.governance.keys)})")
    out.field("cities", ", ".join(f"{c.slug} {c.city}" for c in alliance.cities.values()))
    out.field("offers", f"{len(alliance.offers)} offers, {len(alliance.agreements)} agreements")
    out.line()
    out.line(f"  next: citycredit issue --home {home.path} --city hangzhou --score 720")
    return 0
