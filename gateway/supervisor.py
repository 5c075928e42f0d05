"""`citycredit up --workers N`: N gateway processes sharing the HTTP and gRPC ports, and their supervisor.

Each worker is an ordinary replica (stateless over the shared database) whose sockets are bound with
SO_REUSEPORT, so the kernel spreads new connections over the workers and a Python process's one GIL
no longer bounds the gateway. The supervisor:

- migrates and seeds the database once, before any worker starts (no start-up race);
- picks the ports (one free port each when asked for port 0), refusing ports anything else holds
  (a second gateway on the same ports fails to start instead of joining the first), and holds
  them, bound but not listening, so that a restarted worker gets the same ports back;
- gives the workers one metrics directory (prometheus_client's multiprocess mode), so that one
  scrape of any worker shows the counters of all;
- starts the workers (spawned, not forked: grpc does not survive a fork), says "gateway ready" once
  every one serves, forwards SIGTERM and SIGINT, and waits up to the shutdown grace for them;
- restarts a worker that dies while the gateway runs, and gives up (stopping the others, exit 1) when
  workers die more than `_MAX_RESTARTS` times within `_RESTART_WINDOW_S`, or one fails to start.

A worker whose supervisor is gone (even killed with SIGKILL) shuts down gracefully by itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from citycredit.errors import UnavailableError
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.connections import bind_probe
from citycredit.gateway.logs import configure_logging
from citycredit.gateway.metrics import MULTIPROC_ENV, Metrics
from citycredit.gateway.replica import Replica
from citycredit.gateway.server import Gateway, run, serve

__all__ = ["supervise"]

log = logging.getLogger("citycredit.gateway")

_START_TIMEOUT_S = 120.0
_MAX_RESTARTS = 5
_RESTART_WINDOW_S = 60.0
_POLL_S = 0.2


def supervise(config: GatewayConfig, *, ready: Callable[[int, int], None] | None = None) -> int:
    """Run `config.workers` workers until SIGTERM or SIGINT; the exit status (0 after a clean stop).

    `ready(http_port, grpc_port)` is called once every worker serves.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        log.warning("this platform cannot share ports between processes; running one worker")
        run(serve(config))
        return 0
    preparer = Replica(config.model_copy(update={"db_pool_size": 1}))
    try:
        preparer.prepare()
    finally:
        preparer.close()
    metrics_dir = tempfile.mkdtemp(prefix="citycredit-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = metrics_dir  # the workers are spawned with it: their metrics go there
    try:
        with _reserved(config.host, config.http_port) as http, _reserved(config.host, config.grpc_port) as grpc:
            worker_config = config.model_copy(update={"http_port": http, "grpc_port": grpc, "workers": 1,
                                                      "reuse_port": True})
            return _Supervisor(worker_config, config.workers, ready).run()
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(metrics_dir, ignore_errors=True)


@contextlib.contextmanager
def _reserved(host: str, port: int) -> Iterator[int]:
    """Hold `port` (a free one for 0) bound with SO_REUSEPORT, not listening: the workers listen on it.

    The port is first bound without SO_REUSEPORT (`bind_probe`), which fails while another socket listens
    there or holds it (another gateway's workers, whatever their options): this gateway never joins another.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        port = bind_probe(host, port)
    except OSError as exc:
        raise UnavailableError(f"cannot listen on {host}:{port}: {exc.strerror} (another gateway?)") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UnavailableError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@dataclasses.dataclass
class _Worker:
    number: int
    process: BaseProcess
    ready_pipe: Connection
    ready: bool = False


class _Supervisor:
    def __init__(self, config: GatewayConfig, count: int, ready: Callable[[int, int], None] | None) -> None:
        self.config = config
        self.count = count
        self.ready = ready
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self.deaths: list[float] = []

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for number in range(1, self.count + 1):
                self._start(number)
            status = self._wait_until_ready()
            if status is None:
                log.info("gateway ready", extra={"fields": {
                    "http": _url("http", self.config.host, self.config.http_port),
                    "grpc": _url("", self.config.host, self.config.grpc_port),
                    "http_port": self.config.http_port, "grpc_port": self.config.grpc_port,
                    "workers": self.count, "pids": [w.process.pid for w in self.workers.values()]}})
                if self.ready is not None:
                    self.ready(self.config.http_port, self.config.grpc_port)
                status = self._watch()
            log.info("gateway stopping", extra={"fields": {"grace_s": self.config.shutdown_grace_s}})
            self._stop_all()
            log.info("gateway stopped")
            return status
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self, number: int) -> None:
        receive, send = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker_main, args=(self.config, number, send),
                                       name=f"citycredit-worker-{number}", daemon=False)
        process.start()
        send.close()
        self.workers[number] = _Worker(number, process, receive)

    def _wait_until_ready(self) -> int | None:
        """None once every worker serves; an exit status when one failed first or a signal came."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not all(w.ready for w in self.workers.values()):
            if self.stopping:
                return 0
            if time.monotonic() > deadline:
                log.error("workers did not start in time", extra={"fields": {"timeout_s": _START_TIMEOUT_S}})
                return 1
            self._poll()
            for worker in self.workers.values():
                if not worker.ready and not worker.process.is_alive():
                    log.error("worker failed to start", extra={"fields": {
                        "worker": worker.number, "exit": worker.process.exitcode}})
                    return 1
        return None

    def _poll(self) -> list[_Worker]:
        """Wait a moment for news; mark workers that said they serve; return the ones that exited."""
        waitables: list[Any] = [w.ready_pipe for w in self.workers.values() if not w.ready]
        waitables += [w.process.sentinel for w in self.workers.values()]
        with contextlib.suppress(InterruptedError):
            wait(waitables, timeout=_POLL_S)
        for worker in self.workers.values():
            if not worker.ready and worker.ready_pipe.poll():
                with contextlib.suppress(EOFError, OSError):
                    worker.ready = bool(worker.ready_pipe.recv())
        return [w for w in self.workers.values() if not w.process.is_alive()]

    def _watch(self) -> int:
        """Serve until a signal (0), restarting workers that die; 1 once they die too often."""
        while not self.stopping:
            for worker in self._poll():
                if self.stopping:
                    break
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t < _RESTART_WINDOW_S] + [now]
                log.warning("worker exited", extra={"fields": {"worker": worker.number,
                                                               "exit": worker.process.exitcode}})
                if worker.process.pid is not None:
                    Metrics.process_gone(worker.process.pid)
                worker.ready_pipe.close()
                if len(self.deaths) > _MAX_RESTARTS:
                    log.error("workers keep exiting; stopping the gateway", extra={"fields": {
                        "exits": len(self.deaths), "window_s": _RESTART_WINDOW_S}})
                    return 1
                self._start(worker.number)
                log.info("worker restarted", extra={"fields": {"worker": worker.number,
                                                               "pid": self.workers[worker.number].process.pid}})
        return 0

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait up to the grace (and a little for closing), then SIGKILL what is left."""
        for worker in self.workers.values():
            if worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    worker.process.terminate()
        deadline = time.monotonic() + self.config.shutdown_grace_s + 10.0
        for worker in self.workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker did not stop in time; killing it", extra={"fields": {"worker": worker.number}})
                worker.process.kill()
                worker.process.join(5)
            worker.ready_pipe.close()


def _url(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}" if scheme else f"{host}:{port}"


def _worker_main(config: GatewayConfig, number: int, ready_pipe: Connection) -> None:
    """A worker process: one replica on the shared ports, until a signal or the supervisor's end."""
    configure_logging(worker=number)
    parent = multiprocessing.parent_process()

    def ready(_gateway: Gateway) -> None:
        with contextlib.suppress(OSError):
            ready_pipe.send(True)
            ready_pipe.close()

    try:
        run(serve(config, worker=number, ready=ready,
                  stop_when_readable=parent.sentinel if parent is not None else None))
    except Exception as exc:  # say why in one line; the supervisor sees the exit status
        log.error("worker failed", exc_info=exc)
        raise SystemExit(2) from None
