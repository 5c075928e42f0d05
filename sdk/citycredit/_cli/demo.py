"""`citycredit demo init`: a complete demonstration alliance in one directory, every party with its own keys."""

from __future__ import annotations

import argparse
import time
from typing import Any

from citycredit._cli.output import Output
from citycredit._demo import DemoHome, init_demo

__all__ = ["register"]


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="create a demonstration alliance")
    sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="governance members, eleven city offices, a gateway key store, the "
                                       "founding ceremony and the signed trust set, in DIR")
    init.add_argument("--dir", required=True, help="directory to create (kept as is if it already holds one)")
    init.set_defaults(handler=_init)


def _init(args: argparse.Namespace, out: Output) -> int:
    home = DemoHome(args.dir)
    now = int(time.time())
    if not init_demo(home.path, now_s=now):
        out.ok(f"{home.path} already holds an alliance; nothing changed")
        return 0
    snapshot = home.snapshot(now_s=now)
    out.ok(f"demo alliance created in {home.path}")
    out.field("anchor", f"{home.anchor_path} (governance {snapshot.root.roles['root'].threshold} of "
                        f"{len(snapshot.root.roles['root'].keyids)})")
    out.field("trust set", f"{home.repository_dir} (snapshot {snapshot.version})")
    out.field("cities", ", ".join(f"{c.slug} {c.city:06d}" for c in snapshot.cities.values()))
    out.field("offers", f"{len(snapshot.catalogue.offers)} offers, {len(snapshot.agreements)} agreements")
    out.line()
    out.line(f"  next: citycredit issue --home {home.path} --city hangzhou --score 720")
    return 0
