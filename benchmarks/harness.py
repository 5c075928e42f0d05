"""Timing and reporting: paired, interleaved rounds; figures with a baseline, a ratio and a target.

Every comparison runs the candidate and its baseline back to back in each round
(alternating which goes first), so slow drift on a shared machine hits both
sides alike. A figure's value and baseline are medians over rounds; its ratio
is the median of the per-round ratios, which cancels drift better than the
ratio of two medians (the two can differ slightly).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "AT_LEAST",
    "AT_MOST",
    "CPU_CLOCK",
    "WALL_CLOCK",
    "Figure",
    "Paired",
    "Settings",
    "Spec",
    "Target",
    "cost_figure",
    "paired_rounds",
    "render_table",
    "skipped",
    "throughput_figure",
    "time_calls",
    "time_once",
    "value_figure",
]


@dataclass(frozen=True)
class Settings:
    """How much work one run does; `--quick` shrinks everything to a smoke run (no figure is then meaningful)."""

    quick: bool
    rounds: int  # paired rounds per in-process comparison
    codes: int  # distinct codes per verification batch
    peer_codes: int  # distinct codes per batch for the (slow) peer pipelines
    issue_codes: int  # codes signed per issuance batch
    gateway_requests: int  # requests per gateway batch
    gateway_rounds: int  # paired rounds for the (slower) gateway comparisons
    gateway_seconds: float  # hard cap on one gateway load phase
    national_cities: int  # the national trust set: member cities,
    national_keys: int  # code keys per city,
    national_offers: int  # offers per city,
    national_agreements: int  # and agreements (DESIGN 7 at national scale: 300, 4, 50, 500)
    update_samples: int  # updates applied to time the first verify after an update
    redemption_rounds: int  # timed redemption batches per database

    @classmethod
    def full(cls) -> Settings:
        return cls(quick=False, rounds=15, codes=2000, peer_codes=600, issue_codes=1000, gateway_requests=2000,
                   gateway_rounds=7, gateway_seconds=60.0, national_cities=300, national_keys=4, national_offers=50,
                   national_agreements=500, update_samples=15,
                   redemption_rounds=3)

    @classmethod
    def smoke(cls) -> Settings:
        return cls(quick=True, rounds=3, codes=60, peer_codes=30, issue_codes=60, gateway_requests=60,
                   gateway_rounds=2, gateway_seconds=20.0, national_cities=12, national_keys=2, national_offers=3,
                   national_agreements=8, update_samples=2, redemption_rounds=1)


@dataclass(frozen=True)
class Target:
    """A bound on a figure's ratio: `>=` for throughput ratios, `<=` for cost ratios."""

    op: str
    bound: float

    def met(self, ratio: float | None) -> bool | None:
        if ratio is None:
            return None
        return ratio >= self.bound if self.op == ">=" else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.bound:g}"


def AT_LEAST(bound: float) -> Target:
    return Target(">=", bound)


def AT_MOST(bound: float) -> Target:
    return Target("<=", bound)


@dataclass
class Figure:
    """One row of the report. `skipped` says why a figure has no value."""

    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    target: Target | None = None
    note: str = ""
    skipped: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["target"] = None if self.target is None else {"op": self.target.op, "bound": self.target.bound,
                                                          "text": str(self.target)}
        doc["met"] = self.met
        return doc


def skipped(name: str, unit: str, reason: str, target: Target | None = None) -> Figure:
    return Figure(name=name, value=None, unit=unit, target=target, skipped=reason)


@dataclass(frozen=True)
class Spec:
    """A figure a module promises to produce (the smoke test checks each one)."""

    name: str
    unit: str
    target: Target | None = None

    def skip(self, reason: str) -> Figure:
        return skipped(self.name, self.unit, reason, self.target)


@dataclass(frozen=True)
class Paired:
    """Seconds per round for the candidate and its baseline, taken in the same rounds."""

    candidate_s: tuple[float, ...]
    baseline_s: tuple[float, ...]

    @property
    def candidate_median_s(self) -> float:
        return statistics.median(self.candidate_s)

    @property
    def baseline_median_s(self) -> float:
        return statistics.median(self.baseline_s)

    def median_ratio(self) -> float:
        """Median of candidate time / baseline time over rounds (a cost ratio)."""
        return statistics.median(c / b for c, b in zip(self.candidate_s, self.baseline_s, strict=True))

    def median_difference_s(self) -> float:
        return statistics.median(c - b for c, b in zip(self.candidate_s, self.baseline_s, strict=True))


# In-process comparisons count this thread's CPU time: on a shared machine another process's work
# preempts a batch for whole time slices, which wall-clock time would charge to whichever side it hit.
# Comparisons across processes (the gateway) use wall-clock time.
CPU_CLOCK = time.thread_time
WALL_CLOCK = time.perf_counter


def time_once(batch: Callable[[], object], clock: Callable[[], float] = CPU_CLOCK) -> float:
    """Seconds for one call, with the collector paused so a cycle sweep does not land on one side."""
    gc.collect()
    gc.disable()
    try:
        start = clock()
        batch()
        return clock() - start
    finally:
        gc.enable()


def time_calls(call: Callable[[], object], count: int, clock: Callable[[], float] = CPU_CLOCK) -> list[float]:
    """Seconds for each of `count` calls, one by one (for costs too small or too stateful to batch)."""
    return [time_once(call, clock) for _ in range(count)]


def paired_rounds(candidate: Callable[[], object], baseline: Callable[[], object], *, rounds: int,
                  warmup: int = 1, clock: Callable[[], float] = CPU_CLOCK) -> Paired:
    """Time both batches `rounds` times, interleaved and alternating order, after untimed warm-up.

    `clock` is this thread's CPU time by default; pass `WALL_CLOCK` when the work happens elsewhere
    (another process, threads, the network).
    """
    for _ in range(warmup):
        candidate()
        baseline()
    cand: list[float] = []
    base: list[float] = []
    for i in range(rounds):
        if i % 2:
            base.append(time_once(baseline, clock))
            cand.append(time_once(candidate, clock))
        else:
            cand.append(time_once(candidate, clock))
            base.append(time_once(baseline, clock))
    return Paired(tuple(cand), tuple(base))


def throughput_figure(name: str, paired: Paired, *, ops: int, unit: str, baseline_name: str,
                      target: Target | None = None, note: str = "") -> Figure:
    """Operations per second; ratio = candidate throughput / baseline throughput (higher is better)."""
    return Figure(name=name, value=ops / paired.candidate_median_s, unit=unit,
                  baseline=ops / paired.baseline_median_s, baseline_name=baseline_name,
                  ratio=1.0 / paired.median_ratio(), target=target, note=note,
                  samples={"candidate_s": list(paired.candidate_s), "baseline_s": list(paired.baseline_s)})


def cost_figure(name: str, paired: Paired, *, ops: int, baseline_name: str, target: Target | None = None,
                note: str = "") -> Figure:
    """Microseconds per operation; ratio = candidate cost / baseline cost (lower is better)."""
    return Figure(name=name, value=paired.candidate_median_s / ops * 1e6, unit="µs/code",
                  baseline=paired.baseline_median_s / ops * 1e6, baseline_name=baseline_name,
                  ratio=paired.median_ratio(), target=target, note=note,
                  samples={"candidate_s": list(paired.candidate_s), "baseline_s": list(paired.baseline_s)})


def value_figure(name: str, value: float, unit: str, *, baseline: float | None = None, baseline_name: str = "",
                 target: Target | None = None, note: str = "", ratio: float | None = None,
                 samples: dict[str, list[float]] | None = None) -> Figure:
    """A figure from a computed value; ratio = value / baseline unless given (how the target reads it)."""
    if ratio is None and baseline:
        ratio = value / baseline
    return Figure(name=name, value=value, unit=unit, baseline=baseline, baseline_name=baseline_name, ratio=ratio,
                  target=target, note=note, samples=samples or {})


def _number(x: float | None) -> str:
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e7:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def _met_cell(fig: Figure) -> str:
    if fig.skipped:
        return "skipped"
    met = fig.met
    return "—" if met is None else ("yes" if met else "NO")


def render_table(figures: Sequence[Figure]) -> str:
    """A Markdown table (readable in a terminal, pastes into the README as is)."""
    header = ("name", "value", "unit", "baseline", "ratio", "target", "met?")
    rows = []
    for fig in figures:
        if fig.skipped:
            rows.append((fig.name, fig.skipped, fig.unit, "—", "—", str(fig.target or "—"), "skipped"))
            continue
        base = _number(fig.baseline)
        if fig.baseline is not None and fig.baseline_name:
            base = f"{base} ({fig.baseline_name})"
        ratio = "—" if fig.ratio is None else (f"{fig.ratio:.3f}" if fig.ratio >= 0.01 else f"{fig.ratio:.2g}")
        rows.append((fig.name, _number(fig.value), fig.unit, base, ratio, str(fig.target or "—"), _met_cell(fig)))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out)
