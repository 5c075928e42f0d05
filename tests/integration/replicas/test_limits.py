"""Rate limits shared by replicas on PostgreSQL: a client over its per-minute allowance, spread over two
replicas, is refused by both, although neither replica's own bucket ran dry.

The limiter shares what each replica spent once per refresh round (`RateLimiter.sync`); the test runs
those rounds itself, in a known order, on top of the servers' own timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest
from citycredit.gateway.limits import WINDOW_S

from .conftest import Cluster

pytestmark = pytest.mark.slow
BURST = 10  # each replica's bucket: 10 requests
RATE_PER_S = 0.001  # nothing refills meanwhile; the per-minute allowance is 10.06 requests


def test_a_client_over_its_allowance_on_two_replicas_is_refused_by_both(
        start_cluster: Callable[..., AbstractContextManager[Cluster]]) -> None:
    with start_cluster(2, client_rate_per_s=RATE_PER_S, client_rate_burst=BURST) as cluster:
        if time.time() % WINDOW_S > WINDOW_S - 20:  # the allowance is per wall-clock minute: start inside one
            time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.5)
        window = int(time.time()) // WINDOW_S
        limiters = [r.replica.limiter for r in cluster.replicas if r.replica is not None]
        clients = [httpx.Client(base_url=cluster.url(n), timeout=60) for n in range(2)]
        admitted, refused = [0, 0], [False, False]
        for _ in range(BURST):  # one request to each replica, then both share what they spent
            for n, client in enumerate(clients):
                answer = client.get("/v1/alliance")
                if answer.status_code == 200:
                    admitted[n] += 1
                else:
                    assert answer.status_code == 429 and answer.json()["code"] == "CC_RATE_LIMITED"
                    refused[n] = True
            for limiter in limiters:
                limiter.sync()
            if all(refused):
                break
        assert int(time.time()) // WINDOW_S == window, "the minute turned during the test"
        assert all(refused), admitted
        # Together they let through about one allowance (plus a round's worth each), not two buckets' worth;
        # neither replica's own bucket was empty when it refused.
        allowance = RATE_PER_S * WINDOW_S + BURST
        assert allowance < sum(admitted) <= allowance + len(clients) + 1 and max(admitted) < BURST, admitted
        for client in clients:
            assert client.get("/v1/offers").status_code == 429
            client.close()
