"""`citycredit keys new` and `keys retire`: a city's code-signing keys, kept in its own key store."""

from __future__ import annotations

import argparse
import time
from typing import Any

from citycredit._cli.output import Output
from citycredit._cli.party import add_office_args, open_office, publish_role, report
from citycredit._cli.trust import add_json_flag
from citycredit.core import Algorithm, parse_time_s
from citycredit.errors import InvalidArgumentError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="a city's code-signing keys")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="generate a code-signing key in the city's key store and publish its part")
    new.add_argument("--alg", default="ed25519", choices=["ed25519", "p256", "sm2"])
    add_office_args(new)
    add_json_flag(new)
    new.set_defaults(handler=_new)
    retire = sub.add_parser("retire", help="stop issuing with a key (codes issued inside its window stay valid)")
    retire.add_argument("kid", help="the key id, 16 hex digits")
    retire.add_argument("--at", help="the window's end, ISO 8601 with a zone (default: after the current second)")
    add_office_args(retire)
    add_json_flag(retire)
    retire.set_defaults(handler=_retire)


def _new(args: argparse.Namespace, out: Output) -> int:
    now = int(time.time())
    with open_office(args) as (office, home):
        entry = office.new_code_key(Algorithm.from_slug(args.alg), now_s=now)
        published = publish_role(args, office, home, now)
    return report(out, args, f"{entry.algorithm.slug} key {entry.kid.hex()} for {office.city:06d}",
                  {"kid": entry.kid.hex(), **published})


def _retire(args: argparse.Namespace, out: Output) -> int:
    try:
        kid = bytes.fromhex(args.kid)
    except ValueError:
        kid = b""
    if len(kid) != 8:
        raise InvalidArgumentError("a kid is 16 hex digits")
    now = int(time.time())
    with open_office(args) as (office, home):
        entry = office.retire_key(kid, now_s=now, not_after_s=parse_time_s(args.at, "--at") if args.at else None)
        published = publish_role(args, office, home, now)
    return report(out, args, f"key {args.kid} retired: it verifies codes issued before {entry.not_after_s}",
                  {"not_after_s": entry.not_after_s, **published})
