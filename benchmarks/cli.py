"""The one command: run the benchmark modules, print the table, write the JSON report.

    python -m benchmarks [--quick] [--json OUT] [--only NAME ...]

Each module in `MODULES` (benchmarks/<name>.py) declares `NAME`, the `FIGURES` it promises
and `run(ctx)`, and optionally `unavailable()`, which names what to install when a part it
needs (a peer library, the gateway extra, PostgreSQL, Node) is missing: its figures are then
reported as skipped with that reason, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import platform
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.fixtures import Context
from benchmarks.harness import Figure, Settings, render_table

__all__ = ["DEFAULT_JSON", "MODULES", "environment", "load_modules", "main"]

# Run order; each is `benchmarks.<name>`.
MODULES = ("verify", "presentation", "peers", "size", "issuance", "trust_open", "gateway_grpc", "gateway_rest",
           "national", "redemption", "js_verifier")
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_JSON = RESULTS / "latest.json"
_PACKAGES = ("cryptography", "protobuf", "tuf", "pycose", "cbor2", "PyJWT", "segno", "grpcio", "fastapi",
             "uvicorn", "httptools", "psycopg")


def load_modules(names: list[str] | None = None) -> list[ModuleType]:
    chosen = MODULES if not names else tuple(names)
    unknown = [n for n in chosen if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    return [importlib.import_module(f"benchmarks.{name}") for name in chosen]


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        # Other work on the machine: the 1, 5 and 15 minute load averages when the run started.
        "load_average": list(os.getloadavg()),
        "cryptography": versions["cryptography"],
        "packages": versions,
    }


def _run_module(module: ModuleType, ctx: Context) -> list[Figure]:
    reason = module.unavailable() if hasattr(module, "unavailable") else None
    if reason:
        return [spec.skip(reason) for spec in module.FIGURES]
    figures: list[Figure] = module.run(ctx)
    produced = {f.name for f in figures}
    missing = [spec.name for spec in module.FIGURES if spec.name not in produced]
    if missing:
        raise RuntimeError(f"benchmarks.{module.NAME} did not produce {', '.join(missing)}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that checks every figure is "
                                                             "produced (its numbers mean nothing)")
    parser.add_argument("--json", type=Path, metavar="OUT", help=f"where the JSON report goes (default {DEFAULT_JSON}"
                                                                 ", or latest-quick.json beside it with --quick)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these: {', '.join(MODULES)}")
    args = parser.parse_args(argv)

    settings = Settings.smoke() if args.quick else Settings.full()
    modules = load_modules(args.only)
    env = environment()
    ctx = Context(settings)
    started = time.monotonic()
    figures: list[Figure] = []
    failed: list[str] = []
    with ctx.resources:
        for module in modules:
            t0 = time.monotonic()
            try:
                produced = _run_module(module, ctx)
            except Exception as exc:  # one module failing loses neither the others' figures nor the report
                failed.append(module.NAME)
                where = traceback.extract_tb(exc.__traceback__)[-1]
                reason = f"failed: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
                print(f"# {module.NAME}: {reason}", file=sys.stderr, flush=True)
                produced = [spec.skip(reason) for spec in module.FIGURES]
            figures.extend(produced)
            print(f"# {module.NAME}: {len(produced)} figure(s) in {time.monotonic() - t0:.1f} s", file=sys.stderr,
                  flush=True)
    elapsed = time.monotonic() - started

    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks", *given])
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = "/".join(f"{x:.1f}" for x in env["load_average"])
    print(f"{command}  ({date}, {elapsed:.0f} s, {os.cpu_count()} CPUs, load average {load} at the start)")
    print(render_table(figures))
    for fig in figures:
        if fig.note:
            print(f"  {fig.name}: {fig.note}")
    out = args.json or (DEFAULT_JSON.with_name("latest-quick.json") if settings.quick else DEFAULT_JSON)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, "date": date, "quick": settings.quick, "elapsed_s": elapsed,
           "settings": dataclasses.asdict(settings), "environment": env,
           "load_average_end": list(os.getloadavg()),
           "figures": [f.to_json() for f in figures]}
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"JSON report: {out}")
    if failed:
        print(f"failed: {', '.join(failed)} (their figures are reported as skipped, with the error)", file=sys.stderr)
        return 1
    return 0
