"""Load on 127.0.0.1: a minimal keep-alive HTTP/1.1 client and gRPC drivers, bounded in count and time.

The HTTP client is a few lines over asyncio streams rather than a full client
library, so that the client's own cost stays small next to the server's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["Response", "grpc_stream", "grpc_unary", "http_get_raw", "http_post_all", "run_workers"]

Response = tuple[int, bytes]


async def run_workers(count: int, concurrency: int, work: Callable[[int], Awaitable[None]],
                      *, timeout_s: float) -> None:
    """Run `work(i)` for i in range(count) on `concurrency` workers; all of it within `timeout_s`."""
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            await work(i)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(min(concurrency, count)))), timeout_s)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, head: bytes, body: bytes) -> Response:
        self.writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("the benchmark client needs a Content-Length in every response")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def http_post_all(port: int, path: str, bodies: Sequence[Any], *, concurrency: int, timeout_s: float,
                        headers: dict[str, str] | None = None,
                        each_headers: Sequence[dict[str, str]] | None = None) -> list[Response]:
    """POST each JSON body over `concurrency` keep-alive connections; responses in order.

    `headers` go with every request, `each_headers[i]` with request i only.
    """
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    base = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
    heads = [(base + "".join(f"{k}: {v}\r\n" for k, v in h.items())).encode() for h in each_headers] \
        if each_headers is not None else None
    head = base.encode()
    payloads = [json.dumps(b).encode() for b in bodies]
    connections = [_Connection(*await asyncio.open_connection("127.0.0.1", port))
                   for _ in range(min(concurrency, len(payloads)))]
    free = list(connections)
    results: list[Response] = [(0, b"")] * len(payloads)

    async def work(i: int) -> None:
        conn = free.pop()
        try:
            results[i] = await conn.post(head if heads is None else heads[i], payloads[i])
        finally:
            free.append(conn)

    try:
        await run_workers(len(payloads), len(connections), work, timeout_s=timeout_s)
    finally:
        for conn in connections:
            conn.close()
    return results


async def grpc_unary(method: Callable[..., Awaitable[Any]], requests: Sequence[Any], *, concurrency: int,
                     timeout_s: float) -> list[Any]:
    results: list[Any] = [None] * len(requests)

    async def work(i: int) -> None:
        results[i] = await method(requests[i])

    await run_workers(len(requests), concurrency, work, timeout_s=timeout_s)
    return results


async def grpc_stream(method: Callable[..., Any], requests: Sequence[Any], *, timeout_s: float) -> list[Any]:
    """One bidirectional stream carrying every request; the answers in order."""

    async def produce() -> Any:
        for request in requests:
            yield request

    async def consume() -> list[Any]:
        return [response async for response in method(produce())]

    return await asyncio.wait_for(consume(), timeout_s)


async def http_get_raw(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """One GET on its own connection: the status, the response head exactly as sent (status line and headers),
    and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
    finally:
        writer.close()
    return status, head, body
