"""The gateway over gRPC: unary VerifyCode against a bare grpc.aio echo server; batch and stream against raw verify.

The gateway (one process, `citycredit up --workers 1`) and the echo server run in their own
processes on 127.0.0.1; the client here keeps `CONCURRENCY` calls in flight on one channel
per server. Unary compares requests per second with a grpc.aio server of the same service,
with the gateway's server options, answering the very response bytes the gateway gave for a
real code. Batch (`VerifyCodes`, 100 codes a call) and stream (`VerifyCodeStream`, one stream
for the whole batch) compare codes per second with raw Ed25519 verification of the same
signatures in this process; `gateway.grpc.stream_echo` reports the transport's own ceiling for
that stream: the echo server answering every message of the same stream with the gateway's
answer bytes, against the same raw verification.

`gateway.grpc.{unary,stream}_server_cpu` say where the time goes: the CPU time the gateway's
process spends per call (per streamed message) in the unary (stream) rounds above, against the
echo server's in its own rounds of the same comparison, read from /proc; the note adds the
client's CPU time per call and this run's raw verify, the least a server that verifies must add.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.fixtures import Context, raw_verify_batch
from benchmarks.gateway_common import GATEWAY_MISSING, LoadLoop, gateway_unavailable
from benchmarks.harness import (
    AT_LEAST,
    WALL_CLOCK,
    Figure,
    Paired,
    Spec,
    paired_rounds,
    throughput_figure,
    value_figure,
)
from benchmarks.loadgen import grpc_stream, grpc_unary
from benchmarks.servers import ServerProcess, server_process

try:
    import grpc
    from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
except ImportError:  # the gateway extra is missing: `unavailable` says so
    grpc = None

NAME = "gateway_grpc"
CONCURRENCY = 8
BATCH = 100
FIGURES = (
    Spec("gateway.grpc.verify_unary", "requests/s", AT_LEAST(0.8)),
    Spec("gateway.grpc.verify_batch", "codes/s", AT_LEAST(0.6)),
    Spec("gateway.grpc.verify_stream", "codes/s", AT_LEAST(0.6)),
    Spec("gateway.grpc.stream_echo", "messages/s"),
    Spec("gateway.grpc.unary_server_cpu", "µs/request"),
    Spec("gateway.grpc.stream_server_cpu", "µs/message"),
)


class _CpuMeter:
    """The CPU seconds a server process and this (client) process spend in each call of a timed batch."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.server_s: list[float] = []
        self.client_s: list[float] = []

    def around(self, batch: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            server, client = self.server.cpu_s(), time.process_time()
            batch()
            self.server_s.append(self.server.cpu_s() - server)
            self.client_s.append(time.process_time() - client)
        return call

    def per_op_us(self, ops: int, rounds: int) -> tuple[float, float]:
        """Median server and client µs per operation over the last `rounds` calls (the warm-up left out)."""
        return (statistics.median(self.server_s[-rounds:]) / ops * 1e6,
                statistics.median(self.client_s[-rounds:]) / ops * 1e6)


def unavailable() -> str | None:
    return GATEWAY_MISSING if grpc is None else gateway_unavailable()


def run(ctx: Context) -> list[Figure]:
    settings = ctx.settings
    gateway = ctx.gateway()
    n, timeout_s = len(gateway.codes), settings.gateway_seconds
    load = LoadLoop(ctx)

    async def channel(target: str) -> grpc.aio.Channel:
        chan = grpc.aio.insecure_channel(target)
        await chan.channel_ready()
        return chan

    gw_stub = service_pb2_grpc.VerificationServiceStub(load.run(channel(gateway.server.grpc_target)))
    unary = [service_pb2.VerifyCodeRequest(code=c) for c in gateway.codes]
    answers = load.run(grpc_unary(gw_stub.VerifyCode, unary, concurrency=CONCURRENCY, timeout_s=timeout_s))
    refused = [a.verification.error.code for a in answers if not a.verification.valid]
    if refused:
        raise RuntimeError(f"the gateway refused {len(refused)} benchmark codes, e.g. {refused[0]}")
    canned = Path(ctx.resources.enter_context(tempfile.TemporaryDirectory(prefix="cc-echo-"))) / "response.pb"
    canned.write_bytes(answers[0].SerializeToString())
    echo = ctx.resources.enter_context(server_process("echo-grpc", str(canned)))
    echo_stub = service_pb2_grpc.VerificationServiceStub(load.run(channel(echo.grpc_target)))
    batches = [service_pb2.VerifyCodesRequest(codes=gateway.codes[i:i + BATCH]) for i in range(0, n, BATCH)]
    streamed = [service_pb2.VerifyCodeStreamRequest(code=c) for c in gateway.codes]

    def unary_batch(stub: service_pb2_grpc.VerificationServiceStub) -> Callable[[], object]:
        return lambda: load.run(grpc_unary(stub.VerifyCode, unary, concurrency=CONCURRENCY, timeout_s=timeout_s))

    def batch_calls() -> None:
        out = load.run(grpc_unary(gw_stub.VerifyCodes, batches, concurrency=2, timeout_s=timeout_s))
        if sum(len(r.verifications) for r in out) != n:
            raise RuntimeError("VerifyCodes answered the wrong number of codes")

    def stream_call(stub: service_pb2_grpc.VerificationServiceStub) -> Callable[[], None]:
        def call() -> None:
            out = load.run(grpc_stream(stub.VerifyCodeStream, streamed, timeout_s=timeout_s))
            if len(out) != n or not all(r.verification.valid for r in out):
                raise RuntimeError("VerifyCodeStream answered the wrong number of codes, or refused some")
        return call

    raw = raw_verify_batch(gateway.keys, gateway.codes)
    rounds = settings.gateway_rounds

    def paired(candidate: Callable[[], object], baseline: Callable[[], object]) -> Paired:
        return paired_rounds(candidate, baseline, rounds=rounds, clock=WALL_CLOCK)

    unary_gw, unary_echo, stream_gw, stream_echo = (_CpuMeter(server) for server in (gateway.server, echo) * 2)
    unary_paired = paired(unary_gw.around(unary_batch(gw_stub)), unary_echo.around(unary_batch(echo_stub)))
    batch_paired = paired(batch_calls, raw)
    stream_paired = paired(stream_gw.around(stream_call(gw_stub)), raw)
    echo_paired = paired(stream_echo.around(stream_call(echo_stub)), raw)
    raw_us = statistics.median(batch_paired.baseline_s + stream_paired.baseline_s + echo_paired.baseline_s) / n * 1e6

    def cpu_figure(kind: str, per: str, gw: _CpuMeter, echo_meter: _CpuMeter) -> Figure:
        (gw_us, gw_client_us), (echo_us, echo_client_us) = gw.per_op_us(n, rounds), echo_meter.per_op_us(n, rounds)
        return value_figure(f"gateway.grpc.{kind}_server_cpu", gw_us, f"µs/{per}", baseline=echo_us,
                            baseline_name="echo server",
                            note=f"CPU time of the server process per {per} in the {kind} rounds; "
                                 f"the client's {gw_client_us:.0f} µs (to the gateway) and {echo_client_us:.0f} µs "
                                 f"(to the echo); raw Ed25519 verify {raw_us:.0f} µs per code in this run")

    note = f"{n} distinct codes, 11 demo cities, {CONCURRENCY} calls in flight"
    return [
        throughput_figure("gateway.grpc.verify_unary", unary_paired,
                          ops=n, unit="requests/s", baseline_name="grpc.aio echo", target=FIGURES[0].target,
                          note=note + "; VerifyCode vs the same RPC answering the gateway's own response bytes"),
        throughput_figure("gateway.grpc.verify_batch", batch_paired,
                          ops=n, unit="codes/s", baseline_name="raw Ed25519", target=FIGURES[1].target,
                          note=f"VerifyCodes, {BATCH} codes a call, 2 calls in flight"),
        throughput_figure("gateway.grpc.verify_stream", stream_paired,
                          ops=n, unit="codes/s", baseline_name="raw Ed25519", target=FIGURES[2].target,
                          note="VerifyCodeStream, one bidirectional stream for the batch"),
        throughput_figure("gateway.grpc.stream_echo", echo_paired,
                          ops=n, unit="messages/s", baseline_name="raw Ed25519",
                          note="the same stream to the grpc.aio echo (canned answers, no verification): "
                               "what the transport alone allows"),
        cpu_figure("unary", "request", unary_gw, unary_echo),
        cpu_figure("stream", "message", stream_gw, stream_echo),
    ]
