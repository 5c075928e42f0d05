"""Onboarding reports stand alone and show implementation output as text, never as markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from citycredit.conformance import Check, Implementation, Report, report_for_run, run_vectors, write_report
from citycredit.conformance._report import markdown_escape

HOSTILE = '<script>alert("x")</script> | **bold** [link](http://evil.example) `code`\nnext line'


def hostile_report() -> Report:
    return Report(title="adapter conformance", subject="杭州 <b>", facts=[("city", "330100 | x")],
                  checks=[Check("scheme", "schema", "fail", HOSTILE, "the data <file>"),
                          Check("scheme", "labels", "pass", "钱江分·优秀")])


def test_html_is_escaped_and_self_contained(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_report(hostile_report(), path)
    text = path.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "杭州 &lt;b&gt;" in text and "钱江分·优秀" in text
    assert "<link" not in text and " src=" not in text and "href=" not in text
    assert "FAIL" in text


def test_markdown_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    write_report(hostile_report(), path)
    text = path.read_text(encoding="utf-8")
    assert "<script>" not in text and "\\<script\\>" in text
    assert "\\| \\*\\*bold\\*\\*" in text and "\\[link\\]" in text
    row = next(line for line in text.splitlines() if line.startswith("| schema"))
    assert row.count(" | ") == 3  # the hostile text did not add table cells or lines
    assert "**FAIL**" in text


def test_markdown_escape_keeps_one_line() -> None:
    assert markdown_escape("a\nb|c") == "a b\\|c"


def test_a_run_report_lists_every_case_and_the_failures(tmp_path: Path, reference: Implementation) -> None:
    result = run_vectors(reference, layers=["time"])
    report = report_for_run(result)
    assert report.ok and len(report.checks) == 13
    path = tmp_path / "run.html"
    write_report(report, path)
    assert "time/at_expiry_fail" in path.read_text(encoding="utf-8")


def test_a_failing_multi_step_case_says_which_step(tmp_path: Path) -> None:
    from .conftest import broken

    result = run_vectors(broken("ignores_rollback"), layers=["trust"])
    report = report_for_run(result)
    [check] = [c for c in report.checks if c.name == "trust/timestamp_rollback_fail"]
    assert check.status == "fail" and check.why.startswith("step 2 of 2: exit code 0, expected 2")
    path = tmp_path / "run.md"
    write_report(report, path)
    text = path.read_text(encoding="utf-8")
    assert "**FAIL**" in text and "## Failures" in text and "trust/timestamp\\_rollback\\_fail" in text


def test_an_unknown_report_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.md or \.html"):
        write_report(hostile_report(), tmp_path / "r.pdf")
