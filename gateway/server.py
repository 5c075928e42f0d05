"""Running a gateway: gRPC and REST servers over one `GatewayService`, with graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import uvicorn
from citycredit.errors import UnavailableError
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.db import Database
from citycredit.gateway.grpc_service import add_services
from citycredit.gateway.rest import build_app
from citycredit.gateway.seed import load_credentials
from citycredit.gateway.service import GatewayService

__all__ = ["Gateway", "gateway_in_thread", "running_gateway", "serve"]

log = logging.getLogger("citycredit.gateway")


class _Uvicorn(uvicorn.Server):
    """Uvicorn without its own signal handling: the gateway stops both servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Gateway:
    """One running replica. Build with `Gateway(config)`, then `await start()` and `await stop()`."""

    config: GatewayConfig
    service: GatewayService | None = None
    http_port: int = 0
    grpc_port: int = 0
    # Which worker of `citycredit up --workers N` this is (1..N); 0 when the replica is a process of its own.
    worker: int = 0

    def __post_init__(self) -> None:
        self._grpc: grpc.aio.Server | None = None
        self._health: Any = None
        self._uvicorn: _Uvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._chain_task: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def http_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.grpc_port}"

    def credentials(self) -> dict[str, Any]:
        """The seeded credentials file of the home directory."""
        return load_credentials(self.config.home)

    def token(self, city: int, kind: str = "merchant") -> str:
        """A seeded token: `kind` is "merchant" or "city_office"."""
        return str(self.credentials()["cities"][str(city)][kind]["token"])

    async def start(self) -> None:
        config = self.config
        service = GatewayService(config, Database(config.database_url, pool_size=config.db_pool_size))
        self.service = service
        await asyncio.to_thread(service.start)

        reuse_port = int(config.reuse_port)
        self._grpc = grpc.aio.server(options=[("grpc.max_receive_message_length", config.max_body_bytes),
                                              ("grpc.so_reuseport", reuse_port)])
        self._health = await add_services(self._grpc, service)
        self.grpc_port = self._grpc.add_insecure_port(f"{self._bind_host()}:{config.grpc_port}")
        if self.grpc_port == 0:
            raise UnavailableError(f"cannot listen for gRPC on {config.host}:{config.grpc_port}")
        await self._grpc.start()

        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only for that protocol, and
        # without it every response waits for a delayed ACK (about 40 ms) between headers and body.
        sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((config.host, config.http_port))
        except OSError as exc:
            sock.close()
            await self._grpc.stop(None)
            raise UnavailableError(f"cannot listen for HTTP on {config.host}:{config.http_port}: {exc.strerror}") \
                from None
        sock.listen(2048)
        sock.setblocking(False)
        self.http_port = sock.getsockname()[1]
        uv_config = uvicorn.Config(build_app(service), log_config=None, access_log=False, lifespan="off",
                                   timeout_graceful_shutdown=int(config.shutdown_grace_s) or 1,
                                   server_header=False)
        self._uvicorn = _Uvicorn(uv_config)
        self._http_task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started:
            if self._http_task.done():
                self._http_task.result()
                raise UnavailableError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        self._refresh_task = asyncio.create_task(self._refresh_loop())
        self._chain_task = asyncio.create_task(self._chain_loop())
        service.metrics.set("citycredit_process_info", 1, worker=str(self.worker), pid=str(os.getpid()))
        log.info("worker ready" if self.worker else "gateway ready",
                 extra={"fields": {"http": self.http_url, "grpc": self.grpc_target, "http_port": self.http_port,
                                   "grpc_port": self.grpc_port, "bundle_version": service.published.version,
                                   "db": _redact(config.database_url), "pid": os.getpid()}})

    def _bind_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def _refresh_loop(self) -> None:
        assert self.service is not None
        service = self.service
        while True:
            await asyncio.sleep(self.config.refresh_interval_s)
            try:
                await asyncio.to_thread(service.refresh)
                await asyncio.to_thread(service.renew_if_due)
            except Exception as exc:  # keep serving the bundle we have; say why the refresh failed
                log.warning("bundle refresh failed", extra={"fields": {"error": repr(exc)}})

    async def _chain_loop(self) -> None:
        """Link pending redemption records into the audit chain every `audit_chain_interval_s`."""
        assert self.service is not None
        service = self.service
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.audit_chain_interval_s)
            try:
                await loop.run_in_executor(service.executor, service.chain_audit)
            except Exception as exc:  # the records stay pending and durable; the next round links them
                log.warning("audit chaining failed", extra={"fields": {"error": repr(exc)}})

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the grace), then release everything."""
        what = "worker" if self.worker else "gateway"
        log.info(f"{what} stopping", extra={"fields": {"grace_s": self.config.shutdown_grace_s}})
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        for task in (self._refresh_task, self._chain_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        waits = []
        if self._uvicorn is not None and self._http_task is not None:
            self._uvicorn.should_exit = True
            waits.append(self._http_task)
        if self._grpc is not None:
            waits.append(asyncio.ensure_future(self._grpc.stop(self.config.shutdown_grace_s)))
        await asyncio.gather(*waits, return_exceptions=True)
        if self.service is not None:
            try:
                await asyncio.to_thread(self.service.close)  # links what is still pending in the audit log
            except Exception as exc:
                log.warning("closing the database failed", extra={"fields": {"error": repr(exc)}})
        log.info(f"{what} stopped")


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        creds, _, rest = tail.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{head}{sep}{user}:***@{rest}"
    return url


@contextlib.asynccontextmanager
async def running_gateway(config: GatewayConfig, *, worker: int = 0) -> AsyncIterator[Gateway]:
    """`async with running_gateway(config) as gw:` a started replica, stopped gracefully on exit."""
    gateway = Gateway(config, worker=worker)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


@contextlib.contextmanager
def gateway_in_thread(config: GatewayConfig, *, timeout_s: float = 60.0) -> Iterator[Gateway]:
    """A replica on its own event loop in a background thread, for synchronous tests and scripts."""
    gateway = Gateway(config)
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stopped: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stopped
        stopped = asyncio.Event()
        try:
            await gateway.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            with contextlib.suppress(Exception):
                await gateway.stop()
            return
        ready.set()
        await stopped.wait()
        await gateway.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="citycredit-gateway", daemon=True)
    thread.start()
    if not ready.wait(timeout_s):
        raise UnavailableError(f"the gateway did not start within {timeout_s} s")
    if failure:
        thread.join(timeout_s)
        raise failure[0]
    try:
        yield gateway
    finally:
        assert stopped is not None
        loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout_s + config.shutdown_grace_s)
        loop.close()


async def serve(config: GatewayConfig, *, worker: int = 0, ready: Callable[[Gateway], None] | None = None,
                stop_when_readable: int | None = None) -> None:
    """Run a replica until SIGTERM or SIGINT, then shut down gracefully (what `citycredit up` does).

    A worker of a supervisor passes its number, `ready` (called once it serves) and the file descriptor
    that turns readable when the supervisor is gone, so that it then shuts down too.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stop_when_readable is not None:
        loop.add_reader(stop_when_readable, stop.set)
    try:
        async with running_gateway(config, worker=worker) as gateway:
            if ready is not None:
                ready(gateway)
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if stop_when_readable is not None:
            loop.remove_reader(stop_when_readable)
