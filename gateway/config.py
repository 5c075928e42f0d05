"""`GatewayConfig`: everything a gateway process is started with, from flags or `CITYCREDIT_*` variables.

Read by pydantic-settings: a field `http_port` comes from `--http-port` (passed in by the
CLI) or the environment variable `CITYCREDIT_HTTP_PORT`; flags win. Values are validated
once, here, so a bad variable is one clear error at start-up, never a crash later.

The gateway's home holds only what the gateway may know: its key store (`keys/`: the
snapshot and timestamp keys, nothing of any city), its SQLite database by default, the
pinned `anchor.json` and `seed.json` (credential hashes and signed merchant grants to start
from). The public trust set it starts from on an empty database is `seed` (a folder in the
served layout), in the demo the home's sibling `repository/`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citycredit.errors import InvalidArgumentError
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "GatewayConfig", "default_workers"]

ENV_PREFIX = "CITYCREDIT_"
DEFAULT_HOME = Path("~/.citycredit/gateway").expanduser()
MAX_DEFAULT_WORKERS = 4  # each worker holds its own database pools: keep the default's connections modest


def default_workers() -> int:
    """One worker per CPU this process may run on, at most `MAX_DEFAULT_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


class GatewayConfig(BaseSettings):
    """How one gateway replica runs. Ports 0 pick free ephemeral ports (the chosen ones are logged)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid",
                                      arbitrary_types_allowed=True, populate_by_name=True)

    # The gateway's own directory: keys/, gateway.db (SQLite default), anchor.json, seed.json.
    home: Path = DEFAULT_HOME
    # SQLAlchemy URL; None = SQLite file `gateway.db` in `home`. `postgresql://` uses psycopg 3.
    db_url: str | None = Field(default=None, validation_alias=AliasChoices("CITYCREDIT_DB", "db_url"))
    # The public trust set (served layout) to seed an empty database from; default: home/../repository.
    seed: Path | None = None
    # The key store with the snapshot and timestamp keys: `file:DIR` (passphrase from
    # CITYCREDIT_KEYSTORE_PASSPHRASE) or `pkcs11:LIB?token=LABEL` (PIN from CITYCREDIT_PKCS11_PIN).
    keystore: str | None = None
    # The file key store's passphrase (CITYCREDIT_KEYSTORE_PASSPHRASE); never logged.
    keystore_passphrase: SecretStr | None = Field(default=None, repr=False)
    # The pinned governance root (TUF root metadata); default: home/anchor.json.
    anchor: Path | None = None
    host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Largest accepted request body (REST) or message (gRPC), bytes; the batch limit must fit inside it.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Most codes in one batch verification.
    max_batch: int = Field(default=1000, ge=1)
    # How long past an expiry the gateway still judges with what it holds (0: never).
    grace_s: int = Field(default=0, ge=0)
    # How often a replica looks for what another replica published, seconds.
    refresh_interval_s: float = Field(default=2.0, gt=0, le=60)
    # The timestamp's lifetime, and how often it is renewed (its freshness is the gateway's one promise).
    timestamp_ttl_s: int = Field(default=6 * 3600, ge=60)
    timestamp_renew_s: int = Field(default=3600, ge=10)
    # Per-credential and per-client token buckets: sustained requests per second and burst. A request costs a
    # client one token, plus one per 256 bytes of its body (a batch of N codes about N tokens), at most the
    # burst: the default burst admits one batch of `max_batch` codes, and a client sending such batches
    # without pause gets one through every burst / rate seconds per worker.
    rate_per_s: float = Field(default=50.0, gt=0)
    rate_burst: int = Field(default=100, ge=1)
    client_rate_per_s: float = Field(default=200.0, gt=0)
    client_rate_burst: int = Field(default=1000, ge=1)
    # A client over its rate limit gets its 429 after this long, so that retrying at once gains it nothing.
    rate_refusal_delay_s: float = Field(default=1.0, ge=0, le=30)
    # Connection limits per worker: concurrent connections, and how long an idle or slow one may stay.
    max_connections: int = Field(default=2048, ge=16)
    idle_timeout_s: float = Field(default=15.0, gt=0)
    # Database connections (and worker threads) for redemptions and credential look-ups, per replica.
    db_pool_size: int = Field(default=16, ge=1)
    # How long a replica trusts a credential it looked up; a revocation elsewhere bites within this.
    auth_cache_s: float = Field(default=1.0, ge=0, le=60)
    # How often a replica links pending redemption entries into the transparency log and signs a head.
    log_interval_s: float = Field(default=0.5, gt=0, le=60)
    # How long a merchant may void its own redemption.
    void_window_s: int = Field(default=900, ge=0, le=86400)
    # How far a presentation's time may be from the gateway's clock, either way.
    presentation_window_s: int = Field(default=30, ge=1, le=300)
    # Grace given to in-flight requests on shutdown.
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    # Processes serving the same ports (`citycredit gateway serve`; 1 = the gateway in the one process).
    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    # Bind the ports with SO_REUSEPORT, so that several processes share them (set for each worker).
    reuse_port: bool = False
    # The clock (seconds since the epoch); tests pass a fixed one.
    clock: Callable[[], float] = Field(default=time.time, exclude=True, repr=False)

    @field_validator("home", "seed", "anchor", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @model_validator(mode="after")
    def _batch_fits(self) -> GatewayConfig:
        # A batch of max_batch codes of up to 1,024 characters (JSON-quoted: up to 1,030 bytes each) must fit.
        if self.max_batch * 1030 + 64 > self.max_body_bytes:
            raise ValueError(f"max_batch {self.max_batch} codes do not fit in max_body_bytes {self.max_body_bytes}")
        return self

    @property
    def database_url(self) -> str:
        """The URL actually used: the SQLite default, and `postgresql://` mapped onto psycopg 3."""
        url = self.db_url or f"sqlite:///{self.home / 'gateway.db'}"
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def seed_dir(self) -> Path:
        return self.seed if self.seed is not None else self.home.parent / "repository"

    @property
    def keystore_uri(self) -> str:
        return self.keystore or f"file:{self.home / 'keys'}"

    @property
    def anchor_path(self) -> Path:
        return self.anchor if self.anchor is not None else self.home / "anchor.json"

    def now_s(self) -> int:
        return int(self.clock())

    @classmethod
    def from_env(cls, **overrides: Any) -> GatewayConfig:
        """Values from CITYCREDIT_* variables, then `overrides` (flags) that are not None."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
            raise InvalidArgumentError(f"the gateway configuration is invalid: {problems}") from None
