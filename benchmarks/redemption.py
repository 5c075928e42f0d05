"""Redemptions per second on PostgreSQL with 64 concurrent clients, and not one over quota.

A gateway, deployed as `citycredit up` runs it by default (one worker process per CPU, at most 4,
sharing the port), runs on a throwaway PostgreSQL cluster (the project's test
cluster, but durable here: fsync and synchronous commit on). 64 keep-alive
clients redeem a quota offer (`uses` per holder per period) for fresh holders:
each holder is tried `uses + 1` times under distinct idempotency keys, in a
shuffled order so that one holder's attempts race each other, and one holder in
ten also retries a request with the same key (which must replay, not spend).
The rate counts successful redemptions only, over the whole batch time.
Afterwards the redemptions table is counted per holder and period: any holder
above `uses` is an overspend.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

from citycredit import Algorithm, Tier
from citycredit._home import Home

from benchmarks.fixtures import CODE_TTL_S, Context
from benchmarks.gateway_common import GatewayRun, LoadLoop, gateway_unavailable, start_gateway
from benchmarks.harness import AT_LEAST, Figure, Spec
from benchmarks.loadgen import http_post_all

NAME = "redemption"
CLIENTS = 64
TARGET_RATE = 1000.0
FIGURES = (
    Spec("gateway.redeem.postgres", "redemptions/s", AT_LEAST(1.0)),
    Spec("gateway.redeem.quota_kept", "fraction", AT_LEAST(1.0)),
)
_DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def unavailable() -> str | None:
    reason = gateway_unavailable()
    if reason:
        return reason
    try:
        from tests.support.postgres import find_bindir  # noqa: PLC0415 - optional: needs the source tree
    except ImportError:
        return "skipped: PostgreSQL test support not available"
    return None if find_bindir() is not None else "skipped: PostgreSQL not installed"


def _quota_offer(gateway: GatewayRun) -> Any:
    offers = [o for o in Home(gateway.home).load().offers if o.HasField("quota") and not o.venue]
    if not offers:
        raise RuntimeError("the demo alliance has no quota offer to redeem")
    return offers[0]


def _requests(gateway: GatewayRun, offer: Any, holders: int, tag: str) -> tuple[list[dict[str, str]], int]:
    issuer = Home(gateway.home).issuer(offer.city, Algorithm.ED25519)
    now = int(time.time())
    bodies = []
    for h in range(holders):
        code = issuer.issue(holder_ref=f"{tag}-{h}", tier=Tier.OUTSTANDING, band="基准", now_s=now,
                            ttl_s=CODE_TTL_S).code
        attempts = [{"code": code, "offer_id": offer.id, "idempotency_key": f"{tag}-{h}-{a}"}
                    for a in range(offer.quota.uses + 1)]
        bodies += attempts + ([dict(attempts[0])] if h % 10 == 0 else [])
    random.Random(tag).shuffle(bodies)
    return bodies, holders * offer.quota.uses


def _overspent(dsn: str, uses: int) -> int:
    import psycopg  # noqa: PLC0415 - optional: the gateway extra may be missing

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM (SELECT 1 FROM redemptions GROUP BY offer_id, holder, period_key "
                            "HAVING count(*) > %s) AS over", (uses,)).fetchone()
    return int(rows[0]) if rows else 0


def run(ctx: Context) -> list[Figure]:
    from citycredit.gateway import load_credentials  # noqa: PLC0415 - optional: the gateway extra
    from citycredit.gateway.config import default_workers  # noqa: PLC0415 - optional: the gateway extra

    from tests.support.postgres import PostgresCluster  # noqa: PLC0415 - optional: needs the source tree

    settings = ctx.settings
    cluster = PostgresCluster.start(max_connections=200, settings=_DURABLE)
    ctx.resources.callback(cluster.stop)
    dsn = cluster.create_database("bench")
    gateway = start_gateway(ctx, db_url=dsn, deployed=True)
    offer = _quota_offer(gateway)
    token = load_credentials(gateway.home)["cities"][str(offer.city)]["merchant"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    load = LoadLoop(ctx)
    port = gateway.server.http_port
    holders = max(CLIENTS, settings.gateway_requests // (offer.quota.uses + 1))

    def batch(tag: str) -> tuple[float, int, int, Counter[str]]:
        bodies, _ = _requests(gateway, offer, holders, tag)
        start = time.perf_counter()
        answers = load.run(http_post_all(port, "/v1/redemptions", bodies, concurrency=CLIENTS,
                                         timeout_s=settings.gateway_seconds * 4, headers=headers))
        elapsed = time.perf_counter() - start
        outcomes: Counter[str] = Counter()
        spent: set[str] = set()
        for status, raw in answers:
            if status != 200:
                outcomes[f"HTTP {status}"] += 1
                continue
            doc = json.loads(raw)
            outcomes["replayed" if doc["replayed"] else (doc["decision"]["reason"] or "ELIGIBLE")] += 1
            if doc["redemption_id"]:
                spent.add(doc["redemption_id"])
        return elapsed, len(spent), len(bodies), outcomes

    batch("warmup")
    rates, totals = [], Counter[str]()
    requests = 0
    for r in range(1 if settings.quick else 3):
        elapsed, spent, sent, outcomes = batch(f"round{r}")
        rates.append(spent / elapsed)
        totals.update(outcomes)
        requests += sent
    rates.sort()
    rate = rates[len(rates) // 2]
    overspent = _overspent(dsn, offer.quota.uses)
    all_holders = holders * (len(rates) + 1)
    kept = (all_holders - overspent) / all_holders
    summary = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
    return [
        Figure(name="gateway.redeem.postgres", value=rate, unit="redemptions/s", baseline=TARGET_RATE,
               baseline_name="required", ratio=rate / TARGET_RATE, target=FIGURES[0].target,
               note=f"{CLIENTS} clients, REST, gateway with {default_workers()} workers, durable PostgreSQL; "
                    f"{holders} holders a round, offer {offer.id} "
                    f"({offer.quota.uses} a period), {requests} requests: {summary}"),
        Figure(name="gateway.redeem.quota_kept", value=kept, unit="fraction", baseline=1.0,
               baseline_name="all holders", ratio=kept, target=FIGURES[1].target,
               note=f"{overspent} of {all_holders} holders above quota in the redemptions table"),
    ]
