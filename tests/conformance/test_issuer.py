"""Issuer conformance: a conforming issuer passes; a code outliving the policy, a wrong mapping or a key the
trust set does not list fails. The reference issuer (`citycredit issue --home D`) passes too (slow: it opens
its encrypted key store for every code)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from citycredit._trustdir import write_trust_dir
from citycredit.adapters import load_registry
from citycredit.conformance import IssuerPolicy, check_issuer
from citycredit.core import Algorithm
from citycredit.testing import InMemoryAlliance

from .fake_issuer import issue

FAKE = Path(__file__).parent / "fake_issuer.py"
CODE_CHECKS = {"format", "size", "kid", "verifies", "claims", "expiry policy", "code ids", "status indexes"}


def trust_set(directory: Path) -> InMemoryAlliance:
    """An alliance in memory (Hangzhou, Quzhou, Huizhou), its trust set written in the served layout."""
    alliance = InMemoryAlliance(now_s=int(time.time()), cities=((330100, "hangzhou", "杭州", "Hangzhou"),
                                                                (330800, "quzhou", "衢州", "Quzhou"),
                                                                (441300, "huizhou", "惠州", "Huizhou")))
    assert alliance.repository is not None
    write_trust_dir(directory, alliance.repository, alliance.status_lists)
    (directory / "anchor.json").write_bytes(alliance.anchor.data)
    return alliance


@pytest.fixture(scope="module")
def issuers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, list[str]]]:
    """The trust set, and an issuing command per city holding its key and pseudonym secret."""
    base = tmp_path_factory.mktemp("issuer")
    alliance = trust_set(base / "trust")
    commands = {}
    for city in (330100, 441300):
        (base / f"{city}.pem").write_bytes(alliance.keys[(city, Algorithm.ED25519)].to_pem())
        (base / f"{city}.secret").write_bytes(alliance.secrets[city])
        commands[city] = [sys.executable, str(FAKE), str(base / f"{city}.pem"), str(base / f"{city}.secret")]
    return base / "trust", commands


@pytest.fixture(scope="module")
def city(issuers: tuple[Path, dict[int, list[str]]]) -> tuple[Path, list[str]]:
    """Hangzhou's issuer."""
    return issuers[0], issuers[1][330100]


def in_process(argv: list[str]) -> tuple[int, str, str]:
    """The fake issuer called in this process (argv as the check builds it: the command, then its arguments)."""
    return issue(argv[2:])


def failing(report) -> dict[str, str]:
    return {c.name: c.why for c in report.checks if not c.ok}


def test_a_conforming_issuer_passes(city: tuple[Path, list[str]]) -> None:
    trust, command = city
    report = check_issuer(command, city="hangzhou", trust=trust, call=in_process)
    assert failing(report) == {}
    assert {c.name for c in report.checks} >= CODE_CHECKS
    assert any(c.name.endswith("_fail") and c.why == "refused" for c in report.checks)
    assert ("trust set", "snapshot version 1") in report.facts


def test_codes_outliving_the_policy_fail(city: tuple[Path, list[str]]) -> None:
    trust, command = city
    report = check_issuer([*command, "--ttl-s", "3600"], city="hangzhou", trust=trust,
                          policy=IssuerPolicy(max_ttl_s=300), call=in_process)
    assert set(failing(report)) == {"expiry policy"}
    assert "lifetime 3600 s" in failing(report)["expiry policy"]


def test_an_issuer_whose_mapping_differs_from_the_scheme_fails(city: tuple[Path, list[str]], tmp_path: Path) -> None:
    trust, command = city
    doc = copy.deepcopy(dict(load_registry().resolve_city("hangzhou").document))
    doc["version"] = 2
    doc["bands"][3]["from"] = 690  # the city says EXCELLENT starts at 690; the issuer still uses 700
    scheme = tmp_path / "hangzhou.json"
    scheme.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = check_issuer(command, city="hangzhou", trust=trust, scheme_file=scheme, call=in_process)
    assert set(failing(report)) == {"score_690"}
    assert "GOOD" in failing(report)["score_690"]


def test_a_trust_set_without_the_citys_key_fails_the_kid_check(city: tuple[Path, list[str]], tmp_path: Path) -> None:
    _, command = city
    trust_set(tmp_path / "other")  # the same cities with other keys
    report = check_issuer(command, city="hangzhou", trust=tmp_path / "other", call=in_process)
    assert {"kid", "verifies"} <= set(failing(report))
    assert "is not in the keys part of 330100" in failing(report)["kid"]


def test_a_trust_set_that_cannot_be_opened_is_a_setup_failure(city: tuple[Path, list[str]], tmp_path: Path) -> None:
    _, command = city
    report = check_issuer(command, city="hangzhou", trust=tmp_path / "nothing", call=in_process)
    assert set(failing(report)) == {"scheme and trust set"}


@pytest.mark.slow
def test_cli_issuer_command(issuers: tuple[Path, dict[int, list[str]]], tmp_path: Path) -> None:
    """The issuer as the command it is, through `citycredit conformance issuer` (Huizhou: few records, with flags)."""
    trust, commands = issuers
    command = commands[441300]
    report = tmp_path / "issuer.html"
    proc = subprocess.run([sys.executable, "-m", "citycredit._cli", "--json", "conformance", "issuer", "--cmd",
                           " ".join(command), "--city", "huizhou", "--trust", str(trust), "--report", str(report)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    assert "PASS" in report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_reference_issuer_passes(tmp_path: Path) -> None:
    from citycredit._cli.main import main

    home = tmp_path / "demo"
    assert main(["demo", "init", "--dir", str(home)]) == 0
    reference = [sys.executable, "-m", "citycredit._cli", "--json", "issue", "--home", str(home)]
    # Huizhou: a colour scheme with flags (--honours, --bad-record), and few records to issue for.
    report = check_issuer(reference, city="huizhou", trust=home / "repository")
    assert failing(report) == {}
    assert {c.name for c in report.checks} >= CODE_CHECKS
