"""Which party a command acts as: a city office (`--home D --city X`, or `--store DIR`), and where its
signed results go: to a gateway (`--gateway URL`), and in a demo home also into D/repository."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._demo import DemoHome
from citycredit.city import CityOffice, Uploader
from citycredit.core import city_role
from citycredit.errors import InvalidArgumentError
from citycredit.keystore import open_store, passphrase_from_env

__all__ = ["add_office_args", "open_office", "publish_role", "publish_status", "report"]


def add_office_args(parser: argparse.ArgumentParser, *, city: bool = True) -> None:
    parser.add_argument("--home", help="alliance home (a demo home holds every party's store)")
    if city:
        parser.add_argument("--city", help="with --home: the city office to act as (code or pinyin name)")
    parser.add_argument("--store", help="a city office's own store (instead of --home/--city); key store "
                                        "passphrase from CITYCREDIT_KEYSTORE_PASSPHRASE or a prompt")
    parser.add_argument("--gateway", help="upload what this command signs to this gateway (REST URL)")
    parser.add_argument("--token", help="the city office's gateway token, sent along with the signed upload "
                                        "(default: its store's gateway-token, "
                                        "or $CITYCREDIT_TOKEN)")


@contextmanager
def open_office(args: argparse.Namespace) -> Iterator[tuple[CityOffice, DemoHome | None]]:
    """The city office the arguments name, and the demo home it lives in (None for a standalone store)."""
    if args.store:
        folder = Path(args.store)
        keystore = open_store(f"file:{folder / 'keys'}", passphrase=passphrase_from_env(
            "CITYCREDIT_KEYSTORE_PASSPHRASE", prompt=f"passphrase of {folder / 'keys'}: "))
        home = None
    elif args.home and getattr(args, "city", None):
        home = DemoHome(args.home).require()
        folder = home.city_dir(args.city)
        keystore = home.store(folder.relative_to(home.path) / "keys")
    else:
        raise InvalidArgumentError("give --home DIR --city CITY, or --store DIR")
    office = CityOffice.open(folder, keystore)
    try:
        yield office, home
    finally:
        office.close()
        keystore.close()


def _uploader(args: argparse.Namespace, office: CityOffice) -> Uploader | None:
    if not args.gateway:
        return None
    # The signatures authenticate an upload; the office's token, when it has one, comes along.
    token = args.token or os.environ.get("CITYCREDIT_TOKEN")
    path = office.directory / "gateway-token"
    if not token and path.is_file():
        token = path.read_text().strip()
    return Uploader(args.gateway, token=token or None)


def publish_role(args: argparse.Namespace, office: CityOffice, home: DemoHome | None, now_s: int) -> dict[str, Any]:
    """Sign the city's role over its current parts and publish it where the arguments say (and the city's status
    list with it when that is due: a new city's first, or one near its expiry)."""
    role, files, _ = office.signed_role(now_s=now_s)
    status, _version, status_signed = office.status_update(now_s=now_s)
    where: dict[str, Any] = {"role_version": office.role_version()}
    uploader = _uploader(args, office)
    if uploader is not None:
        where["gateway"] = uploader.city_parts(office.city, role, files)
        if status_signed:
            where["status_list"] = uploader.status_list(office.city, status)
    if home is not None:
        home.publish_local(now_s=now_s, roles={city_role(office.city): role}, files=files,
                           status_lists={**home.status_lists(), **({office.city: status} if status_signed else {})})
        where["repository"] = str(home.repository_dir)
    return where


def publish_status(args: argparse.Namespace, office: CityOffice, home: DemoHome | None,
                   update: bytes) -> dict[str, Any]:
    """Publish the city's newly signed status list where the arguments say."""
    where: dict[str, Any] = {}
    uploader = _uploader(args, office)
    if uploader is not None:
        where["gateway"] = uploader.status_list(office.city, update)
    if home is not None:
        home.publish_local(now_s=0, status_lists={office.city: update})
        where["repository"] = str(home.repository_dir)
    return where


def report(out: Output, args: argparse.Namespace, what: str, published: dict[str, Any]) -> int:
    """Say what was done and where it was published (or the JSON of it)."""
    if getattr(args, "json", False):
        out.json({"done": what, **published})
        return 0
    out.ok(what)
    for key, value in published.items():
        out.field(key, value)
    return 0
