"""Adapter conformance: is a city's scheme total, monotonic, well labelled and honest about its source?

The checks read the data file themselves (so a broken file still gets a precise
report: which scores fall in no band, which band steps down), then probe the
mapping the adapters build from it: every band edge, the range's ends, and
records that must be refused.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from citycredit.adapters import load_registry, parse_scheme, validate_scheme
from citycredit.core import Tier

from ._format import load_vectors
from ._report import Check, Report
from ._runner import judge_adapter_row

__all__ = ["check_adapter", "scheme_document"]

_MAX_LABEL_CHARS = 20  # citycredit.adapters.MAX_LABEL_CHARS; labels travel inside the QR code


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
    checks = report.checks
    scheme, schema_problems = _build(doc)
    checks.append(Check("scheme", "schema", "fail" if schema_problems else "pass", "; ".join(schema_problems),
                        "the data file validates against the scheme format"))
    checks.append(_source(doc))
    checks.append(_confirmation(doc))
    checks.append(_labels(doc))
    analysis = _ANALYSES.get(str(doc.get("kind")))
    if analysis is None:
        checks.append(Check("mapping", "kind", "fail", f"no checks for kind {doc.get('kind')!r}"))
        return report
    checks.extend(analysis(doc, scheme))
    checks.append(_vectors(doc, scheme))
    return report


def _build(doc: Mapping[str, Any]) -> tuple[Any, list[str]]:
    problems = validate_scheme(doc)
    if problems:
        return None, problems
    try:
        return parse_scheme(doc), []
    except Exception as exc:
        return None, [getattr(exc, "message", str(exc))]


def _source(doc: Mapping[str, Any]) -> Check:
    source = doc.get("source")
    if isinstance(source, str) and len(source.strip()) >= 10:
        return Check("scheme", "source", "pass", source.strip()[:160], "the mapping names where its bands come from")
    return Check("scheme", "source", "fail", f"no usable source ({source!r}); cite the published rule",
                 "the mapping names where its bands come from")


def _entries(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("bands", "grades", "colours"):
        entries = doc.get(key)
        if isinstance(entries, list):
            return [e for e in entries if isinstance(e, Mapping)]
    return []


def _confirmation(doc: Mapping[str, Any]) -> Check:
    what = "confirmed or assumed thresholds are marked as such"
    confirmed = doc.get("confirmed")
    assumed = [str(e.get("label", "?")) for e in _entries(doc) if e.get("assumed") is True]
    if not isinstance(confirmed, bool):
        return Check("scheme", "confirmation", "fail", "confirmed must be true or false", what)
    if confirmed and assumed:
        return Check("scheme", "confirmation", "fail", f"confirmed, yet bands are assumed: {', '.join(assumed)}", what)
    if not confirmed:
        note = doc.get("note")
        if not (isinstance(note, str) and note.strip()):
            return Check("scheme", "confirmation", "fail", "unconfirmed without a note saying what is assumed", what)
        shown = f"assumed: {', '.join(assumed)}" if assumed else "no band is marked assumed"
        return Check("scheme", "confirmation", "pass", f"unconfirmed ({shown}); note: {note.strip()[:120]}", what)
    return Check("scheme", "confirmation", "pass", "confirmed bands, none assumed", what)


def _labels(doc: Mapping[str, Any]) -> Check:
    what = f"every band has a label of 1 to {_MAX_LABEL_CHARS} characters, each label used once"
    entries = _entries(doc)
    if not entries:
        return Check("scheme", "labels", "fail", "no bands, grades or colours", what)
    problems = []
    seen: set[str] = set()
    for entry in entries:
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > _MAX_LABEL_CHARS:
            problems.append(f"bad label {label!r}")
        elif label in seen:
            problems.append(f"label {label!r} used twice")
        else:
            seen.add(label)
    return Check("scheme", "labels", "fail" if problems else "pass",
                 "; ".join(problems) or ", ".join(sorted(seen)), what)


def _tier(name: object) -> Tier | None:
    return Tier[name] if isinstance(name, str) and name in Tier.__members__ else None


def _steps_down(before: object, after: object) -> bool:
    """Whether the tier named `after` is below the one named `before` (False when either is not a tier)."""
    low, high = _tier(after), _tier(before)
    return low is not None and high is not None and low < high


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _refuses(scheme: Any, record: Any) -> str | None:
    """None when the mapping refuses `record` with CC_LOCAL_RECORD, else what it did."""
    try:
        rating = scheme.map(record)
    except Exception as exc:
        code = getattr(exc, "code", type(exc).__name__)
        return None if code == "CC_LOCAL_RECORD" else f"{record!r} raised {code}, not CC_LOCAL_RECORD"
    return f"{record!r} was mapped to {rating.tier.name} instead of being refused"


def _rate(scheme: Any, record: Mapping[str, Any]) -> tuple[Tier | None, str]:
    try:
        rating = scheme.map(record)
    except Exception as exc:
        return None, getattr(exc, "message", str(exc))
    return rating.tier, rating.band


# --- score schemes -----------------------------------------------------------------------------------


def _score_checks(doc: Mapping[str, Any], scheme: Any) -> list[Check]:
    span = doc.get("range")
    bands = [b for b in _entries(doc) if _is_number(b.get("from"))]
    if not (isinstance(span, Mapping) and _is_number(span.get("min")) and _is_number(span.get("max"))
            and span["min"] < span["max"]) or not bands:
        why = "the range or the bands cannot be read"
        return [Check("mapping", name, "fail", why, what) for name, what in _SCORE_WHAT.items()]
    low, high = span["min"], span["max"]
    ordered = sorted(bands, key=lambda b: b["from"])
    checks = []
    # Total over the range: the lowest band starts at the range's minimum, no band outside it, no two at one score.
    gaps = []
    if ordered[0]["from"] > low:
        gaps.append(f"gap: scores from {low:g} up to {ordered[0]['from']:g} fall in no band")
    gaps += [f"band from {b['from']:g} lies outside the range [{low:g}, {high:g}]" for b in ordered
             if not low <= b["from"] <= high]
    gaps += [f"two bands start at {a['from']:g}" for a, b in itertools.pairwise(ordered) if a["from"] == b["from"]]
    if ordered != bands:
        gaps.append("bands are not listed from the lowest score up")
    probes = _score_probes(low, high, [b["from"] for b in ordered])
    if scheme is not None:
        for probe in probes:
            tier, why = _rate(scheme, {"score": probe})
            if tier is None:
                gaps.append(f"score {probe:g} is refused: {why}")
    checks.append(Check("mapping", "total", "fail" if gaps else "pass",
                        "; ".join(gaps) or f"every score in [{low:g}, {high:g}] maps ({len(probes)} probes)",
                        _SCORE_WHAT["total"]))
    # Monotonic: in score order the tier never steps down.
    steps = [f"{b['from']:g} gives {b.get('tier')}, lower than {a.get('tier')} from {a['from']:g}"
             for a, b in itertools.pairwise(ordered) if _steps_down(a.get("tier"), b.get("tier"))]
    if scheme is not None and not steps:
        rated = [(p, _rate(scheme, {"score": p})[0]) for p in probes]
        known = [(p, t) for p, t in rated if t is not None]
        steps += [f"score {q:g} maps to {tq.name}, below {tp.name} for {p:g}"
                  for (p, tp), (q, tq) in itertools.pairwise(known) if tq < tp]
    checks.append(Check("mapping", "monotonic", "fail" if steps else "pass",
                        "; ".join(steps) or "a higher score never gives a lower tier", _SCORE_WHAT["monotonic"]))
    # Band edges: lower bounds are inclusive.
    if scheme is None:
        checks.append(Check("mapping", "band edges", "skip", "the scheme could not be built",
                            _SCORE_WHAT["band edges"]))
        checks.append(Check("mapping", "out of range", "skip", "the scheme could not be built",
                            _SCORE_WHAT["out of range"]))
        return checks
    wrong = []
    for index, band in enumerate(ordered):
        before = ordered[index - 1] if index else None
        edge = band["from"]
        tier, label = _rate(scheme, {"score": edge})
        if (tier and tier.name, label) != (band.get("tier"), band.get("label")):
            wrong.append(f"{edge:g} gives {tier.name if tier else 'an error'} ({label}), expected {band.get('tier')}")
        if before is not None:
            for below in (edge - 1, edge - 0.5):
                if below < low or below < before["from"]:
                    continue
                tier, label = _rate(scheme, {"score": below})
                if (tier and tier.name, label) != (before.get("tier"), before.get("label")):
                    wrong.append(f"{below:g} gives {tier.name if tier else 'an error'}, expected {before.get('tier')}")
    checks.append(Check("mapping", "band edges", "fail" if wrong else "pass",
                        "; ".join(wrong) or f"{len(ordered)} edges map lower-bound inclusive",
                        _SCORE_WHAT["band edges"]))
    refusals = [_refuses(scheme, record) for record in (
        {"score": low - 1}, {"score": high + 1}, {"score": low - 0.5}, {"score": high + 0.5}, {"score": math.nan},
        {"score": math.inf}, {"score": str(high)}, {"score": True}, {}, {"score": high, "unexpected": 1})]
    bad = [r for r in refusals if r]
    checks.append(Check("mapping", "out of range", "fail" if bad else "pass",
                        "; ".join(bad) or "scores outside the range, non-numbers and foreign fields are refused",
                        _SCORE_WHAT["out of range"]))
    return checks


def _score_probes(low: float, high: float, starts: list[float]) -> list[float]:
    points = {low, high, (low + high) / 2}
    for start in starts:
        points.update({start, start - 1, start - 0.5, start + 0.5})
    for a, b in itertools.pairwise([*starts, high]):
        points.add((a + b) / 2)
    return sorted(p for p in points if low <= p <= high)


_SCORE_WHAT = {
    "total": "every score in the declared range falls in exactly one band",
    "monotonic": "a higher score never gives a lower tier",
    "band edges": "each band starts at its edge (inclusive) and the score below stays in the band before",
    "out of range": "scores outside the range and malformed records are refused with CC_LOCAL_RECORD",
}


def _total_and_monotonic(total: list[str], total_ok: str, total_what: str, steps: list[str], steps_ok: str,
                         steps_what: str, *, built: bool) -> list[Check]:
    checks = [Check("mapping", "total", "fail" if total else "pass", "; ".join(total) or total_ok, total_what),
              Check("mapping", "monotonic", "fail" if steps else "pass", "; ".join(steps) or steps_ok, steps_what)]
    if not built:
        checks += [Check("mapping", name, "skip", "the scheme could not be built")
                   for name in ("band edges", "out of range")]
    return checks


# --- grade schemes -----------------------------------------------------------------------------------


def _grade_checks(doc: Mapping[str, Any], scheme: Any) -> list[Check]:
    grades = _entries(doc)
    values = [g.get("value") for g in grades]
    total = [f"grade {v!r} is listed twice" for v in set(map(str, values)) if list(map(str, values)).count(v) > 1]
    if scheme is not None:
        for value in values:
            tier, why = _rate(scheme, {"grade": value})
            if tier is None:
                total.append(f"grade {value} is refused: {why}")
    steps = [f"{b.get('value')} gives {b.get('tier')}, lower than {a.get('tier')} for {a.get('value')}"
             for a, b in itertools.pairwise(grades) if _steps_down(a.get("tier"), b.get("tier"))]
    checks = _total_and_monotonic(
        total, f"grades {values} all map", "every grade the scheme lists maps to a tier",
        steps, "listed worst to best, a better grade never gives a lower tier",
        "a better grade never gives a lower tier",
        built=scheme is not None)
    if scheme is None:
        return checks
    wrong = [f"{g.get('value')} gives {r[0].name if r[0] else 'an error'}, expected {g.get('tier')}"
             for g in grades if ((r := _rate(scheme, {"grade": g.get("value")}))[0] and r[0].name, r[1])
             != (g.get("tier"), g.get("label"))]
    checks.append(Check("mapping", "band edges", "fail" if wrong else "pass",
                        "; ".join(wrong) or "each grade gives its declared tier and label",
                        "each grade gives its declared tier and label"))
    bad = [r for r in (_refuses(scheme, rec) for rec in ({"grade": "Z"}, {"grade": ""}, {"grade": 1}, {},
                                                         {"grade": values[-1], "score": 1})) if r]
    checks.append(Check("mapping", "out of range", "fail" if bad else "pass",
                        "; ".join(bad) or "unknown grades and malformed records are refused",
                        "unknown grades and malformed records are refused with CC_LOCAL_RECORD"))
    return checks


# --- colour schemes ----------------------------------------------------------------------------------


def _colour_checks(doc: Mapping[str, Any], scheme: Any) -> list[Check]:
    colours = _entries(doc)
    raw_flags = doc.get("flags")
    flags: Mapping[str, Any] = raw_flags if isinstance(raw_flags, Mapping) else {}
    names = list(flags)
    total: list[str] = []
    steps: list[str] = []
    tier_of: dict[tuple[bool, ...], Tier | None] = {}
    for combo in itertools.product((False, True), repeat=len(names)):
        facts = dict(zip(names, combo, strict=True))
        hits = [c for c in colours if isinstance(c.get("when", {}), Mapping)
                and all(facts.get(k) == v for k, v in c.get("when", {}).items())]
        if names and len(hits) != 1:
            total.append(("gap: no colour" if not hits else "overlap: " + ", ".join(str(c.get("value")) for c in hits))
                         + f" for {facts}")
        tier_of[combo] = _tier(hits[0].get("tier")) if len(hits) == 1 else None
    for combo, tier in tier_of.items():
        for i, name in enumerate(names):
            raised = tier_of.get((*combo[:i], True, *combo[i + 1:]))
            if combo[i] or tier is None or raised is None:
                continue
            if (raised < tier) if flags[name] == "better" else (raised > tier):
                steps.append(f"setting {name} ({flags[name]}) moves {dict(zip(names, combo, strict=True))} "
                             f"from {tier.name} to {raised.name}")
    if scheme is not None:
        total += [f"colour {c.get('value')} is refused: {r[1]}" for c in colours
                  if (r := _rate(scheme, {"colour": c.get("value"), **c.get("when", {})}))[0] is None]
    checks = _total_and_monotonic(
        total, "every combination of the flags names exactly one colour",
        "every colour, and every combination of the defining flags, maps to one tier",
        steps, "a better fact never gives a lower tier",
        "a better fact (honours) never lowers the tier, a worse one (a bad record) never raises it",
        built=scheme is not None)
    if scheme is None:
        return checks
    wrong = [f"{c.get('value')} gives {r[0].name if r[0] else 'an error'}, expected {c.get('tier')}"
             for c in colours if ((r := _rate(scheme, {"colour": c.get("value")}))[0] and r[0].name, r[1])
             != (c.get("tier"), c.get("label")) and not c.get("when")]
    wrong += [f"{c.get('value')} with its flags gives {r[0].name if r[0] else 'an error'}, expected {c.get('tier')}"
              for c in colours if c.get("when") and ((r := _rate(scheme, {"colour": c.get("value"), **c["when"]}))[0]
                                                     and r[0].name, r[1]) != (c.get("tier"), c.get("label"))]
    checks.append(Check("mapping", "band edges", "fail" if wrong else "pass",
                        "; ".join(wrong) or "each colour gives its declared tier and label",
                        "each colour gives its declared tier and label"))
    records: list[Any] = [{"colour": "purple"}, {"colour": 1}, {}, {"colour": colours[0].get("value"), "score": 1}]
    for c in colours:
        when = c.get("when") or {}
        if when:
            flag, value = next(iter(when.items()))
            records.append({"colour": c.get("value"), flag: not value})
            break
    bad = [r for r in (_refuses(scheme, rec) for rec in records) if r]
    checks.append(Check("mapping", "out of range", "fail" if bad else "pass",
                        "; ".join(bad) or "unknown colours, contradicting flags and malformed records are refused",
                        "unknown colours, contradictions and malformed records are refused with CC_LOCAL_RECORD"))
    return checks


_ANALYSES: dict[str, Callable[[Mapping[str, Any], Any], list[Check]]] = {
    "score": _score_checks, "grade": _grade_checks, "colour": _colour_checks}


def _vectors(doc: Mapping[str, Any], scheme: Any) -> Check:
    """The shipped adapter table for this city, when the scheme is the version the vectors pin."""
    what = "the published band-edge vectors of this city"
    vector = next((v for v in load_vectors() if v.command == "adapter" and v.doc["context"]["city"] == doc.get("city")),
                  None)
    if vector is None:
        return Check("vectors", "published vectors", "skip", "no published vectors for this city (a new member)", what)
    pinned = (vector.doc["context"]["scheme_id"], vector.doc["context"]["version"])
    if pinned != (doc.get("scheme_id"), doc.get("version")):
        return Check("vectors", "published vectors", "skip",
                     f"the vectors pin {pinned[0]} v{pinned[1]}; this is {doc.get('scheme_id')} v{doc.get('version')}",
                     what)
    if scheme is None:
        return Check("vectors", "published vectors", "fail", "the scheme could not be built", what)

    def rate(record: Mapping[str, Any]) -> tuple[str, str]:
        rating = scheme.map(record)
        return rating.tier.name, rating.band

    failures = [f"{case.name}: {'; '.join(p)}" for case in vector.cases() if (p := judge_adapter_row(case, rate))]
    return Check("vectors", "published vectors", "fail" if failures else "pass",
                 "; ".join(failures) or f"{len(vector.cases())} rows of {vector.name} pass", what)
