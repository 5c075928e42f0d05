"""Reading a Prometheus text scrape: samples by name and labels."""

from __future__ import annotations

import re

__all__ = ["counter", "parse_metrics"]

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text samples: (name, labels) -> value."""
    samples: Samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[(match["name"], frozenset(_LABEL.findall(match["labels"] or "")))] = float(match["value"])
    return samples


def counter(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(value for (found, have), value in samples.items() if found == name and want <= have)
