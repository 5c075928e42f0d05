"""validate_scheme: the checks a city's data file must pass before it can join."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import citycredit.adapters
import pytest
from citycredit.adapters import parse_scheme, scheme_kinds, validate_scheme
from citycredit.errors import SchemeInvalidError

SCHEMES_DIR = Path(citycredit.adapters.__file__).parent / "schemes"
BUNDLED = sorted(p.name for p in SCHEMES_DIR.glob("*.json"))


def _doc(slug: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMES_DIR / f"{slug}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(doc)


def _problems(doc: object) -> str:
    return " | ".join(validate_scheme(doc))


def test_kinds() -> None:
    assert scheme_kinds() == ("colour", "grade", "score")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files_are_valid(name: str) -> None:
    assert validate_scheme(json.loads((SCHEMES_DIR / name).read_text(encoding="utf-8"))) == []


def test_non_monotonic_bands_are_refused() -> None:
    doc = _doc("hangzhou")
    doc["bands"][2]["tier"] = "NEEDS_IMPROVEMENT"  # 600 would rank below 550
    assert "not monotonic" in _problems(doc)
    with pytest.raises(SchemeInvalidError, match="not monotonic"):
        parse_scheme(doc)


def test_gap_at_the_bottom_of_the_range_is_refused() -> None:
    doc = _doc("hangzhou")
    doc["bands"] = doc["bands"][1:]  # nothing covers 0–549 any more
    assert "gap: scores from 0 up to 550" in _problems(doc)


def test_overlapping_or_unordered_bands_are_refused() -> None:
    doc = _doc("hangzhou")
    doc["bands"][2]["from"] = 550
    assert "bands overlap" in _problems(doc)
    doc = _doc("hangzhou")
    doc["bands"].reverse()
    assert "bands overlap" in _problems(doc)


def test_band_outside_the_range_is_refused() -> None:
    doc = _doc("hangzhou")
    doc["bands"][-1]["from"] = 1200
    assert "outside the range" in _problems(doc)
    doc["range"] = {"min": 10, "max": 5}
    assert "min < max" in _problems(doc)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["bands"][0].pop("label"), "missing 'label'"),
    (lambda d: d["bands"][0].update(label=""), "label must be 1 to 20"),
    (lambda d: d["bands"][0].update(label="钱" * 21), "label must be 1 to 20"),
    (lambda d: d["bands"][1].update(label=d["bands"][0]["label"]), "used twice"),
    (lambda d: d["bands"][0].pop("assumed"), "missing 'assumed'"),
    (lambda d: d["bands"][0].update(tier="GREAT"), "tier must be one of"),
    (lambda d: d["bands"][0].update(extra=1), "unknown key 'extra'"),
    (lambda d: d.pop("source"), "missing 'source'"),
    (lambda d: d.update(source="  "), "source must be non-empty"),
    (lambda d: d.update(kind="stars"), "unknown kind 'stars'"),
    (lambda d: d.update(city=12345), "six-digit"),
    (lambda d: d.update(slug="Hang Zhou"), "slug"),
    (lambda d: d.update(version=0), "version"),
    (lambda d: d.update(confirmed="yes"), "confirmed must be"),
    (lambda d: d.update(confrimed=True), "unknown key 'confrimed'"),
    (lambda d: d["bands"][0].update(assumed=True), "confirmed scheme cannot have assumed"),
    (lambda d: (d.update(confirmed=False), d.pop("note")), "needs a note"),
    (lambda d: d.update(bands=[]), "non-empty list"),
    (lambda d: d["bands"][0].update({"from": "0"}), "finite number"),
])
def test_each_problem_is_named(change: Any, problem: str) -> None:
    doc = _doc("hangzhou")
    change(doc)
    assert problem in _problems(doc)


def test_not_an_object() -> None:
    assert validate_scheme([1, 2]) == ["a scheme is a JSON object, not list"]


def test_colour_gap_overlap_and_order() -> None:
    doc = _doc("huizhou")
    doc["colours"] = [c for c in doc["colours"] if c["value"] != "blue"]
    assert "gap: no colour for {'honours': False, 'bad_record': False}" in _problems(doc)
    doc = _doc("huizhou")
    doc["colours"][0]["when"] = {}  # red would also claim every clean record
    assert "overlap: red, " in _problems(doc)
    doc = _doc("huizhou")
    doc["colours"][1]["tier"] = "OUTSTANDING"  # blue above green: honours would lower the tier
    assert "not monotonic" in _problems(doc)
    doc = _doc("huizhou")
    doc["colours"][1]["when"] = {"unknown_flag": True}
    assert "when must map declared flags" in _problems(doc)
    doc = _doc("huizhou")
    doc["flags"]["honours"] = "up"
    assert "flags must map" in _problems(doc)


def test_grade_order_and_duplicates() -> None:
    doc = _doc("rongcheng")
    doc["grades"].reverse()
    assert "not monotonic" in _problems(doc)
    doc = _doc("rongcheng")
    doc["grades"][1]["value"] = "D"
    assert "listed twice" in _problems(doc)
    doc = _doc("rongcheng")
    doc["grades"][0]["value"] = "d"
    assert "uppercase" in _problems(doc)


def test_nan_is_refused() -> None:
    doc = _doc("hangzhou")
    doc["range"]["max"] = float("nan")
    assert "min < max" in _problems(doc)
