"""Shared argument parsing for CLI commands: cities, times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from citycredit.errors import InvalidArgumentError


def resolve_city(name: str, home: str | Path | None = None) -> int:
    """A six-digit code or a lowercase pinyin name, through the scheme registry (with home overrides)."""
    from citycredit.adapters import load_registry

    overrides = Path(home) / "schemes" if home else None
    registry = load_registry(overrides if overrides is not None and overrides.is_dir() else None)
    return int(registry.resolve_city(name).city)


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without a zone is refused rather than guessed."""
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidArgumentError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-22T10:00:00+08:00)") from None
    if when.tzinfo is None:
        raise InvalidArgumentError(f"{text!r} has no time zone; add Z or +08:00")
    return when


def iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
