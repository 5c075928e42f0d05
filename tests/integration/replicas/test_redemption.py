"""Redemptions on PostgreSQL across replicas, under concurrency: a quota is never overspent, every
idempotency key has exactly one answer whichever replica and surface it reaches, and a void frees
exactly one slot; the database keeps no secret in clear."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from citycredit import GatewayClient, Redemption

from tests.integration.gateway._secrets import alliance_secrets, database_blobs, findings
from tests.support.alliance import QUOTA_OFFER, QUZHOU

from .conftest import Cluster

pytestmark = pytest.mark.slow
THREADS = 24


def _clients(cluster: Cluster, count: int) -> list[GatewayClient]:
    """REST and gRPC clients spread over the replicas (one per thread: each its own connections)."""
    token = cluster.token(QUZHOU)
    return [GatewayClient.grpc(cluster.grpc_target(n), api_key=token, timeout_s=60) if n % 3 == 2 else
            GatewayClient.rest(cluster.url(n), api_key=token, timeout_s=60) for n in range(count)]


def _together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(0) … work(count - 1)` on as many threads, released at the same moment."""
    start = threading.Barrier(count, timeout=120)

    def run(n: int) -> Any:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _void(cluster: Cluster, n: int, redemption_id: str) -> httpx.Response:
    return httpx.post(f"{cluster.url(n)}/v1/redemptions/{redemption_id}:void", timeout=60,
                      headers={"Authorization": f"Bearer {cluster.token(QUZHOU)}"})


def test_a_quota_is_never_overspent_and_a_void_frees_exactly_one_slot(
        start_cluster: Callable[..., AbstractContextManager[Cluster]]) -> None:
    with start_cluster(2) as cluster:
        code = cluster.desk.code().code
        clients = _clients(cluster, THREADS)
        answers: list[Redemption] = _together(THREADS, lambda n: clients[n].redeem(code, QUOTA_OFFER, f"rush-{n}"))
        spent = [a for a in answers if a.redeemed]
        assert len(spent) == 3 and len({a.redemption_id for a in spent}) == 3
        assert Counter(a.decision.reason.value for a in answers if not a.redeemed) == {"QUOTA_EXHAUSTED": THREADS - 3}

        # Voided twice at once, on both replicas: one void, the same answer twice.
        voids = _together(2, lambda n: _void(cluster, n, str(spent[0].redemption_id)))
        assert [v.status_code for v in voids] == [200, 200] and voids[0].json() == voids[1].json()
        # Exactly one slot came back: of another rush, exactly one is spent.
        again: list[Redemption] = _together(THREADS, lambda n: clients[n].redeem(code, QUOTA_OFFER, f"again-{n}"))
        assert sum(a.redeemed for a in again) == 1
        # Retrying every key of both rushes answers what was answered, on any replica.
        for n, first in enumerate(answers + again):
            key = f"rush-{n}" if n < THREADS else f"again-{n - THREADS}"
            replayed = clients[(n + 1) % THREADS].redeem(code, QUOTA_OFFER, key)
            assert replayed.replayed and replayed.redemption_id == first.redemption_id
        for client in clients:
            client.close()

        known = alliance_secrets(cluster.home)
        blobs = list(database_blobs("postgresql+psycopg://" + cluster.dsn.split("://", 1)[1]))
        assert any(where.startswith("redemptions") for where, _ in blobs)
        assert findings(blobs, known) == []


def test_one_idempotency_key_sent_everywhere_at_once_has_one_answer(
        start_cluster: Callable[..., AbstractContextManager[Cluster]]) -> None:
    with start_cluster(2) as cluster:
        codes = [cluster.desk.code().code for _ in range(2)]
        clients = _clients(cluster, THREADS)
        # Every thread sends the same key: half of them for one holder, half for another (a reused key).
        answers = _together(THREADS, lambda n: _attempt(clients[n], codes[n % 2], "one-key"))
        redeemed = [a for a in answers if isinstance(a, Redemption)]
        mismatches = [a for a in answers if isinstance(a, str)]
        assert {a.redemption_id for a in redeemed} != {None} and len({a.redemption_id for a in redeemed}) == 1
        assert [a.replayed for a in redeemed].count(False) == 1
        # The threads that sent the other holder's code were told the key is taken by another request.
        assert set(mismatches) == {"CC_IDEMPOTENCY_MISMATCH"} and len(mismatches) == THREADS // 2
        for client in clients:
            client.close()


def _attempt(client: GatewayClient, code: str, key: str) -> Redemption | str:
    try:
        return client.redeem(code, QUOTA_OFFER, key)
    except Exception as exc:
        return str(getattr(exc, "code", repr(exc)))
