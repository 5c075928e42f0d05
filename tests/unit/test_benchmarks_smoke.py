"""`python -m benchmarks --quick` produces every figure it promises. No timing thresholds: CI machines vary."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_every_module_declares_distinct_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.cli import load_modules

    names = [spec.name for module in load_modules() for spec in module.FIGURES]
    assert names and len(names) == len(set(names))


@pytest.mark.slow
def test_quick_run_produces_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.cli import load_modules

    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    doc = json.loads(out.read_text())

    env = doc["environment"]
    assert env["python"] and env["cryptography"] and env["cpu_count"] >= 1
    figures = {fig["name"]: fig for fig in doc["figures"]}
    for module in load_modules():
        reason = module.unavailable() if hasattr(module, "unavailable") else None
        for spec in module.FIGURES:
            fig = figures.get(spec.name)
            assert fig is not None, f"{spec.name} missing from the quick run"
            assert fig["name"] in run.stdout, f"{spec.name} missing from the printed table"
            if reason:  # only a missing component may skip, and then it says so
                assert fig["skipped"] == reason and fig["value"] is None
                continue
            assert not fig["skipped"], f"{spec.name}: {fig['skipped']}"
            assert _positive(fig["value"]), f"{spec.name}: value {fig['value']!r}"
            for key in ("baseline", "ratio"):
                assert fig[key] is None or _positive(fig[key]), f"{spec.name}: {key} {fig[key]!r}"
            if spec.target is not None:
                assert _positive(fig["ratio"]) and isinstance(fig["met"], bool), f"{spec.name}: no verdict"
