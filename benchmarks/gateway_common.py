"""A gateway replica in its own process, seeded with the demo alliance, and distinct codes it accepts."""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from citycredit import Algorithm, Tier
from citycredit._home import Home

from benchmarks.fixtures import CODE_TTL_S, Context
from benchmarks.servers import ServerProcess, server_process

__all__ = ["GATEWAY_MISSING", "GatewayRun", "LoadLoop", "gateway_and_echo", "gateway_unavailable", "start_gateway"]

GATEWAY_MISSING = "skipped: gateway not available"
T = TypeVar("T")


def gateway_unavailable() -> str | None:
    if importlib.util.find_spec("citycredit.gateway") is None:
        return GATEWAY_MISSING
    import citycredit.gateway as gateway  # noqa: PLC0415 - optional: the gateway extra may be missing

    return None if hasattr(gateway, "running_gateway") else GATEWAY_MISSING


@dataclass
class GatewayRun:
    server: ServerProcess
    home: Path
    codes: list[str]  # distinct Ed25519 codes from every demo city, valid for the whole run
    keys: dict[bytes, tuple[Algorithm, bytes]]  # every city key of the home: kid -> (algorithm, SPKI)


def start_gateway(ctx: Context, *, db_url: str | None = None, codes: int = 0, deployed: bool = False) -> GatewayRun:
    """Start a gateway (SQLite in its home unless `db_url`), kept until the run ends.

    One process unless `deployed`: then as `citycredit up` runs by default, with its worker processes.
    """

    home = Path(ctx.resources.enter_context(tempfile.TemporaryDirectory(prefix="cc-bench-"))) / "home"
    kind = "gateway-workers" if deployed else "gateway"
    server = ctx.resources.enter_context(server_process(kind, str(home), *([db_url] if db_url else [])))
    state = Home(home)
    alliance = state.load()
    issuers = [state.issuer(city, Algorithm.ED25519) for city in sorted(alliance.cities)]
    tiers = tuple(Tier)
    now = int(time.time())
    issued = [issuers[i % len(issuers)].issue(holder_ref=f"bench-{i}", tier=tiers[i % len(tiers)], band="基准",
                                              now_s=now, ttl_s=CODE_TTL_S).code for i in range(codes)]
    keys = {k.kid: (k.algorithm, k.spki) for record in alliance.cities.values() for k in record.keys}
    return GatewayRun(server, home, issued, keys)


def gateway_and_echo(ctx: Context, echo: str) -> tuple[GatewayRun, ServerProcess, LoadLoop]:
    """A replica with `settings.gateway_requests` codes, the `echo` baseline server, and a client loop."""
    gateway = start_gateway(ctx, codes=ctx.settings.gateway_requests)
    return gateway, ctx.resources.enter_context(server_process(echo)), LoadLoop(ctx)


class LoadLoop:
    """One event loop per module, so channels and connections outlive a single timed batch."""

    def __init__(self, ctx: Context) -> None:
        self.loop = asyncio.new_event_loop()
        ctx.resources.callback(self.loop.close)

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)
