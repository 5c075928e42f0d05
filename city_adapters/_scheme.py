"""The adapter contract: a `Scheme` maps one local credit record onto a portable `Rating`.

A scheme is data (one JSON file per city, see `schemes/`) read by the class of its
*kind* (`score`, `colour`, `grade`). The public `Scheme.map` checks the record's
shape, calls the kind's one hook `_rate`, and turns anything the hook raises into
`LocalRecordError`, so callers only ever see the package's own error.
"""

from __future__ import annotations

import abc
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeGuard

from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.core import Tier
from citycredit.errors import LocalRecordError, SchemeInvalidError

__all__ = ["MAX_LABEL_CHARS", "Rating", "Scheme", "parse_scheme", "scheme_kinds", "validate_scheme"]

# Band labels travel inside the QR code, so they stay short.
MAX_LABEL_CHARS = 20
_MIN_CITY, _MAX_CITY = 110000, 829999  # GB/T 2260 province codes run from 11 to 82.
_SLUG = re.compile(r"[a-z]+")
_SCHEME_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_COMMON_KEYS = {
    "city": True,
    "slug": True,
    "name_zh": True,
    "name_en": True,
    "scheme_id": True,
    "scheme_name": True,
    "scheme_name_en": False,
    "kind": True,
    "version": True,
    "confirmed": True,
    "source": True,
    "note": False,
}
_KINDS: dict[str, type[Scheme]] = {}


@dataclass(frozen=True, slots=True)
class Rating:
    """A local record's place on the alliance ladder, the local label to display, and whether the city's
    threshold behind it is an assumption (shown as such wherever the rating is)."""

    tier: Tier
    band: str
    assumed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.tier, Tier):
            raise LocalRecordError(f"a rating needs a Tier, not {self.tier!r}")
        if not self.band or len(self.band) > MAX_LABEL_CHARS:
            raise LocalRecordError(f"a band label has 1 to {MAX_LABEL_CHARS} characters, not {self.band!r}")


@dataclass(frozen=True, kw_only=True, eq=False)
class Scheme(abc.ABC):
    """One city's local scheme and its mapping onto portable tiers.

    Build one with `parse_scheme` (or through the registry); a kind subclass
    implements `_rate` and the checks of its own part of the data file.
    """

    kind: ClassVar[str]
    # Names a record of this kind may carry; the base class refuses any other.
    record_fields: ClassVar[frozenset[str]] = frozenset()
    # The kind's own keys in the data file, and whether each is required.
    kind_keys: ClassVar[Mapping[str, bool]] = {}

    city: int
    slug: str
    name_zh: str
    name_en: str
    scheme_id: str
    scheme_name: str
    scheme_name_en: str
    version: int
    confirmed: bool
    source: str
    note: str
    digest: bytes
    document: Mapping[str, Any] = field(repr=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _KINDS[cls.kind] = cls

    # --- the contract ----------------------------------------------------------------------------

    def map(self, record: Mapping[str, object]) -> Rating:
        """Map a local record (e.g. `{"score": 720}`) onto a Rating; raises LocalRecordError."""
        if not isinstance(record, Mapping):
            raise LocalRecordError(
                f"{self.scheme_id}: a local record is a mapping such as {self.example_record()}, "
                f"not {type(record).__name__}")
        fields = self._fields()
        unknown = sorted(repr(key) for key in record if key not in fields)
        if unknown:
            raise LocalRecordError(
                f"{self.scheme_id}: unknown field(s) {', '.join(unknown)}; "
                f"a {self.kind} record has {', '.join(sorted(fields))}")
        try:
            rating = self._rate(record)
        except LocalRecordError:
            raise
        except Exception as err:  # a hook's own failure must not escape as a foreign type
            raise LocalRecordError(f"{self.scheme_id}: cannot map the record: {err}") from err
        if not isinstance(rating, Rating):
            raise LocalRecordError(f"{self.scheme_id}: the {self.kind} mapping gave no rating")
        return rating

    @abc.abstractmethod
    def _rate(self, record: Mapping[str, object]) -> Rating:
        """The one hook: rate a record whose field names were already checked."""

    def _fields(self) -> frozenset[str]:
        return self.record_fields

    @abc.abstractmethod
    def example_record(self) -> dict[str, object]:
        """A record of the right shape, used in error messages and docs."""

    @abc.abstractmethod
    def sample_records(self) -> list[dict[str, object]]:
        """One record per band, colour or grade, lowest first (for demonstrations and tests)."""

    @classmethod
    @abc.abstractmethod
    def _kind_problems(cls, doc: Mapping[str, Any]) -> list[str]:
        """What is wrong with this kind's part of a data file (empty when valid)."""

    @classmethod
    @abc.abstractmethod
    def _from_doc(cls, doc: Mapping[str, Any], common: dict[str, Any]) -> Scheme:
        """Build from a data file that passed validation."""

    @abc.abstractmethod
    def _describe_kind(self) -> dict[str, object]:
        """The kind's bands (with their assumed flags) for `describe`."""

    # --- derived views ---------------------------------------------------------------------------

    def tier_policy(self) -> bundle_pb2.TierPolicy:
        """The bundle entry naming the exact mapping this city applies."""
        return bundle_pb2.TierPolicy(
            scheme=self.scheme_id, version=self.version, digest=self.digest, confirmed=self.confirmed)

    def describe(self) -> dict[str, object]:
        """A JSON-ready description, assumed thresholds marked as such."""
        return {
            "city": self.city,
            "slug": self.slug,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "scheme_id": self.scheme_id,
            "scheme_name": self.scheme_name,
            "scheme_name_en": self.scheme_name_en,
            "kind": self.kind,
            "version": self.version,
            "confirmed": self.confirmed,
            "source": self.source,
            "note": self.note,
            "digest": self.digest.hex(),
            **self._describe_kind(),
        }


def scheme_kinds() -> tuple[str, ...]:
    """The kinds of scheme there is code for."""
    return tuple(sorted(_KINDS))


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """The bytes a scheme's digest covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def validate_scheme(doc: object) -> list[str]:
    """Every problem with a scheme data file; an empty list means it is valid."""
    if not isinstance(doc, Mapping):
        return [f"a scheme is a JSON object, not {type(doc).__name__}"]
    problems: list[str] = []
    kind = doc.get("kind")
    kind_cls = _KINDS.get(kind) if isinstance(kind, str) else None
    keys: dict[str, bool] = dict(_COMMON_KEYS)
    if kind_cls is None:
        problems.append(f"unknown kind {kind!r}; known kinds: {', '.join(scheme_kinds())}")
    else:
        keys.update(kind_cls.kind_keys)
    problems += [f"missing {key!r}" for key, required in keys.items() if required and key not in doc]
    if kind_cls is not None:
        problems += [f"unknown key {key!r}" for key in doc if key not in keys]
    city = doc.get("city")
    if "city" in doc and not (_is_int(city) and _MIN_CITY <= city <= _MAX_CITY):
        problems.append(f"city must be a six-digit GB/T 2260 code, not {city!r}")
    if "slug" in doc and not _matches(_SLUG, doc["slug"]):
        problems.append(f"slug must be lowercase pinyin letters, not {doc['slug']!r}")
    if "scheme_id" in doc and not _matches(_SCHEME_ID, doc["scheme_id"]):
        problems.append(f"scheme_id must be lowercase words joined by '-', not {doc['scheme_id']!r}")
    for key in ("name_zh", "name_en", "scheme_name", "source"):
        if key in doc and not _is_text(doc[key]):
            problems.append(f"{key} must be non-empty text")
    for key in ("scheme_name_en", "note"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"{key} must be text")
    version = doc.get("version")
    if "version" in doc and not (_is_int(version) and version >= 1):
        problems.append(f"version must be an integer ≥ 1, not {version!r}")
    confirmed = doc.get("confirmed")
    if "confirmed" in doc and not isinstance(confirmed, bool):
        problems.append("confirmed must be true or false")
    if confirmed is False and not _is_text(doc.get("note")):
        problems.append("an unconfirmed scheme needs a note saying what is assumed")
    if kind_cls is not None:
        problems += kind_cls._kind_problems(doc)
        if confirmed is True and _any_assumed(doc):
            problems.append("a confirmed scheme cannot have assumed bands")
    return problems


def parse_scheme(doc: object, *, origin: str = "scheme") -> Scheme:
    """Validate a data file's content and build its Scheme; raises SchemeInvalidError."""
    problems = validate_scheme(doc)
    if problems:
        raise SchemeInvalidError(f"{origin}: " + "; ".join(problems))
    assert isinstance(doc, Mapping)  # validate_scheme said so
    try:
        digest = hashlib.sha256(canonical_json(doc)).digest()
    except ValueError as err:  # NaN or infinity somewhere in the file
        raise SchemeInvalidError(f"{origin}: {err}") from None
    common: dict[str, Any] = {key: doc.get(key, "") for key in _COMMON_KEYS if key != "kind"}
    common.update(digest=digest, document=doc)
    return _KINDS[doc["kind"]]._from_doc(doc, common)


# --- helpers shared by the kinds ---------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _any_assumed(doc: Mapping[str, Any]) -> bool:
    for key in ("bands", "colours", "grades"):
        entries = doc.get(key)
        if isinstance(entries, list) and any(isinstance(e, Mapping) and e.get("assumed") for e in entries):
            return True
    return False


def entry_problems(entries: object, what: str, value_key: str, extra_keys: frozenset[str] = frozenset()
                   ) -> tuple[list[str], list[Mapping[str, Any]]]:
    """Shape checks shared by bands, colours and grades: tier, label, assumed flag.

    Returns the problems and the entries that are well-formed enough to check further.
    """
    if not isinstance(entries, list) or not entries:
        return [f"{what} must be a non-empty list"], []
    problems: list[str] = []
    good: list[Mapping[str, Any]] = []
    allowed = {value_key, "tier", "label", "assumed"} | extra_keys
    labels: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{what}[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        before = len(problems)
        problems += [f"{where}: unknown key {key!r}" for key in entry if key not in allowed]
        problems += [f"{where}: missing {key!r}" for key in (value_key, "tier", "label", "assumed")
                     if key not in entry]
        tier = entry.get("tier")
        if "tier" in entry and not (isinstance(tier, str) and tier in Tier.__members__):
            problems.append(f"{where}: tier must be one of {', '.join(Tier.__members__)}, not {tier!r}")
        label = entry.get("label")
        if not (_is_text(label) and len(label) <= MAX_LABEL_CHARS):
            problems.append(f"{where}: label must be 1 to {MAX_LABEL_CHARS} characters, not {label!r}")
        elif label in labels:
            problems.append(f"{where}: label {label!r} is used twice")
        else:
            labels.add(label)
        if "assumed" in entry and not isinstance(entry["assumed"], bool):
            problems.append(f"{where}: assumed must be true or false")
        if len(problems) == before:
            good.append(entry)
    return problems, good


def monotonic_problems(entries: list[Mapping[str, Any]], what: str, value_key: str) -> list[str]:
    """Entries listed from worst to best standing must never step down a tier."""
    problems = []
    for lower, higher in itertools.pairwise(entries):
        if Tier[higher["tier"]] < Tier[lower["tier"]]:
            problems.append(
                f"{what} not monotonic: {higher[value_key]!r} gives {higher['tier']}, "
                f"lower than {lower['tier']} for {lower[value_key]!r}")
    return problems
