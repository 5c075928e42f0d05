"""Structured logs: one JSON object per line on stderr.

Call sites pass extra fields as `extra={"fields": {...}}`; nothing that identifies a
holder is ever logged (pseudonyms only, and only where the audit log has them too).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["JsonFormatter", "configure_logging"]


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
            doc["exc_type"] = record.exc_info[0].__name__
            doc["exc"] = self.formatException(record.exc_info)
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
