"""`GatewayConfig`: everything a gateway process is started with, from flags or the environment."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from citycredit.errors import InvalidArgumentError

__all__ = ["ENV_PREFIX", "GatewayConfig", "default_workers"]

ENV_PREFIX = "CITYCREDIT_"
DEFAULT_HOME = Path("~/.citycredit").expanduser()
MAX_DEFAULT_WORKERS = 4  # each worker holds its own database pools: keep the default's connections modest


def default_workers() -> int:
    """One worker per CPU this process may run on, at most `MAX_DEFAULT_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """How one gateway replica runs. Ports 0 pick free ephemeral ports (the chosen ones are logged)."""

    # Alliance home: governance keys, and the demo alliance seeded into an empty database.
    home: Path = DEFAULT_HOME
    # SQLAlchemy URL; None = SQLite file `gateway.db` in `home`. `postgresql://` uses psycopg 3.
    db_url: str | None = None
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 8080
    # Largest accepted request body (REST) or message (gRPC), bytes.
    max_body_bytes: int = 64 * 1024
    # Most codes in one batch verification.
    max_batch: int = 1000
    # Lifetime of each published trust bundle; republished when half of it is gone.
    bundle_ttl_s: int = 30 * 86400
    # How long past a bundle's expiry the gateway still verifies with it.
    grace_s: int = 0
    # How often a replica looks for a bundle another replica published.
    refresh_interval_s: float = 2.0
    # Per-key token bucket (per replica): sustained requests per second and burst size.
    rate_per_s: float = 50.0
    rate_burst: int = 100
    # Database connections (and worker threads) for redemptions and credential look-ups, per replica.
    db_pool_size: int = 16
    # How long a replica trusts a credential it looked up; a revocation elsewhere bites within this.
    auth_cache_s: float = 1.0
    # How often a replica links pending redemption records into the audit chain.
    audit_chain_interval_s: float = 0.5
    # Grace given to in-flight requests on shutdown.
    shutdown_grace_s: float = 10.0
    # Seed the demo alliance (and its credentials file) into an empty database.
    seed_demo: bool = True
    # Processes serving the same ports (`citycredit up`; 1 = the gateway in the one process).
    workers: int = field(default_factory=default_workers)
    # Bind the ports with SO_REUSEPORT, so that several processes share them (set for each worker).
    reuse_port: bool = False
    # The clock (seconds since the epoch); tests pass a fixed one.
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise InvalidArgumentError(f"{name} {port} is not a TCP port")
        if self.max_body_bytes < 1024 or self.max_batch < 1 or self.bundle_ttl_s < 60:
            raise InvalidArgumentError("max_body_bytes >= 1024, max_batch >= 1 and bundle_ttl_s >= 60 are required")
        if self.rate_per_s <= 0 or self.rate_burst < 1:
            raise InvalidArgumentError("rate_per_s must be positive and rate_burst at least 1")
        if self.db_pool_size < 1 or not 0 <= self.auth_cache_s <= 60 or not 0 < self.audit_chain_interval_s <= 60:
            raise InvalidArgumentError("db_pool_size >= 1, auth_cache_s in [0, 60] and audit_chain_interval_s in "
                                       "(0, 60] are required")
        if not 1 <= self.workers <= 64:
            raise InvalidArgumentError(f"workers {self.workers} is not between 1 and 64")

    @property
    def database_url(self) -> str:
        """The URL actually used: the SQLite default, and `postgresql://` mapped onto psycopg 3."""
        url = self.db_url or f"sqlite:///{self.home / 'gateway.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    def now_s(self) -> int:
        return int(self.clock())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> GatewayConfig:
        """Values from CITYCREDIT_* variables, then `overrides` (flags) that are not None."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for variable, (name, kind) in _ENV_FIELDS.items():
            raw = env.get(ENV_PREFIX + variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError:
                raise InvalidArgumentError(f"{ENV_PREFIX}{variable}={raw!r} is not a valid {kind.__name__}") \
                    from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _flag(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


_flag.__name__ = "boolean"

# Environment variable (after the CITYCREDIT_ prefix) → field and parser.
_ENV_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "HOME": ("home", Path), "DB": ("db_url", str), "HOST": ("host", str), "GRPC_PORT": ("grpc_port", int),
    "HTTP_PORT": ("http_port", int), "MAX_BODY_BYTES": ("max_body_bytes", int), "MAX_BATCH": ("max_batch", int),
    "BUNDLE_TTL_S": ("bundle_ttl_s", int), "GRACE_S": ("grace_s", int),
    "REFRESH_INTERVAL_S": ("refresh_interval_s", float), "RATE_PER_S": ("rate_per_s", float),
    "RATE_BURST": ("rate_burst", int), "SHUTDOWN_GRACE_S": ("shutdown_grace_s", float),
    "DB_POOL_SIZE": ("db_pool_size", int), "AUTH_CACHE_S": ("auth_cache_s", float),
    "AUDIT_CHAIN_INTERVAL_S": ("audit_chain_interval_s", float),
    "SEED_DEMO": ("seed_demo", _flag), "WORKERS": ("workers", int),
}
