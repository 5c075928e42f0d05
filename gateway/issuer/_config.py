"""`IssuerConfig`: how a city's issuer runs, from flags or `CITYCREDIT_*` variables (pydantic-settings)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citycredit.errors import InvalidArgumentError
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IssuerConfig"]


class IssuerConfig(BaseSettings):
    """One city issuer. Either `home` + `city` (a demo alliance home) or `store` (the office's own folder)."""

    model_config = SettingsConfigDict(env_prefix="CITYCREDIT_", frozen=True, extra="ignore",
                                      arbitrary_types_allowed=True, populate_by_name=True)

    home: Path | None = None
    city: str | None = None
    store: Path | None = None
    # The office's key store passphrase (CITYCREDIT_KEYSTORE_PASSPHRASE); never logged.
    keystore_passphrase: SecretStr | None = Field(default=None, repr=False)
    # The gateway to upload to, follow and witness; None: an offline issuer (its home's repository).
    gateway: str | None = None
    # The pinned governance root; default: the home's anchor.json, or the store's.
    anchor: Path | None = None
    host: str = "127.0.0.1"
    # 0 picks a free port; None: the port in the city's issuer_url.
    http_port: int | None = Field(default=None, ge=0, le=65535)
    # How long a holder's device-bound code lives (the page re-presents it every 30 s, offline).
    holder_code_ttl_s: int = Field(default=86400, ge=60, le=30 * 86400)
    # How long a bare code issued over the API lives by default.
    code_ttl_s: int = Field(default=300, ge=1, le=30 * 86400)
    # A holder's signed-in session.
    session_ttl_s: int = Field(default=3600, ge=60, le=86400)
    # Background rounds: trust refresh, status list and role renewal with retried uploads, log witness.
    refresh_interval_s: float = Field(default=15.0, gt=0, le=3600)
    witness_interval_s: float = Field(default=10.0, gt=0, le=3600)
    # Sustained requests per second and burst, per client address and per holder.
    rate_per_s: float = Field(default=20.0, gt=0)
    rate_burst: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    clock: Callable[[], float] = Field(default=time.time, exclude=True, repr=False)

    @field_validator("home", "store", "anchor", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @model_validator(mode="after")
    def _one_office(self) -> IssuerConfig:
        if (self.store is None) == (self.home is None or self.city is None):
            raise ValueError("give --home and --city, or --store")
        return self

    def now_s(self) -> int:
        return int(self.clock())

    @classmethod
    def from_env(cls, **overrides: Any) -> IssuerConfig:
        """Values from CITYCREDIT_* variables, then `overrides` (flags) that are not None."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
            raise InvalidArgumentError(f"the issuer configuration is invalid: {problems}") from None
