"""Structured logs: one JSON object per line on stderr.

Call sites pass extra fields as `extra={"fields": {...}}`; nothing that identifies a
holder is ever logged (pseudonyms only, and only where the audit log has them too). An
exception is logged as its type, message and the line it was raised at, never as a
multi-line traceback: that holds for what the libraries underneath log too (asyncio,
grpc, warnings, an uncaught exception), which `configure_logging` routes to the same
lines, and for the event loop's own errors (`LoopErrors`), which come in floods when
the process runs out of file descriptors (thousands of failed accepts a second).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["JsonFormatter", "LoopErrors", "configure_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `worker` (when given) goes into every line."""

    def __init__(self, *, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.worker is not None:
            doc["worker"] = self.worker
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            kind, value, trace = record.exc_info
            doc["exc_type"] = kind.__name__
            doc["exc"] = str(value)[:500]
            frames = traceback.extract_tb(trace)
            if frames:  # where it failed, in one field: a log line never carries a traceback
                last = frames[-1]
                doc["exc_where"] = f"{last.filename}:{last.lineno} in {last.name}"
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure_logging(level: int | None = None, stream: TextIO | None = None, *, worker: int | None = None) -> None:
    """Route the gateway's, uvicorn's and Alembic's loggers to JSON lines on stderr (idempotent).

    The level defaults to CITYCREDIT_LOG_LEVEL (e.g. WARNING drops the per-request lines), else INFO.
    A worker of `citycredit up --workers N` names itself in every line (`"worker": 1` … N).
    """
    if level is None:
        named = logging.getLevelName(os.environ.get("CITYCREDIT_LOG_LEVEL", "INFO").strip().upper())
        level = named if isinstance(named, int) else logging.INFO
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(worker=worker))
    for name in ("citycredit", "uvicorn", "uvicorn.error", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level if name != "alembic" else logging.WARNING)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # the gateway writes its own access lines
    # Every other library (asyncio, grpc, …) logs through the root: its warnings and errors as JSON lines too.
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


_uncaught = logging.getLogger("citycredit.uncaught")


def _log_uncaught(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
    _uncaught.critical("uncaught exception", exc_info=(kind, value, trace))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    _uncaught.error("uncaught exception in a thread", exc_info=args.exc_value or True,
                    extra={"fields": {"thread": getattr(args.thread, "name", None)}})


class LoopErrors:
    """An event loop's exception handler: each error one JSON line on the `asyncio` logger, and the same error
    again within `interval_s` counted rather than logged (the next line says how many were suppressed)."""

    def __init__(self, *, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # error -> (when last logged, suppressed since)
        self._log = logging.getLogger("asyncio")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "event loop error")
        exc = context.get("exception")
        key = (message, type(exc).__name__ if exc is not None else "")
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval_s:
            self._seen[key] = (last[0], last[1] + 1)
            return
        if len(self._seen) > 1000:  # distinct errors are few; never let the table grow without bound
            self._seen.clear()
        self._seen[key] = (now, 0)
        fields: dict[str, Any] = {k: repr(v)[:200] for k, v in context.items()
                                  if k not in ("message", "exception")}
        if last is not None and last[1]:
            fields["suppressed"] = last[1]
        exc_info = (type(exc), exc, exc.__traceback__) if isinstance(exc, BaseException) else None
        self._log.error(message, exc_info=exc_info, extra={"fields": fields})
