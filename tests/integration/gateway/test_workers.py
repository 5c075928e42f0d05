"""`citycredit up --workers 2`: two processes on one HTTP and one gRPC port, over one SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from citycredit._client import GatewayClient, Redemption
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
from citycredit.core import Reason

from tests.support.workers import counter, metrics_by_worker

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU

pytestmark = pytest.mark.slow

GRACE_S = 3.0


@dataclass
class Up:
    process: subprocess.Popen[str]
    home: Path
    ready: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        return str(self.ready["http"])

    def token(self, city: int, kind: str = "merchant") -> str:
        doc = json.loads((self.home / "credentials.json").read_text())
        return str(doc["cities"][str(city)][kind]["token"])

    def messages(self) -> list[str]:
        return [str(line["msg"]) for line in list(self.lines)]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    """`citycredit up --workers 2` on free ports, its JSON log lines collected as they come."""
    env = {**os.environ, "CITYCREDIT_RATE_PER_S": "100000", "CITYCREDIT_RATE_BURST": "100000",
           "CITYCREDIT_SHUTDOWN_GRACE_S": str(GRACE_S), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "citycredit", "up", "--home", str(tmp_path / "home"), "--host", "127.0.0.1",
            "--http-port", "0", "--grpc-port", "0", "--workers", "2"]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    gateway = Up(process, tmp_path / "home")
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            entry = json.loads(line)  # every line, the supervisor's and the workers', is one JSON object
            gateway.lines.append(entry)
            if entry["msg"] == "gateway ready":
                gateway.ready = entry
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.wait(0.1):
            assert process.poll() is None and time.monotonic() < deadline, f"not ready: {gateway.messages()}"
        yield gateway
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(GRACE_S + 15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(5)


def _issue(gateway: Up, holder: str) -> str:
    response = httpx.post(f"{gateway.http_url}/v1/cities/{HANGZHOU}/codes", timeout=30,
                          json={"holder_ref": holder, "local_record": {"score": 720}, "ttl_s": 3600},
                          headers={"Authorization": f"Bearer {gateway.token(HANGZHOU, 'city_office')}"})
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def test_two_workers_share_one_port_each_and_both_answer(up: Up) -> None:
    pids = {str(p) for p in up.ready["pids"]}
    assert up.ready["workers"] == 2 and len(pids) == 2
    assert {line.get("worker") for line in up.lines if line["msg"] == "worker ready"} == {1, 2}
    code = _issue(up, "two-workers")
    for _ in range(16):  # a new connection each time (no shared subchannel): the kernel picks a worker for each
        with grpc.insecure_channel(up.ready["grpc"], options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = service_pb2_grpc.VerificationServiceStub(channel)
            assert stub.VerifyCode(service_pb2.VerifyCodeRequest(code=code), timeout=30).verification.valid
    workers = metrics_by_worker(up.http_url, 2)
    assert set(workers) == pids
    served = {pid: counter(samples, "citycredit_requests_total", surface="grpc", op="VerifyCode")
              for pid, samples in workers.items()}
    assert sum(served.values()) == 16 and min(served.values()) > 0, served


def test_quota_is_exact_across_workers_on_one_sqlite_file(up: Up) -> None:
    code = _issue(up, "tourist-sqlite")
    merchant = up.token(QUZHOU)
    clients = [GatewayClient.rest(up.http_url, api_key=merchant, timeout_s=60) for _ in range(12)]
    clients += [GatewayClient.grpc(up.ready["grpc"], api_key=merchant, timeout_s=60) for _ in range(4)]
    start = threading.Barrier(48, timeout=60)

    def redeem(i: int) -> Redemption:
        start.wait()
        return clients[i % len(clients)].redeem(code, QUOTA_OFFER, f"sqlite-scan-{i}")

    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(redeem, range(48)))
    assert sum(a.redeemed for a in answers) == 3
    assert Counter(a.decision.reason for a in answers if not a.redeemed) == {Reason.QUOTA_EXHAUSTED: 45}
    workers = metrics_by_worker(up.http_url, 2)
    answered = [counter(m, "citycredit_redemptions_total") for m in workers.values()]
    assert sum(answered) == 48 and min(answered) > 0, answered
    for client in clients:
        client.close()


def test_sigterm_stops_every_worker_within_the_grace(up: Up) -> None:
    pids = [int(p) for p in up.ready["pids"]]
    started = time.monotonic()
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(GRACE_S + 10) == 0
    assert time.monotonic() - started < GRACE_S + 10
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    time.sleep(0.2)  # the last lines
    messages = up.messages()
    assert messages.count("worker stopped") == 2 and messages[-1] == "gateway stopped"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{up.http_url}/healthz", timeout=2)


def test_a_worker_that_dies_is_replaced(up: Up) -> None:
    victim = int(up.ready["pids"][0])
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while "worker restarted" not in up.messages():
        assert time.monotonic() < deadline, up.messages()
        time.sleep(0.1)
    replacement = next(line["pid"] for line in up.lines if line["msg"] == "worker restarted")
    while not any(line["msg"] == "worker ready" and line.get("pid") == replacement for line in list(up.lines)):
        assert time.monotonic() < deadline, up.messages()
        time.sleep(0.1)
    workers = metrics_by_worker(up.http_url, 2)
    assert set(workers) == {str(up.ready["pids"][1]), str(replacement)}
    assert up.process.poll() is None
