"""Running a gateway: gRPC and REST servers over one `Replica`, with graceful shutdown.

A replica binds its ports exclusively (a second gateway on the same ports fails to start,
it never joins the first); only the workers of one supervisor share ports, through
SO_REUSEPORT on sockets the supervisor reserved first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import uvicorn
from citycredit.errors import UnavailableError
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.connections import bind_probe, guarded_protocol, listening_socket
from citycredit.gateway.grpc_service import add_services
from citycredit.gateway.http import served_in_process, served_in_thread
from citycredit.gateway.logs import LoopErrors
from citycredit.gateway.replica import Replica
from citycredit.gateway.rest import build_app

try:  # the gateway extra installs it where it builds (not on Windows); asyncio's own loop otherwise
    from uvloop import new_event_loop as _uvloop
except ImportError:  # pragma: no cover - depends on the platform
    _uvloop = None  # type: ignore[assignment]

__all__ = ["Gateway", "gateway_in_thread", "run", "running_gateway", "serve"]


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a server's main coroutine to its end, on uvloop where it is installed: under many connections
    (idle ones held open, clients refused and reconnecting) it spends far less per event than asyncio's loop."""
    with asyncio.Runner(loop_factory=_uvloop) as runner:
        runner.run(main)

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
    replica: Replica | None = None
    http_port: int = 0
    grpc_port: int = 0
    # Which worker of `citycredit up --workers N` this is (1..N); 0 when the replica is a process of its own.
    worker: int = 0

    def __post_init__(self) -> None:
        self._grpc: grpc.aio.Server | None = None
        self._health: Any = None
        self._uvicorn: _Uvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

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

    async def start(self) -> None:
        config = self.config
        _more_file_descriptors()
        asyncio.get_running_loop().set_exception_handler(LoopErrors())
        if not config.reuse_port:  # refuse ports something holds before doing any work (and before grpc logs)
            for port, what in ((config.http_port, "HTTP"), (config.grpc_port, "gRPC")):
                _refuse_if_taken(config.host, port, what)
        replica = Replica(config)
        self.replica = replica
        await asyncio.to_thread(replica.start)

        reuse_port = int(config.reuse_port)
        idle_ms = int(config.idle_timeout_s * 1000)
        self._grpc = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", config.max_body_bytes), ("grpc.so_reuseport", reuse_port),
            ("grpc.max_connection_idle_ms", idle_ms), ("grpc.max_concurrent_streams", 256),
            ("grpc.http2.max_pings_without_data", 2), ("grpc.max_connection_age_grace_ms", idle_ms)])
        self._health = await add_services(self._grpc, replica)
        try:
            self.grpc_port = self._grpc.add_insecure_port(f"{self._bind_host()}:{config.grpc_port}")
        except RuntimeError:
            self.grpc_port = 0
        if self.grpc_port == 0:
            raise UnavailableError(f"cannot listen for gRPC on {config.host}:{config.grpc_port}: the port is in use "
                                   "(another gateway?) or not available")
        await self._grpc.start()

        try:
            sock = listening_socket(config.host, config.http_port, backlog=4096, reuse_port=config.reuse_port)
        except OSError as exc:
            await self._grpc.stop(None)
            raise UnavailableError(f"cannot listen for HTTP on {config.host}:{config.http_port}: {exc.strerror} "
                                   "(another gateway?)") from None
        self.http_port = sock.getsockname()[1]
        protocol = guarded_protocol(max_connections=config.max_connections, request_timeout_s=config.idle_timeout_s)
        uv_config = uvicorn.Config(build_app(replica), http=protocol, log_config=None, access_log=False,
                                   lifespan="off", timeout_graceful_shutdown=int(config.shutdown_grace_s) or 1,
                                   timeout_keep_alive=max(1, int(config.idle_timeout_s)), server_header=False,
                                   backlog=4096)
        self._uvicorn = _Uvicorn(uv_config)
        self._http_task = asyncio.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started:
            if self._http_task.done():
                self._http_task.result()
                raise UnavailableError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        self._tasks = [asyncio.create_task(self._every(config.refresh_interval_s, replica.refresh_round, "refresh")),
                       asyncio.create_task(self._every(config.log_interval_s, replica.log_round, "log"))]
        replica.metrics.worker.labels(str(self.worker)).set(1)
        log.info("worker ready" if self.worker else "gateway ready",
                 extra={"fields": {"http": self.http_url, "grpc": self.grpc_target, "http_port": self.http_port,
                                   "grpc_port": self.grpc_port, "snapshot_version": replica.snapshot.version,
                                   "db": _redact(config.database_url), "pid": os.getpid()}})

    def _bind_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def _every(self, interval_s: float, work: Callable[[], object], what: str) -> None:
        """Run `work` on the database threads every `interval_s`; a failed round is logged, the next one tried."""
        assert self.replica is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval_s)
            try:
                await loop.run_in_executor(self.replica.executor, work)
            except Exception as exc:  # keep serving what we have; say why the round failed
                log.warning(f"{what} round failed", extra={"fields": {"error": repr(exc)}})

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the grace), then release everything."""
        what = "worker" if self.worker else "gateway"
        log.info(f"{what} stopping", extra={"fields": {"grace_s": self.config.shutdown_grace_s}})
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        for task in self._tasks:
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
        if self.replica is not None:
            try:
                await asyncio.to_thread(self.replica.close)  # links what is still pending in the log
            except Exception as exc:
                log.warning("closing the database failed", extra={"fields": {"error": repr(exc)}})
        log.info(f"{what} stopped")


def _refuse_if_taken(host: str, port: int, what: str) -> None:
    """Raise UnavailableError when something else holds `port` (`bind_probe`)."""
    if port == 0:
        return
    try:
        bind_probe(host, port)
    except OSError as exc:
        raise UnavailableError(f"cannot listen for {what} on {host}:{port}: {exc.strerror} (another gateway?)") \
            from None


def _more_file_descriptors() -> None:
    """Raise the soft limit on open files to the hard one: every connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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
    with served_in_thread(gateway.start, gateway.stop, name="citycredit-gateway", timeout_s=timeout_s,
                          stop_timeout_s=timeout_s + config.shutdown_grace_s):
        yield gateway


async def serve(config: GatewayConfig, *, worker: int = 0, ready: Callable[[Gateway], None] | None = None,
                stop_when_readable: int | None = None) -> None:
    """Run a replica until SIGTERM or SIGINT, then shut down gracefully (what `citycredit up` does).

    A worker of a supervisor passes its number, `ready` (called once it serves) and the file descriptor
    that turns readable when the supervisor is gone, so that it then shuts down too.
    """
    await served_in_process(running_gateway(config, worker=worker), ready=ready,
                            stop_when_readable=stop_when_readable)
