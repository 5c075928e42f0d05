"""`citycredit keys new`: a city signing key pair."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._cli.resolve import resolve_city
from citycredit._home import Home, key_filename, write_private, write_public
from citycredit.core import Algorithm, KeyRecord, SigningKey
from citycredit.errors import InvalidArgumentError


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="manage city signing keys")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="generate a signing key pair for a city")
    new.add_argument("--city", required=True, help="six-digit code or pinyin name, e.g. 330100 or hangzhou")
    new.add_argument("--alg", default="ed25519", choices=["ed25519", "p256", "sm2"])
    new.add_argument("--out", help="write <kid>.<alg>.pem and <kid>.pub.json here")
    new.add_argument("--home", help="also add the public key to this alliance and publish a new bundle")
    new.set_defaults(handler=_new)


def _new(args: argparse.Namespace, out: Output) -> int:
    if not args.out and not args.home:
        raise InvalidArgumentError("give --out DIR, --home DIR or both")
    city = resolve_city(args.city, args.home)
    key = SigningKey.generate(Algorithm.from_slug(args.alg))
    now = int(time.time())
    record = KeyRecord(algorithm=key.algorithm, spki=key.spki, not_before_s=now)
    if args.out:
        folder = Path(args.out)
        pem, pub = folder / key_filename(key), folder / f"{key.kid.hex()}.pub.json"
        if pem.exists():
            raise InvalidArgumentError(f"{pem} exists; refusing to overwrite a key")
        write_private(pem, key.to_pem())
        write_public(pub, (json.dumps({"city": city, **record.to_dict()}, indent=2) + "\n").encode())
        out.field("private", pem)
        out.field("public", pub)
    if args.home:
        home = Home(args.home)
        alliance = home.load()
        home.add_city_key(alliance, city, key, now_s=now)
        home.publish(alliance, now_s=now)
        out.field("bundle", f"{home.bundle_path} (version {alliance.version})")
    out.ok(f"{key.algorithm.slug} key {key.kid.hex()} for city {city}")
    return 0
