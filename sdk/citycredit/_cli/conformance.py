"""`citycredit conformance run|adapter|issuer`: prove an implementation, a scheme or an issuer conforms."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._cli.trust import add_json_flag
from citycredit.conformance import (
    Implementation,
    IssuerPolicy,
    check_adapter,
    check_issuer,
    load_known_failures,
    report_for_run,
    run_vectors,
    write_report,
)
from citycredit.errors import InvalidArgumentError

# Kept here (not imported) so that building the parser stays cheap; a test checks it matches the kit.
LAYERS = ("decode", "signature", "time", "status", "trust", "presentation", "eligibility", "adapter")


def register(subparsers: Any) -> None:
    conformance = subparsers.add_parser("conformance", help="run the conformance vectors, check a scheme or an issuer")
    sub = conformance.add_subparsers(dest="conformance_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="run the vectors against this citycredit or another implementation (--cmd)")
    run.add_argument("--cmd", help='the implementation, e.g. "java -jar verifier.jar" (default: citycredit --json)')
    run.add_argument("--layer", nargs="+", action="extend", choices=LAYERS, metavar="LAYER",
                     help=f"only these layers: {', '.join(LAYERS)}")
    run.add_argument("--report", help="write an onboarding report (.md or .html)")
    run.add_argument("--vectors", help="a vectors folder (default: the vectors shipped with citycredit)")
    run.add_argument("--known-failures", help="known failures file (default: the reference's, without --cmd)")
    run.add_argument("--schemes", help="scheme overrides folder for the adapter layer")
    run.add_argument("--jobs", type=int, help="cases run at once (default: twice the cores, at most 8)")
    run.add_argument("--timeout-s", type=float, default=30.0, help="time allowed for one case, seconds")
    add_json_flag(run)
    run.set_defaults(handler=_run)

    adapter = sub.add_parser("adapter", help="check a city scheme: a data file, or a member city by name or code")
    adapter.add_argument("target", metavar="NAME|FILE", help="e.g. hangzhou, 330100 or my-city.json")
    adapter.add_argument("--report", help="write an onboarding report (.md or .html)")
    add_json_flag(adapter)
    adapter.set_defaults(handler=_adapter)

    issuer = sub.add_parser("issuer", help="check a city's issuing command and the codes it makes")
    issuer.add_argument("--cmd", required=True,
                        help='the issuing command, to which "--city C --score N" is appended, e.g. '
                             '"citycredit --json issue --home D"')
    issuer.add_argument("--city", required=True, help="the issuing city (six-digit code or pinyin name)")
    issuer.add_argument("--trust", required=True,
                        help="the trust set its keys are published in, in the served layout (anchor.json inside "
                             "it or in the folder above, e.g. D/repository of a demo home)")
    issuer.add_argument("--anchor", help="the pinned trust anchor (default: the trust set's anchor.json)")
    issuer.add_argument("--scheme", help="the city's scheme file (default: the member city's scheme)")
    issuer.add_argument("--max-ttl-s", type=int, default=300,
                        help="the longest lifetime policy allows, seconds (default 300; printed codes need more)")
    issuer.add_argument("--skew-s", type=int, default=300, help="clock difference tolerated for issued_at, seconds")
    issuer.add_argument("--timeout-s", type=float, default=30.0, help="time allowed for one issue, seconds")
    issuer.add_argument("--report", help="write an onboarding report (.md or .html)")
    add_json_flag(issuer)
    issuer.set_defaults(handler=_issuer)


def _command(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise InvalidArgumentError(f"--cmd {text!r}: {exc}") from None
    if not argv:
        raise InvalidArgumentError("--cmd is empty")
    return argv


def _print_checks(report: Any, out: Output) -> None:
    for section, checks in report.sections():
        passed = sum(1 for c in checks if c.status == "pass")
        out.line(out.paint(f"{section} ({passed}/{len(checks)} pass)", "bold"))
        for check in checks:
            if check.status == "pass":
                out.ok(f"{check.name}" + (f": {check.why}" if check.why else ""))
            elif check.status == "skip":
                out.line(f"  - {check.name}: {check.why}")
            else:
                out.fail(f"{check.name}: {check.why}")


def _run(args: argparse.Namespace, out: Output) -> int:
    implementation = None
    if args.cmd:
        implementation = Implementation(name=args.cmd, argv=_command(args.cmd), timeout_s=args.timeout_s)
    known = load_known_failures(Path(args.known_failures)) if args.known_failures else None
    result = run_vectors(implementation, vectors=Path(args.vectors) if args.vectors else None, layers=args.layer,
                         known_failures=known, jobs=args.jobs, schemes_dir=Path(args.schemes) if args.schemes else None,
                         progress=sys.stderr)
    report = report_for_run(result)
    if args.json:
        out.json(result.to_dict())
    else:
        out.line(f"conformance of {result.implementation}: {len(result.outcomes)} cases in {result.seconds:.1f} s")
        for layer, counts in result.by_layer().items():
            total = sum(counts.values())
            extra = ", ".join(f"{n} {status}" for status, n in counts.items() if n and status not in ("pass", "fail"))
            line = f"{layer:<12} {counts['pass']}/{total} pass" + (f" ({extra})" if extra else "")
            (out.ok if not counts["fail"] and not counts["fixed"] else out.fail)(
                line + (f", {counts['fail'] + counts['fixed']} FAIL" if counts["fail"] or counts["fixed"] else ""))
        for outcome in result.failures():
            out.fail(f"{outcome.case.name}: {'; '.join(outcome.problems)}")
        for name in result.stale_known_failures:
            out.fail(f"known failure {name} names no case")
        if result.ok:
            out.ok(out.paint("every case passes", "green", "bold"))
    if args.report:
        _save(write_report, report, args.report)
        if not args.json:
            out.line(f"report: {args.report}")
    return 0 if result.ok else 1


def _save(write: Any, report: Any, path: str) -> None:
    try:
        write(report, Path(path))
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror}") from None


def _adapter(args: argparse.Namespace, out: Output) -> int:
    return _show(check_adapter(args.target), args, out)


def _show(report: Any, args: argparse.Namespace, out: Output) -> int:
    """Print an adapter or issuer report (or its JSON), write it if asked; exit 0 only if every check passes."""
    if args.json:
        out.json({"subject": report.subject, "ok": report.ok,
                  "checks": [{"section": c.section, "name": c.name, "status": c.status, "why": c.why}
                             for c in report.checks]})
    else:
        out.line(out.paint(report.subject, "bold"))
        _print_checks(report, out)
    if args.report:
        _save(write_report, report, args.report)
    return 0 if report.ok else 1


def _issuer(args: argparse.Namespace, out: Output) -> int:
    policy = IssuerPolicy(max_ttl_s=args.max_ttl_s, skew_s=args.skew_s, timeout_s=args.timeout_s)
    report = check_issuer(_command(args.cmd), city=args.city, trust=Path(args.trust),
                          anchor=Path(args.anchor) if args.anchor else None,
                          scheme_file=Path(args.scheme) if args.scheme else None, policy=policy)
    return _show(report, args, out)
