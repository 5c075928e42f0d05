"""Redemption across gateway processes on one PostgreSQL: no double spending, idempotent retries, crash safety."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from citycredit._client import GatewayClient, Redemption
from citycredit.core import Reason
from citycredit.errors import UnavailableError

from tests.support.workers import counter, metrics_by_worker

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

QUOTA = 3  # uses a month of QUOTA_OFFER


def issue_code(cluster: Cluster, holder_ref: str) -> dict[str, Any]:
    """An EXCELLENT Hangzhou code (钱江分 720) through the issuance API; Hangzhou visitors may park in Quzhou."""
    response = httpx.post(f"{cluster.replicas[0].http_url}/v1/cities/{HANGZHOU}/codes", timeout=30,
                          json={"holder_ref": holder_ref, "local_record": {"score": 720}, "ttl_s": 3600},
                          headers={"Authorization": f"Bearer {cluster.token(HANGZHOU, 'city_office')}"})
    assert response.status_code == 200, response.text
    issued = dict(response.json())
    assert issued["tier"] == "EXCELLENT"
    return issued


def stored_redemptions(dsn: str, holder: str | None = None) -> list[tuple[str, str]]:
    """(redemption id, holder) of every stored redemption of the quota offer."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        rows = conn.execute("SELECT id, holder FROM redemptions WHERE offer_id = %s AND (%s::text IS NULL OR "
                            "holder = %s)", (QUOTA_OFFER, holder, holder)).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def clients_for(cluster: Cluster, api_key: str) -> list[GatewayClient]:
    """A REST and a gRPC client per replica."""
    rest = [GatewayClient.rest(r.http_url, api_key=api_key, timeout_s=60) for r in cluster.replicas]
    grpc = [GatewayClient.grpc(r.grpc_target, api_key=api_key, timeout_s=60) for r in cluster.replicas]
    return rest + grpc


def test_64_concurrent_redemptions_across_replicas_spend_exactly_the_quota(
        start_cluster: Callable[[int], Cluster]) -> None:
    cluster = start_cluster(3)
    issued = issue_code(cluster, "tourist-1")
    clients = clients_for(cluster, cluster.token(QUZHOU))
    keys = [f"gate-7-scan-{i}" for i in range(64)]
    start = threading.Barrier(64, timeout=60)

    def redeem(i: int, shift: int = 0) -> Redemption:
        if not shift:
            start.wait()  # all 64 leave together: the replicas race for the same three slots
        return clients[(i + shift) % len(clients)].redeem(issued["code"], QUOTA_OFFER, keys[i])

    with ThreadPoolExecutor(max_workers=64) as pool:
        first = list(pool.map(redeem, range(64)))
        # Every retry goes to another replica, or the other surface of the same one.
        retries = list(pool.map(lambda i: redeem(i, shift=1), range(64)))

    spent = [a for a in first if a.redeemed]
    refused = Counter(a.decision.reason for a in first if not a.redeemed)
    assert len(spent) == QUOTA
    assert refused == {Reason.QUOTA_EXHAUSTED: 64 - QUOTA}
    assert sorted(a.decision.quota_remaining or 0 for a in spent) == [0, 1, 2]
    assert not any(a.replayed for a in first)
    for answer, retry in zip(first, retries, strict=True):
        assert retry.replayed
        assert (retry.redemption_id, retry.decision) == (answer.redemption_id, answer.decision)

    stored = stored_redemptions(cluster.dsn, issued["holder"])
    assert sorted(r[0] for r in stored) == sorted(a.redemption_id or "" for a in spent)
    after = clients[0].check(issued["code"], QUOTA_OFFER)
    assert (after.eligible, after.reason, after.quota_remaining) == (False, Reason.QUOTA_EXHAUSTED, 0)
    for client in clients:
        client.close()


def test_the_workers_of_one_gateway_spend_exactly_the_quota(start_cluster: Callable[..., Cluster]) -> None:
    """`citycredit up --workers 2` on PostgreSQL: 64 racing requests over connections that the kernel spreads
    across both workers spend three slots, and both workers answered some of them."""
    cluster = start_cluster(1, workers=2)
    replica = cluster.replicas[0]
    issued = issue_code(cluster, "tourist-workers")
    merchant = cluster.token(QUZHOU)
    clients = [GatewayClient.rest(replica.http_url, api_key=merchant, timeout_s=60) for _ in range(12)]
    clients += [GatewayClient.grpc(replica.grpc_target, api_key=merchant, timeout_s=60) for _ in range(4)]
    start = threading.Barrier(64, timeout=60)

    def redeem(i: int) -> Redemption:
        start.wait()
        return clients[i % len(clients)].redeem(issued["code"], QUOTA_OFFER, f"workers-scan-{i}")

    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(redeem, range(64)))
    spent = [a for a in answers if a.redeemed]
    assert len(spent) == QUOTA
    assert Counter(a.decision.reason for a in answers if not a.redeemed) == {Reason.QUOTA_EXHAUSTED: 64 - QUOTA}
    stored = stored_redemptions(cluster.dsn, issued["holder"])
    assert sorted(r[0] for r in stored) == sorted(a.redemption_id or "" for a in spent)
    answered = [counter(m, "citycredit_redemptions_total") for m in metrics_by_worker(replica.http_url, 2).values()]
    assert sum(answered) == 64 and min(answered) > 0, answered
    for client in clients:
        client.close()


def test_sigkill_mid_load_loses_no_acknowledged_redemption(start_cluster: Callable[[int], Cluster]) -> None:
    cluster = start_cluster(2)
    victim, survivor = cluster.replicas
    merchant = cluster.token(QUZHOU)
    holders = [issue_code(cluster, f"visitor-{n}") for n in range(16)]
    attempts = 5  # per holder: 3 may succeed, 2 must be refused
    requests = [(h, f"visitor-{h}-scan-{a}") for h in range(len(holders)) for a in range(attempts)]
    random.Random(4).shuffle(requests)

    to_victim = GatewayClient.rest(victim.http_url, api_key=merchant, timeout_s=30)
    acknowledged: dict[str, Redemption] = {}
    lost: list[tuple[int, str]] = []
    lock = threading.Lock()
    kill_now = threading.Event()

    def send(request: tuple[int, str]) -> None:
        holder, key = request
        try:
            answer = to_victim.redeem(holders[holder]["code"], QUOTA_OFFER, key)
        except UnavailableError:
            with lock:
                lost.append(request)
            return
        with lock:
            acknowledged[key] = answer
            if len(acknowledged) >= 20:
                kill_now.set()

    def killer() -> None:
        kill_now.wait(120)
        victim.kill()

    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(send, requests))
    kill_thread.join()

    assert victim.process.returncode == -9
    assert acknowledged and lost, f"the kill should land mid-load ({len(acknowledged)} answered, {len(lost)} lost)"
    stored = dict(stored_redemptions(cluster.dsn))
    acked_ids = {a.redemption_id for a in acknowledged.values() if a.redemption_id}
    assert acked_ids <= stored.keys(), "an acknowledged redemption is missing from the database"
    assert max(Counter(stored.values()).values()) <= QUOTA

    # The merchant retries what it never heard back about, with the same keys, at the surviving replica.
    to_survivor = GatewayClient.rest(survivor.http_url, api_key=merchant, timeout_s=30)
    answers = dict(acknowledged)
    for holder, key in lost:
        answers[key] = to_survivor.redeem(holders[holder]["code"], QUOTA_OFFER, key)
    assert len(answers) == len(requests)

    stored = dict(stored_redemptions(cluster.dsn))
    answered_ids = {a.redemption_id for a in answers.values() if a.redemption_id}
    assert answered_ids == stored.keys(), "every stored redemption was answered to the merchant, and only those"
    assert Counter(stored.values()) == {h["holder"]: QUOTA for h in holders}
    assert Counter(a.decision.reason for a in answers.values() if not a.redeemed) == {
        Reason.QUOTA_EXHAUSTED: len(holders) * (attempts - QUOTA)}
