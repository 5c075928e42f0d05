"""The TypeScript verifier under Node: `cli.mjs` verifying distinct codes vs Node's own `crypto.verify`.

The Node side times both in the same process, in paired rounds alternating which goes first
(`node gateway/web/verifier/cli.mjs bench`), as the harness does for the Python figures: the
candidate is the verifier's whole hot path per code (strict decode, kid look-up, signature,
claims, key window, status bit), the baseline `crypto.verify` of the same signatures over the
same bytes with key objects built beforehand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from citycredit import Algorithm
from citycredit._trustdir import write_trust_dir
from citycredit.core import iso
from citycredit.testing import InMemoryAlliance

from benchmarks.harness import AT_LEAST, Figure, Paired, Spec, throughput_figure

if TYPE_CHECKING:  # the shared fixtures are not needed at run time: this module builds its own alliance
    from benchmarks.fixtures import Context

NAME = "js_verifier"
CLI = Path(__file__).resolve().parent.parent / "gateway" / "web" / "verifier" / "cli.mjs"
_ALGORITHMS = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
TARGET = AT_LEAST(0.7)
FIGURES = tuple(Spec(f"js.{slug}.verify", "codes/s", TARGET) for _, slug in _ALGORITHMS)
_NOW = 1_800_000_000


def unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CLI.is_file():
        return f"{CLI} is not built (node gateway/web/verifier/build.mjs)"
    return None


def run(ctx: Context) -> list[Figure]:
    directory = Path(ctx.resources.enter_context(tempfile.TemporaryDirectory(prefix="bench-js-")))
    alliance = InMemoryAlliance(now_s=_NOW, algorithms=[a for a, _ in _ALGORITHMS])
    assert alliance.repository is not None
    write_trust_dir(directory, alliance.repository, alliance.status_lists)
    (directory / "anchor.json").write_bytes(alliance.anchor.data)
    cities = list(alliance.members)
    figures = []
    for algorithm, slug in _ALGORITHMS:
        n = ctx.settings.codes
        codes = [alliance.issue(cities[i % len(cities)], holder_ref=f"bench-{i}", algorithm=algorithm).code
                 for i in range(n)]
        done = subprocess.run(["node", str(CLI), "bench", "--trust", str(directory), "--at", iso(_NOW + 10),
                               "--rounds", str(ctx.settings.rounds)], input="\n".join(codes) + "\n",
                              capture_output=True, text=True, check=True, timeout=600)
        timings = json.loads(done.stdout)
        paired = Paired(tuple(timings["candidate_s"]), tuple(timings["baseline_s"]))
        figures.append(throughput_figure(
            f"js.{slug}.verify", paired, ops=timings["ops_per_round"], unit="codes/s",
            baseline_name="node crypto.verify", target=TARGET,
            note=f"{n} distinct codes from {len(cities)} cities ({timings['ops_per_round']} verifications a round); "
                 f"provider {timings['provider']}; "
                 "baseline: crypto.verify of the same signatures in the same Node process"))
    return figures
