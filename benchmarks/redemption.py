"""Redemptions per second through the gateway's REST API with 16 concurrent clients, against a bare write of the
same rows in the same run, on SQLite and on PostgreSQL.

The gateway runs as `citycredit up` deploys it by default (a supervisor and one worker per CPU,
at most 4), on a fresh demo copy: SQLite in its home, or a throwaway PostgreSQL cluster
(tests/support/postgres.py, durable here: fsync and synchronous commit on). 16 keep-alive
clients redeem the demo's quota offer (`quzhou-parking-free-3`, 3 a month) for fresh Quzhou
holders, each holder tried `uses + 1` times under distinct idempotency keys, shuffled so that
one holder's attempts race. The rate counts successful redemptions over the batch time.

The baseline writes the very rows the gateway wrote for those requests (each redemption's row,
its pending log entry, its idempotency answer; a refusal's answer alone) into copies of the same
tables (same columns and indexes), one transaction per request, from 16 threads each with its
own connection of the same driver (sqlite3 with the gateway's pragmas, psycopg), and is
expressed as redemptions per second over its own time.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from citycredit import Tier

from benchmarks.fixtures import Context
from benchmarks.gateway_common import LoadLoop, demo_codes, gateway_unavailable, start_gateway
from benchmarks.harness import Figure, Spec, value_figure
from benchmarks.loadgen import http_post_all

NAME = "redemption"
CLIENTS = 16
OFFER, CITY, USES = "quzhou-parking-free-3", 330800, 3
TABLES = ("redemptions", "log_pending", "idempotency")
FIGURES = (
    Spec("gateway.redeem.sqlite", "redemptions/s"),
    Spec("gateway.redeem.postgres", "redemptions/s"),
)
_DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def unavailable() -> str | None:
    return gateway_unavailable()


def _postgres_missing() -> str | None:
    try:
        from tests.support.postgres import find_bindir  # noqa: PLC0415 - optional: needs the source tree
    except ImportError:
        return "skipped: tests/support/postgres.py is not importable (run from the source tree)"
    if find_bindir() is None:
        return "skipped: PostgreSQL is not installed (Debian package postgresql; ./dev test installs it)"
    return None


class _Rows:
    """Read the rows a batch wrote and write them again into copies of the tables, bare."""

    def __init__(self, connect: Callable[[], Any], postgres: bool) -> None:
        self.connect, self.postgres = connect, postgres
        self.mark = "%s" if postgres else "?"

    def clone_tables(self) -> None:
        conn = self.connect()
        try:
            for table in TABLES:
                if self.postgres:
                    conn.execute(f"CREATE TABLE IF NOT EXISTS bare_{table} (LIKE {table} INCLUDING ALL)")
                else:
                    for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
                                               (table,)).fetchall():
                        renamed = sql.replace(f'"{table}"', f'"bare_{table}"').replace(f" {table} ", f" bare_{table} ")
                        conn.execute(renamed.replace(" INDEX ", " INDEX IF NOT EXISTS bare_")
                                     .replace("TABLE ", "TABLE IF NOT EXISTS "))
            conn.commit()
        finally:
            conn.close()

    def rows_of(self, tag: str, redemption_ids: Sequence[str]) -> list[list[tuple[str, tuple[Any, ...]]]]:
        """Per request, the rows it wrote (table, values), in column order of the table."""
        conn = self.connect()
        try:
            def fetch(sql: str, args: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
                cursor = conn.execute(sql, args)
                return [d[0] for d in cursor.description], [tuple(r) for r in cursor.fetchall()]

            m = self.mark
            answers_cols, answers = fetch(f"SELECT * FROM idempotency WHERE key LIKE {m}", (f"{tag}-%",))
            spent: dict[str, tuple[Any, ...]] = {}
            pending: dict[str, tuple[Any, ...]] = {}
            ids = list(redemption_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join(m for _ in chunk)
                _, found = fetch(f"SELECT * FROM redemptions WHERE id IN ({marks})", chunk)
                spent.update((row[0], row) for row in found)
            # Linked entries left log_pending for log_entries: the same bytes, keyed by their redemption id.
            # log_pending is read first: an entry the gateway links between the two reads is then in log_entries.
            _, still = fetch("SELECT id, kind, data, created_at_s FROM log_pending", ())
            pending.update((row[0], row) for row in still if row[0] in spent)
            _, entries = fetch("SELECT kind, data, created_at_s FROM log_entries WHERE kind = 'redemption'", ())
            for kind, data, at_s in entries:
                rid = json.loads(bytes(data))["redemption_id"] if data else None
                if rid in spent:
                    pending[rid] = (rid, kind, bytes(data), at_s)
        finally:
            conn.close()
        by_answer = []
        response_at = answers_cols.index("response_json")
        for row in answers:
            doc = json.loads(row[response_at])
            rid = doc.get("redemption_id")
            rows = [("idempotency", row)]
            if rid in spent:
                rows = [("redemptions", spent[rid]), ("log_pending", pending[rid]), *rows]
            by_answer.append(rows)
        return by_answer

    def write(self, requests: list[list[tuple[str, tuple[Any, ...]]]], threads: int) -> float:
        """Seconds to write every request's rows, one transaction each, from `threads` connections."""
        work = iter(requests)
        lock = threading.Lock()
        failures: list[BaseException] = []

        def worker() -> None:
            conn = self.connect()
            try:
                while True:
                    with lock:
                        rows = next(work, None)
                    if rows is None:
                        return
                    for table, values in rows:
                        marks = ",".join(self.mark for _ in values)
                        conn.execute(f"INSERT INTO bare_{table} VALUES ({marks})", values)
                    conn.commit()
            except BaseException as exc:
                failures.append(exc)
            finally:
                conn.close()

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        if failures:
            raise failures[0]
        return time.perf_counter() - start


def _sqlite_connect(path: str) -> Callable[[], Any]:
    def connect() -> Any:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    return connect


def _postgres_connect(dsn: str) -> Callable[[], Any]:
    import psycopg  # noqa: PLC0415 - optional: the gateway extra

    return lambda: psycopg.connect(dsn)


def _measure(ctx: Context, label: str, db_url: str | None, rows: Callable[[Any], _Rows]) -> Figure:
    from citycredit.gateway.config import default_workers  # noqa: PLC0415 - optional: the gateway extra

    from tests.support.alliance import tokens  # noqa: PLC0415 - optional: needs the source tree

    settings = ctx.settings
    workers = default_workers()
    gateway = start_gateway(ctx, db_url=db_url, workers=workers)
    store = rows(gateway)
    store.clone_tables()
    token = tokens(gateway.home)["cities"][f"{CITY:06d}"]["merchant"]["token"]
    load = LoadLoop(ctx)
    holders = max(CLIENTS, settings.gateway_requests // (USES + 1))

    def batch(tag: str) -> tuple[float, list[str], Counter[str]]:
        codes = demo_codes(gateway.home, holders, now_s=int(time.time()), cities=["quzhou"], tier=Tier.OUTSTANDING,
                           tag=tag)
        bodies, keys = [], []
        for h, code in enumerate(codes):
            for attempt in range(USES + 1):
                bodies.append({"code": code, "offer_id": OFFER})
                keys.append({"Idempotency-Key": f"{tag}-{h}-{attempt}"})
        order = list(range(len(bodies)))
        random.Random(tag).shuffle(order)
        start = time.perf_counter()
        answers = load.run(http_post_all(gateway.server.http_port, "/v1/redemptions", [bodies[i] for i in order],
                                         concurrency=CLIENTS, timeout_s=settings.gateway_seconds * 4,
                                         headers={"Authorization": f"Bearer {token}"},
                                         each_headers=[keys[i] for i in order]))
        elapsed = time.perf_counter() - start
        outcomes: Counter[str] = Counter()
        spent = []
        for status, raw in answers:
            if status != 200:
                outcomes[f"HTTP {status}"] += 1
                continue
            doc = json.loads(raw)
            error = doc["decision"].get("error") if doc["decision"]["reason"] == "CODE_INVALID" else None
            outcomes[error or doc["decision"]["reason"] or "ELIGIBLE"] += 1
            if doc["redemption_id"]:
                spent.append(doc["redemption_id"])
        return elapsed, spent, outcomes

    batch("warmup")
    rates, bare_rates, ratios, totals = [], [], [], Counter[str]()
    for r in range(settings.redemption_rounds):
        tag = f"round{r}"
        elapsed, spent, outcomes = batch(tag)
        totals.update(outcomes)
        written = store.rows_of(tag, spent)
        bare_s = store.write(written, CLIENTS)
        rates.append(len(spent) / elapsed)
        bare_rates.append(len(spent) / bare_s)
        ratios.append(bare_s / elapsed)
    over = totals.get("ELIGIBLE", 0) - holders * USES * settings.redemption_rounds
    summary = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
    return value_figure(
        f"gateway.redeem.{label}", sorted(rates)[len(rates) // 2], "redemptions/s",
        baseline=sorted(bare_rates)[len(bare_rates) // 2], baseline_name="bare write of the same rows",
        ratio=sorted(ratios)[len(ratios) // 2],
        note=f"{CLIENTS} clients, REST, gateway with {workers} workers on {label}; {holders} holders a round × "
             f"{USES + 1} attempts, {settings.redemption_rounds} round(s): {summary}; "
             f"{'no' if over <= 0 else over} redemptions above quota",
        samples={"gateway_per_s": rates, "bare_per_s": bare_rates})


def run(ctx: Context) -> list[Figure]:
    figures = [_measure(ctx, "sqlite", None,
                        lambda gw: _Rows(_sqlite_connect(str(gw.home / "gateway" / "gateway.db")), postgres=False))]
    reason = _postgres_missing()
    if reason:
        return [*figures, FIGURES[1].skip(reason)]
    from tests.support.postgres import PostgresCluster  # noqa: PLC0415 - optional: needs the source tree

    cluster = PostgresCluster.start(max_connections=200, settings=_DURABLE)
    ctx.resources.callback(cluster.stop)
    dsn = cluster.create_database("bench")
    figures.append(_measure(ctx, "postgres", dsn, lambda _gw: _Rows(_postgres_connect(dsn), postgres=True)))
    return figures
