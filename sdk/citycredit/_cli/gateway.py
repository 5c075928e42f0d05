"""`citycredit up` (the demo alliance), `gateway serve`, `issuer serve` and `audit verify`.

The servers' dependencies (FastAPI, grpcio, SQLModel …) are imported only when these
commands run, so the rest of the CLI starts fast without them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit.core import TrustAnchor
from citycredit.errors import NotFoundError

__all__ = ["register"]

_EXTRA_HINT = "the servers need their extra: pip install 'citycredit[gateway]'"


def _server_args(parser: argparse.ArgumentParser, *, grpc: bool = True) -> None:
    parser.add_argument("--host", help="address to listen on (env CITYCREDIT_HOST, default 127.0.0.1)")
    if grpc:
        parser.add_argument("--grpc-port", type=int, help="gRPC port, 0 = any free one (env CITYCREDIT_GRPC_PORT, "
                                                          "default 50051)")
    parser.add_argument("--http-port", type=int, help="REST port, 0 = any free one (env CITYCREDIT_HTTP_PORT, "
                                                      "default 8080)")


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="run the demo alliance: the gateway and every city's issuer, until "
                                          "SIGTERM/SIGINT")
    up.add_argument("--home", help="alliance directory, created as the demo alliance when empty "
                                   "(env CITYCREDIT_HOME, default ~/.citycredit)")
    up.add_argument("--db", help="the gateway's database: sqlite:///FILE or postgresql://… "
                                 "(env CITYCREDIT_DB, default HOME/gateway/gateway.db)")
    _server_args(up)
    up.add_argument("--workers", type=int, help="gateway processes sharing the ports "
                                                "(env CITYCREDIT_WORKERS, default the CPU count, at most 4)")
    up.add_argument("--no-issuers", action="store_true", help="run the gateway only, not the cities' issuers")
    up.set_defaults(handler=_up)

    gateway = subparsers.add_parser("gateway", help="run the gateway alone")
    sub = gateway.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="the gateway (gRPC + REST + pages) until SIGTERM/SIGINT; it reads only "
                                         "its home and the public trust set")
    serve.add_argument("--home", help="the gateway's own directory: keys/, anchor.json, seed.json "
                                      "(env CITYCREDIT_HOME, default ~/.citycredit/gateway)")
    serve.add_argument("--seed", help="the public trust set to seed an empty database from "
                                      "(default HOME/../repository)")
    serve.add_argument("--db", help="database URL (env CITYCREDIT_DB, default HOME/gateway.db)")
    _server_args(serve)
    serve.add_argument("--workers", type=int, help="processes sharing the ports (env CITYCREDIT_WORKERS)")
    serve.set_defaults(handler=_gateway_serve)

    issuer = subparsers.add_parser("issuer", help="run a city's issuer")
    sub = issuer.add_subparsers(dest="issuer_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="a city's issuer (holder and office pages, issuance, status lists, "
                                         "uploads) until SIGTERM/SIGINT")
    serve.add_argument("--home", help="alliance home (a demo home) with --city, or")
    serve.add_argument("--city", help="with --home: the city (code or pinyin name)")
    serve.add_argument("--store", help="the city office's own store (instead of --home/--city)")
    serve.add_argument("--gateway", help="the gateway's REST URL to upload to and follow (default "
                                         "$CITYCREDIT_GATEWAY, or none)")
    _server_args(serve, grpc=False)
    serve.set_defaults(handler=_issuer_serve)

    audit = subparsers.add_parser("audit", help="check a gateway's transparency log")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="exit 0 when the log holds against the database and every held head, "
                                           "1 naming the first problem")
    where = verify.add_mutually_exclusive_group()
    where.add_argument("--db", help="database URL (env CITYCREDIT_DB)")
    where.add_argument("--home", help="the gateway's directory whose gateway.db to check")
    verify.add_argument("--heads", action="append", default=[],
                        help="a city's held heads (its heads.jsonl); repeat for several cities")
    verify.add_argument("--root", help="the root the auditor trusts (a TUF root: its trust cache's "
                                       "metadata/root.json, or the pinned anchor): every head must then carry a "
                                       "valid signature of the gateway's timestamp key it names")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(handler=_audit_verify)


def _up(args: argparse.Namespace, out: Output) -> int:
    try:
        from citycredit.gateway.launcher import run_alliance  # noqa: PLC0415 - optional: the gateway extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    home = Path(args.home or os.environ.get("CITYCREDIT_HOME") or "~/.citycredit").expanduser()
    return run_alliance(home, out, db_url=args.db, host=args.host, grpc_port=args.grpc_port,
                        http_port=args.http_port, workers=args.workers, issuers=not args.no_issuers)


def _gateway_serve(args: argparse.Namespace, out: Output) -> int:
    try:
        from citycredit.gateway import GatewayConfig, serve  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.logs import configure_logging  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.supervisor import supervise  # noqa: PLC0415 - optional: the gateway extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    config = GatewayConfig.from_env(home=args.home, seed=args.seed, db_url=args.db, host=args.host,
                                    grpc_port=args.grpc_port, http_port=args.http_port, workers=args.workers)
    configure_logging()
    if config.workers > 1:
        return int(supervise(config))
    asyncio.run(serve(config))
    return 0


def _issuer_serve(args: argparse.Namespace, out: Output) -> int:
    try:
        from citycredit.gateway.issuer import IssuerConfig, serve_issuer  # noqa: PLC0415 - optional: the extra
        from citycredit.gateway.logs import configure_logging  # noqa: PLC0415 - optional: the gateway extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    config = IssuerConfig.from_env(home=args.home, city=args.city, store=args.store, gateway=args.gateway,
                                   host=args.host, http_port=args.http_port)
    configure_logging()
    asyncio.run(serve_issuer(config))
    return 0


def _audit_verify(args: argparse.Namespace, out: Output) -> int:
    try:
        from sqlalchemy.exc import DBAPIError  # noqa: PLC0415 - optional: the gateway extra

        from citycredit.gateway import GatewayConfig  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.db import Database  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.transparency import audit, load_heads  # noqa: PLC0415 - optional: the extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    config = GatewayConfig.from_env(home=args.home, db_url=args.db)
    if config.db_url is None and not (config.home / "gateway.db").is_file():
        raise NotFoundError(f"no gateway database in {config.home}; give --home DIR or --db URL")
    heads = [head for path in args.heads for head in load_heads(path)]
    timestamp_keys = None
    if args.root:
        try:
            timestamp_keys = TrustAnchor.from_json(Path(args.root).read_bytes()).role_keys("timestamp")
        except OSError as exc:
            raise NotFoundError(f"cannot read {args.root}: {exc.strerror}") from None
    db = Database(config.database_url)
    try:
        report = audit(db, heads, timestamp_keys=timestamp_keys)
    except DBAPIError as exc:
        raise NotFoundError(f"cannot read the log: {str(exc.orig).splitlines()[0]}") from None
    finally:
        db.close()
    if args.json:
        out.json({"ok": report.ok, "entries": report.entries, "pending": report.pending, "heads": report.heads,
                  "reason": report.reason or None, "index": report.index, "head_size": report.head_size,
                  "redemption": report.redemption})
    elif report.ok:
        out.ok(f"log intact: {report.entries} entries and {report.pending} pending; {report.heads} signed heads "
               "agree with the entries; every redemption is recorded once")
    else:
        out.fail(f"log broken: {report.reason}")
    return 0 if report.ok else 1
