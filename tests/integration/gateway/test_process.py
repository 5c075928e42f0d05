"""The gateway as a process (issue 14): it refuses to start on ports another gateway holds, and its stderr is
JSON lines only, even when the server library fails underneath it (file descriptors run out, garbage on
both ports). Served as a process, the gateway and a city's issuer keep their start-up heap out of the
collector's sweeps."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from tests.support.alliance import demo_copy, running_alliance
from tests.support.net import free_port

from .processes import GatewayProcess, refused_start
from .workers import counter, parse_metrics

pytestmark = pytest.mark.slow
_ROOT = Path(__file__).resolve().parents[3]


def _assert_json_lines(lines: list[str]) -> list[dict[str, object]]:
    records = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("error CC_"):  # the CLI's own one-line refusal, after the logs
            continue
        record = json.loads(line)  # raises on anything that is not one JSON object a line
        assert isinstance(record, dict) and {"ts", "level", "logger", "msg"} <= record.keys(), line
        records.append(record)
    assert not any("Traceback (most recent call last)" in line for line in lines)
    return records


def test_a_gateway_refuses_the_ports_another_gateway_holds(tmp_path: Path) -> None:
    home = demo_copy(tmp_path)
    with running_alliance(home) as first:
        taken_http, taken_grpc = str(first.gateway.http_port), str(first.gateway.grpc_port)
        for args in (("--http-port", taken_http, "--grpc-port", "0", "--workers", "1"),
                     ("--http-port", "0", "--grpc-port", taken_grpc, "--workers", "1"),
                     ("--http-port", taken_http, "--grpc-port", "0", "--workers", "2"),
                     ("--http-port", "0", "--grpc-port", taken_grpc, "--workers", "2")):
            status, lines = refused_start(home, *args)
            assert status == 2, lines
            assert any(line.startswith("error CC_UNAVAILABLE") and "another gateway" in line for line in lines), lines
            _assert_json_lines(lines)
        # The first gateway alone answers on its ports: it counts every one of these requests.
        before = _healthz_count(first.gateway.replica.metrics.render())
        for _ in range(8):
            with httpx.Client(timeout=30) as client:  # a new connection each time
                assert client.get(f"{first.gateway.http_url}/healthz").status_code == 200
        assert _healthz_count(first.gateway.replica.metrics.render()) == before + 8


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_gateway_restarted_while_clients_hold_connections_takes_its_ports_again(tmp_path: Path,
                                                                                   workers: str) -> None:
    # A till keeps its connection alive; when the gateway stops, the connection lingers closed on the
    # gateway's side (FIN-WAIT-2, then TIME_WAIT), and the next gateway must still bind the same ports.
    home = demo_copy(tmp_path)
    ports = ("--http-port", str(free_port()), "--grpc-port", str(free_port()), "--workers", workers)
    first = GatewayProcess.start(home, *ports)
    with httpx.Client(timeout=30) as till:
        assert till.get(f"{first.http_url}/healthz").status_code == 200
        with grpc.insecure_channel(first.grpc_target) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            assert first.stop() == 0
            second = GatewayProcess.start(home, *ports)
            try:
                assert till.get(f"{second.http_url}/healthz").status_code == 200
            finally:
                assert second.stop() == 0
    _assert_json_lines(second.lines)


def _healthz_count(metrics: bytes) -> float:
    samples = parse_metrics(metrics.decode())
    return counter(samples, "citycredit_requests_total", surface="rest", op="GET /healthz")


def test_the_log_is_json_lines_even_when_file_descriptors_run_out(tmp_path: Path) -> None:
    home = demo_copy(tmp_path)
    gateway = GatewayProcess.start(home, "--http-port", "0", "--grpc-port", "0", "--workers", "1", open_files=256)
    try:
        held = []
        try:
            for _ in range(600):  # more than the process may open: its accept() fails with EMFILE
                held.append(socket.create_connection(("127.0.0.1", gateway.ready["http_port"]), timeout=10))
        except OSError:
            pass
        for port, garbage in ((gateway.ready["http_port"], b"\x16\x03\x01 not http\r\n\r\n"),
                              (gateway.ready["grpc_port"], b"GET / HTTP/1.1\r\n\r\n")):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            held[-1].sendall(garbage)
        for sock in held:
            sock.close()
        with httpx.Client(timeout=60) as client:  # once the connections are gone it serves again
            for _ in range(60):
                try:
                    if client.get(f"{gateway.http_url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    continue
            else:
                pytest.fail("the gateway did not recover")
    finally:
        status = gateway.stop()
    assert status == 0, gateway.lines[-20:]
    records = _assert_json_lines(gateway.lines)
    accept = [r for r in records if "socket.accept() out of system resource" in str(r["msg"])]
    assert accept and all(r["level"] == "error" and r.get("exc_type") == "OSError" for r in accept), accept[:3]
    # Thousands of failed accepts a second are summarized, not written one line each.
    assert len(gateway.lines) < 2000
    assert records[-1]["msg"] == "gateway stopped"


_SERVE_AND_REPORT_THE_FROZEN_HEAP = """
import asyncio, gc, os, signal, sys
from pathlib import Path
from citycredit.gateway.issuer import serve_issuer
from citycredit.gateway.server import serve
from tests.support.alliance import gateway_config, issuer_config

def ready(_server):
    print(gc.get_freeze_count(), len(gc.get_objects()), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

home, server = Path(sys.argv[1]), sys.argv[2]
if server == "gateway":
    asyncio.run(serve(gateway_config(home), ready=ready))
else:
    asyncio.run(serve_issuer(issuer_config(home, server, None), ready=ready))
"""


@pytest.mark.parametrize("server", ["gateway", "hangzhou"])
def test_a_served_process_keeps_its_start_up_heap_out_of_the_collectors_sweeps(tmp_path: Path, server: str) -> None:
    # What `citycredit up`, each of its workers and `citycredit issuer serve` run: once serving, every object
    # start-up made (about 150,000, for the demo's gateway as for an issuer) is frozen, so a full collection
    # scans only what requests made since.
    home = demo_copy(tmp_path)
    done = subprocess.run([sys.executable, "-c", _SERVE_AND_REPORT_THE_FROZEN_HEAP, str(home), server], cwd=_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, tracked = (int(n) for n in done.stdout.split())
    assert frozen > 50_000 and tracked < frozen // 10, done.stdout
