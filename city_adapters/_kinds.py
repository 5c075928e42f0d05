"""The kinds of local scheme there is code for: score bands, colours, grades.

A new kind is a `Scheme` subclass with a `kind` name; a new city of a known kind
is only a data file.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from citycredit.core import Tier
from citycredit.errors import LocalRecordError

from ._scheme import Rating, Scheme, entry_problems, monotonic_problems

__all__ = ["ColourScheme", "GradeScheme", "ScoreScheme"]

# Colour schemes list every combination of their flags; keep that small.
_MAX_FLAGS = 4
_FLAG_DIRECTIONS = ("better", "worse")


@dataclass(frozen=True, slots=True)
class Band:
    """One step of a scheme: where it starts (or which value it is), its rating, and whether it is assumed."""

    value: float | str
    rating: Rating
    assumed: bool
    # Colour schemes only: the flag values this colour stands for.
    when: Mapping[str, bool] = field(default_factory=dict)

    def describe(self, value_key: str) -> dict[str, object]:
        out: dict[str, object] = {
            value_key: self.value,
            "tier": self.rating.tier.name,
            "tier_zh": self.rating.tier.label_zh,
            "label": self.rating.band,
            "assumed": self.assumed,
        }
        if self.when:
            out["when"] = dict(self.when)
        return out


def _band(entry: Mapping[str, Any], value: float | str, **extra: Any) -> Band:
    return Band(value, Rating(Tier[entry["tier"]], entry["label"], entry["assumed"]), entry["assumed"], **extra)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, kw_only=True, eq=False)
class ScoreScheme(Scheme):
    """A numeric score over a declared [min, max] range, cut into lower-bound-inclusive bands.

    Record: `{"score": 720}` (an int or a finite float inside the range).
    """

    kind: ClassVar[str] = "score"
    record_fields: ClassVar[frozenset[str]] = frozenset({"score"})
    kind_keys: ClassVar[Mapping[str, bool]] = {"range": True, "bands": True}

    minimum: float
    maximum: float
    bands: tuple[Band, ...]
    _starts: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(float(b.value) for b in self.bands))

    def _rate(self, record: Mapping[str, object]) -> Rating:
        if "score" not in record:
            raise LocalRecordError(f"{self.scheme_id}: the record has no 'score'")
        score = record["score"]
        if not _is_number(score):
            raise LocalRecordError(f"{self.scheme_id}: the score must be a finite number, not {score!r}")
        assert isinstance(score, int | float)
        if not self.minimum <= score <= self.maximum:
            raise LocalRecordError(
                f"{self.scheme_id}: score {score} is outside the scheme's range "
                f"[{self.minimum:g}, {self.maximum:g}]")
        return self.bands[bisect.bisect_right(self._starts, score) - 1].rating

    def example_record(self) -> dict[str, object]:
        return {"score": self.bands[-1].value}

    def sample_records(self) -> list[dict[str, object]]:
        return [{"score": band.value} for band in self.bands]

    @classmethod
    def _kind_problems(cls, doc: Mapping[str, Any]) -> list[str]:
        problems: list[str] = []
        span = doc.get("range")
        low = high = None
        if not (isinstance(span, Mapping) and set(span) == {"min", "max"}
                and _is_number(span["min"]) and _is_number(span["max"]) and span["min"] < span["max"]):
            problems.append('range must be {"min": number, "max": number} with min < max')
        else:
            low, high = span["min"], span["max"]
        shape, bands = entry_problems(doc.get("bands"), "bands", "from")
        problems += shape
        problems += [f"band from {b['from']!r} must be a finite number" for b in bands if not _is_number(b["from"])]
        if problems:
            return problems
        for i, (lower, upper) in enumerate(itertools.pairwise(bands), start=1):
            if upper["from"] <= lower["from"]:
                problems.append(
                    f"bands overlap: bands[{i}] starts at {upper['from']}, not above bands[{i - 1}] "
                    f"at {lower['from']} (list bands from the lowest score up)")
        if problems:
            return problems
        first = bands[0]["from"]
        if low is not None and high is not None:
            if first > low:
                problems.append(f"gap: scores from {low} up to {first} fall in no band")
            problems += [f"band from {b['from']} lies outside the range [{low}, {high}]"
                         for b in bands if not low <= b["from"] <= high]
        return problems + monotonic_problems(bands, "bands", "from")

    @classmethod
    def _from_doc(cls, doc: Mapping[str, Any], common: dict[str, Any]) -> Scheme:
        return cls(
            **common,
            minimum=doc["range"]["min"],
            maximum=doc["range"]["max"],
            bands=tuple(_band(b, b["from"]) for b in doc["bands"]),
        )

    def _describe_kind(self) -> dict[str, object]:
        return {
            "range": {"min": self.minimum, "max": self.maximum},
            "bands": [b.describe("from") for b in self.bands],
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class ColourScheme(Scheme):
    """A colour code with no score (e.g. Huizhou 惠信码), optionally defined by yes/no flags.

    Record: `{"colour": "green"}`, or the flags alone (`{"honours": true,
    "bad_record": false}`), or both. When both are given they must agree with the
    colour's definition, otherwise the record is refused: a colour that contradicts
    the facts it stands for is a malformed record, not something to guess about.
    Flags alone must single out one colour (give every flag, or enough of them).
    """

    kind: ClassVar[str] = "colour"
    kind_keys: ClassVar[Mapping[str, bool]] = {"flags": False, "colours": True}

    flags: Mapping[str, str]
    colours: tuple[Band, ...]
    _by_value: Mapping[str, Band] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_value", {str(c.value): c for c in self.colours})

    def _fields(self) -> frozenset[str]:
        return frozenset({"colour", *self.flags})

    def _rate(self, record: Mapping[str, object]) -> Rating:
        given: dict[str, bool] = {}
        for flag in self.flags:
            if flag in record:
                value = record[flag]
                if not isinstance(value, bool):
                    raise LocalRecordError(f"{self.scheme_id}: {flag} must be true or false, not {value!r}")
                given[flag] = value
        if "colour" in record:
            colour = record["colour"]
            if not isinstance(colour, str) or colour.strip().lower() not in self._by_value:
                raise LocalRecordError(
                    f"{self.scheme_id}: colour must be one of {', '.join(self._by_value)}, not {colour!r}")
            band = self._by_value[colour.strip().lower()]
            conflicts = [f"{flag}={str(value).lower()}" for flag, value in given.items()
                         if band.when.get(flag, value) != value]
            if conflicts:
                raise LocalRecordError(
                    f"{self.scheme_id}: colour {band.value!r} contradicts {', '.join(conflicts)}")
            return band.rating
        if not given:
            raise LocalRecordError(f"{self.scheme_id}: the record needs a colour or the flags "
                                   f"{', '.join(self.flags)}")
        matches = [c for c in self.colours if all(c.when.get(f, v) == v for f, v in given.items())]
        if len(matches) != 1:
            raise LocalRecordError(
                f"{self.scheme_id}: {given} fits {len(matches)} colours; give the colour or every flag")
        return matches[0].rating

    def example_record(self) -> dict[str, object]:
        return {"colour": self.colours[0].value, **self.colours[0].when}

    def sample_records(self) -> list[dict[str, object]]:
        return [{"colour": colour.value, **colour.when} for colour in self.colours]

    @classmethod
    def _kind_problems(cls, doc: Mapping[str, Any]) -> list[str]:
        flags = doc.get("flags", {})
        if not (isinstance(flags, Mapping) and len(flags) <= _MAX_FLAGS
                and all(isinstance(k, str) and k.isidentifier() and k != "colour" and v in _FLAG_DIRECTIONS
                        for k, v in flags.items())):
            return [f'flags must map up to {_MAX_FLAGS} names to "better" or "worse"']
        problems, colours = entry_problems(doc.get("colours"), "colours", "value", frozenset({"when"}))
        values: set[str] = set()
        for c in colours:
            value, when = c["value"], c.get("when", {})
            if not isinstance(value, str) or value != value.strip().lower() or not value:
                problems.append(f"colour {value!r} must be lowercase text")
            elif value in values:
                problems.append(f"colour {value!r} is listed twice")
            values.add(str(value))
            if not (isinstance(when, Mapping) and all(k in flags and isinstance(v, bool) for k, v in when.items())):
                problems.append(f"colour {value!r}: when must map declared flags to true or false")
        if problems or not flags:
            return problems
        return _partition_problems(flags, colours)

    @classmethod
    def _from_doc(cls, doc: Mapping[str, Any], common: dict[str, Any]) -> Scheme:
        return cls(
            **common,
            flags=dict(doc.get("flags", {})),
            colours=tuple(_band(c, c["value"], when=dict(c.get("when", {}))) for c in doc["colours"]),
        )

    def _describe_kind(self) -> dict[str, object]:
        return {"flags": dict(self.flags), "colours": [c.describe("value") for c in self.colours]}


def _partition_problems(flags: Mapping[str, str], colours: list[Mapping[str, Any]]) -> list[str]:
    """Every combination of flag values must name exactly one colour, monotonically."""
    names = list(flags)
    tier_of: dict[tuple[bool, ...], Tier] = {}
    problems = []
    for combo in itertools.product((False, True), repeat=len(names)):
        facts = dict(zip(names, combo, strict=True))
        hits = [c for c in colours if all(facts[k] == v for k, v in c.get("when", {}).items())]
        if len(hits) != 1:
            what = "gap: no colour" if not hits else "overlap: " + ", ".join(c["value"] for c in hits)
            problems.append(f"{what} for {facts}")
        else:
            tier_of[combo] = Tier[hits[0]["tier"]]
    if problems:
        return problems
    for combo, tier in tier_of.items():
        for i, name in enumerate(names):
            if combo[i]:
                continue
            raised = tier_of[(*combo[:i], True, *combo[i + 1:])]
            if (raised < tier) if flags[name] == "better" else (raised > tier):
                problems.append(
                    f"colours not monotonic: setting {name} ({flags[name]}) moves "
                    f"{dict(zip(names, combo, strict=True))} from {tier.name} to {raised.name}")
    return problems


@dataclass(frozen=True, kw_only=True, eq=False)
class GradeScheme(Scheme):
    """Letter grades listed from worst to best (e.g. Rongcheng D, C, B, A, AA, AAA).

    Record: `{"grade": "AA"}`; case and surrounding spaces are ignored.
    """

    kind: ClassVar[str] = "grade"
    record_fields: ClassVar[frozenset[str]] = frozenset({"grade"})
    kind_keys: ClassVar[Mapping[str, bool]] = {"grades": True}

    grades: tuple[Band, ...]
    _by_value: Mapping[str, Band] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_value", {str(g.value): g for g in self.grades})

    def _rate(self, record: Mapping[str, object]) -> Rating:
        grade = record.get("grade")
        key = grade.strip().upper() if isinstance(grade, str) else None
        if key is None or key not in self._by_value:
            raise LocalRecordError(
                f"{self.scheme_id}: grade must be one of {', '.join(self._by_value)}, not {grade!r}")
        return self._by_value[key].rating

    def example_record(self) -> dict[str, object]:
        return {"grade": self.grades[-1].value}

    def sample_records(self) -> list[dict[str, object]]:
        return [{"grade": grade.value} for grade in self.grades]

    @classmethod
    def _kind_problems(cls, doc: Mapping[str, Any]) -> list[str]:
        problems, grades = entry_problems(doc.get("grades"), "grades", "value")
        seen: set[object] = set()
        for g in grades:
            value = g["value"]
            if not isinstance(value, str) or not value or value != value.strip().upper():
                problems.append(f"grade {value!r} must be uppercase text")
            elif value in seen:
                problems.append(f"grade {value!r} is listed twice")
            seen.add(value)
        if problems:
            return problems
        return monotonic_problems(grades, "grades (listed worst to best)", "value")

    @classmethod
    def _from_doc(cls, doc: Mapping[str, Any], common: dict[str, Any]) -> Scheme:
        return cls(**common, grades=tuple(_band(g, g["value"]) for g in doc["grades"]))

    def _describe_kind(self) -> dict[str, object]:
        return {"grades": [g.describe("value") for g in self.grades]}
