"""A gateway whose PostgreSQL connections are dropped (a database restart or fail-over ends every session)
goes on answering: the connections are replaced and the requests they were serving are retried or refused
plainly, with nothing spent twice and nothing logged as unhandled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg
import pytest
from citycredit import GatewayClient

from tests.support.alliance import QUOTA_OFFER, QUZHOU

from .conftest import Cluster

pytestmark = pytest.mark.postgres


def _drop_every_session(dsn: str) -> int:
    """What a restart does to the gateway: every other session of its database is ended at once."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t").fetchone()
    assert ended is not None
    return int(ended[0])


@pytest.mark.parametrize("surface", ["rest", "grpc"])
def test_requests_after_the_database_dropped_every_connection_are_answered_as_before(
        start_cluster: Callable[..., AbstractContextManager[Cluster]], caplog: pytest.LogCaptureFixture,
        surface: str) -> None:
    caplog.set_level(logging.WARNING)
    with start_cluster(1) as cluster:
        token = cluster.token(QUZHOU)
        client = GatewayClient.rest(cluster.url(0), api_key=token, timeout_s=60) if surface == "rest" else \
            GatewayClient.grpc(cluster.grpc_target(0), api_key=token, timeout_s=60)
        with client:
            code = cluster.desk.code().code
            first = client.redeem(code, QUOTA_OFFER, "before-the-drop")
            assert first.redeemed and not first.replayed
            for round_ in range(3):
                assert _drop_every_session(cluster.dsn) > 0
                again = client.redeem(code, QUOTA_OFFER, "before-the-drop")  # the same key: the same answer
                assert again.replayed and again.redemption_id == first.redemption_id
                fresh = client.redeem(cluster.desk.code().code, QUOTA_OFFER, f"after-drop-{round_}")
                assert fresh.redeemed and not fresh.replayed
                assert client.check(code, QUOTA_OFFER).eligible
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not unhandled, [r.getMessage() for r in unhandled]
