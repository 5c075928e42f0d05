"""Verification beside the event loop: codes go to worker threads in batches, answers come back as futures.

Ed25519 and ECDSA verification in `cryptography` release the GIL, so a code verified on a worker
thread leaves the event loop free for the gRPC machinery of other calls, on another core. A thread
hop costs the loop a wake-up, so every code submitted during one turn of the loop travels in one
hop and its answers come back in one: with several calls or stream messages in flight, the hop's
cost is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Batcher"]

A = TypeVar("A")
R = TypeVar("R")
_Settled = list[tuple["asyncio.Future[R]", R | None, BaseException | None]]


class Batcher(Generic[A, R]):
    """`await batcher.submit(arg)` runs `work(arg)` on `executor`, batched per event-loop turn."""

    def __init__(self, work: Callable[[A], R], executor: ThreadPoolExecutor) -> None:
        self._work = work
        self._executor = executor
        self._pending: list[tuple[A, asyncio.Future[R]]] = []

    def submit(self, arg: A) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush, loop)
        self._pending.append((arg, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        try:
            self._executor.submit(self._run, loop, batch)
        except RuntimeError as exc:  # the executor is shut down: the gateway is stopping
            failed: _Settled[R] = [(future, None, exc) for _arg, future in batch]
            _settle(failed)

    def _run(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[A, asyncio.Future[R]]]) -> None:
        settled: _Settled[R] = []
        for arg, future in batch:
            try:
                settled.append((future, self._work(arg), None))
            except Exception as exc:  # handed to the awaiting call, which maps it to a status
                settled.append((future, None, exc))
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: _Settled[R]) -> None:
    for future, value, exc in settled:
        if future.done():  # the call was cancelled meanwhile
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)  # type: ignore[arg-type]
