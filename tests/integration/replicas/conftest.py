"""Gateway replicas as real processes (`citycredit up`) on one PostgreSQL database."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HANGZHOU, QUZHOU = 330100, 330800
QUOTA_OFFER = "quzhou-parking-free-3"  # demo alliance: EXCELLENT and up, 3 a month, Hangzhou residents by agreement
_START_TIMEOUT_S = 60.0


@dataclass
class Replica:
    """One `citycredit up` process; its ports are read from its "gateway ready" log line."""

    process: subprocess.Popen[str]
    http_url: str = ""
    grpc_target: str = ""
    log: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight requests die with the process."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return "\n".join(self.log)


def start_replica(home: Path, dsn: str, *, workers: int = 1, timeout_s: float = _START_TIMEOUT_S) -> Replica:
    """Start `citycredit up --db DSN --home HOME --workers N` on free ports and wait until it serves."""
    env = {**os.environ, "CITYCREDIT_RATE_PER_S": "100000", "CITYCREDIT_RATE_BURST": "100000",
           "CITYCREDIT_REFRESH_INTERVAL_S": "0.5", "CITYCREDIT_SHUTDOWN_GRACE_S": "2", "PYTHONUNBUFFERED": "1",
           "CITYCREDIT_WORKERS": str(workers)}
    argv = [sys.executable, "-m", "citycredit", "up", "--db", dsn, "--home", str(home),
            "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0"]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    replica = Replica(process)
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            replica.log.append(line.rstrip())
            if not ready.is_set():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and doc.get("msg") == "gateway ready":
                    replica.http_url = f"http://127.0.0.1:{doc['http_port']}"
                    replica.grpc_target = f"127.0.0.1:{doc['grpc_port']}"
                    ready.set()

    threading.Thread(target=drain, name="replica-log", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            replica.stop()
            raise RuntimeError(f"replica did not start (exit {process.poll()}):\n{replica.tail()}")
    return replica


@dataclass
class Cluster:
    """Replicas sharing one database and one alliance home."""

    home: Path
    dsn: str
    replicas: list[Replica]

    def credentials(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "credentials.json").read_text()))

    def token(self, city: int, kind: str = "merchant") -> str:
        return str(self.credentials()["cities"][str(city)][kind]["token"])


@pytest.fixture
def start_cluster(postgres_database: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """`start_cluster(n, workers=1)`: n replicas (`citycredit up` processes of `workers` workers each) on a
    fresh PostgreSQL database, all stopped after the test.

    The first replica creates the demo alliance in the shared home and seeds the
    database; the others then start together.
    """
    started: list[Replica] = []

    def start(count: int, *, workers: int = 1) -> Cluster:
        home = tmp_path / "home"
        started.append(start_replica(home, postgres_database, workers=workers))
        with ThreadPoolExecutor(max_workers=max(count - 1, 1)) as pool:
            futures = [pool.submit(start_replica, home, postgres_database, workers=workers)
                       for _ in range(count - 1)]
            failures = []
            for future in futures:
                try:
                    started.append(future.result())
                except RuntimeError as exc:
                    failures.append(exc)
        if failures:
            raise failures[0]
        return Cluster(home=home, dsn=postgres_database, replicas=list(started))

    try:
        yield start
    finally:
        for replica in started:
            replica.stop()
