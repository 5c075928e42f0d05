"""`InMemoryGateway`: the real gateway app over SQLite in a folder, called in process through httpx (no sockets).

    gateway = InMemoryGateway(demo_home)                   # a `citycredit demo init` folder
    client = gateway.client(api_key=merchant_token)        # a GatewayClient over the real ASGI app
    client.redeem(code, "quzhou-parking-free-3", idempotency_key="scan-1")
    gateway.replica.log_round()                            # what the server's timer would do

It is the same `Replica` and the same REST app a served gateway runs: every redemption,
upload and verification goes through the real code, with no second copy of any logic.
Only the timers are not running: call `replica.refresh_round()` and `replica.log_round()`.
Requests go through httpx's own `ASGITransport`, driven from synchronous code on an event
loop of the gateway's own thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from citycredit import GatewayClient
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.replica import Replica
from citycredit.gateway.rest import build_app

__all__ = ["BASE_URL", "InMemoryGateway"]

BASE_URL = "http://testserver"


class _AppTransport(httpx.BaseTransport):
    """A synchronous httpx transport over `httpx.ASGITransport`, on an event loop in its own thread."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="citycredit-asgi", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return asyncio.run_coroutine_threadsafe(self._handle(request), self._loop).result()

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class InMemoryGateway:
    """One replica of the demo alliance's gateway, in process."""

    def __init__(self, home: str | Path, *, clock: Callable[[], float] = time.time, **overrides: Any) -> None:
        self.home = Path(home)
        passphrases = json.loads((self.home / "passphrases.json").read_text())
        self.config = GatewayConfig(home=self.home / "gateway", keystore_passphrase=passphrases["gateway/keys"],
                                    clock=clock, **overrides)
        self.replica = Replica(self.config)
        self.replica.start()
        self.app = build_app(self.replica)
        self._clients: list[httpx.Client] = []

    def http(self) -> httpx.Client:
        """An httpx client whose requests the real ASGI app answers (base URL `BASE_URL`)."""
        client = httpx.Client(transport=_AppTransport(self.app), base_url=BASE_URL)
        self._clients.append(client)
        return client

    def client(self, *, api_key: str | None = None) -> GatewayClient:
        return GatewayClient.rest(BASE_URL, api_key=api_key, http=self.http())

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.replica.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
