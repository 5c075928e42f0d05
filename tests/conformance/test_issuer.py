"""Issuer conformance: the reference issuer passes; a code outliving the policy or a wrong mapping fails."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from citycredit.adapters import load_registry
from citycredit.conformance import IssuerPolicy, check_issuer


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from citycredit._cli.main import main

    path = tmp_path_factory.mktemp("alliance") / "demo"
    assert main(["demo", "init", "--dir", str(path)]) == 0
    return path


def reference(home: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "citycredit._cli", "--json", "issue", "--home", str(home), *extra]


def failing(report) -> dict[str, str]:
    return {c.name: c.why for c in report.checks if not c.ok}


@pytest.mark.parametrize("city", ["hangzhou", "huizhou", "rongcheng"])
def test_the_reference_issuer_passes(home: Path, city: str) -> None:
    report = check_issuer(reference(home), city=city, bundle=home / "bundle.ccb")
    assert failing(report) == {}
    names = {c.name for c in report.checks}
    assert {"format", "size", "kid", "verifies", "claims", "expiry policy", "code ids"} <= names
    assert any(c.name.endswith("_fail") and c.why == "refused" for c in report.checks)


def test_codes_outliving_the_policy_fail(home: Path) -> None:
    report = check_issuer(reference(home, "--ttl-s", "3600"), city="hangzhou", bundle=home / "bundle.ccb",
                          policy=IssuerPolicy(max_ttl_s=300))
    assert set(failing(report)) == {"expiry policy"}
    assert "lifetime 3600 s" in failing(report)["expiry policy"]


def test_an_issuer_whose_mapping_differs_from_the_scheme_fails(home: Path, tmp_path: Path) -> None:
    doc = copy.deepcopy(dict(load_registry().resolve_city("hangzhou").document))
    doc["version"] = 2
    doc["bands"][3]["from"] = 690  # the city says EXCELLENT starts at 690; the issuer still uses 700
    scheme = tmp_path / "hangzhou.json"
    scheme.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = check_issuer(reference(home), city="hangzhou", bundle=home / "bundle.ccb", scheme_file=scheme)
    assert set(failing(report)) == {"score_690"}
    assert "GOOD" in failing(report)["score_690"]


def test_a_bundle_without_the_city_keys_fails_the_kid_check(home: Path, tmp_path: Path) -> None:
    from citycredit.conformance import vectors_root

    bundle = vectors_root() / "bundles" / "main" / "bundle.ccb"
    report = check_issuer(reference(home), city="hangzhou", bundle=bundle,
                          clock=lambda: 1_795_000_000.0)
    assert "kid" in failing(report)
