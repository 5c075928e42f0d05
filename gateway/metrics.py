"""Prometheus text exposition (format 0.0.4) for a handful of counters, gauges and histograms."""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["Metrics"]

_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_HELP = {
    "citycredit_requests_total": ("counter", "Requests served, by surface, operation and outcome code."),
    "citycredit_request_seconds": ("histogram", "Request latency in seconds, by surface and operation."),
    "citycredit_verifications_total": ("counter", "Codes verified, by result (valid or the error code)."),
    "citycredit_redemptions_total": ("counter", "Redemption answers, by eligibility and replay."),
    "citycredit_codes_issued_total": ("counter", "Codes issued with gateway-held keys, by city."),
    "citycredit_bundles_published_total": ("counter", "Trust bundles this replica published."),
    "citycredit_bundle_version": ("gauge", "Version of the trust bundle this replica serves."),
    "citycredit_process_info": ("gauge", "This replica's worker number (0: not a worker) and process id."),
}

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _render_labels(labels: Iterable[tuple[str, str]]) -> str:
    parts = [f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), "")}"'
             for k, v in labels]
    return "{" + ",".join(parts) + "}" if parts else ""


class Metrics:
    """Thread-safe in-process metrics of one replica."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], list[float]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, _labels(labels))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, _labels(labels))] = float(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Histogram: one count per bucket, then sum and count."""
        key = (name, _labels(labels))
        with self._lock:
            row = self._histograms.setdefault(key, [0.0] * (len(_BUCKETS_S) + 2))
            for i, bound in enumerate(_BUCKETS_S):
                if value <= bound:
                    row[i] += 1
            row[-2] += value
            row[-1] += 1

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, _labels(labels)), 0.0)

    def render(self) -> str:
        with self._lock:
            values = sorted(self._values.items())
            histograms = sorted((k, list(v)) for k, v in self._histograms.items())
        lines: list[str] = []
        described: set[str] = set()

        def describe(name: str) -> None:
            if name not in described:
                kind, text = _HELP.get(name, ("untyped", name))
                lines.extend([f"# HELP {name} {text}", f"# TYPE {name} {kind}"])
                described.add(name)

        for (name, labels), value in values:
            describe(name)
            lines.append(f"{name}{_render_labels(labels)} {value:g}")
        for (name, labels), row in histograms:
            describe(name)
            for bound, count in zip(_BUCKETS_S, row, strict=False):
                lines.append(f"{name}_bucket{_render_labels((*labels, ('le', f'{bound:g}')))} {count:g}")
            lines.append(f"{name}_bucket{_render_labels((*labels, ('le', '+Inf')))} {row[-1]:g}")
            lines.append(f"{name}_sum{_render_labels(labels)} {row[-2]:g}")
            lines.append(f"{name}_count{_render_labels(labels)} {row[-1]:g}")
        return "\n".join(lines) + "\n"
