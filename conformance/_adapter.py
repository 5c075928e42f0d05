"""Adapter conformance: is a city's scheme total, monotonic, well labelled and honest about its source?

What the adapters themselves can tell, they tell: `validate_scheme` (the one validation
of a scheme file, the same the registry runs when it loads one) reports every problem,
and this report only sorts its findings under the checks an office reads. What is the
kit's own is the conformance table: the rating every band edge and every out-of-range
record must give (`_tables.adapter_rows`, the rows the vectors publish), run against
the mapping the adapters build, and the comparison with the published vectors of a
member city.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from citycredit.adapters import Scheme, load_registry, parse_scheme, validate_scheme

from ._format import load_vectors
from ._report import Check, Report
from ._runner import judge_adapter_row
from ._tables import adapter_rows

__all__ = ["check_adapter", "scheme_document"]

_WHAT = {
    "schema": "the data file validates against the scheme format (citycredit.adapters.validate_scheme)",
    "source": "the mapping names where its bands come from",
    "confirmation": "confirmed, or unconfirmed with a note and its assumed thresholds marked as such",
    "labels": "every band has a short label (it travels in the QR code), each label used once",
    "total": "every local record in the declared range falls in exactly one band",
    "monotonic": "a better local record never gives a lower tier",
    "band edges": "each band starts at its edge (inclusive) and the record below stays in the band before",
    "out of range": "records outside the range and malformed records are refused with CC_LOCAL_RECORD",
    "published vectors": "the published band-edge vectors of this city",
}


def scheme_document(target: str | Path) -> tuple[dict[str, Any], str]:
    """The scheme's data: a JSON file, or a member city by name or code. Returns (document, origin)."""
    path = Path(target)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8")), str(path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the scheme file: {exc}") from None
    scheme = load_registry().resolve_city(str(target))
    return dict(scheme.document), f"member city {scheme.slug} ({scheme.city})"


def _aspect(problem: str) -> str:
    """Which check a problem of `validate_scheme` belongs to.

    The adapters report problems as sentences; until they name the aspect themselves this
    is read from the wording, and anything unrecognised stays under "schema".
    """
    if "not monotonic" in problem:
        return "monotonic"
    if any(word in problem for word in ("gap:", "overlap", "outside the range", "listed twice")):
        return "total"
    if "label" in problem:
        return "labels"
    if "source" in problem:
        return "source"
    if "confirmed" in problem or "note" in problem:
        return "confirmation"
    return "schema"


def check_adapter(target: str | Path | Mapping[str, Any]) -> Report:
    """Every adapter check for one scheme, as a report."""
    if isinstance(target, Mapping):
        doc, origin = dict(target), "scheme document"
    else:
        try:
            doc, origin = scheme_document(target)
        except Exception as exc:  # unreadable file or unknown city: a report that says so
            return Report(title="adapter conformance", subject=str(target),
                          checks=[Check("scheme", "load", "fail", getattr(exc, "message", str(exc)))])
    subject = f"{doc.get('name_en', '?')} {doc.get('scheme_name', '?')} v{doc.get('version', '?')} ({origin})"
    report = Report(title="adapter conformance", subject=subject,
                    facts=[("city", str(doc.get("city"))), ("scheme", str(doc.get("scheme_id"))),
                           ("kind", str(doc.get("kind"))), ("version", str(doc.get("version"))),
                           ("confirmed", str(doc.get("confirmed")))])
    problems = validate_scheme(doc)
    by_aspect: dict[str, list[str]] = {}
    for problem in problems:
        by_aspect.setdefault(_aspect(problem), []).append(problem)
    scheme: Scheme | None = None
    if not problems:
        try:
            scheme = parse_scheme(doc, origin=origin)
        except Exception as exc:  # validation passed, so this would be the adapters' own bug: say so
            by_aspect.setdefault("schema", []).append(getattr(exc, "message", str(exc)))
    description = scheme.describe() if scheme is not None else {}
    report.checks += [_schema(problems, by_aspect), *(_finding(a, by_aspect, description) for a in
                                                       ("source", "confirmation", "labels", "total", "monotonic"))]
    report.checks += _table(scheme, description)
    report.checks.append(_published(doc, scheme))
    return report


def _check(section: str, name: str, failures: Sequence[str], passed: str) -> Check:
    return Check(section, name, "fail" if failures else "pass", "; ".join(failures) or passed, _WHAT[name])


def _schema(problems: Sequence[str], by_aspect: Mapping[str, Sequence[str]]) -> Check:
    own = list(by_aspect.get("schema", ()))
    if problems and not own:
        elsewhere = sorted({_aspect(p) for p in problems})
        own = [f"{len(problems)} problem(s), reported under {', '.join(elsewhere)}"]
    return _check("scheme", "schema", own, "the file validates")


def _finding(aspect: str, by_aspect: Mapping[str, Sequence[str]], description: Mapping[str, Any]) -> Check:
    """One of the adapters' findings, with the report's wording when there is none."""
    section = "mapping" if aspect in ("total", "monotonic") else "scheme"
    failures = list(by_aspect.get(aspect, ()))
    if failures:
        return _check(section, aspect, failures, "")
    if not description:
        return Check(section, aspect, "skip", "not checked: the file does not validate", _WHAT[aspect])
    entries = _entries(description)
    if aspect == "source":
        passed = str(description["source"]).strip()[:160]
    elif aspect == "confirmation":
        assumed = [str(e["label"]) for e in entries if e.get("assumed")]
        passed = ("confirmed bands, none assumed" if description["confirmed"] else
                  f"unconfirmed (assumed: {', '.join(assumed) or 'no band is marked assumed'}); note: "
                  f"{str(description['note']).strip()[:120]}")
    elif aspect == "labels":
        passed = ", ".join(sorted(str(e["label"]) for e in entries))
    elif aspect == "total":
        passed = f"{len(entries)} {description['kind']} bands cover the scheme with no gap or overlap"
    else:
        passed = "a better local record never gives a lower tier"
    return _check(section, aspect, failures, passed)


def _entries(description: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("bands", "grades", "colours"):
        if isinstance(description.get(key), list):
            return list(description[key])
    return []


def _rater(scheme: Scheme) -> Any:
    def rate(record: Mapping[str, Any]) -> tuple[str, str]:
        rating = scheme.map(record)
        return rating.tier.name, rating.band

    return rate


def _table(scheme: Scheme | None, description: Mapping[str, Any]) -> list[Check]:
    """The conformance table of the scheme (every band edge, every refusal) run against its mapping."""
    if scheme is None:
        return [Check("mapping", name, "skip", "the scheme could not be built", _WHAT[name])
                for name in ("band edges", "out of range")]
    rows = adapter_rows(description)
    rate = _rater(scheme)
    checks = []
    for name, negative in (("band edges", False), ("out of range", True)):
        chosen = [r for r in rows if r["name"].endswith("_fail") == negative]
        failures = [f"{row['name']}: {'; '.join(problems)}" for row in chosen
                    if (problems := judge_adapter_row(row, rate))]
        checks.append(_check("mapping", name, failures, f"{len(chosen)} records map as the table says"))
    return checks


def _published(doc: Mapping[str, Any], scheme: Scheme | None) -> Check:
    """The shipped adapter table for this city, when the scheme is the version the vectors pin."""
    vector = next((v for v in load_vectors() if v.command == "adapter" and v.doc["context"]["city"] == doc.get("city")),
                  None)
    if vector is None:
        return Check("vectors", "published vectors", "skip", "no published vectors for this city (a new member)",
                     _WHAT["published vectors"])
    pinned = (vector.doc["context"]["scheme_id"], vector.doc["context"]["version"])
    if pinned != (doc.get("scheme_id"), doc.get("version")):
        return Check("vectors", "published vectors", "skip",
                     f"the vectors pin {pinned[0]} v{pinned[1]}; this is {doc.get('scheme_id')} v{doc.get('version')}",
                     _WHAT["published vectors"])
    if scheme is None:
        return _check("vectors", "published vectors", ["the scheme could not be built"], "")
    rate = _rater(scheme)
    failures = [f"{case.name}: {'; '.join(p)}" for case in vector.cases()
                if case.row is not None and (p := judge_adapter_row(case.row, rate))]
    return _check("vectors", "published vectors", failures, f"{len(vector.cases())} rows of {vector.name} pass")
