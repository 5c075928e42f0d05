"""The reference implementation, `citycredit --json`, passes every vector (known failures aside)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from citycredit.conformance import (
    Implementation,
    iter_cases,
    load_known_failures,
    load_vectors,
    reference_implementation,
    run_cases,
    run_vectors,
    vectors_root,
)


def test_reference_passes_every_vector_in_process(reference: Implementation) -> None:
    """The whole run with the CLI called in this process (quick); the subprocess run of a sample is below."""
    result = run_vectors(reference)
    assert {o.case.name: o.problems for o in result.failures()} == {}
    assert result.ok
    assert {o.case.name for o in result.outcomes if o.status == "known"} == set(load_known_failures())
    assert len(result.outcomes) > 400
    assert all(counts["pass"] for counts in result.by_layer().values())


@pytest.mark.slow
def test_reference_passes_a_sample_as_a_subprocess() -> None:
    """The real thing: `python -m citycredit._cli --json` per step, on a few cases (bytes that are not UTF-8 in
    argv, two steps sharing --state, a check)."""
    names = {"decode/not_utf8_fail", "presentation/replayed_same_venue_fail", "eligibility/visitor_agreement_eligible"}
    sample = [c for c in iter_cases(load_vectors()) if c.name in names]
    assert len(sample) == len(names)
    result = run_cases(sample, reference_implementation(timeout_s=120), known_failures=load_known_failures())
    assert {o.case.name: o.problems for o in result.failures()} == {}


def few_vectors(directory: Path, names: list[str]) -> Path:
    """A vectors folder holding only the named cases and the trust sets they use."""
    for name in names:
        case = vectors_root() / name
        shutil.copytree(case, directory / name)
        for step in json.loads((case / "vector.json").read_text(encoding="utf-8"))["steps"]:
            trust = (case / step["trust"]).resolve()
            if not (directory / "trust-sets" / trust.name).exists():
                shutil.copytree(trust, directory / "trust-sets" / trust.name)
    return directory


def test_cli_run_exits_0_with_a_report(tmp_path: Path) -> None:
    """`citycredit conformance run` (the reference as a subprocess per step) over a few cases: multi-step ones, and
    a known failure with its layer (a known failure naming no case of a layer that runs would be an error)."""
    report = tmp_path / "report.md"
    known = sorted(load_known_failures())
    vectors = few_vectors(tmp_path / "vectors", ["time/at_expiry_fail", "status/list_rollback_fail", *known])
    proc = subprocess.run([sys.executable, "-m", "citycredit._cli", "conformance", "run", "--vectors", str(vectors),
                           "--report", str(report)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "time" in proc.stdout and "status" in proc.stdout
    assert "every case passes" in proc.stdout and "cases" in proc.stderr  # the progress bar
    text = report.read_text(encoding="utf-8")
    assert "**PASS**" in text and "status/list\\_rollback\\_fail" in text
    assert ("KNOWN FAILURE" in text) == bool(known)


def test_cli_run_json_names_the_failures_of_another_implementation(tmp_path: Path) -> None:
    vectors = few_vectors(tmp_path / "vectors", ["time/at_expiry_fail", "time/last_second_valid"])
    skips = f"{sys.executable} {Path(__file__).parent / 'broken' / 'skips_expiry.py'}"
    proc = subprocess.run([sys.executable, "-m", "citycredit._cli", "--json", "conformance", "run", "--vectors",
                           str(vectors), "--cmd", skips], capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["layers"]["time"]["pass"] == 1
    assert [f["case"] for f in doc["failures"]] == ["time/at_expiry_fail"]
