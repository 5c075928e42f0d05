"""Writing files so that a crash never leaves half of one: a temporary file, fsync, then rename."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_private", "write_public"]


def write_public(path: Path, data: bytes) -> None:
    """Write a file anyone may read (0644)."""
    _write(path, data, 0o644)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read (0600); its folder is created 0700."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    _write(path, data, 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
