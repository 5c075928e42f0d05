"""Adapter tables: the rating every band edge of a scheme must give, read from the scheme's description.

One table per scheme, used three ways: the generator publishes it as
`vectors/adapter/<city>/vector.json`, `conformance adapter` runs it against a scheme
file, and `conformance issuer` asks an issuer for a code at each of its records.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

__all__ = ["adapter_rows"]


def adapter_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The expected rating of every band edge of a scheme, read from its description (not its code)."""
    rows: list[dict[str, Any]] = []

    def ok(name: str, record: dict[str, Any], band: Mapping[str, Any], description: str) -> None:
        rows.append({"name": name, "description": description, "record": record,
                     "expected": {"tier": band["tier"], "band": band["label"]}})

    def bad(name: str, record: Any, description: str) -> None:
        rows.append({"name": f"{name}_fail", "description": description, "record": record,
                     "expected": {"error": "CC_LOCAL_RECORD"}})

    city = doc["name_en"]
    if doc["kind"] == "score":
        low, high, bands = doc["range"]["min"], doc["range"]["max"], doc["bands"]
        ok(f"score_{_num(low)}_min", {"score": low}, bands[0], f"{city}: the lowest score of the range")
        for before, band in itertools.pairwise(bands):
            edge = band["from"]
            ok(f"score_{_num(edge)}", {"score": edge}, band, f"{city}: {edge} opens {band['label']}")
            ok(f"score_{_num(edge - 1)}", {"score": edge - 1}, before, f"{city}: {edge - 1} stays in {before['label']}")
            ok(f"score_{_num(edge - 0.5)}", {"score": edge - 0.5}, before,
               f"{city}: {edge - 0.5} (a fraction below the edge) stays in {before['label']}")
        ok(f"score_{_num(high)}_max", {"score": high}, bands[-1], f"{city}: the highest score of the range")
        bad(f"score_{_num(low - 1)}_below_range", {"score": low - 1}, f"{city}: {low - 1} is below the range")
        bad(f"score_{_num(high + 1)}_above_range", {"score": high + 1}, f"{city}: {high + 1} is above the range")
        bad("score_as_text", {"score": str(bands[-1]["from"])}, f"{city}: the score given as text")
        bad("score_missing", {}, f"{city}: a record without a score")
        bad("score_nan", {"score": "NaN"}, f"{city}: a score that is not a number")
        bad("unknown_field", {"score": bands[-1]["from"], "colour": "blue"}, f"{city}: a record with a foreign field")
    elif doc["kind"] == "grade":
        for grade in doc["grades"]:
            ok(f"grade_{grade['value']}", {"grade": grade["value"]}, grade, f"{city}: grade {grade['value']}")
        top = doc["grades"][-1]
        ok(f"grade_{top['value'].lower()}_lower_case", {"grade": top["value"].lower()}, top,
           f"{city}: grade {top['value'].lower()} (case is ignored)")
        bad("grade_unknown", {"grade": "E"}, f"{city}: grade E is not in the scheme")
        bad("grade_missing", {}, f"{city}: a record without a grade")
        bad("grade_as_number", {"grade": 1}, f"{city}: a grade given as a number")
    elif doc["kind"] == "colour":
        flags = list(doc.get("flags", {}))
        for colour in doc["colours"]:
            ok(f"colour_{colour['value']}", {"colour": colour["value"]}, colour, f"{city}: colour {colour['value']}")
            when = colour.get("when", {})
            if flags and len(when) == len(flags):
                ok(f"colour_{colour['value']}_by_flags", dict(when), colour,
                   f"{city}: flags {when} alone give {colour['value']}")
        bad("colour_unknown", {"colour": "purple"}, f"{city}: colour purple is not in the scheme")
        bad("colour_missing", {}, f"{city}: a record with neither colour nor flags")
        for colour in doc["colours"]:
            when = colour.get("when", {})
            if when:
                flag, value = next(iter(when.items()))
                bad(f"colour_{colour['value']}_contradicted", {"colour": colour["value"], flag: not value},
                    f"{city}: colour {colour['value']} with {flag}={str(not value).lower()}, which contradicts it")
                break
    return rows


def _num(value: float) -> str:
    text = f"{value:g}" if isinstance(value, float) and not float(value).is_integer() else str(int(value))
    return text.replace("-", "minus").replace(".", "_")
