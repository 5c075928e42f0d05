"""The gateway over REST: `POST /v1/codes:verify` against a bare ASGI app on the same server set-up.

Both run under uvicorn in their own processes on 127.0.0.1, with the gateway's own HTTP
protocol class (`guarded_protocol`: httptools with its connection deadlines), socket and
settings; the bare app has no framework at all and answers every request with the very JSON
bytes the gateway answered for a real code. The client keeps `CONCURRENCY` keep-alive
connections busy.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.fixtures import Context
from benchmarks.gateway_common import LoadLoop, gateway_unavailable
from benchmarks.harness import AT_LEAST, WALL_CLOCK, Figure, Spec, paired_rounds, throughput_figure
from benchmarks.loadgen import http_post_all
from benchmarks.servers import server_process

NAME = "gateway_rest"
CONCURRENCY = 8
PATH = "/v1/codes:verify"
FIGURES = (Spec("gateway.rest.verify", "requests/s", AT_LEAST(0.8)),)

unavailable = gateway_unavailable


def run(ctx: Context) -> list[Figure]:
    settings = ctx.settings
    gateway = ctx.gateway()
    n, timeout_s = len(gateway.codes), settings.gateway_seconds
    load = LoadLoop(ctx)
    bodies = [{"code": c} for c in gateway.codes]
    port = gateway.server.http_port
    answers = load.run(http_post_all(port, PATH, bodies, concurrency=CONCURRENCY, timeout_s=timeout_s))
    bad = [(status, body) for status, body in answers if status != 200 or not json.loads(body)["valid"]]
    if bad:
        raise RuntimeError(f"the gateway refused {len(bad)} benchmark codes, e.g. {bad[0]!r}")
    canned = Path(ctx.resources.enter_context(tempfile.TemporaryDirectory(prefix="cc-echo-"))) / "response.json"
    canned.write_bytes(answers[0][1])
    echo = ctx.resources.enter_context(server_process("echo-rest", str(canned)))

    def batch(target: int) -> Callable[[], object]:
        return lambda: load.run(http_post_all(target, PATH, bodies, concurrency=CONCURRENCY, timeout_s=timeout_s))

    paired = paired_rounds(batch(port), batch(echo.http_port), rounds=settings.gateway_rounds, clock=WALL_CLOCK)
    return [throughput_figure(
        "gateway.rest.verify", paired, ops=n, unit="requests/s", baseline_name="bare ASGI echo",
        target=FIGURES[0].target,
        note=f"{n} distinct codes, {CONCURRENCY} keep-alive connections; the baseline answers the gateway's own "
             f"{len(answers[0][1])}-byte JSON from a framework-free ASGI app on the same uvicorn protocol and socket")]
