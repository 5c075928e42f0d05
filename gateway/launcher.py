"""`citycredit up`: the demo alliance as separate processes, the gateway and every city's issuer, in one command.

Each party runs as its own process and opens only its own key store, as it would in
production: the gateway `citycredit gateway serve --home D/gateway`, each city
`citycredit issuer serve --home D --city SLUG --gateway URL`. What stands in for the
parties' own secrets in a demo is D/passphrases.json, read here and handed to each process
in its environment (CITYCREDIT_KEYSTORE_PASSPHRASE), never written anywhere else. The
launcher waits until every process answers /healthz, prints where everything is, forwards
SIGTERM/SIGINT, and stops everything when any process exits. Asked for free ports
(`--http-port 0`), it gives every issuer a free port as well, instead of the demo's 8101 ….
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol

import httpx
from citycredit._demo import DemoHome, init_demo
from citycredit.errors import UnavailableError

__all__ = ["Reporter", "run_alliance"]

# How long each party may take to answer: eleven issuers start at once, on a busy CI machine too.
_START_TIMEOUT_S = 300.0


class Reporter(Protocol):
    """Where the launcher says what it did (the CLI's output)."""

    def ok(self, text: str) -> None: ...

    def field(self, name: str, value: object) -> None: ...

    def line(self, text: str = "") -> None: ...

    def error(self, code: str, text: str) -> None: ...


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "citycredit._cli.main", *args]


def run_alliance(home: Path, out: Reporter, *, db_url: str | None, host: str | None, grpc_port: int | None,
                 http_port: int | None, workers: int | None, issuers: bool) -> int:
    """Create the demo alliance in `home` if it holds none, run it until a signal; the exit status."""
    demo = DemoHome(home)
    if not demo.exists():
        init_demo(home, now_s=int(time.time()))
        out.ok(f"demo alliance created in {home}")
    try:
        passphrases = json.loads((home / "passphrases.json").read_text())
    except (OSError, ValueError):
        out.error("CC_NOT_FOUND", f"{home} has no passphrases.json: run each party's server yourself "
                                  "(citycredit gateway serve, citycredit issuer serve)")
        return 2
    host = host or "127.0.0.1"
    http = _free_port(host) if http_port == 0 else (http_port or 8080)
    grpc = _free_port(host) if grpc_port == 0 else (grpc_port or 50051)
    gateway_url = f"http://{host}:{http}"
    gateway_args = ["gateway", "serve", "--home", str(demo.gateway_dir), "--host", host, "--http-port", str(http),
                    "--grpc-port", str(grpc)]
    if db_url:
        gateway_args += ["--db", db_url]
    if workers:
        gateway_args += ["--workers", str(workers)]
    children: list[tuple[str, subprocess.Popen[bytes], str]] = []
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        children.append(("gateway", _spawn(gateway_args, passphrases["gateway/keys"]), gateway_url))
        _wait_ready(children[-1], lambda: stopping)
        if issuers:
            for slug in demo.city_slugs():
                issuer_args = ["issuer", "serve", "--home", str(home), "--city", slug, "--gateway", gateway_url,
                               "--host", host]
                if http_port == 0:  # asked for free ports: the issuers too, not the demo's fixed ones
                    port = _free_port(host)
                    issuer_args += ["--http-port", str(port)]
                    url = f"http://{host}:{port}"
                else:
                    with demo.city(slug) as office:
                        url = office.issuer_url
                store = f"cities/{slug}/keys"
                children.append((slug, _spawn(issuer_args, passphrases[store]), url))
            for started in children[1:]:
                _wait_ready(started, lambda: stopping)
        out.ok("the demo alliance is up (Ctrl-C stops it)")
        out.field("gateway", f"{gateway_url} (REST, /docs), {host}:{grpc} (gRPC)")
        out.field("merchant page", f"{gateway_url}/merchant")
        out.field("offices", f"{gateway_url}/office")
        for name, _child, url in children[1:]:
            out.field(name, f"{url}/holder · {url}/office")
        out.field("credentials", f"{home / 'credentials.json'} (demo tokens)")
        while not stopping:
            for name, child, _url in children:
                if child.poll() is not None:
                    out.error("CC_UNAVAILABLE", f"{name} exited with status {child.returncode}; stopping the rest")
                    return 1
            time.sleep(0.2)
        return 0
    except UnavailableError as exc:
        out.error(exc.code, exc.message)
        return 1
    finally:
        _stop_all([child for _name, child, _url in children])
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(args: list[str], passphrase: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CITYCREDIT_KEYSTORE_PASSPHRASE": passphrase}
    return subprocess.Popen(_command(*args), env=env, stdin=subprocess.DEVNULL)


def _wait_ready(child: tuple[str, subprocess.Popen[bytes], str], stopping: Callable[[], bool]) -> None:
    name, process, url = child
    deadline = time.monotonic() + _START_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise UnavailableError(f"{name} exited with status {process.returncode} while starting")
            if stopping():
                raise UnavailableError("stopped while starting")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            time.sleep(0.2)
    raise UnavailableError(f"{name} did not answer {url}/healthz within {_START_TIMEOUT_S:g} s")


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + 20.0
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
