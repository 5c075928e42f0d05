"""Where a command's trust comes from (`--home`, `--trust`, `--gateway`), and `citycredit trust show`.

    --home D                 a demo home: D/repository, pinned by D/anchor.json
    --trust DIR              a trust set on disk in the served layout, pinned by DIR/anchor.json (or --anchor)
    --gateway URL --anchor A follow a gateway, cached in --cache (default ~/.cache/citycredit/<host>)
    --state DIR              what the verifier accepted before (the conformance protocol's rollback and
                             replay state): refuses anything older, and keeps what it accepts now
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from citycredit._cli.output import Output
from citycredit._demo import DemoHome
from citycredit._sync import status_list_bytes
from citycredit._trustdir import read_status_lists, read_trust_dir, write_trust_dir
from citycredit._verifier import Verifier, VerifierConfig
from citycredit.core import Repository, TrustAnchor, describe, iso, open_status_update, open_trust, parse_time_s
from citycredit.errors import BundleStaleError, InvalidArgumentError

__all__ = ["add_json_flag", "add_trust_args", "load_verifier", "register"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json` after the command; SUPPRESS keeps a global `citycredit --json` from being reset."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")


def add_trust_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="alliance home: its repository/ and anchor.json")
    parser.add_argument("--trust", help="a trust set in the served layout (anchor.json inside unless --anchor)")
    parser.add_argument("--gateway", dest="trust_gateway", metavar="URL", help="follow this gateway's trust set")
    parser.add_argument("--anchor", help="the pinned trust anchor (a TUF root metadata file)")
    parser.add_argument("--cache", help="with --gateway: where the trust set is kept (default ~/.cache/citycredit)")
    parser.add_argument("--state", help="accepted-before state: refuses rollback, remembers presentations")
    parser.add_argument("--grace-s", type=int, default=VerifierConfig().grace_s,
                        help="offline grace after an expiry, seconds (default 3 days)")
    parser.add_argument("--at", help="validation time, ISO 8601 with a zone (default: now)")
    parser.add_argument("--venue", default="", help="where the code is scanned (presentations: replay per venue)")


def _clock(args: argparse.Namespace) -> Any:
    if args.at:
        at = float(parse_time_s(args.at, "--at"))
        return lambda: at
    return None


def load_verifier(args: argparse.Namespace) -> Verifier:
    chosen = [name for name in ("home", "trust", "trust_gateway") if getattr(args, name)]
    if len(chosen) != 1:
        raise InvalidArgumentError("give exactly one of --home DIR, --trust DIR or --gateway URL")
    config = VerifierConfig(grace_s=args.grace_s)
    clock = _clock(args)
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    if args.trust_gateway:
        if not args.anchor:
            raise InvalidArgumentError("--gateway needs --anchor FILE: the root of trust you pin")
        anchor = TrustAnchor.from_json(Path(args.anchor).read_bytes())
        cache = Path(args.cache or Path("~/.cache/citycredit").expanduser() / (urlsplit(args.trust_gateway).netloc
                                                                              or "gateway"))
        verifier = Verifier.from_gateway(args.trust_gateway, anchor=anchor, cache_dir=cache, config=config,
                                         venue=args.venue, **extra)
        if not verifier.offline:  # a one-shot check asks for every city's newest list (304 when unchanged)
            verifier.sync_status_lists(force=True)
        return verifier
    if args.home:
        home = DemoHome(args.home).require()
        directory, anchor_path = home.repository_dir, Path(args.anchor) if args.anchor else home.anchor_path
    else:
        directory = Path(args.trust)
        anchor_path = Path(args.anchor) if args.anchor else directory / "anchor.json"
    try:
        anchor = TrustAnchor.from_json(anchor_path.read_bytes())
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read the trust anchor {anchor_path}: {exc.strerror}") from None
    if not args.state:
        return Verifier.from_directory(directory, anchor=anchor, config=config, venue=args.venue, **extra)
    return _with_state(Path(args.state), directory, anchor, config, args.venue, clock)


def _with_state(state: Path, directory: Path, anchor: TrustAnchor, config: VerifierConfig, venue: str,
                clock: Any) -> Verifier:
    """Open the trust set after what `state` accepted (so rollback is refused), then keep the new one there."""
    now = int((clock or time.time)())
    previous = None
    if (state / "metadata" / "timestamp.json").is_file():
        held = read_trust_dir(state, trusted_root=anchor.data)
        previous = open_trust(held, now_s=now, grace_s=10**9, anchor=anchor)
        for city, data in read_status_lists(state).items():
            if city in previous.cities:
                previous = previous.with_status_list(open_status_update(
                    data, city=city, status_keys=previous.cities[city].status_keys, previous=None, now_s=now,
                    grace_s=10**9))
    files = read_trust_dir(directory, trusted_root=anchor.data)
    snapshot = open_trust(files, now_s=now, grace_s=config.grace_s, anchor=anchor, previous=previous)
    for city, data in sorted(read_status_lists(directory).items()):
        if city in snapshot.cities:
            try:
                accepted = open_status_update(data, city=city, status_keys=snapshot.cities[city].status_keys,
                                              previous=snapshot.statuses.get(city), now_s=now, grace_s=config.grace_s)
            except BundleStaleError:
                continue  # that city keeps what it held (or nothing): only its codes cannot be judged (SPEC 7.7)
            snapshot = snapshot.with_status_list(accepted)
    write_trust_dir(state, Repository.from_files(snapshot.files),
                    {c: status_list_bytes(s) for c, s in snapshot.statuses.items()})
    return Verifier(snapshot, config=config, clock=clock or time.time, venue=venue,
                    replay=_StateReplay(state / "replay.json"))


class _StateReplay:
    """The replay cache of `--state`: presentations accepted by earlier runs, in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def first_sighting(self, venue: str, presentation: bytes, *, until_s: int, now_s: int) -> bool:
        try:
            # "venue/presentation-hex": a venue may hold "/", the hex never does
            seen = {tuple(k.rsplit("/", 1)): v for k, v in json.loads(self.path.read_text()).items()}
        except (OSError, ValueError):
            seen = {}
        seen = {k: v for k, v in seen.items() if v > now_s}
        key = (venue, presentation.hex())
        if key in seen:
            return False
        seen[key] = until_s
        self.path.write_text(json.dumps({f"{v}/{p}": u for (v, p), u in seen.items()}))
        return True


def register(subparsers: Any) -> None:
    trust = subparsers.add_parser("trust", help="the trust set: roles, versions, members, agreements")
    sub = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="summarise a trust set (what a verifier would accept)")
    add_trust_args(show)
    add_json_flag(show)
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace, out: Output) -> int:
    summary = describe(load_verifier(args).snapshot)
    if args.json:
        out.json(summary)
        return 0
    out.ok(f"{summary['alliance']}")
    out.field("versions", ", ".join(f"{k} {v}" for k, v in summary["versions"].items()
                                    if not k.startswith(("city-", "agreement-"))))
    out.field("expires", iso(summary["expires_at"]))
    out.field("governance", f"{summary['governance']['threshold']} of {summary['governance']['keys']} keys")
    for city in summary["cities"]:
        out.field(city["city"], f"{city['slug']} {city['name_zh']}: part v{city['version']}, {city['keys']} keys, "
                                f"{city['offers']} offers, status list v{city['status_list_version']}")
    out.field("agreements", ", ".join(summary["agreements"]) or "none")
    return 0
