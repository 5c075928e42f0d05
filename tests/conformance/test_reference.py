"""The reference implementation, `citycredit --json`, passes every vector."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from citycredit._cli.main import main as cli_main
from citycredit.conformance import reference_implementation, run_vectors


def test_reference_passes_every_vector_in_process() -> None:
    """The whole run with the CLI called in this process (quick); the subprocess run is below."""
    result = run_vectors(reference_implementation(main=cli_main))
    assert {o.case.name: o.problems for o in result.failures()} == {}
    assert result.ok
    assert len(result.outcomes) > 250


@pytest.mark.slow
def test_reference_passes_every_vector() -> None:
    result = run_vectors()
    failures = {o.case.name: o.problems for o in result.failures()}
    assert failures == {}
    assert result.ok
    layers = result.by_layer()
    assert set(layers) >= {"decode", "signature", "time", "revocation", "bundle", "adapter"}
    assert all(counts["pass"] for counts in layers.values())


def test_cli_run_prints_each_layer_and_exits_0(tmp_path) -> None:
    report = tmp_path / "report.md"
    proc = subprocess.run([sys.executable, "-m", "citycredit._cli", "conformance", "run", "--layer", "time",
                           "revocation", "--report", str(report)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "time" in proc.stdout and "revocation" in proc.stdout and "every case passes" in proc.stdout
    assert "cases" in proc.stderr  # the progress bar
    text = report.read_text(encoding="utf-8")
    assert "**PASS**" in text and "revocation/status\\_index\\_revoked\\_fail" in text


def test_cli_run_json_summary() -> None:
    proc = subprocess.run([sys.executable, "-m", "citycredit._cli", "--json", "conformance", "run", "--layer",
                           "time"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["layers"]["time"]["pass"] == 9
