"""Running a city's issuer: its REST app on uvicorn, with its background rounds, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit

import uvicorn
from citycredit.errors import UnavailableError
from citycredit.gateway.connections import guarded_protocol, listening_socket
from citycredit.gateway.http import served_in_process, served_in_thread
from citycredit.gateway.issuer._app import build_issuer_app
from citycredit.gateway.issuer._config import IssuerConfig
from citycredit.gateway.issuer._service import IssuerService

__all__ = ["RunningIssuer", "issuer_in_thread", "running_issuer", "serve_issuer"]

log = logging.getLogger("citycredit.issuer")


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RunningIssuer:
    """One issuer serving: its service, URL and background rounds."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.service: IssuerService | None = None
        self.port = 0
        self._server: _Uvicorn | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        service = IssuerService(self.config)
        self.service = service
        await asyncio.to_thread(service.start)
        port = self.config.http_port
        if port is None:
            port = urlsplit(service.office.issuer_url).port or 0
        try:
            sock = listening_socket(self.config.host, port, backlog=1024)
        except OSError as exc:
            raise UnavailableError(f"cannot listen on {self.config.host}:{port}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        protocol = guarded_protocol(max_connections=1024, request_timeout_s=15.0)
        self._server = _Uvicorn(uvicorn.Config(build_issuer_app(service), http=protocol, log_config=None,
                                               access_log=False, lifespan="off", server_header=False,
                                               timeout_graceful_shutdown=int(self.config.shutdown_grace_s) or 1))
        serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if serving.done():
                serving.result()
                raise UnavailableError("the issuer's HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        self._tasks = [serving, asyncio.create_task(self._every(self.config.refresh_interval_s, service.round)),
                       asyncio.create_task(self._every(self.config.witness_interval_s, service.witness_round))]
        log.info("issuer ready", extra={"fields": {"city": f"{service.city:06d}", "url": self.url,
                                                   "gateway": self.config.gateway}})

    async def _every(self, interval_s: float, work: Callable[[], None]) -> None:
        # Never cancelled mid-round: a round runs in a thread, which a cancelled await would leave running
        # while stop() closes the register under it. stop() sets _stopping and waits for the round to end.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval_s)
                return
            try:
                await asyncio.to_thread(work)
            except Exception as exc:  # keep serving; say why the round failed, try again next time
                log.warning("issuer round failed", extra={"fields": {"round": work.__name__, "error": repr(exc)}})

    async def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.service is not None:
            await asyncio.to_thread(self.service.close)
        log.info("issuer stopped")


@contextlib.asynccontextmanager
async def running_issuer(config: IssuerConfig) -> AsyncIterator[RunningIssuer]:
    issuer = RunningIssuer(config)
    await issuer.start()
    try:
        yield issuer
    finally:
        await issuer.stop()


async def serve_issuer(config: IssuerConfig, *, ready: Callable[[RunningIssuer], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully (what `citycredit issuer serve` does); `ready` is called
    once it serves."""
    await served_in_process(running_issuer(config), ready=ready)


@contextlib.contextmanager
def issuer_in_thread(config: IssuerConfig, *, timeout_s: float = 60.0) -> Iterator[RunningIssuer]:
    """An issuer on its own event loop in a background thread, for synchronous tests and scripts."""
    issuer = RunningIssuer(config)
    with served_in_thread(issuer.start, issuer.stop, name="citycredit-issuer", timeout_s=timeout_s,
                          stop_timeout_s=timeout_s):
        yield issuer
