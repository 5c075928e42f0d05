"""`citycredit issue`, `verify`, `present`, and the status changes `revoke`, `suspend` and `reinstate`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from citycredit._cli.holder import load_device_key
from citycredit._cli.output import Output
from citycredit._cli.party import add_office_args, open_office, publish_status
from citycredit._cli.trust import add_json_flag, add_trust_args, load_verifier
from citycredit.adapters import load_registry
from citycredit.core import (
    Algorithm,
    Presented,
    Status,
    decode_text,
    device_key,
    encode_presentation,
    iso,
    parse_claims,
    parse_time_s,
    verification_to_json,
)
from citycredit.errors import BundleError, CodeError, InvalidArgumentError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    issue = subparsers.add_parser("issue", help="issue a signed CC1 code for a holder of a city")
    add_office_args(issue)
    record = issue.add_mutually_exclusive_group(required=True)
    record.add_argument("--score", type=int, help="local score, for score-based schemes")
    record.add_argument("--colour", "--color", dest="colour", help="colour code, e.g. green (Huizhou)")
    record.add_argument("--grade", help="letter grade, e.g. AA (Rongcheng)")
    issue.add_argument("--honours", action="store_true", help="with --colour: the holder has honours")
    issue.add_argument("--bad-record", action="store_true", help="with --colour: the holder has a bad record")
    issue.add_argument("--holder", help="holder identity as the city knows it (only its pseudonym is encoded)")
    issue.add_argument("--for", dest="audience", help="the host city the code is for (default: the home city)")
    issue.add_argument("--device-key", help="bind the code to this device's public key (from holder device-key)")
    issue.add_argument("--ttl-s", type=int, default=300, help="lifetime in seconds (default 300)")
    issue.add_argument("--alg", choices=["ed25519", "p256", "sm2"], help="sign with the city's key of this kind")
    issue.add_argument("--qr", help="also write a QR code (.png or .svg)")
    add_json_flag(issue)
    issue.set_defaults(handler=_issue)

    verify = subparsers.add_parser("verify", help="verify a CC1 code or CP1 presentation offline "
                                                  "(exit 0 valid, 1 invalid, 2 cannot judge)")
    verify.add_argument("code", help="the CC1: or CP1: string")
    add_trust_args(verify)
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)

    present = subparsers.add_parser("present", help="make a CP1 presentation of a device-bound code "
                                                    "(what the holder's phone shows every 30 s)")
    present.add_argument("code", help="the device-bound CC1: code")
    present.add_argument("--device-key", required=True, help="the device's private key (from holder device-key)")
    present.add_argument("--at", help="presentation time, ISO 8601 with a zone (default: now)")
    present.add_argument("--qr", help="also write a QR code (.png or .svg)")
    present.set_defaults(handler=_present)

    for name, status, verb in (("revoke", Status.REVOKED, "revoke"), ("suspend", Status.SUSPENDED, "suspend "
                               "(under appeal or a credit commitment; reversible)"),
                               ("reinstate", Status.VALID, "make valid again")):
        change = subparsers.add_parser(name, help=f"{verb} a code this city issued (or every live code of its "
                                                  "holder) and publish the city's new status list")
        change.add_argument("code", help="the CC1: or CP1: string")
        change.add_argument("--holder", action="store_true", help="every live code of this code's holder")
        add_office_args(change, city=True)  # with --home, --city defaults to the code's city
        add_json_flag(change)
        change.set_defaults(handler=_change_status, status=status)


def local_record(args: argparse.Namespace) -> dict[str, Any]:
    if args.score is not None:
        return {"score": args.score}
    if args.colour is not None:
        record: dict[str, Any] = {"colour": args.colour}
        if args.honours:
            record["honours"] = True
        if args.bad_record:
            record["bad_record"] = True
        return record
    return {"grade": args.grade}


def _issue(args: argparse.Namespace, out: Output) -> int:
    with open_office(args) as (office, home):
        # A demo home's scheme overrides, or a standalone office's own scheme file (city init puts it there).
        schemes = home.schemes_dir if home is not None else office.directory / "schemes"
        registry = load_registry(schemes if schemes.is_dir() else None)
        scheme = registry.resolve_city(office.city)
        rating = scheme.map(local_record(args))
        audience = registry.resolve_city(args.audience).city if args.audience else None
        device = device_key(load_device_key(Path(args.device_key))) if args.device_key else None
        issued = office.issue(holder_ref=args.holder or f"demo-holder-{time.time_ns()}", tier=rating.tier,
                              band=rating.band, now_s=int(time.time()), ttl_s=args.ttl_s, audience=audience,
                              device_key=device, algorithm=Algorithm.from_slug(args.alg) if args.alg else None)
    if args.qr:
        write_qr(issued.code, Path(args.qr))
    if args.json:
        out.json({"code": issued.code, "city": f"{issued.city:06d}", "audience": f"{issued.audience:06d}",
                  "tier": issued.tier.name, "band": issued.band, "expires_at": iso(issued.expires_at_s),
                  "status_index": issued.status_index, "device_bound": issued.device_bound, "qr": args.qr})
    else:
        out.line(issued.code)
    return 0


def _verify(args: argparse.Namespace, out: Output) -> int:
    try:
        verifier = load_verifier(args)
        result = verifier.verify(args.code.rstrip("\r\n"))
    except (CodeError, BundleError) as exc:
        if args.json:
            out.json(verification_to_json(exc))
        else:
            out.fail(f"{out.paint('INVALID', 'red', 'bold')}  {exc.code}: {exc.message}")
        # A refused trust set (stale, rolled back, forged) says nothing about the code.
        return 2 if isinstance(exc, BundleError) else 1
    if args.json:
        out.json(verification_to_json(result))
        return 0
    trust = verifier.snapshot.cities.get(result.city)
    name = f"{trust.name_zh} {trust.name_en}" if trust else ""
    out.ok(f"{out.paint('VALID', 'green', 'bold')}  {result.city:06d} {name}")
    out.field("tier", f"{result.tier.name} ({result.tier.label_zh})")
    out.field("band", result.band)
    if result.audience != result.city:
        out.field("for", f"{result.audience:06d}")
    out.field("issued", iso(result.issued_at_s))
    out.field("expires", iso(result.expires_at_s))
    if result.device_bound:
        out.field("device", "presented by the holder's device")
    out.field("trust", f"snapshot {verifier.version}")
    return 0


def _present(args: argparse.Namespace, out: Output) -> int:
    at = parse_time_s(args.at, "--at") if args.at else int(time.time())
    presentation = encode_presentation(args.code.strip(), load_device_key(Path(args.device_key)), presented_at_s=at)
    if args.qr:
        write_qr(presentation, Path(args.qr))
    out.line(presentation)
    return 0


def _change_status(args: argparse.Namespace, out: Output) -> int:
    status: Status = args.status
    now = int(time.time())
    if args.home and not args.city:  # the code names its city; that office checks the signature itself
        decoded = decode_text(args.code.strip())
        envelope = decoded.envelope if isinstance(decoded, Presented) else decoded
        args.city = f"{parse_claims(envelope.payload).city:06d}"
    with open_office(args) as (office, home):
        change = office.set_status(args.code.strip(), status, holder=args.holder, now_s=now)
        published: dict[str, Any] = {}
        if change.update is not None:
            published = publish_status(args, office, home, change.update)
    verb = {Status.REVOKED: "revoked", Status.SUSPENDED: "suspended", Status.VALID: "reinstated"}[status]
    if args.json:
        out.json({"changed": len(change.code_ids), "code_ids": list(change.code_ids), "status": status.name,
                  "status_list_version": change.version, **published})
        return 0
    if not change.changed:
        out.ok(f"already {verb}: nothing changed and nothing was published")
        return 0
    out.ok(f"{verb} {len(change.code_ids)} code(s); status list of {office.city:06d} is now version {change.version}")
    for key, value in published.items():
        out.field(key, value)
    return 0


def write_qr(text: str, path: Path) -> None:
    try:
        import segno  # noqa: PLC0415 - optional: the qr extra
    except ImportError:
        raise InvalidArgumentError("QR output needs segno: pip install 'citycredit[qr]'") from None
    if path.suffix.lower() not in {".png", ".svg"}:
        raise InvalidArgumentError("--qr writes .png or .svg files")
    qr = segno.make(text, error="m", mode="alphanumeric", boost_error=False)
    qr.save(str(path), scale=6, border=4)
