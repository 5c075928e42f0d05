"""A presentation is accepted once per venue across replicas: the replay record is the shared database, so a
screenshot shown at the same venue is refused by whichever replica sees it second, and of many sightings
at once exactly one is accepted. A redemption retried under its key may present it again, anywhere."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import pytest
from citycredit import GatewayClient
from citycredit.core import Algorithm, SigningKey

from tests.support.alliance import QUOTA_OFFER, QUZHOU

from .conftest import Cluster

pytestmark = pytest.mark.slow


def _verify(cluster: Cluster, n: int, code: str, venue: str) -> dict[str, object]:
    answer = httpx.post(f"{cluster.url(n)}/v1/codes:verify", json={"code": code, "venue": venue}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _error(verification: dict[str, object]) -> object:
    error = verification["error"]
    return error.get("code") if isinstance(error, dict) else None


def test_a_presentation_seen_by_one_replica_is_a_replay_at_the_other(
        start_cluster: Callable[..., AbstractContextManager[Cluster]]) -> None:
    with start_cluster(2) as cluster:
        device = SigningKey.generate(Algorithm.P256)
        issued = cluster.desk.code(device=device)
        shown = cluster.desk.presentation(issued, device)
        assert _verify(cluster, 0, shown, "gate")["valid"] is True
        for n in (1, 0):  # the other replica, and the first one again
            assert _error(_verify(cluster, n, shown, "gate")) == "CC_PRESENTATION_REPLAYED"
        assert _verify(cluster, 1, shown, "other-gate")["valid"] is True

        # Sixteen sightings at once at one venue, on both replicas and both surfaces: one is accepted.
        at_once = cluster.desk.presentation(issued, device)
        start = threading.Barrier(16, timeout=120)
        clients = [GatewayClient.grpc(cluster.grpc_target(n)) if n % 2 else GatewayClient.rest(cluster.url(n))
                   for n in range(16)]

        def sight(n: int) -> str | None:
            start.wait()
            result = clients[n].verify_many([at_once], venue="turnstile")[0]
            return getattr(result, "code", None)

        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(sight, range(16)))
        assert outcomes.count(None) == 1 and outcomes.count("CC_PRESENTATION_REPLAYED") == 15, outcomes
        for client in clients:
            client.close()


def test_a_redemption_retried_on_another_replica_may_present_again_a_new_one_may_not(
        start_cluster: Callable[..., AbstractContextManager[Cluster]]) -> None:
    with start_cluster(2) as cluster:
        device = SigningKey.generate(Algorithm.ED25519)
        shown = cluster.desk.presentation(cluster.desk.code(device=device), device)
        first, second = (GatewayClient.rest(cluster.url(n), api_key=cluster.token(QUZHOU)) for n in (0, 1))
        spent = first.redeem(shown, QUOTA_OFFER, idempotency_key="till-7-scan-1")
        assert spent.redeemed
        retried = second.redeem(shown, QUOTA_OFFER, idempotency_key="till-7-scan-1")
        assert retried.replayed and retried.redemption_id == spent.redemption_id
        reused = second.redeem(shown, QUOTA_OFFER, idempotency_key="till-7-scan-2")
        assert not reused.redeemed and reused.decision.error_code == "CC_PRESENTATION_REPLAYED"
        first.close()
        second.close()
