"""The demonstration catalogue: thresholds agree with each host city's own scheme."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from citycredit.adapters import ScoreScheme, demo_catalogue, load_catalogue, load_registry
from citycredit.adapters._catalogue import catalogue_document
from citycredit.core import (
    CHINA_TZ,
    Agreement,
    Catalogue,
    Category,
    Offer,
    Period,
    Tier,
    from_json,
    from_proto,
    to_json,
    to_proto,
)
from citycredit.errors import InvalidArgumentError

REGISTRY = load_registry()
RAW_OFFERS = catalogue_document()["offers"]


@pytest.mark.parametrize("entry", RAW_OFFERS, ids=[o["id"] for o in RAW_OFFERS])
def test_min_tier_is_the_host_schemes_mapping_of_the_local_threshold(entry: dict[str, object]) -> None:
    scheme = REGISTRY.resolve_city(entry["city"])  # type: ignore[arg-type]
    threshold = entry["local_threshold"]
    assert isinstance(threshold, dict)
    tier = scheme.map(threshold).tier
    assert tier is Tier[str(entry["min_tier"])]
    # The threshold starts a band, so the portable tier stands for exactly the local rule.
    assert isinstance(scheme, ScoreScheme)
    assert scheme.map({"score": threshold["score"] - 1}).tier < tier


def test_demo_catalogue_loads_and_indexes() -> None:
    offers, agreements = demo_catalogue()
    assert len(offers) == len(RAW_OFFERS) == 23
    catalogue = Catalogue.build(offers=offers, agreements=agreements, members=[s.city for s in REGISTRY.schemes()])
    assert {o.city for o in offers} <= {s.city for s in REGISTRY.schemes()}
    assert all(city in REGISTRY for a in agreements for city in a.cities)
    assert all(o.title_zh and o.title_en and o.benefit.text_zh and o.benefit.text_en for o in offers)
    found = catalogue.find(city=330300, category=Category.SCENIC_SPOT)
    assert [o.id for o in found] == ["wenzhou-scenic-spot-discount"]


def test_quzhou_134n_offers() -> None:
    offers = {o.id: o for o in demo_catalogue()[0] if o.city == 330800}
    parking = offers["quzhou-parking-free-3"]
    assert (parking.min_tier, parking.benefit.count) == (Tier.EXCELLENT, 3)
    assert parking.quota is not None and (parking.quota.uses, parking.quota.period) == (3, Period.MONTH)
    assert offers["quzhou-housing-fund-loan"].local_only
    assert offers["quzhou-housing-fund-loan"].benefit.amount_fen == 100_000 * 100
    assert offers["quzhou-parking-discount-10"].benefit.discount_percent == 10
    assert {o.min_tier for o in offers.values()} == {Tier.EXCELLENT, Tier.GOOD}
    assert [o.local_only for o in offers.values()].count(True) == 1
    assert not any(o.assumed for o in offers.values())


def test_assumed_thresholds_are_marked() -> None:
    offers = demo_catalogue()[0]
    assumed = {o.id for o in offers if o.assumed}
    assert {"hangzhou-library-deposit-free", "hangzhou-hospital-pay-later"} <= assumed
    for slug in ("wenzhou", "jinhua", "huzhou", "jiaxing"):
        assert {f"{slug}-scenic-spot-discount", f"{slug}-hotel-deposit-free"} <= assumed


def _start(agreement: Agreement) -> str:
    return datetime.fromtimestamp(agreement.not_before_s, CHINA_TZ).isoformat()


def test_agreements() -> None:
    agreements = {a.id: a for a in demo_catalogue()[1]}
    four = agreements["wenzhou-jinhua-huzhou-jiaxing"]
    assert four.cities == {330300, 330700, 330500, 330400}
    assert four.categories == {Category.SCENIC_SPOT, Category.HOTEL, Category.DINING, Category.FITNESS}
    assert _start(four) == "2020-09-01T00:00:00+08:00"
    hq = agreements["hangzhou-quzhou"]
    assert (hq.cities, hq.categories, _start(hq), hq.not_after_s) == (
        {330100, 330800}, frozenset(), "2020-04-30T00:00:00+08:00", 0)
    assert agreements["huzhou-jiaxing"].cities == {330500, 330400}


def test_round_trips_through_json_and_proto() -> None:
    offers, agreements = demo_catalogue()
    for offer in offers:
        assert from_json(Offer, json.loads(json.dumps(to_json(offer)))) == offer
        assert from_proto(Offer, to_proto(offer)) == offer
    for agreement in agreements:
        assert from_json(Agreement, json.loads(json.dumps(to_json(agreement)))) == agreement
        assert from_proto(Agreement, to_proto(agreement)) == agreement


def test_bad_catalogue_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"offers": {}}', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="offers and agreements"):
        load_catalogue(path)
    path.write_text('{"offers": [{"id": "x"}], "agreements": []}', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="missing"):
        load_catalogue(path)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        load_catalogue(tmp_path / "missing.json")
