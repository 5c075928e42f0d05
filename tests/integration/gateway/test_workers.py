"""`citycredit gateway serve --workers 2` as a real process (issues 9 and 14): two workers on one HTTP and one
gRPC port; one Prometheus scrape shows both workers and the requests of both summed; a second gateway
cannot take its ports; SIGTERM stops every worker."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import grpc
import httpx
import pytest
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc

from tests.support.alliance import demo_copy

from .processes import GatewayProcess, refused_start
from .workers import counter, parse_metrics

pytestmark = pytest.mark.slow
REQUESTS = 40


def test_one_scrape_shows_both_workers_and_their_requests_summed(tmp_path: Path) -> None:
    home = demo_copy(tmp_path)
    gateway = GatewayProcess.start(home, "--http-port", "0", "--grpc-port", "0", "--workers", "2")
    try:
        pids = [int(p) for p in gateway.ready["pids"]]
        assert gateway.ready["workers"] == 2 and len(set(pids)) == 2
        for _ in range(REQUESTS):  # a new connection each time: the kernel spreads them over the workers
            with httpx.Client(timeout=60) as client:
                assert client.get(f"{gateway.http_url}/v1/offers").status_code == 200
        for _ in range(REQUESTS // 2):
            with grpc.insecure_channel(gateway.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                service_pb2_grpc.EligibilityServiceStub(ch).ListOffers(service_pb2.ListOffersRequest(), timeout=60)
        with httpx.Client(timeout=60) as client:
            scrape = client.get(f"{gateway.http_url}/metrics")
        samples = parse_metrics(scrape.text)
        served = Counter(r.get("worker") for r in gateway.records()
                         if r["msg"] == "request" and r.get("path") == "/v1/offers")

        # Both workers report in the one scrape, whichever of them answered it ...
        assert counter(samples, "citycredit_worker_info", worker="1") == 1
        assert counter(samples, "citycredit_worker_info", worker="2") == 1
        # ... and each served some of the requests, which the scrape counts summed over both.
        assert set(served) == {1, 2} and sum(served.values()) == REQUESTS, served
        assert counter(samples, "citycredit_requests_total", surface="rest", op="GET /v1/offers",
                       code="200") == REQUESTS
        assert counter(samples, "citycredit_requests_total", surface="grpc", op="ListOffers") == REQUESTS // 2

        # Another gateway on these ports is refused, single-process or not; this one keeps serving.
        for args in (("--http-port", str(gateway.ready["http_port"]), "--grpc-port", "0", "--workers", "1"),
                     ("--http-port", "0", "--grpc-port", str(gateway.ready["grpc_port"]), "--workers", "2")):
            status, lines = refused_start(home, *args)
            assert status == 2 and any(line.startswith("error CC_UNAVAILABLE") for line in lines), lines
        with httpx.Client(timeout=60) as client:
            assert client.get(f"{gateway.http_url}/healthz").status_code == 200
    finally:
        status = gateway.stop()
    assert status == 0, gateway.lines[-20:]
    messages = [r["msg"] for r in gateway.records()]  # every line of the supervisor and its workers is JSON
    assert messages.count("worker stopped") == 2 and messages[-1] == "gateway stopped"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
