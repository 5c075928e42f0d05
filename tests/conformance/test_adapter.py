"""Adapter conformance: scheme files are total, monotonic, labelled and sourced, or the report says why."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from citycredit.adapters import load_registry
from citycredit.conformance import check_adapter


def hangzhou() -> dict:
    return copy.deepcopy(dict(load_registry().resolve_city("hangzhou").document))


def status(report, name: str) -> str:
    [check] = [c for c in report.checks if c.name == name]
    return check.status


def why(report, name: str) -> str:
    return next(c.why for c in report.checks if c.name == name)


@pytest.mark.parametrize("city", [s.slug for s in load_registry().schemes()])
def test_every_member_scheme_conforms(city: str) -> None:
    report = check_adapter(city)
    assert report.ok, [(c.name, c.why) for c in report.checks if not c.ok]
    assert status(report, "published vectors") == "pass"


def test_a_non_monotonic_scheme_is_rejected(tmp_path: Path) -> None:
    doc = hangzhou()
    doc["bands"][4]["tier"] = "FAIR"  # 750 and above would give less than 700-750
    path = tmp_path / "hangzhou-broken.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = check_adapter(str(path))
    assert not report.ok
    assert status(report, "monotonic") == "fail"
    assert "750 gives FAIR, lower than EXCELLENT from 700" in why(report, "monotonic")
    assert status(report, "schema") == "fail"


def test_a_scheme_with_a_gap_in_its_range_is_rejected(tmp_path: Path) -> None:
    doc = hangzhou()
    del doc["bands"][0]  # nothing covers 0-549 any more
    path = tmp_path / "gap.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = check_adapter(str(path))
    assert not report.ok
    assert status(report, "total") == "fail"
    assert "gap: scores from 0 up to 550 fall in no band" in why(report, "total")


def test_a_colour_scheme_with_a_gap_is_rejected() -> None:
    doc = copy.deepcopy(dict(load_registry().resolve_city("huizhou").document))
    doc["colours"] = [c for c in doc["colours"] if c["value"] != "blue"]  # no honours, no bad record: no colour
    report = check_adapter(doc)
    assert status(report, "total") == "fail" and "gap: no colour" in why(report, "total")


def test_a_grade_scheme_listed_out_of_order_is_not_monotonic() -> None:
    doc = copy.deepcopy(dict(load_registry().resolve_city("rongcheng").document))
    doc["grades"][0], doc["grades"][1] = doc["grades"][1], doc["grades"][0]
    report = check_adapter(doc)
    assert status(report, "monotonic") == "fail"


def test_source_and_confirmation_are_checked() -> None:
    doc = hangzhou()
    doc["source"] = ""
    doc["bands"][1]["assumed"] = True  # confirmed, yet assumed
    report = check_adapter(doc)
    assert status(report, "source") == "fail"
    assert status(report, "confirmation") == "fail" and "钱江分·一般" in why(report, "confirmation")


def test_an_unconfirmed_scheme_passes_and_says_what_is_assumed() -> None:
    report = check_adapter("quzhou")
    assert status(report, "confirmation") == "pass"
    assert why(report, "confirmation").startswith("unconfirmed")


def test_a_changed_scheme_version_skips_the_published_vectors() -> None:
    doc = hangzhou()
    doc["version"] = 2
    doc["bands"][3]["from"] = 690
    report = check_adapter(doc)
    assert report.ok
    assert status(report, "published vectors") == "skip"


def test_cli_exit_codes_and_report(tmp_path: Path) -> None:
    doc = hangzhou()
    del doc["bands"][0]
    bad = tmp_path / "gap.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    html = tmp_path / "report.html"
    cli = [sys.executable, "-m", "citycredit._cli", "conformance", "adapter"]
    proc = subprocess.run([*cli, str(bad), "--report", str(html)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "gap" in proc.stdout
    assert "FAIL" in html.read_text(encoding="utf-8")
    assert subprocess.run([*cli, "hangzhou"], capture_output=True, check=False).returncode == 0
    missing = subprocess.run([*cli, str(tmp_path / "nope.json")], capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and "cannot read" in missing.stdout
