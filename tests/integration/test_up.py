"""`citycredit up` as a real process (issue 14): the gateway and the eleven demo cities' issuers start as
processes of their own, answer, and all stop on one SIGTERM, leaving no process behind.

Asked for free ports (`--http-port 0`), the whole alliance takes free ports: the issuers too, so that it
comes up while something else holds the demo's default issuer ports (8101 …), as a second alliance or
another test would.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from citycredit._demo import DEMO_ISSUER_PORT
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc

from tests.support.alliance import demo_copy, tokens

pytestmark = pytest.mark.slow
_UP_TIMEOUT_S = 600.0
_FIELD = re.compile(r"^\s+(?P<name>\S+)\s+(?P<value>http://\S+)")


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited: only its entry waits to be collected


@contextlib.contextmanager
def _holding(port: int) -> Iterator[None]:
    """Hold a loopback port with a socket that accepts and never answers (if nobody holds it yet)."""
    sock = socket.socket()
    try:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield
    finally:
        sock.close()


def _announced(process: subprocess.Popen[str]) -> list[str]:
    """The lines `citycredit up` prints once every party answers, up to its last ("credentials …")."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    deadline = time.monotonic() + _UP_TIMEOUT_S
    said: list[str] = []
    while not (said and said[-1].strip().startswith("credentials")):
        assert process.poll() is None, f"citycredit up exited with {process.returncode}: {said}"
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"citycredit up did not say it was up: {said}")
        if said or "the demo alliance is up" in line:
            said.append(line.rstrip("\n"))
    return said


def test_citycredit_up_starts_every_party_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = demo_copy(tmp_path)
    with _holding(DEMO_ISSUER_PORT):
        process = subprocess.Popen(
            [sys.executable, "-m", "citycredit", "up", "--home", str(home), "--host", "127.0.0.1", "--http-port",
             "0", "--grpc-port", "0", "--workers", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "NO_COLOR": "1",
                                                       "CITYCREDIT_LOG_LEVEL": "WARNING"})
        children: set[int] = set()
        try:
            said = "\n".join(_announced(process))
            found = re.search(r"gateway\s+(http://\S+) \(REST, /docs\), (\S+) \(gRPC\)", said)
            assert found, said
            gateway, grpc_target = found[1], found[2]
            issuers = dict(re.findall(r"^\s+([a-z]+)\s+(http://\S+)/holder", said, re.MULTILINE))
            assert len(issuers) == 11, said
            children = _descendants(process.pid)
            assert len(children) >= 12, children  # the gateway and every issuer, each a process

            with httpx.Client(timeout=60) as http:
                assert http.get(f"{gateway}/healthz").json()["status"] == "ok"
                assert len(http.get(f"{gateway}/v1/alliance").json()["cities"]) == 11
                for slug, url in issuers.items():
                    assert not url.endswith(f":{DEMO_ISSUER_PORT}"), url  # the port held above was not needed
                    assert http.get(f"{url}/healthz").json()["status"] == "ok", slug
                token = tokens(home)["cities"]["330100"]["city_office"]["token"]
                code = http.post(f"{issuers['hangzhou']}/v1/codes", headers={"Authorization": f"Bearer {token}"},
                                 json={"holder_ref": "smoke", "local_record": {"score": 720},
                                       "audience": "quzhou"}).json()["code"]
                assert http.post(f"{gateway}/v1/codes:verify", json={"code": code}).json()["valid"] is True
            with grpc.insecure_channel(grpc_target) as channel:
                answer = service_pb2_grpc.VerificationServiceStub(channel).VerifyCode(
                    service_pb2.VerifyCodeRequest(code=code), timeout=60)
            assert answer.verification.valid
        finally:
            children |= _descendants(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                status = process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert status == 0
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)]
