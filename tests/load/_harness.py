"""What the load tests drive a gateway with: the gateway as its own process, codes, and lean HTTP clients.

The gateway runs as `citycredit gateway serve` on a copy of the demo alliance, the way an
operator runs it (its passphrase in CITYCREDIT_KEYSTORE_PASSPHRASE, settings in CITYCREDIT_*
variables), its log (JSON lines on stderr) captured to a file. The clients speak HTTP/1.1
over asyncio streams with no library in between, so that the test process spends its CPU
on the attack, not on a client's bookkeeping; each client binds its own loopback source
address (127.0.0.x), so that the gateway sees honest and hostile clients as the different
parties they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from citycredit._demo import DemoHome
from citycredit.core import Algorithm, Issuer, Tier, hmac_sha256

from tests.support.alliance import passphrase
from tests.support.net import free_port

__all__ = ["Http", "IdleHolder", "ServedGateway", "codes_of", "free_port", "hostile_batches", "json_body",
           "log_problems", "percentile", "raised_fd_limit"]

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux: the port is picked at connect()


@dataclass
class ServedGateway:
    """`citycredit gateway serve` over the demo home `home`, with `settings` as CITYCREDIT_* variables."""

    home: Path
    log_path: Path
    settings: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    http_port: int = 0
    grpc_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def start(self, timeout_s: float = 120.0) -> None:
        self.http_port, self.grpc_port = free_port(self.host), free_port(self.host)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCREDIT_")}
        env.update({f"CITYCREDIT_{k.upper()}": v for k, v in self.settings.items()})
        env["CITYCREDIT_KEYSTORE_PASSPHRASE"] = passphrase(self.home, "gateway/keys")
        command = [sys.executable, "-m", "citycredit._cli.main", "gateway", "serve", "--home",
                   str(self.home / "gateway"), "--host", self.host, "--http-port", str(self.http_port),
                   "--grpc-port", str(self.grpc_port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited {self.process.returncode}:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"the gateway did not answer /healthz within {timeout_s} s")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def log_problems(text: str) -> list[str]:
    """Lines of a gateway log that are not one JSON object, or that carry a traceback."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            problems.append(f"line {number} is not JSON: {line[:200]}")
            continue
        if not isinstance(doc, dict) or "Traceback" in line:
            problems.append(f"line {number} carries a traceback: {line[:300]}")
    return problems


def codes_of(home: Path, slug: str, count: int, *, audience: int | None = None,
             tier: Tier = Tier.EXCELLENT) -> list[str]:
    """`count` codes signed by the city's Ed25519 code key, for fresh holders (not registered: fast)."""
    with DemoHome(home).city(slug) as office:
        key = next(k for k in office.code_keys if k.status == "active" and k.algorithm is Algorithm.ED25519)
        issuer = Issuer(city=office.city, key=office.keystore.signer(key.name), pseudonym=hmac_sha256(os.urandom(32)))
        now = int(time.time())
        return [issuer.issue(holder_ref=f"load-{slug}-{n}", tier=tier, band="示范·优秀", now_s=now, ttl_s=3600,
                             audience=audience).code for n in range(count)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Http:
    """One keep-alive HTTP/1.1 connection from a chosen source address (reconnected when the server closes it)."""

    def __init__(self, host: str, port: int, *, source: str = "127.0.0.1") -> None:
        self.host, self.port, self.source = host, port, source
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port,
                                                                   local_addr=(self.source, 0))

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); retried once on a fresh connection when the kept one was closed."""
        for attempt in (1, 2):
            if self._writer is None:
                await self._connect()
            assert self._reader is not None and self._writer is not None
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            try:
                self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await self._writer.drain()
                return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, dict[str, str], bytes]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), headers, body

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.contextmanager
def raised_fd_limit() -> Iterator[int]:
    """This process's soft limit on open files raised to its hard limit, for the test's duration."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def json_body(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class IdleHolder:
    """An attacker holding `count` connections that never send a byte (from 127.0.0.10-19), in a thread of the
    process that enters it (`hold_idle` runs one in a process of its own): it opens them (`burst` at a time,
    every tenth of a second), then every `every_s` re-opens up to
    `burst` of those the server closed, so that the server always has more silent connections than its cap."""

    def __init__(self, host: str, port: int, count: int, *, every_s: float = 1.0, burst: int = 1000) -> None:
        self.host, self.port, self.count, self.every_s, self.burst = host, port, count, every_s, burst
        self.sockets: list[socket.socket] = []
        self.opened = self.reopened = self.held_at_end = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idle-holder", daemon=True)

    def _open(self, n: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((f"127.0.0.{10 + n % 10}", 0))
        sock.connect_ex((self.host, self.port))
        return sock

    @staticmethod
    def closed(sock: socket.socket) -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:  # reset, or the connect itself failed
            return True

    def _run(self) -> None:
        for start in range(0, self.count, self.burst):
            self.sockets += [self._open(n) for n in range(start, min(start + self.burst, self.count))]
            self.opened = len(self.sockets)
            if self._stop.wait(0.1):
                return
        while not self._stop.wait(self.every_s):
            budget = self.burst
            for n, sock in enumerate(self.sockets):
                if budget and self.closed(sock):
                    sock.close()
                    self.sockets[n] = self._open(n)
                    self.reopened += 1
                    budget -= 1

    def __enter__(self) -> IdleHolder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self.held_at_end = sum(not self.closed(s) for s in self.sockets)
        for sock in self.sockets:
            sock.close()


def hold_idle(host: str, port: int, count: int, duration_s: float) -> tuple[int, int, int]:
    """An `IdleHolder` for `duration_s`, in a process of its own (its CPU and its scans of ten thousand
    sockets are the attacker's, not the honest clients'): (opened, re-opened, open at the end)."""
    with IdleHolder(host, port, count) as holder:
        time.sleep(duration_s)
    return holder.opened, holder.reopened, holder.held_at_end


def hostile_batches(host: str, port: int, clients: int, body: bytes, duration_s: float) -> dict[str, int]:
    """`clients` connections from 127.0.0.2 posting `body` to /v1/codes:batchVerify without pause for
    `duration_s` (run in a process of its own: its CPU is the attacker's, not the honest clients')."""
    counts: dict[str, int] = {}

    async def client(stop_at: float) -> None:
        http = Http(host, port, source="127.0.0.2")
        try:
            while time.monotonic() < stop_at:
                try:
                    status, _, _ = await http.request("POST", "/v1/codes:batchVerify", body,
                                                      {"Content-Type": "application/json"})
                    key = str(status)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    key = type(exc).__name__
                    await asyncio.sleep(0.01)
                counts[key] = counts.get(key, 0) + 1
        finally:
            await http.close()

    async def main() -> None:
        stop_at = time.monotonic() + duration_s
        await asyncio.gather(*(client(stop_at) for _ in range(clients)))

    asyncio.run(main())
    return counts
