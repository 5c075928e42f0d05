"""Every bundled adapter: band edges, malformed records, and the monotonic/total properties."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from citycredit.adapters import (
    MAX_LABEL_CHARS,
    ColourScheme,
    GradeScheme,
    Rating,
    Scheme,
    ScoreScheme,
    load_registry,
)
from citycredit.core import Tier
from citycredit.errors import LocalRecordError
from hypothesis import given
from hypothesis import strategies as st

REGISTRY = load_registry()
SCHEMES = REGISTRY.schemes()
SCORE_SCHEMES = [s for s in SCHEMES if isinstance(s, ScoreScheme)]
T = Tier

# Expected tiers at and around every published or assumed cut-off, written from DESIGN 5,
# independently of the data files.
EXPECTED: dict[str, list[tuple[float, Tier]]] = {
    "hangzhou": [(0, T.NEEDS_IMPROVEMENT), (549, T.NEEDS_IMPROVEMENT), (550, T.FAIR), (599, T.FAIR),
                 (600, T.GOOD), (699, T.GOOD), (700, T.EXCELLENT), (749, T.EXCELLENT),
                 (750, T.OUTSTANDING), (1000, T.OUTSTANDING)],
    "quzhou": [(0, T.NEEDS_IMPROVEMENT), (859, T.NEEDS_IMPROVEMENT), (860, T.GOOD), (874, T.GOOD),
               (875, T.EXCELLENT), (1000, T.EXCELLENT)],
    "fuzhou": [(0, T.NEEDS_IMPROVEMENT), (349, T.NEEDS_IMPROVEMENT), (350, T.NEEDS_IMPROVEMENT),
               (549, T.NEEDS_IMPROVEMENT), (550, T.FAIR), (649, T.FAIR), (650, T.GOOD), (749, T.GOOD),
               (750, T.EXCELLENT), (849, T.EXCELLENT), (850, T.OUTSTANDING), (1000, T.OUTSTANDING)],
    "wenzhou": [(649, T.FAIR), (650, T.GOOD), (699, T.GOOD), (700, T.EXCELLENT)],
    "xiamen": [(529, T.NEEDS_IMPROVEMENT), (530, T.FAIR), (599, T.FAIR), (600, T.GOOD), (649, T.GOOD),
               (650, T.EXCELLENT), (679, T.EXCELLENT), (680, T.OUTSTANDING)],
}


def _edges(scheme: ScoreScheme) -> list[tuple[str, float, Rating]]:
    """(name, score, expected rating) on both sides of every band start, and at both range ends."""
    cases = []
    for i, band in enumerate(scheme.bands):
        start = float(band.value)
        cases.append((f"{scheme.slug}@{band.value}", band.value, band.rating))
        if i:
            below = scheme.bands[i - 1].rating
            cases.append((f"{scheme.slug}@{band.value}-1", start - 1, below))
            cases.append((f"{scheme.slug}@{band.value}-ulp", math.nextafter(start, -math.inf), below))
    cases.append((f"{scheme.slug}@max", scheme.maximum, scheme.bands[-1].rating))
    return cases


EDGE_CASES = [case for s in SCORE_SCHEMES for case in _edges(s)]


@pytest.mark.parametrize(("scheme_slug", "score", "tier"),
                         [(slug, score, tier) for slug, rows in EXPECTED.items() for score, tier in rows])
def test_published_cut_offs(scheme_slug: str, score: float, tier: Tier) -> None:
    assert REGISTRY.resolve_city(scheme_slug).map({"score": score}).tier is tier


@pytest.mark.parametrize(("name", "score", "expected"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_every_band_edge_both_sides(name: str, score: float, expected: Rating) -> None:
    scheme = REGISTRY.resolve_city(name.split("@")[0])
    assert scheme.map({"score": score}) == expected


def test_bands_carry_local_labels() -> None:
    assert REGISTRY.resolve_city("hangzhou").map({"score": 720}) == Rating(Tier.EXCELLENT, "钱江分·优秀")
    assert REGISTRY.resolve_city("quzhou").map({"score": 880}).band.startswith("信安分·蓝码")


@pytest.mark.parametrize("scheme", SCORE_SCHEMES, ids=lambda s: s.slug)
def test_scores_outside_the_range_are_refused(scheme: ScoreScheme) -> None:
    for score in (scheme.minimum - 1, math.nextafter(scheme.minimum, -math.inf), scheme.maximum + 1,
                  math.nextafter(scheme.maximum, math.inf), -(10**30), 10**30):
        with pytest.raises(LocalRecordError, match="outside"):
            scheme.map({"score": score})


MALFORMED_FOR_ALL: list[object] = [
    None, 720, "720", b"{}", [("score", 720)], {}, {"nonsense": 1}, {1: 720}, {("score",): 720},
]
MALFORMED_BY_KIND: dict[str, list[Mapping[str, object]]] = {
    "score": [{"score": "720"}, {"score": None}, {"score": True}, {"score": math.nan}, {"score": math.inf},
              {"score": [720]}, {"score": 720, "grade": "A"}],
    "colour": [{"colour": "purple"}, {"colour": 1}, {"colour": None}, {"colour": "green", "honours": "yes"},
               {"colour": "green", "bad_record": True}, {"colour": "blue", "honours": True},
               {"colour": "red", "bad_record": False}, {"honours": True}, {"honours": 1, "bad_record": 0},
               {"color": "green"}],
    "grade": [{"grade": "E"}, {"grade": "A+"}, {"grade": ""}, {"grade": 1}, {"grade": None}, {"grade": ["A"]}],
}


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.slug)
def test_malformed_records_raise_local_record_error(scheme: Scheme) -> None:
    for record in [*MALFORMED_FOR_ALL, *MALFORMED_BY_KIND[scheme.kind]]:
        with pytest.raises(LocalRecordError) as caught:
            scheme.map(record)  # type: ignore[arg-type]  # malformed on purpose
        assert caught.value.code == "CC_LOCAL_RECORD"
        assert scheme.scheme_id in caught.value.message


def test_a_failing_hook_becomes_local_record_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Scheme, record: Mapping[str, object]) -> Rating:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(GradeScheme, "_rate", broken)
    with pytest.raises(LocalRecordError, match="boom") as caught:
        REGISTRY.resolve_city("rongcheng").map({"grade": "A"})
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_huizhou_colours_and_flags() -> None:
    huizhou = REGISTRY.resolve_city(441300)
    assert isinstance(huizhou, ColourScheme)
    table = [
        ({"colour": "green"}, T.EXCELLENT),
        ({"colour": " Green "}, T.EXCELLENT),
        ({"colour": "blue"}, T.GOOD),
        ({"colour": "red"}, T.RESTRICTED),
        ({"honours": True, "bad_record": False}, T.EXCELLENT),
        ({"honours": False, "bad_record": False}, T.GOOD),
        ({"honours": True, "bad_record": True}, T.RESTRICTED),
        ({"honours": False, "bad_record": True}, T.RESTRICTED),
        ({"bad_record": True}, T.RESTRICTED),
        ({"colour": "green", "honours": True, "bad_record": False}, T.EXCELLENT),
        ({"colour": "red", "honours": True, "bad_record": True}, T.RESTRICTED),
        ({"colour": "blue", "honours": False}, T.GOOD),
    ]
    for record, tier in table:
        assert huizhou.map(record).tier is tier, record
    assert huizhou.map({"colour": "blue"}).band == "惠信码·蓝码"


def test_colour_contradicting_flags_is_refused() -> None:
    huizhou = REGISTRY.resolve_city("huizhou")
    with pytest.raises(LocalRecordError, match="contradicts honours=false"):
        huizhou.map({"colour": "green", "honours": False, "bad_record": False})
    with pytest.raises(LocalRecordError, match="fits 2 colours"):
        huizhou.map({"honours": True})


def test_rongcheng_grades() -> None:
    rongcheng = REGISTRY.resolve_city("rongcheng")
    expected = {"AAA": T.OUTSTANDING, "AA": T.EXCELLENT, "A": T.GOOD, "B": T.FAIR, "C": T.NEEDS_IMPROVEMENT,
                "D": T.RESTRICTED}
    for grade, tier in expected.items():
        assert rongcheng.map({"grade": grade}).tier is tier
        assert rongcheng.map({"grade": f" {grade.lower()} "}).tier is tier
    assert rongcheng.map({"grade": "AA"}).band == "荣成信用·AA级"


def test_every_label_fits_a_qr_code() -> None:
    labels = [entry["label"] for scheme in SCHEMES for key in ("bands", "colours", "grades")
              for entry in scheme.describe().get(key, [])]  # type: ignore[attr-defined]
    assert len(labels) == 5 * 7 + 6 + 3 + 3 + 6  # every band of the 11 bundled schemes
    assert all(1 <= len(label) <= MAX_LABEL_CHARS for label in labels)
    with pytest.raises(LocalRecordError):
        Rating(Tier.GOOD, "x" * (MAX_LABEL_CHARS + 1))


# --- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCORE_SCHEMES, ids=lambda s: s.slug)
def test_score_mapping_is_monotonic_and_total(scheme: ScoreScheme) -> None:
    scores = st.one_of(st.integers(int(scheme.minimum), int(scheme.maximum)),
                       st.floats(scheme.minimum, scheme.maximum, allow_nan=False))

    @given(scores, scores)
    def check(a: float, b: float) -> None:
        low, high = sorted((a, b))
        assert scheme.map({"score": low}).tier <= scheme.map({"score": high}).tier

    check()


def test_grade_mapping_is_monotonic_and_total() -> None:
    rongcheng = REGISTRY.resolve_city("rongcheng")
    assert isinstance(rongcheng, GradeScheme)
    order = [str(g.value) for g in rongcheng.grades]  # worst to best

    @given(st.integers(0, len(order) - 1), st.integers(0, len(order) - 1))
    def check(i: int, j: int) -> None:
        low, high = sorted((i, j))
        assert rongcheng.map({"grade": order[low]}).tier <= rongcheng.map({"grade": order[high]}).tier

    check()


def test_colour_flags_are_monotonic_and_total() -> None:
    huizhou = REGISTRY.resolve_city("huizhou")

    @given(st.booleans(), st.booleans())
    def check(honours: bool, bad_record: bool) -> None:
        tier = huizhou.map({"honours": honours, "bad_record": bad_record}).tier
        assert huizhou.map({"honours": True, "bad_record": bad_record}).tier >= tier
        assert huizhou.map({"honours": honours, "bad_record": True}).tier <= tier

    check()


RECORD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
                          st.sampled_from(["green", "blue", "red", "AAA", "a", "D"]), st.lists(st.integers()))
RECORDS = st.one_of(
    st.dictionaries(st.sampled_from(["score", "colour", "honours", "bad_record", "grade", "x"]), RECORD_VALUES),
    RECORD_VALUES,
)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.slug)
def test_any_input_gives_a_rating_or_local_record_error(scheme: Scheme) -> None:
    @given(RECORDS)
    def check(record: object) -> None:
        try:
            rating = scheme.map(record)  # type: ignore[arg-type]  # anything at all
        except LocalRecordError:
            return
        assert isinstance(rating, Rating)

    check()
