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
    assert "750 gives FAIR, lower than EXCELLENT for 700" in why(report, "monotonic")
    assert status(report, "schema") == "fail" and "reported under monotonic" in why(report, "schema")
    assert {status(report, name) for name in ("band edges", "out of range")} == {"skip"}


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
    assert status(report, "source") == "fail" and "source must be non-empty text" in why(report, "source")
    assert status(report, "confirmation") == "fail"
    assert "a confirmed scheme cannot have assumed bands" in why(report, "confirmation")


def test_the_report_says_what_the_adapters_validation_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks of a scheme file are the adapters' own (one validation, one place): the report sorts them."""
    import citycredit.conformance._adapter as adapter

    monkeypatch.setattr(adapter, "validate_scheme", lambda doc: ["bands[2]: label must be 1 to 20 characters, "
                                                                 "not 'x'", "something new"])
    report = check_adapter(hangzhou())
    assert status(report, "labels") == "fail" and "bands[2]: label" in why(report, "labels")
    assert status(report, "schema") == "fail" and why(report, "schema") == "something new"
    assert status(report, "total") == "skip" and "not checked" in why(report, "total")


def test_a_mapping_that_differs_from_its_table_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """What only the kit checks: the band-edge table run against the mapping the adapters build."""
    from citycredit.adapters import Rating, ScoreScheme
    from citycredit.core import Tier

    original = ScoreScheme._rate

    def off_by_one(self, record):  # 700 should open EXCELLENT
        return Rating(Tier.GOOD, "钱江分·良好") if record.get("score") == 700 else original(self, record)

    monkeypatch.setattr(ScoreScheme, "_rate", off_by_one)
    report = check_adapter("hangzhou")
    assert status(report, "band edges") == "fail" and "score_700" in why(report, "band edges")
    assert status(report, "published vectors") == "fail"
    assert status(report, "schema") == "pass"


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
    assert subprocess.run([*cli, "hangzhou"], capture_output=True, check=False).returncode == 0, "member passes"
    missing = subprocess.run([*cli, str(tmp_path / "nope.json")], capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and "cannot read" in missing.stdout
