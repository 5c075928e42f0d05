"""Gateway replicas on one PostgreSQL database: gateways of one demo home, each with its own engine, pools,
caches, replay checks and rate-limit buckets, sharing only the database, as separate processes would.

    with start_cluster(2) as cluster:            # two replicas, on loopback, on a fresh database
        cluster.url(0), cluster.grpc_target(1), cluster.token(QUZHOU), cluster.desk.code()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from citycredit.gateway import Gateway, gateway_in_thread

from tests.integration.gateway.cities import CityDesk
from tests.support.alliance import demo_copy, gateway_config, tokens

__all__ = ["Cluster"]


@dataclass
class Cluster:
    home: Path
    dsn: str
    replicas: list[Gateway]
    desk: CityDesk

    def url(self, n: int) -> str:
        return str(self.replicas[n % len(self.replicas)].http_url)

    def grpc_target(self, n: int) -> str:
        return str(self.replicas[n % len(self.replicas)].grpc_target)

    def token(self, city: int, kind: str = "merchant") -> str:
        return str(tokens(self.home)["cities"][f"{city:06d}"][kind]["token"])


@pytest.fixture
def start_cluster(postgres_database: str, tmp_path: Path) -> Iterator[Callable[..., contextlib.AbstractContextManager[
        Cluster]]]:
    """`with start_cluster(count, **config): …` — `count` replicas of a fresh demo home on a fresh database
    (the first seeds it), with `config` overriding the tests' generous defaults."""
    home = demo_copy(tmp_path)
    desk = CityDesk(home)

    @contextlib.contextmanager
    def start(count: int = 2, **overrides: Any) -> Iterator[Cluster]:
        with contextlib.ExitStack() as stack:
            replicas = [stack.enter_context(gateway_in_thread(gateway_config(home, db_url=postgres_database,
                                                                               **overrides)))
                        for _ in range(count)]
            yield Cluster(home=home, dsn=postgres_database, replicas=replicas, desk=desk)

    try:
        yield start
    finally:
        desk.close()
