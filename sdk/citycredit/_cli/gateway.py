"""`citycredit up` (the gateway) and `citycredit audit verify`.

The gateway's dependencies (FastAPI, grpcio, SQLModel …) are imported only when
these commands run, so the rest of the CLI starts fast without them.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from citycredit._cli.output import Output
from citycredit.errors import NotFoundError

_EXTRA_HINT = "the gateway needs its extra: pip install 'citycredit[gateway]'"


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="run the gateway (gRPC + REST) until SIGTERM/SIGINT")
    up.add_argument("--home", help="alliance directory; the demo alliance is created there if empty "
                                   "(env CITYCREDIT_HOME, default ~/.citycredit)")
    up.add_argument("--db", help="database URL: sqlite:///FILE or postgresql://… "
                                 "(env CITYCREDIT_DB, default HOME/gateway.db)")
    up.add_argument("--host", help="address to listen on (env CITYCREDIT_HOST, default 127.0.0.1)")
    up.add_argument("--grpc-port", type=int, help="gRPC port, 0 = any free one (env CITYCREDIT_GRPC_PORT, 50051)")
    up.add_argument("--http-port", type=int, help="REST port, 0 = any free one (env CITYCREDIT_HTTP_PORT, 8080)")
    up.add_argument("--workers", type=int, help="processes sharing the ports; 1 = a single process "
                                                "(env CITYCREDIT_WORKERS, default the CPU count, at most 4)")
    up.set_defaults(handler=_up)

    audit = subparsers.add_parser("audit", help="check the gateway's hash-chained audit log")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="exit 0 when the chain holds, 1 naming the first bad entry")
    where = verify.add_mutually_exclusive_group()
    where.add_argument("--db", help="database URL (env CITYCREDIT_DB)")
    where.add_argument("--home", help="alliance directory whose gateway.db to check (env CITYCREDIT_HOME)")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(handler=_audit_verify)


def _config(args: argparse.Namespace, **flags: Any) -> Any:
    from citycredit.gateway.config import GatewayConfig  # noqa: PLC0415 - optional: the gateway extra

    return GatewayConfig.from_env(home=args.home, db_url=args.db, **flags)


def _up(args: argparse.Namespace, out: Output) -> int:
    try:
        from citycredit.gateway import serve  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.logs import configure_logging  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.supervisor import supervise  # noqa: PLC0415 - optional: the gateway extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    config = _config(args, host=args.host, grpc_port=args.grpc_port, http_port=args.http_port,
                     workers=args.workers)
    configure_logging()
    if config.workers > 1:
        return int(supervise(config))
    asyncio.run(serve(config))
    return 0


def _audit_verify(args: argparse.Namespace, out: Output) -> int:
    try:
        from sqlalchemy.exc import DBAPIError  # noqa: PLC0415 - optional: the gateway extra

        from citycredit.gateway.audit import load_and_verify  # noqa: PLC0415 - optional: the gateway extra
        from citycredit.gateway.db import Database  # noqa: PLC0415 - optional: the gateway extra
    except ImportError as exc:
        out.error("CC_UNAVAILABLE", f"{_EXTRA_HINT} ({exc.name} is missing)")
        return 2
    config = _config(args)
    if config.db_url is None and not (config.home / "gateway.db").is_file():
        raise NotFoundError(f"no gateway database in {config.home}; give --home DIR or --db URL")
    db = Database(config.database_url)
    try:
        with db.read() as session:
            report = load_and_verify(session)
    except DBAPIError as exc:
        raise NotFoundError(f"cannot read the audit log: {str(exc.orig).splitlines()[0]}") from None
    finally:
        db.close()
    if args.json:
        out.json({"ok": report.ok, "entries": report.entries, "pending": report.pending, "bad_seq": report.bad_seq,
                  "bad_record": report.bad_record, "reason": report.reason})
    elif report.ok:
        out.ok(f"audit log intact: {report.entries} entries, every hash and link holds; {report.pending} "
               "redemption records pending, each intact; every redemption is recorded")
    elif report.bad_seq is not None:
        out.fail(f"audit log broken at seq {report.bad_seq}: {report.reason}")
    else:
        out.fail(f"audit log broken at redemption {report.bad_record}: {report.reason}")
    return 0 if report.ok else 1
