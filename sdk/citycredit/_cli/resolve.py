"""Shared argument parsing for CLI commands."""

from __future__ import annotations

from pathlib import Path

from citycredit.adapters import load_registry


def resolve_city(name: str, home: str | Path | None = None) -> int:
    """A six-digit code or a lowercase pinyin name, through the scheme registry (with home overrides)."""
    overrides = Path(home) / "schemes" if home else None
    registry = load_registry(overrides if overrides is not None and overrides.is_dir() else None)
    return int(registry.resolve_city(name).city)
