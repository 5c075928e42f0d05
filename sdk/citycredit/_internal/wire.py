"""The JSON forms shared by every surface: times as ISO 8601 and the verification result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from citycredit._internal.verify import VerifiedCode
from citycredit.errors import BundleError, CodeError, InvalidArgumentError

__all__ = ["iso", "parse_time", "verification_json"]


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


def verification_json(result: VerifiedCode | None, error: Exception | None) -> dict[str, Any]:
    """The one JSON shape of a verification, shared by the CLI and the gateway."""
    if result is None:
        assert isinstance(error, CodeError | BundleError)
        return {"valid": False, "city": None, "tier": None, "band": None, "issued_at": None,
                "expires_at": None, "code_id": None, "holder": None, "error": error.to_dict()}
    return {"valid": True, "city": f"{result.city:06d}", "tier": result.tier.name, "band": result.band,
            "issued_at": iso(result.issued_at_s), "expires_at": iso(result.expires_at_s),
            "code_id": result.code_id.hex(), "holder": result.holder.hex(), "error": None}
