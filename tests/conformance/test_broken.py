"""Deliberately broken verifiers (broken/*.py, each with one flaw) are caught, on exactly the cases they should be.

Each runs in this process (`conftest.broken`); one runs as the command it is, to prove the scripts work.
"""

from __future__ import annotations

import sys

import pytest
from citycredit.conformance import Case, Implementation, iter_cases, load_vectors, run_cases, run_vectors

from .conftest import BROKEN, broken, broken_module

CASES = [c for c in iter_cases(load_vectors()) if c.kind != "adapter"]


def failures(implementation: Implementation, cases: list[Case] = CASES) -> set[str]:
    result = run_cases(cases, implementation)
    assert not result.ok
    return {o.case.name for o in result.failures()}


def expecting(*errors: str, only: bool = True) -> set[str]:
    """The cases with a step that must give one of `errors` (and, with `only`, accepts nothing else)."""
    wanted = set(errors)
    return {c.name for c in CASES for s in c.steps
            if (got := set(s.expected["result"].get("error") or [])) & wanted and (not only or got <= wanted)}


def test_skipping_the_expiry_check_is_caught() -> None:
    assert failures(broken("skips_expiry")) == expecting("CC_EXPIRED") == {
        "time/at_expiry_fail", "time/day_after_expiry_fail", "time/zone_offset_expired_fail",
        "time/expired_and_revoked_fail", "presentation/presented_expired_code_fail", "eligibility/code_expired_fail"}


def test_ignoring_the_status_lists_is_caught() -> None:
    found = failures(broken("ignores_status"))
    assert found == expecting("CC_REVOKED", "CC_SUSPENDED") - {"time/expired_and_revoked_fail"}
    assert {"status/index_1_revoked_fail", "status/index_3_reserved_fail", "status/index_beyond_list_fail",
            "status/reinstated_valid", "eligibility/code_suspended_fail"} <= found


def test_trusting_the_codes_algorithm_is_caught() -> None:
    assert failures(broken("any_algorithm")) == {
        "signature/p256_signature_under_ed25519_kid_fail", "signature/ed25519_signature_under_p256_kid_fail",
        "signature/sm2_signature_under_p256_kid_fail", "signature/p256_signature_under_sm2_kid_fail",
        "signature/envelope_names_algorithm_fail"}


def test_ignoring_the_rollback_state_is_caught() -> None:
    """Every refusal that only the state can give, and the held list that only the state keeps."""
    rollbacks = {c.name for c in CASES if c.vector.state and any(
        "CC_BUNDLE_ROLLBACK" in (s.expected["result"].get("error") or []) for s in c.steps)}
    assert failures(broken("ignores_rollback")) == rollbacks | {"status/stale_update_keeps_held_list_valid"}
    assert rollbacks == {"status/list_rollback_fail", "status/list_fork_fail", "trust/city_part_rollback_fail",
                         "trust/timestamp_rollback_fail", "trust/timestamp_fork_fail",
                         "trust/rotation_then_old_root_fail"}


def test_accepting_high_s_is_caught() -> None:
    assert failures(broken("accepts_high_s")) == {"signature/p256_high_s_fail",
                                                  "presentation/device_signature_high_s_fail"}


def test_skipping_the_device_signature_is_caught() -> None:
    assert failures(broken("skips_device_signature")) == expecting("CC_DEVICE_SIGNATURE_INVALID") == {
        "presentation/device_signature_tampered_fail", "presentation/device_signature_other_device_fail",
        "presentation/device_signature_other_time_fail", "presentation/device_signature_high_s_fail",
        "presentation/device_signature_ed25519_tampered_fail", "presentation/device_key_not_a_point_fail"}


def test_the_broken_protocol_without_a_flaw_passes_everything() -> None:
    """So each flaw above is the only thing wrong with its verifier."""
    serve = broken_module("_protocol").serve
    implementation = Implementation(name="no flaw", argv=("-",), main=lambda argv: serve(argv, ()))
    assert run_cases(CASES, implementation).ok


def test_answering_valid_to_everything_fails_every_negative_case() -> None:
    found = failures(broken("always_valid"))
    assert found >= {c.name for c in CASES if c.negative}
    # It cannot name the benefit of an offer it never read, nor refuse the first step of a case that ends
    # well: only those positive cases fail as well.
    extra = {name for name in found if not name.endswith("_fail")}
    assert extra == {c.name for c in CASES if not c.negative and any(
        s.expected["exit"] != 0 or (s.command == "check" and s.expected["result"].get("eligible")) for s in c.steps)}


@pytest.mark.slow
def test_a_broken_script_is_caught_as_a_command() -> None:
    """The same flaw as a subprocess (what `conformance run --cmd` does), on a few cases of the time layer."""
    names = {"time/at_expiry_fail", "time/last_second_valid", "time/before_issue_fail", "time/zone_offset_expired_fail"}
    command = Implementation(name="skips_expiry", argv=(sys.executable, str(BROKEN / "skips_expiry.py")))
    assert failures(command, [c for c in CASES if c.name in names]) == {"time/at_expiry_fail",
                                                                         "time/zone_offset_expired_fail"}


def test_a_missing_command_fails_every_case_without_crashing() -> None:
    implementation = Implementation(name="nothing", argv=("/nonexistent/verifier",))
    result = run_vectors(implementation, layers=["time"])
    assert not result.ok
    assert all("cannot run" in o.problems[0] for o in result.outcomes)


def test_a_hanging_implementation_times_out() -> None:
    implementation = Implementation(name="sleeper", argv=(sys.executable, "-c", "import time; time.sleep(30)"),
                                    timeout_s=0.5)
    result = run_vectors(implementation, layers=["time"], jobs=13)
    assert all(o.problems == ["timed out after 0.5 s"] for o in result.outcomes)
