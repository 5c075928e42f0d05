"""Known failures are data with reasons; one that starts passing is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from citycredit.conformance import Implementation, load_known_failures, run_vectors

from .conftest import broken


def write_known(path: Path, entries: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps({"format": "citycredit-known-failures/1", "failures": entries}))
    return path


def test_the_shipped_file_is_valid_and_every_entry_has_a_reason() -> None:
    # The reference fails no vector today, so the shipped file lists nothing; it must still load.
    known = load_known_failures()
    assert all(reason.strip() for reason in known.values())


def test_a_known_failure_that_still_fails_is_not_an_error(tmp_path: Path) -> None:
    known = load_known_failures(write_known(tmp_path / "k.json", [
        {"case": "time/at_expiry_fail", "reason": "expiry is not checked yet"},
        {"case": "time/day_after_expiry_fail", "reason": "expiry is not checked yet"},
        {"case": "time/zone_offset_expired_fail", "reason": "expiry is not checked yet"},
        {"case": "time/expired_and_revoked_fail", "reason": "expiry is not checked yet"}]))
    result = run_vectors(broken("skips_expiry"), layers=["time"], known_failures=known)
    assert result.ok
    assert {o.case.name for o in result.outcomes if o.status == "known"} == set(known)


def test_a_known_failure_that_passes_is_an_error(tmp_path: Path, reference: Implementation) -> None:
    known = load_known_failures(write_known(tmp_path / "k.json", [
        {"case": "time/at_expiry_fail", "reason": "thought broken"}]))
    result = run_vectors(reference, layers=["time"], known_failures=known)
    assert not result.ok
    [fixed] = [o for o in result.outcomes if o.status == "fixed"]
    assert fixed.case.name == "time/at_expiry_fail" and "remove it" in fixed.problems[0]


def test_a_known_failure_naming_no_case_is_reported(reference: Implementation) -> None:
    known = {"time/no_such_case_fail": "gone"}
    result = run_vectors(reference, layers=["time"], known_failures=known)
    assert result.stale_known_failures == ["time/no_such_case_fail"] and not result.ok


def test_a_known_failure_without_a_reason_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        load_known_failures(write_known(tmp_path / "k.json", [{"case": "time/at_expiry_fail", "reason": " "}]))
