"""The gateway's metrics, on prometheus_client; one scrape shows every worker of `citycredit up --workers N`.

A gateway of several worker processes runs prometheus_client's multiprocess mode: the
supervisor points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before it spawns the
workers, each worker's counters and histograms live in files there, and `/metrics` on
any worker sums them (gauges: the highest value, or one line per process for
`citycredit_worker_info`). A gateway of one process keeps them in its own registry.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The gateway's counters, histograms and gauges (children cached: a label look-up per request is not free)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self._registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self._registry
        self.requests = Counter("citycredit_requests", "Requests served, by surface, operation and outcome code.",
                                ["surface", "op", "code"], registry=registry)
        self.latency = Histogram("citycredit_request_seconds", "Request latency, by surface and operation.",
                                 ["surface", "op"], buckets=_BUCKETS_S, registry=registry)
        self.verifications = Counter("citycredit_verifications", "Codes verified, by result (valid or the error).",
                                     ["result"], registry=registry)
        self.redemptions = Counter("citycredit_redemptions", "Redemption answers, by eligibility and replay.",
                                   ["eligible", "replayed"], registry=registry)
        self.uploads = Counter("citycredit_uploads", "Signed uploads, by kind and outcome code.", ["kind", "code"],
                               registry=registry)
        self.snapshot_version = Gauge("citycredit_trust_snapshot_version", "Snapshot version this gateway serves.",
                                      registry=registry, multiprocess_mode="max")
        self.log_size = Gauge("citycredit_log_size", "Entries in the transparency log.", registry=registry,
                              multiprocess_mode="max")
        self.worker = Gauge("citycredit_worker_info", "1 per serving worker, labelled with its number.", ["worker"],
                            registry=registry, multiprocess_mode="livesum")
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, surface: str, op: str, code: str, seconds: float) -> None:
        self._child(self.requests, surface, op, code).inc()
        self._child(self.latency, surface, op).observe(seconds)

    def verification(self, result: str) -> None:
        self._child(self.verifications, result).inc()

    def redemption(self, *, eligible: bool, replayed: bool) -> None:
        self._child(self.redemptions, str(eligible).lower(), str(replayed).lower()).inc()

    def upload(self, kind: str, code: str) -> None:
        self._child(self.uploads, kind, code).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition: this process's metrics, or every worker's summed."""
        if not self.multiprocess:
            return bytes(generate_latest(self._registry))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
        return bytes(generate_latest(registry))

    @staticmethod
    def process_gone(pid: int) -> None:
        """Forget a worker that exited (its live gauges); counters it wrote stay in the sums."""
        if os.environ.get(MULTIPROC_ENV):
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated upstream

