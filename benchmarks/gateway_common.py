"""A gateway of the demo alliance in its own process, codes it accepts, and one client event loop per run.

The demo alliance is `tests/support/alliance.py`'s: `citycredit demo init` once per run (every
party's keys, the signed trust set), then a private copy per gateway. Codes are signed with the
demo cities' own Ed25519 code keys, taken from their key stores (`CityOffice`), for every demo
city round-robin.
"""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from citycredit import Algorithm, Tier
from citycredit._demo import DemoHome
from citycredit.core import Issuer, hmac_sha256

from benchmarks.fixtures import CODE_TTL_S, TIERS, Context, KeyTable
from benchmarks.servers import ServerProcess, server_process

__all__ = ["GATEWAY_MISSING", "GatewayRun", "LoadLoop", "demo_codes", "gateway_unavailable", "start_gateway"]

GATEWAY_MISSING = "skipped: the gateway extra is not installed (pip install -e '.[gateway]')"
T = TypeVar("T")


def gateway_unavailable() -> str | None:
    for module in ("citycredit.gateway", "grpc", "uvicorn", "fastapi"):
        if importlib.util.find_spec(module) is None:
            return GATEWAY_MISSING
    return None


@dataclass
class GatewayRun:
    server: ServerProcess
    home: Path  # the demo copy: D/gateway is the gateway's home
    codes: list[str]  # distinct Ed25519 codes from every demo city, valid for the whole run
    keys: KeyTable  # every demo city's code keys


def _demo_home(ctx: Context) -> Path:
    from tests.support.alliance import demo_copy  # noqa: PLC0415 - optional: needs the source tree

    directory = Path(ctx.resources.enter_context(tempfile.TemporaryDirectory(prefix="cc-bench-")))
    return demo_copy(directory)


def demo_codes(home: Path, count: int, *, now_s: int, cities: list[str] | None = None, tier: Tier | None = None,
               tag: str = "bench", audience: int | None = None) -> list[str]:
    """`count` distinct codes signed by the demo cities' Ed25519 code keys (round-robin over `cities`)."""
    demo = DemoHome(home)
    issuers = []
    for slug in cities or demo.city_slugs():
        with demo.city(slug) as office:
            entry = next(k for k in office.code_keys if k.algorithm is Algorithm.ED25519)
            signer = office.keystore.signer(entry.name)
            # A stand-in pseudonym secret: the gateway never sees a city's, only the pseudonyms it yields.
            issuers.append(Issuer(city=office.city, key=signer, pseudonym=hmac_sha256(secrets.token_bytes(32)),
                                  policy_version=office.parts()[2].tier_policy.version))
    return [issuers[i % len(issuers)].issue(holder_ref=f"{tag}-{i}", tier=tier or TIERS[i % len(TIERS)],
                                            band="基准", now_s=now_s, ttl_s=CODE_TTL_S, audience=audience).code
            for i in range(count)]


def start_gateway(ctx: Context, *, db_url: str | None = None, codes: int = 0, workers: int = 1) -> GatewayRun:
    """A gateway on a fresh demo copy (SQLite in its home unless `db_url`), kept until the run ends."""
    home = _demo_home(ctx)
    server = ctx.resources.enter_context(server_process("gateway", str(home), db_url or "-", str(workers)))
    now = int(time.time())  # the demo's keys are valid from its creation, after the run's start
    snapshot = DemoHome(home).snapshot(now_s=now)
    keys = {k.kid: (k.algorithm, k.spki) for trust in snapshot.cities.values() for k in trust.code_keys}
    return GatewayRun(server, home, demo_codes(home, codes, now_s=now), keys)


class LoadLoop:
    """One client event loop per module, so channels and connections outlive a single timed batch."""

    def __init__(self, ctx: Context) -> None:
        self.loop = asyncio.new_event_loop()
        ctx.resources.callback(self.loop.close)

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)
