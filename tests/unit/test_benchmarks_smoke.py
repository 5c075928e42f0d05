"""`python -m benchmarks --quick` produces every figure it promises, and says why when it skips one.

No timing is asserted anywhere: CI machines vary, and `--quick` sizes make every number meaningless.
The in-process modules run here in a few seconds; the ones that start servers (gateway, PostgreSQL,
Node) or build national-scale data run in the `slow` test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_PROCESS = ("verify", "presentation", "peers", "size", "issuance")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_every_module_declares_distinct_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.cli import MODULES, load_modules

    modules = load_modules()
    assert [m.NAME for m in modules] == list(MODULES)
    names = [spec.name for module in modules for spec in module.FIGURES]
    assert names and len(names) == len(set(names))
    assert set(IN_PROCESS) <= set(MODULES)


def _quick_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, only: tuple[str, ...]) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.cli import load_modules

    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out), "--only", *only],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Traceback" not in run.stderr
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["command"].startswith("python -m benchmarks --quick")
    env = doc["environment"]
    assert env["python"] and env["cryptography"] and env["cpu_count"] >= 1
    figures = {fig["name"]: fig for fig in doc["figures"]}
    for module in load_modules(list(only)):
        reason = module.unavailable() if hasattr(module, "unavailable") else None
        for spec in module.FIGURES:
            fig = figures.get(spec.name)
            assert fig is not None, f"{spec.name} missing from the quick run"
            assert fig["name"] in run.stdout, f"{spec.name} missing from the printed table"
            if fig["skipped"]:  # only a missing component may skip, and then it says what to install
                assert fig["value"] is None and fig["skipped"].startswith("skipped: "), fig
                assert reason is None or fig["skipped"] == reason
                continue
            assert _finite(fig["value"]), f"{spec.name}: value {fig['value']!r}"
            for key in ("baseline", "ratio"):
                assert fig[key] is None or _finite(fig[key]), f"{spec.name}: {key} {fig[key]!r}"
            if spec.target is not None:
                assert _positive(fig["ratio"]) and isinstance(fig["met"], bool), f"{spec.name}: no verdict"


def test_quick_run_of_the_in_process_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _quick_run(tmp_path, monkeypatch, IN_PROCESS)


@pytest.mark.slow
def test_quick_run_of_the_server_and_national_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.cli import MODULES

    _quick_run(tmp_path, monkeypatch, tuple(m for m in MODULES if m not in IN_PROCESS))


def test_missing_peer_libraries_skip_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pycose, cbor2 or PyJWT the peer figures are skipped with the install command, no traceback."""
    monkeypatch.syspath_prepend(str(ROOT))
    code = ("import sys; sys.modules['pycose'] = None; sys.modules['cbor2'] = None; sys.modules['jwt'] = None\n"
            "from benchmarks import cli\n"
            "from benchmarks.fixtures import Context\n"
            "from benchmarks.harness import Settings\n"
            "for module in cli.load_modules(['peers', 'size']):\n"
            "    for fig in cli._run_module(module, Context(Settings.smoke())):\n"
            "        print(fig.name, fig.skipped)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.splitlines()
    assert lines and all("pip install -r benchmarks/requirements.txt" in line for line in lines)


def test_a_failing_module_costs_its_figures_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import cli
    from benchmarks.harness import Figure, Spec

    def broken(ctx: object) -> list[Figure]:
        raise KeyError("rdm-1")

    def working(ctx: object) -> list[Figure]:
        return [Figure(name="fine.figure", value=1.0, unit="x")]

    modules = [SimpleNamespace(NAME="broken", FIGURES=(Spec("broken.figure", "x"),), run=broken),
               SimpleNamespace(NAME="fine", FIGURES=(Spec("fine.figure", "x"),), run=working)]
    monkeypatch.setattr(cli, "load_modules", lambda names=None: modules)
    out = tmp_path / "bench.json"
    assert cli.main(["--quick", "--json", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "# broken: failed: KeyError: 'rdm-1'" in err and "failed: broken" in err
    figures = {fig["name"]: fig for fig in json.loads(out.read_text())["figures"]}
    assert figures["fine.figure"]["value"] == 1.0
    assert figures["broken.figure"]["value"] is None
    assert figures["broken.figure"]["skipped"].startswith("failed: KeyError: 'rdm-1' (test_benchmarks_smoke.py:")
