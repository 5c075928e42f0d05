"""`citycredit demo init`: a complete demonstration alliance in one directory."""

from __future__ import annotations

import argparse
import time
from typing import Any

from citycredit._cli.output import Output
from citycredit._demo import init_demo
from citycredit._home import Home


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="create a demonstration alliance")
    sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="governance keys, a key pair per city, offers and a signed bundle in DIR")
    init.add_argument("--dir", required=True, help="directory to create (kept as is if it already holds one)")
    init.set_defaults(handler=_init)


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
