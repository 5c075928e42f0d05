"""`citycredit up` as a real process: JSON-line logs, configuration from the environment, graceful SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import grpc
import httpx
import pytest
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc

pytestmark = pytest.mark.slow


def _ready(stderr: IO[str], lines: list[dict[str, Any]], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = stderr.readline()
        if not line:
            break
        entry = json.loads(line)  # every log line is one JSON object
        lines.append(entry)
        if entry["msg"] == "gateway ready":
            return entry
    raise AssertionError(f"the gateway did not become ready: {lines}")


def _start(home: Path, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "CITYCREDIT_HOME": str(home), "CITYCREDIT_GRPC_PORT": "0",
                   "CITYCREDIT_HTTP_PORT": "0", "CITYCREDIT_SHUTDOWN_GRACE_S": "5", **env}
    return subprocess.Popen([sys.executable, "-m", "citycredit._cli", "up"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=environment)


def test_sigterm_finishes_in_flight_then_exits(tmp_path: Path) -> None:
    process = _start(tmp_path / "home")
    lines: list[dict[str, Any]] = []
    try:
        assert process.stderr is not None
        ready = _ready(process.stderr, lines)
        assert (tmp_path / "home" / "credentials.json").stat().st_mode & 0o777 == 0o600
        assert httpx.get(f"{ready['http']}/healthz").json()["status"] == "ok"

        requests: queue.Queue[service_pb2.VerifyCodeStreamRequest | None] = queue.Queue()

        def feed() -> Iterator[service_pb2.VerifyCodeStreamRequest]:
            while (item := requests.get()) is not None:
                yield item

        with grpc.insecure_channel(ready["grpc"]) as channel:
            stream = service_pb2_grpc.VerificationServiceStub(channel).VerifyCodeStream(feed())
            requests.put(service_pb2.VerifyCodeStreamRequest(code="CC1:first"))
            assert next(stream).verification.error.code
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            # the stream that was in flight is still served, then completes normally
            requests.put(service_pb2.VerifyCodeStreamRequest(code="CC1:second"))
            assert next(stream).verification.error.code
            requests.put(None)
            assert list(stream) == []
        assert process.wait(timeout=20) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{ready['http']}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rest = [json.loads(line) for line in process.stderr.read().splitlines() if line.strip()]
    messages = [entry["msg"] for entry in lines + rest]
    assert "gateway stopping" in messages and messages[-1] == "gateway stopped"


def test_flags_override_the_environment_and_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "citycredit._cli", "up", "--home", str(tmp_path)],
                         env={**os.environ, "CITYCREDIT_HTTP_PORT": "http"}, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error CC_INVALID_ARGUMENT") and "Traceback" not in bad.stderr
    port_taken = subprocess.run([sys.executable, "-m", "citycredit._cli", "up", "--home", str(tmp_path / "h"),
                                 "--http-port", "99999"], capture_output=True, text=True, timeout=60)
    assert port_taken.returncode == 2 and "CC_INVALID_ARGUMENT" in port_taken.stderr
