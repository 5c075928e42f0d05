"""The scheme registry: bundled cities, look-up, digests, describe, and overrides from a folder."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import citycredit.adapters
import pytest
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.adapters import SchemeRegistry, load_registry
from citycredit.core import Tier
from citycredit.errors import CityUnknownError, SchemeInvalidError

SCHEMES_DIR = Path(citycredit.adapters.__file__).parent / "schemes"
CITIES = {
    330100: ("hangzhou", "钱江分", "score", True),
    330200: ("ningbo", "天一分", "score", False),
    330300: ("wenzhou", "瓯江分", "score", False),
    330400: ("jiaxing", None, "score", False),
    330500: ("huzhou", None, "score", False),
    330700: ("jinhua", None, "score", False),
    330800: ("quzhou", "信安分", "score", False),
    350100: ("fuzhou", "茉莉分", "score", True),
    350200: ("xiamen", "白鹭分", "score", False),
    371082: ("rongcheng", None, "grade", True),
    441300: ("huizhou", "惠信码", "colour", True),
}


def _doc(slug: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMES_DIR / f"{slug}.json").read_text(encoding="utf-8"))
    return doc


def _write(folder: Path, name: str, doc: object) -> None:
    (folder / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def test_exported_names() -> None:
    assert sorted(citycredit.adapters.__all__) == sorted([
        "MAX_LABEL_CHARS", "Band", "ColourScheme", "GradeScheme", "Rating", "Scheme", "SchemeRegistry",
        "ScoreScheme", "demo_catalogue", "load_catalogue", "load_registry", "load_scheme_file", "parse_scheme",
        "scheme_kinds", "validate_scheme",
    ])


def test_bundled_cities_match_design_table() -> None:
    schemes = load_registry().schemes()
    assert [s.city for s in schemes] == sorted(CITIES)
    for scheme in schemes:
        slug, name, kind, confirmed = CITIES[scheme.city]
        assert (scheme.slug, scheme.kind, scheme.confirmed) == (slug, kind, confirmed)
        assert name is None or scheme.scheme_name == name
        assert scheme.version >= 1 and scheme.source and scheme.scheme_id.startswith(slug)


@pytest.mark.parametrize("key", ["330100", 330100, "hangzhou", " HangZhou ", "杭州", "Hangzhou"])
def test_resolve_city_accepts_codes_and_names(key: str | int) -> None:
    assert load_registry().resolve_city(key).city == 330100


@pytest.mark.parametrize("key", [999999, "999999", "beijing", "", "３３０１００", True, None, 330100.0])
def test_resolve_city_refuses_unknown(key: Any) -> None:
    with pytest.raises(CityUnknownError, match="hangzhou"):
        load_registry().resolve_city(key)


def test_digest_is_sha256_of_canonical_json_and_names_the_policy() -> None:
    registry = load_registry()
    quzhou = registry.resolve_city("quzhou")
    canonical = json.dumps(_doc("quzhou"), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert quzhou.digest == hashlib.sha256(canonical).digest()
    assert len({s.digest for s in registry.schemes()}) == len(CITIES)
    policy = quzhou.tier_policy()
    assert isinstance(policy, bundle_pb2.TierPolicy)
    assert (policy.scheme, policy.version, policy.digest, policy.confirmed) == (
        "quzhou-xinan", 1, quzhou.digest, False)


def test_describe_is_json_and_marks_assumed_bands() -> None:
    registry = load_registry()
    quzhou = registry.resolve_city("quzhou").describe()
    assert json.loads(json.dumps(quzhou, ensure_ascii=False)) == quzhou
    assert quzhou["confirmed"] is False and "875" in str(quzhou["note"])
    assert [(b["from"], b["tier"], b["assumed"]) for b in quzhou["bands"]] == [  # type: ignore[attr-defined]
        (0, "NEEDS_IMPROVEMENT", True), (860, "GOOD", True), (875, "EXCELLENT", True)]
    hangzhou = registry.resolve_city("hangzhou").describe()
    assert not any(b["assumed"] for b in hangzhou["bands"])  # type: ignore[attr-defined]
    huizhou = registry.resolve_city("huizhou").describe()
    assert {c["value"]: c["tier"] for c in huizhou["colours"]} == {  # type: ignore[attr-defined]
        "green": "EXCELLENT", "blue": "GOOD", "red": "RESTRICTED"}


def test_override_replaces_a_city_with_a_new_version(tmp_path: Path) -> None:
    doc = _doc("quzhou")
    doc["version"] = 2
    doc["bands"][1]["from"] = 850
    doc["bands"][1]["assumed"] = False
    _write(tmp_path, "quzhou.json", doc)
    registry = load_registry(tmp_path)
    quzhou = registry.resolve_city(330800)
    assert quzhou.version == 2
    assert quzhou.map({"score": 855}).tier is Tier.GOOD
    assert quzhou.digest != load_registry().resolve_city(330800).digest
    assert len(registry) == len(CITIES)


def test_override_adds_a_city_with_one_data_file(tmp_path: Path) -> None:
    doc = _doc("hangzhou") | {"city": 330600, "slug": "shaoxing", "name_zh": "绍兴", "name_en": "Shaoxing",
                              "scheme_id": "shaoxing-demo", "scheme_name": "绍兴信用分"}
    _write(tmp_path, "shaoxing.json", doc)
    registry = load_registry(tmp_path)
    assert registry.resolve_city("shaoxing").map({"score": 760}).tier is Tier.OUTSTANDING
    assert [s.city for s in registry.schemes()] == sorted([*CITIES, 330600])


def test_override_with_same_version_but_other_content_is_refused(tmp_path: Path) -> None:
    doc = _doc("quzhou")
    doc["bands"][1]["from"] = 850
    _write(tmp_path, "quzhou.json", doc)
    with pytest.raises(SchemeInvalidError, match="raising its version"):
        load_registry(tmp_path)


def test_identical_override_is_accepted(tmp_path: Path) -> None:
    _write(tmp_path, "quzhou.json", _doc("quzhou"))
    assert load_registry(tmp_path).resolve_city("quzhou").digest == load_registry().resolve_city("quzhou").digest


@pytest.mark.parametrize("content", ["{not json", "[]", '{"kind": "score"}', "\udcff"])
def test_bad_override_file_is_a_scheme_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "bad.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(SchemeInvalidError, match=r"bad\.json"):
        load_registry(tmp_path)


def test_two_overrides_for_one_city_are_refused(tmp_path: Path) -> None:
    doc = _doc("quzhou")
    doc["version"] = 2
    _write(tmp_path, "a.json", doc)
    _write(tmp_path, "b.json", copy.deepcopy(doc))
    with pytest.raises(SchemeInvalidError, match="also overridden"):
        load_registry(tmp_path)


def test_missing_overrides_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemeInvalidError, match="does not exist"):
        load_registry(tmp_path / "nowhere")


def test_registry_refuses_clashing_names() -> None:
    schemes = load_registry().schemes()
    with pytest.raises(SchemeInvalidError, match="two schemes"):
        SchemeRegistry([*schemes, schemes[0]])
