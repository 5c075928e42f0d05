"""`citycredit issue`, `verify` and `revoke`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._home import Home, write_public
from citycredit._verifier import Verifier, VerifierConfig
from citycredit.adapters import load_registry
from citycredit.core import (
    AcceptedBundle,
    Algorithm,
    decode_envelope,
    iso,
    parse_claims,
    parse_time_s,
    verification_to_json,
)
from citycredit.errors import BundleError, CodeError, InvalidArgumentError


def register(subparsers: Any) -> None:
    issue = subparsers.add_parser("issue", help="issue a signed CC1 code for a holder of a city")
    issue.add_argument("--home", required=True, help="alliance directory (from `citycredit demo init`)")
    issue.add_argument("--city", required=True, help="six-digit code or pinyin name")
    record = issue.add_mutually_exclusive_group(required=True)
    record.add_argument("--score", type=int, help="local score, for score-based schemes")
    record.add_argument("--colour", "--color", dest="colour", help="colour code, e.g. green (Huizhou)")
    record.add_argument("--grade", help="letter grade, e.g. AA (Rongcheng)")
    issue.add_argument("--honours", action="store_true", help="with --colour: the holder has honours")
    issue.add_argument("--bad-record", action="store_true", help="with --colour: the holder has a bad record")
    issue.add_argument("--holder", help="holder identity as the city knows it (only its pseudonym is encoded)")
    issue.add_argument("--ttl-s", type=int, default=300, help="lifetime in seconds (default 300)")
    issue.add_argument("--alg", choices=["ed25519", "p256", "sm2"], help="sign with the city's key of this kind")
    issue.add_argument("--qr", help="also write a QR code (.png or .svg)")
    add_json_flag(issue)
    issue.set_defaults(handler=_issue)

    verify = subparsers.add_parser("verify", help="verify a CC1 code offline (exit 0 valid, 1 invalid, 2 bad input)")
    verify.add_argument("code", help="the CC1: string")
    add_trust_args(verify)
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)

    revoke = subparsers.add_parser("revoke", help="revoke a code (or all earlier codes of its holder)")
    revoke.add_argument("code", help="the CC1: string to revoke")
    revoke.add_argument("--home", required=True)
    revoke.add_argument("--holder", action="store_true",
                        help="revoke every code of this holder issued until now (credit downgraded)")
    revoke.set_defaults(handler=_revoke)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json` after the command; SUPPRESS keeps a global `citycredit --json` from being reset."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")


def add_trust_args(parser: argparse.ArgumentParser) -> None:
    """Where the trust comes from: an alliance home, or a bundle file with its pinned anchor."""
    parser.add_argument("--home", help="alliance directory: uses its bundle.ccb and anchor.json")
    parser.add_argument("--bundle", help="a bundle file (anchor.json beside it unless --anchor)")
    parser.add_argument("--anchor", help="the pinned trust anchor JSON")
    parser.add_argument("--state", help="rollback state file: the last accepted bundle version, kept up to date")
    parser.add_argument("--grace-s", type=int, default=VerifierConfig().grace_s,
                        help="offline grace after the bundle expires, seconds")
    parser.add_argument("--at", help="validation time, ISO 8601 with a zone (default: now)")


def load_verifier(args: argparse.Namespace) -> Verifier:
    if bool(args.home) == bool(args.bundle):
        raise InvalidArgumentError("give exactly one of --home DIR or --bundle FILE")
    bundle = Path(args.bundle) if args.bundle else Home(args.home).require().bundle_path
    anchor = args.anchor or (Home(args.home).anchor_path if args.home else None)
    at = parse_time_s(args.at, "--at") if args.at else None
    accepted = None
    if args.state and Path(args.state).is_file():
        doc = json.loads(Path(args.state).read_text())
        accepted = AcceptedBundle(version=int(doc["version"]), digest=bytes.fromhex(doc["digest"]))
    clock = (lambda: float(at)) if at is not None else time.time
    verifier = Verifier.from_bundle_file(bundle, anchor=anchor, accepted=accepted,
                                         config=VerifierConfig(grace_s=args.grace_s), clock=clock)
    if args.state:
        state = verifier.snapshot.accepted
        write_public(Path(args.state), json.dumps({"version": state.version, "digest": state.digest.hex()}).encode())
    return verifier


def _verify(args: argparse.Namespace, out: Output) -> int:
    try:
        verifier = load_verifier(args)
    except BundleError as exc:
        if args.json:
            out.json(verification_to_json(exc))
        out.error(exc.code, exc.message)
        return 2
    try:
        result = verifier.verify(args.code)
    except (CodeError, BundleError) as exc:
        if args.json:
            out.json(verification_to_json(exc))
        else:
            out.fail(f"{out.paint('INVALID', 'red', 'bold')}  {exc.code}: {exc.message}")
        # A bundle refused while verifying (stale, or a corrupt status list) says nothing about the code.
        return 2 if isinstance(exc, BundleError) else 1
    if args.json:
        out.json(verification_to_json(result))
        return 0
    member = verifier.snapshot.cities.get(result.city)
    name = f"{member.name_zh} {member.name_en}" if member else ""
    out.ok(f"{out.paint('VALID', 'green', 'bold')}  {result.city:06d} {name}")
    out.field("tier", f"{result.tier.name} ({result.tier.label_zh})")
    out.field("band", result.band)
    out.field("issued", iso(result.issued_at_s))
    out.field("expires", iso(result.expires_at_s))
    out.field("bundle", f"version {verifier.version}")
    return 0


def local_record(args: argparse.Namespace) -> dict[str, Any]:
    if args.score is not None:
        return {"score": args.score}
    if args.colour is not None:
        return {"colour": args.colour, "honours": args.honours, "bad_record": args.bad_record}
    return {"grade": args.grade}


def _issue(args: argparse.Namespace, out: Output) -> int:
    home = Home(args.home).require()
    registry = load_registry(home.schemes_dir if home.schemes_dir.is_dir() else None)
    scheme = registry.resolve_city(args.city)
    rating = scheme.map(local_record(args))
    holder_ref = args.holder or f"demo-holder-{time.time_ns()}"
    issued = home.issue(scheme.city, holder_ref=holder_ref, tier=rating.tier, band=rating.band,
                        now_s=int(time.time()), ttl_s=args.ttl_s,
                        algorithm=Algorithm.from_slug(args.alg) if args.alg else None)
    if args.qr:
        _write_qr(issued.code, Path(args.qr))
    if args.json:
        out.json({"code": issued.code, "city": f"{issued.city:06d}", "tier": issued.tier.name,
                  "band": issued.band, "expires_at": iso(issued.expires_at_s),
                  "status_index": issued.status_index, "qr": args.qr})
    else:
        out.line(issued.code)
    return 0


def _write_qr(code: str, path: Path) -> None:
    try:
        import segno  # noqa: PLC0415 - optional: the qr extra
    except ImportError:
        raise InvalidArgumentError("QR output needs segno: pip install 'citycredit[qr]'") from None
    if path.suffix.lower() not in {".png", ".svg"}:
        raise InvalidArgumentError("--qr writes .png or .svg files")
    qr = segno.make(code, error="m", mode="alphanumeric", boost_error=False)
    qr.save(str(path), scale=6, border=4)


def _revoke(args: argparse.Namespace, out: Output) -> int:
    home = Home(args.home).require()
    claims = parse_claims(decode_envelope(args.code).payload)
    alliance = home.load()
    now = int(time.time())
    if args.holder:
        alliance.revoke_holder(claims.city, claims.holder, cutoff_s=now + 1)
        what = f"every code of holder {claims.holder.hex()[:12]}… issued until {iso(now)}"
    else:
        alliance.revoke_index(claims.city, claims.status_index, now_s=now)
        what = f"status index {claims.status_index} of city {claims.city}"
    home.publish(alliance, now_s=now)
    out.ok(f"revoked {what}; bundle version {alliance.version}")
    return 0

