"""The one command: run the selected benchmark modules, print the table, write the JSON."""

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
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.fixtures import Context
from benchmarks.harness import Figure, Settings, render_table

__all__ = ["MODULES", "environment", "load_modules", "main"]

# Run order; each is `benchmarks.<name>` with NAME, FIGURES and run(ctx), optionally unavailable().
MODULES = ("verify", "eligibility", "peers", "size", "issuance", "scale", "gateway_grpc", "gateway_rest",
           "redemption")
_PACKAGES = ("cryptography", "protobuf", "pycose", "cbor2", "PyJWT", "segno", "grpcio", "fastapi", "uvicorn",
             "httpx", "psycopg")


def load_modules(names: list[str] | None = None) -> list[ModuleType]:
    chosen = MODULES if not names else tuple(names)
    unknown = [n for n in chosen if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    return [importlib.import_module(f"benchmarks.{name}") for name in chosen]


def environment() -> dict[str, Any]:
    versions = {}
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
        "cryptography": versions["cryptography"],
        "packages": versions,
    }


def _run_module(module: ModuleType, ctx: Context) -> list[Figure]:
    reason = module.unavailable() if hasattr(module, "unavailable") else None
    if reason:
        return [spec.skip(reason) for spec in module.FIGURES]
    figures = module.run(ctx)
    produced = {f.name for f in figures}
    missing = [spec.name for spec in module.FIGURES if spec.name not in produced]
    if missing:
        raise RuntimeError(f"benchmarks.{module.NAME} did not produce {', '.join(missing)}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few rounds and codes: a smoke test under a minute")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures and environment as JSON")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these: {', '.join(MODULES)}")
    args = parser.parse_args(argv)

    settings = Settings.smoke() if args.quick else Settings.full()
    modules = load_modules(args.only)
    ctx = Context(settings)
    started = time.monotonic()
    figures: list[Figure] = []
    with ctx.resources:
        for module in modules:
            t0 = time.monotonic()
            produced = _run_module(module, ctx)
            figures.extend(produced)
            print(f"# {module.NAME}: {len(produced)} figure(s) in {time.monotonic() - t0:.1f} s", file=sys.stderr,
                  flush=True)
    elapsed = time.monotonic() - started

    command = "python -m benchmarks" + ("" if argv is None and len(sys.argv) <= 1 else " " + " ".join(
        sys.argv[1:] if argv is None else argv))
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{command}  ({date}, {elapsed:.0f} s, {os.cpu_count()} CPUs)")
    print(render_table(figures))
    for fig in figures:
        if fig.note:
            print(f"  {fig.name}: {fig.note}")
    if args.json:
        doc = {"command": command, "date": date, "quick": settings.quick, "elapsed_s": elapsed,
               "settings": dataclasses.asdict(settings),
               "environment": environment(), "figures": [f.to_json() for f in figures]}
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return 0
