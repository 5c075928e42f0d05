"""What each worker of a `citycredit up --workers N` gateway reports, read through the shared HTTP port."""

from __future__ import annotations

import re

import httpx

_SAMPLE = re.compile(r'^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text samples with labels: (name, labels) -> value."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = frozenset(_LABEL.findall(match["labels"]))
            samples[(match["name"], labels)] = float(match["value"])
    return samples


def metrics_by_worker(http_url: str, workers: int, *, attempts: int = 200,
                      ) -> dict[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """Each worker's metrics, keyed by its process id: /metrics over a new connection each time (the kernel
    spreads new connections over the workers) until every worker has answered."""
    seen: dict[str, dict[tuple[str, frozenset[tuple[str, str]]], float]] = {}
    for _ in range(attempts):
        with httpx.Client(timeout=10) as client:  # a new connection, so possibly another worker
            samples = parse_metrics(client.get(f"{http_url}/metrics").text)
        pid = next(dict(labels)["pid"] for name, labels in samples if name == "citycredit_process_info")
        seen[pid] = samples
        if len(seen) == workers:
            return seen
    raise AssertionError(f"only {len(seen)} of {workers} workers answered {attempts} connections")


def counter(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)
