"""The gateway over gRPC: unary verify vs a bare grpc.aio echo server; batch and stream verify vs raw Ed25519.

Servers run in their own processes on 127.0.0.1; the client here keeps
`CONCURRENCY` calls in flight on one channel per server. Unary compares requests
per second with an echo server of the same service that answers a canned
response. Batch (`VerifyCodes`, 100 codes a call) and stream (`VerifyCodeStream`,
one stream for the whole batch) compare codes per second with raw Ed25519
verification of the same signatures in this process.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc

from benchmarks.fixtures import Context, raw_verify_batch
from benchmarks.gateway_common import gateway_and_echo, gateway_unavailable
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure
from benchmarks.loadgen import grpc_stream, grpc_unary

NAME = "gateway_grpc"
CONCURRENCY = 8
BATCH = 100
FIGURES = (
    Spec("gateway.grpc.verify_unary", "requests/s", AT_LEAST(0.8)),
    Spec("gateway.grpc.verify_batch", "codes/s", AT_LEAST(0.6)),
    Spec("gateway.grpc.verify_stream", "codes/s", AT_LEAST(0.6)),
)


unavailable = gateway_unavailable


def run(ctx: Context) -> list[Figure]:

    settings = ctx.settings
    n, timeout_s = settings.gateway_requests, settings.gateway_seconds
    gateway, echo, load = gateway_and_echo(ctx, "echo-grpc")

    async def channel(target: str) -> grpc.aio.Channel:
        chan = grpc.aio.insecure_channel(target)
        await chan.channel_ready()
        return chan

    gw_stub = service_pb2_grpc.VerificationServiceStub(load.run(channel(gateway.server.grpc_target)))
    echo_stub = service_pb2_grpc.VerificationServiceStub(load.run(channel(echo.grpc_target)))
    unary = [service_pb2.VerifyCodeRequest(code=c) for c in gateway.codes]
    batches = [service_pb2.VerifyCodesRequest(codes=gateway.codes[i:i + BATCH]) for i in range(0, n, BATCH)]
    streamed = [service_pb2.VerifyCodeStreamRequest(code=c) for c in gateway.codes]

    answers = load.run(grpc_unary(gw_stub.VerifyCode, unary, concurrency=CONCURRENCY, timeout_s=timeout_s))
    refused = [a.verification.error.code for a in answers if not a.verification.valid]
    if refused:
        raise RuntimeError(f"the gateway refused {len(refused)} benchmark codes, e.g. {refused[0]}")

    def unary_batch(stub: service_pb2_grpc.VerificationServiceStub) -> Callable[[], object]:
        return lambda: load.run(grpc_unary(stub.VerifyCode, unary, concurrency=CONCURRENCY, timeout_s=timeout_s))

    def batch_calls() -> None:
        out = load.run(grpc_unary(gw_stub.VerifyCodes, batches, concurrency=2, timeout_s=timeout_s))
        if sum(len(r.verifications) for r in out) != n:
            raise RuntimeError("VerifyCodes answered the wrong number of codes")

    def stream_call() -> None:
        out = load.run(grpc_stream(gw_stub.VerifyCodeStream, streamed, timeout_s=timeout_s))
        if len(out) != n:
            raise RuntimeError("VerifyCodeStream answered the wrong number of codes")

    raw = raw_verify_batch(gateway.keys, gateway.codes)
    rounds = settings.gateway_rounds
    note = f"{n} distinct codes, 11 demo cities, {CONCURRENCY} calls in flight"
    return [
        throughput_figure("gateway.grpc.verify_unary",
                          paired_rounds(unary_batch(gw_stub), unary_batch(echo_stub), rounds=rounds),
                          ops=n, unit="requests/s", baseline_name="grpc.aio echo", target=FIGURES[0].target,
                          note=note + "; VerifyCode vs the same RPC answering a canned response"),
        throughput_figure("gateway.grpc.verify_batch", paired_rounds(batch_calls, raw, rounds=rounds),
                          ops=n, unit="codes/s", baseline_name="raw Ed25519", target=FIGURES[1].target,
                          note=f"VerifyCodes, {BATCH} codes a call, 2 calls in flight"),
        throughput_figure("gateway.grpc.verify_stream", paired_rounds(stream_call, raw, rounds=rounds),
                          ops=n, unit="codes/s", baseline_name="raw Ed25519", target=FIGURES[2].target,
                          note="VerifyCodeStream, one bidirectional stream for the batch"),
    ]
