"""Deliberately broken verifiers (broken/*.py, each with one flaw) are caught, by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from citycredit.conformance import Implementation, iter_cases, load_vectors, run_vectors

BROKEN = Path(__file__).parent / "broken"


def run_broken(script: str, layers: list[str]) -> set[str]:
    implementation = Implementation(name=script, argv=(sys.executable, str(BROKEN / f"{script}.py")))
    result = run_vectors(implementation, layers=layers)
    assert not result.ok
    return {o.case.name for o in result.failures()}


def test_skipping_the_expiry_check_is_caught() -> None:
    assert run_broken("skips_expiry", ["time", "eligibility"]) == {
        "time/at_expiry_fail", "time/day_after_expiry_fail", "time/zone_offset_expired_fail"}


def test_ignoring_revocation_is_caught() -> None:
    assert run_broken("ignores_revocation", ["revocation", "eligibility"]) == {
        "revocation/status_index_revoked_fail", "revocation/status_index_high_revoked_fail",
        "revocation/status_index_beyond_list_fail", "revocation/other_city_revoked_fail",
        "revocation/holder_before_cutoff_fail", "eligibility/code_revoked_fail"}


def test_trying_any_algorithm_is_caught() -> None:
    assert run_broken("any_algorithm", ["signature"]) == {
        "signature/p256_signature_under_ed25519_kid_fail", "signature/ed25519_signature_under_p256_kid_fail",
        "signature/envelope_names_algorithm_fail"}


@pytest.mark.slow
def test_answering_valid_to_everything_fails_every_negative_case() -> None:
    layers = ["decode", "signature", "time", "revocation", "bundle", "eligibility"]
    cases = list(iter_cases(load_vectors(), layers))
    failed = run_broken("always_valid", layers)
    assert failed >= {c.name for c in cases if c.negative}
    # It cannot name the benefit of an offer it never read, so only those positive cases fail as well.
    assert {name for name in failed if not name.endswith("_fail")} == {
        c.name for c in cases if c.kind == "check" and c.expected["result"]["eligible"]}


def test_answering_valid_to_everything_is_caught_quickly() -> None:
    negatives = {c.name for c in iter_cases(load_vectors(), ["time"]) if c.negative}
    assert run_broken("always_valid", ["time"]) == negatives == {
        "time/before_issue_fail", "time/at_expiry_fail", "time/day_after_expiry_fail",
        "time/zone_offset_expired_fail", "time/issued_in_future_fail"}


def test_a_missing_command_fails_every_case_without_crashing() -> None:
    implementation = Implementation(name="nothing", argv=("/nonexistent/verifier",))
    result = run_vectors(implementation, layers=["time"])
    assert not result.ok
    assert all("cannot run" in o.problems[0] for o in result.outcomes)


def test_a_hanging_implementation_times_out() -> None:
    implementation = Implementation(name="sleeper", argv=(sys.executable, "-c", "import time; time.sleep(30)"),
                                    timeout_s=0.5)
    result = run_vectors(implementation, layers=["time"], jobs=9)
    assert all(o.problems == ["timed out after 0.5 s"] for o in result.outcomes)
