"""`citycredit bundle show|publish`: inspect or re-sign the trust bundle."""

from __future__ import annotations

import argparse
import time
from typing import Any

from citycredit._cli.codes import add_json_flag, add_trust_args, load_verifier
from citycredit._cli.output import Output
from citycredit._home import BUNDLE_TTL_S, Home
from citycredit.core import describe, iso


def register(subparsers: Any) -> None:
    bundle = subparsers.add_parser("bundle", help="show or publish the signed trust bundle")
    sub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="verify a bundle against its anchor and summarise it")
    add_trust_args(show)
    add_json_flag(show)
    show.set_defaults(handler=_show)
    publish = sub.add_parser("publish", help="sign the next bundle version with the governance keys in --home")
    publish.add_argument("--home", required=True)
    publish.add_argument("--ttl-s", type=int, default=BUNDLE_TTL_S, help="bundle lifetime in seconds")
    publish.set_defaults(handler=_publish)


def _show(args: argparse.Namespace, out: Output) -> int:
    summary = describe(load_verifier(args).snapshot)
    if args.json:
        out.json(summary)
        return 0
    out.ok(f"trust bundle version {summary['version']}: {summary['alliance']}")
    out.field("signed", f"{summary['threshold']}-of-{summary['governance_keys']} governance keys")
    out.field("issued", iso(summary["issued_at"]))
    out.field("expires", iso(summary["expires_at"]))
    out.field("members", ", ".join(f"{c['slug']} {c['city']}" for c in summary["cities"]))
    out.field("offers", f"{summary['offers']} offers, {summary['agreements']} agreements")
    return 0


def _publish(args: argparse.Namespace, out: Output) -> int:
    home = Home(args.home)
    alliance = home.load()
    home.publish(alliance, now_s=int(time.time()), ttl_s=args.ttl_s)
    out.ok(f"published bundle version {alliance.version} to {home.bundle_path}")
    return 0
