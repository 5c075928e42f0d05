"""Connection limits for the HTTP server: a cap per worker, and deadlines for idle and slow clients.

uvicorn's HTTP protocols have a keep-alive timeout, but a connection that sends nothing, or a
request head one byte at a time, or a body that never ends, lives as long as the client likes;
its `limit_concurrency` answers 503 to everyone once too many connections are open, idle
ones included. So the gateway runs uvicorn's own protocol (httptools, or h11) with two additions:

- every connection must deliver a whole request within `request_timeout_s` of opening or of
  its previous answer, else it is closed (a request being answered is never cut);
- past `max_connections` open connections, the one idle the longest is closed to make room,
  and when none is idle the new one is refused. A connection that never sent a request goes
  before one kept alive after an answer: an attacker holding (and re-opening) thousands of
  silent sockets evicts its own, and honest keep-alive clients keep being served.

The servers' listening sockets (`listening_socket`) allow address reuse, so that a server restarted
on its port binds it while the last run's closed connections linger (TIME_WAIT, or FIN-WAIT-2 until
a client that kept its connection alive notices); a socket listening there still refuses it.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: h11 only
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]
    _HTTPTOOLS = False
else:
    _HTTPTOOLS = True

__all__ = ["bind_probe", "guarded_protocol", "listening_socket"]


class _Guard:
    """The deadlines and the cap, over either of uvicorn's HTTP/1.1 protocols (see the module docstring)."""

    max_connections: ClassVar[int]
    request_timeout_s: ClassVar[float]
    # Open connections not answering a request, oldest first (per server: each class is made for one):
    # those that never completed a request, and those kept alive after an answer.
    fresh: ClassVar[collections.OrderedDict[int, Any]]
    idle: ClassVar[collections.OrderedDict[int, Any]]
    connections: set[Any]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    _deadline: asyncio.TimerHandle | None = None
    _answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's or uvloop's transport (uvloop's does not subclass asyncio.Transport)
        super().connection_made(transport)  # type: ignore[misc]
        if len(self.connections) > self.max_connections:
            victim = next(iter(self.fresh.values()), None) or next(iter(self.idle.values()), None)
            if victim is None:  # everyone is busy: this one waits for nothing
                transport.close()
                return
            victim._close()
        self._await_request()

    def _await_request(self) -> None:
        """From now on the connection is idle: a whole request must arrive before the deadline."""
        (self.idle if self._answered else self.fresh)[id(self)] = self
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._on_deadline)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _busy(self) -> bool:
        """Answering a request whose body has fully arrived."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.more_body

    def _request_arrived(self) -> None:
        if self._busy():
            self._forget()

    def _forget(self) -> None:
        self.fresh.pop(id(self), None)
        self.idle.pop(id(self), None)

    def _on_deadline(self) -> None:
        if self._busy():  # the request came; the app is at work: wait for its answer
            self._deadline = None
            return
        self._close()

    def _close(self) -> None:
        self._forget()
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._answered = True
        if not self.transport.is_closing():
            self._forget()
            self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self._cancel_deadline()
        super().connection_lost(exc)  # type: ignore[misc]


class _GuardedHttpTools(_Guard, HttpToolsProtocol):
    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._request_arrived()


class _GuardedH11(_Guard, H11Protocol):
    def handle_events(self) -> None:
        super().handle_events()
        self._request_arrived()


def guarded_protocol(*, max_connections: int, request_timeout_s: float) -> type[asyncio.Protocol]:
    """An HTTP/1.1 protocol class for one server (httptools' parser when installed, else h11), with its own
    connection cap and request deadline."""
    base: type[asyncio.Protocol] = _GuardedHttpTools if _HTTPTOOLS else _GuardedH11
    return type("GuardedHttpProtocol", (base,), {
        "max_connections": max_connections, "request_timeout_s": request_timeout_s,
        "fresh": collections.OrderedDict(), "idle": collections.OrderedDict()})


def _bound(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only for that protocol, and
    # without it every response waits for a delayed ACK (about 40 ms) between headers and body.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_probe(host: str, port: int) -> int:
    """Bind `port` (a free one for 0) as a lone listener would, and let it go: the port bound.

    Raises OSError while a socket listens there, or holds it without allowing its reuse (whatever else
    its options: several processes sharing it with SO_REUSEPORT included); connections that an earlier
    server on the port closed do not count.
    """
    with _bound(host, port) as sock:
        return int(sock.getsockname()[1])


def listening_socket(host: str, port: int, *, backlog: int, reuse_port: bool = False) -> socket.socket:
    """A non-blocking TCP socket listening on `port` (raises OSError when it cannot be bound)."""
    sock = _bound(host, port, reuse_port=reuse_port)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock
