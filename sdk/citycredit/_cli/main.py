"""`citycredit` command line: one parser, one module per command group.

Each command module has `register(subparsers)` that declares its arguments and
sets `handler`; heavy imports happen inside handlers so that `verify` starts fast.
Exit codes: 0 valid / eligible / done, 1 a negative verdict, 2 bad input or a failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from citycredit._cli.output import Output
from citycredit.errors import CityCreditError

# Command modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "citycredit._cli.demo",
    "citycredit._cli.codes",
    "citycredit._cli.offers",
    "citycredit._cli.keys",
    "citycredit._cli.holder",
    "citycredit._cli.trust",
    "citycredit._cli.governance",
    "citycredit._cli.gateway",
    "citycredit._cli.conformance",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors: one line and exit code 2, as for any bad input."""
        self.print_usage(sys.stderr)
        Output(stream=sys.stderr).error("CC_USAGE", message)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="citycredit", description="City credit codes: issue, verify, check, serve.")
    parser.add_argument("--version", action="version", version="citycredit 0.2.0")
    parser.add_argument("--no-color", action="store_true", help="plain output (also when NO_COLOR is set)")
    parser.add_argument("--json", action="store_true",
                        help="machine output for any command: `citycredit --json verify ...` (conformance protocol)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(color=False if args.no_color else None)
    try:
        return int(args.handler(args, out))
    except CityCreditError as exc:
        out.error(exc.code, exc.message)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`citycredit offers | head -1`): stop quietly, as a program killed by SIGPIPE
        # would, and keep the interpreter from failing again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
