"""The gateway over REST: `POST /v1/codes:verify` vs a bare FastAPI echo endpoint of the same shape.

Both run under uvicorn in their own processes on 127.0.0.1; the echo route
takes the same strict request model and returns a canned verify answer. The
client keeps `CONCURRENCY` keep-alive connections busy.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from benchmarks.fixtures import Context
from benchmarks.gateway_common import gateway_and_echo, gateway_unavailable
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure
from benchmarks.loadgen import http_post_all

NAME = "gateway_rest"
CONCURRENCY = 8
PATH = "/v1/codes:verify"
FIGURES = (Spec("gateway.rest.verify", "requests/s", AT_LEAST(0.8)),)


unavailable = gateway_unavailable


def run(ctx: Context) -> list[Figure]:
    settings = ctx.settings
    n, timeout_s = settings.gateway_requests, settings.gateway_seconds
    gateway, echo, load = gateway_and_echo(ctx, "echo-rest")
    bodies = [{"code": c} for c in gateway.codes]

    answers = load.run(http_post_all(gateway.server.http_port, PATH, bodies, concurrency=CONCURRENCY,
                                     timeout_s=timeout_s))
    bad = [(status, body) for status, body in answers if status != 200 or not json.loads(body)["valid"]]
    if bad:
        raise RuntimeError(f"the gateway refused {len(bad)} benchmark codes, e.g. {bad[0]!r}")

    def batch(port: int) -> Callable[[], object]:
        return lambda: load.run(http_post_all(port, PATH, bodies, concurrency=CONCURRENCY, timeout_s=timeout_s))

    paired = paired_rounds(batch(gateway.server.http_port), batch(echo.http_port), rounds=settings.gateway_rounds)
    return [throughput_figure("gateway.rest.verify", paired, ops=n, unit="requests/s", baseline_name="FastAPI echo",
                              target=FIGURES[0].target,
                              note=f"{n} distinct codes, {CONCURRENCY} keep-alive connections, uvicorn both sides")]
