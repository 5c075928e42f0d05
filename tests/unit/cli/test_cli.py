"""The CLI as a user drives it (SPEC 8.9): issue → verify → check, presentations, exit codes 0/1/2, `--json`,
`--at`, trust and state, and every way input can be bad."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from citycredit import Tier
from citycredit._cli.main import main
from citycredit._demo import DemoHome
from citycredit.core import MAX_TIME_S, Issuer, b45decode, b45encode, city_role, encode_code
from citycredit.testing import InMemoryAlliance

from tests.unit.cli.conftest import Run
from tests.unit.core.codes import claims

# Each demo city's natural input.
CITY_INPUTS = {
    "hangzhou": ["--score", "720"], "quzhou": ["--score", "880"], "wenzhou": ["--score", "660"],
    "jiaxing": ["--score", "700"], "huzhou": ["--score", "700"], "jinhua": ["--score", "700"],
    "ningbo": ["--score", "700"], "fuzhou": ["--score", "760"], "xiamen": ["--score", "690"],
    "huizhou": ["--colour", "green"], "rongcheng": ["--grade", "AA"],
}


def issue(cli, home: Path, city: str, *extra: str) -> str:  # type: ignore[no-untyped-def]
    run = cli("issue", "--home", str(home), "--city", city, *CITY_INPUTS.get(city, []), *extra)
    assert run.code == 0, run.err
    return str(run.out.strip())


def quiet(*argv: str) -> str:
    """The CLI's standard output, outside any test's capture (for module fixtures)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--no-color", *argv]) == 0
    return out.getvalue().strip()


@pytest.fixture(scope="module")
def codes(demo_home: Path) -> dict[str, str]:
    """A few codes of the shared demo home, issued once."""
    home = str(demo_home)
    return {
        "hangzhou": quiet("issue", "--home", home, "--city", "hangzhou", "--score", "720", "--ttl-s", "600"),
        "hangzhou-for-quzhou": quiet("issue", "--home", home, "--city", "hangzhou", "--score", "720", "--for",
                                     "quzhou", "--ttl-s", "600"),
        "jiaxing-for-quzhou": quiet("issue", "--home", home, "--city", "jiaxing", "--score", "720", "--for", "330800"),
        "wenzhou": quiet("issue", "--home", home, "--city", "wenzhou", "--score", "660"),
    }


# --- issue and verify ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("city", sorted(CITY_INPUTS))
def test_every_demo_city_issues_codes_that_verify(cli, demo_home: Path, city: str) -> None:  # type: ignore[no-untyped-def]
    alg = "p256" if city in ("quzhou", "huizhou") else "ed25519"
    code = issue(cli, demo_home, city, "--alg", alg)
    assert code.startswith("CC1:")
    run = cli("verify", code, "--home", str(demo_home), "--json")
    assert run.code == 0, run.out
    doc = run.json()
    assert doc["valid"] is True and doc["error"] is None and doc["audience"] == doc["city"]
    assert len(doc["city"]) == 6 and doc["tier"] and doc["band"] and doc["expires_at"].endswith("Z")


def test_issue_json_and_a_huizhou_colour_alone(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    run = cli("issue", "--home", str(demo_home), "--city", "huizhou", "--colour", "green", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert (doc["city"], doc["audience"], doc["tier"], doc["band"]) == ("441300", "441300", "EXCELLENT", "惠信码·绿码")
    assert doc["device_bound"] is False and 0 <= doc["status_index"] < 131072
    contradiction = cli("issue", "--home", str(demo_home), "--city", "huizhou", "--colour", "green", "--bad-record")
    assert contradiction.code == 2 and "CC_LOCAL_RECORD" in contradiction.err


def test_verify_reads_like_a_verdict(cli, demo_home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    run = cli("verify", codes["hangzhou-for-quzhou"], "--home", str(demo_home))
    assert run.code == 0
    for text in ("VALID", "330100 杭州 Hangzhou", "EXCELLENT (优秀)", "钱江分·优秀", "for          330800"):
        assert text in run.out, text


def test_the_global_json_flag_is_the_local_one(cli, demo_home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    assert cli("--json", "verify", codes["wenzhou"], "--home", str(demo_home)).json() == \
        cli("verify", codes["wenzhou"], "--home", str(demo_home), "--json").json()


def test_time_travel_with_at(cli, demo_home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    code = codes["hangzhou"]
    expires = datetime.fromisoformat(cli("verify", code, "--home", str(demo_home), "--json").json()["expires_at"])
    late = cli("verify", code, "--home", str(demo_home), "--json", "--at", expires.isoformat())
    assert late.code == 1 and late.json()["error"]["code"] == "CC_EXPIRED"
    inside = (expires - timedelta(seconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert cli("verify", code, "--home", str(demo_home), "--at", inside).code == 0
    early = cli("verify", code, "--home", str(demo_home), "--json", "--at",
                (expires - timedelta(hours=1)).isoformat())
    assert early.code == 1 and early.json()["error"]["code"] == "CC_NOT_YET_VALID"
    local = (expires - timedelta(seconds=5)).astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert cli("verify", code, "--home", str(demo_home), "--at", local).code == 0


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda c: "CC1:" + b45encode(b45decode(c[4:])[:-1] + bytes([b45decode(c[4:])[-1] ^ 1])), "CC_SIGNATURE_INVALID"),
    (lambda c: "CC2:" + c[4:], "CC_PREFIX"),
    (lambda c: c + "~", "CC_BASE45"),
    (lambda c: c + "A" * 1024, "CC_TOO_LONG"),
    (lambda c: "CC1:" + b45encode(b45decode(c[4:])[:-5]), "CC_MALFORMED"),
    (lambda c: " " + c, "CC_PREFIX"),
])
def test_broken_codes_are_a_negative_verdict_naming_why(cli, demo_home: Path, codes: dict[str, str], mutate,  # type: ignore[no-untyped-def]
                                                        expected: str) -> None:
    run = cli("verify", mutate(codes["wenzhou"]), "--home", str(demo_home), "--json")
    assert run.code == 1
    assert run.json()["valid"] is False and run.json()["error"]["code"] == expected


def test_a_line_ending_is_the_only_thing_stripped(cli, demo_home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for ending in ("\n", "\r\n"):
        assert cli("verify", codes["wenzhou"] + ending, "--home", str(demo_home)).code == 0
    assert cli("verify", codes["wenzhou"] + " ", "--home", str(demo_home)).code == 1


def test_a_code_of_another_alliance_has_an_unknown_kid(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    stranger = InMemoryAlliance(now_s=int(time.time()))
    run = cli("verify", stranger.issue(330100).code, "--home", str(demo_home), "--json")
    assert run.code == 1 and run.json()["error"]["code"] == "CC_KEY_UNKNOWN"


def test_a_code_expiring_in_9999_verifies_without_a_traceback(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    with DemoHome(demo_home).city("hangzhou") as office:
        key = office.keystore.signer(office.code_keys[0].name)
        code = encode_code(claims(issued_at=now - 5, expires_at=MAX_TIME_S, status_index=3), key)
    run = cli("verify", code, "--home", str(demo_home), "--json")
    assert run.code == 0 and run.json()["expires_at"] == "9999-12-31T23:59:59Z"
    human = cli("verify", code, "--home", str(demo_home))
    assert human.code == 0 and "9999-12-31T23:59:59Z" in human.out and "Traceback" not in human.err


# --- check ------------------------------------------------------------------------------------------------


def test_check_exit_codes_and_reasons(cli, demo_home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    home = str(demo_home)
    yes = cli("check", codes["hangzhou-for-quzhou"], "--home", home, "--offer", "quzhou-parking-discount-10")
    assert yes.code == 0 and "ELIGIBLE" in yes.out and "same-city treatment (hangzhou-quzhou)" in yes.out
    doc = cli("check", codes["jiaxing-for-quzhou"], "--home", home, "--offer", "quzhou-parking-discount-10",
              "--json")
    assert doc.code == 1 and doc.json()["reason"] == "NO_AGREEMENT" and list(doc.json()) == [
        "eligible", "reason", "offer", "tier", "treated_as_local", "agreement", "quota_remaining", "benefit",
        "benefit_en", "detail", "error"]
    wrong = cli("check", codes["hangzhou"], "--home", home, "--offer", "quzhou-parking-discount-10", "--json")
    assert wrong.code == 1 and wrong.json()["reason"] == "WRONG_AUDIENCE"
    unknown = cli("check", codes["hangzhou"], "--home", home, "--offer", "no-such-offer", "--json")
    assert unknown.code == 2 and unknown.json()["reason"] == "OFFER_UNKNOWN"
    garbage = cli("check", "CC1:BB8", "--home", home, "--offer", "quzhou-parking-discount-10", "--json")
    assert garbage.code == 1 and garbage.json()["reason"] == "CODE_INVALID"
    later = cli("check", codes["hangzhou-for-quzhou"], "--home", home, "--offer", "quzhou-parking-discount-10",
                "--json", "--at", (datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert later.code == 1 and later.json()["reason"] == "CODE_EXPIRED"


def test_a_trust_set_that_cannot_judge_is_bad_input(cli, home: Path, codes: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    stale = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    run = cli("check", codes["hangzhou-for-quzhou"], "--home", str(home), "--offer", "quzhou-parking-discount-10",
              "--json", "--at", stale)
    assert run.code == 2
    assert run.json() == {"eligible": False, "reason": None, "offer": "quzhou-parking-discount-10", "tier": None,
                          "treated_as_local": False, "benefit": None, "error": "CC_BUNDLE_STALE"}
    verify = cli("verify", codes["hangzhou"], "--home", str(home), "--json", "--at", stale)
    assert verify.code == 2 and verify.json()["error"]["code"] == "CC_BUNDLE_STALE"
    (home / "repository" / "status" / "330100.pb").write_bytes(b"\xff\xff")
    refused = cli("verify", codes["hangzhou"], "--home", str(home), "--json")
    assert refused.code == 2 and refused.json()["error"]["code"] == "CC_BUNDLE_MALFORMED"


# --- presentations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["p256", "ed25519"])
def test_a_device_bound_code_is_shown_in_presentations(cli, demo_home: Path, tmp_path: Path, alg: str) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "phone.key"
    made = cli("holder", "device-key", "--out", str(key), "--alg", alg)
    assert made.code == 0 and alg in made.out
    assert os.stat(key).st_mode & 0o777 == 0o600
    public = json.loads((tmp_path / "phone.key.pub").read_text())
    assert public["format"] == "citycredit-device-key/1" and public["algorithm"] == alg
    again = cli("holder", "device-key", "--out", str(key))
    assert again.code == 2 and "refusing to overwrite" in again.err
    home = str(demo_home)
    bound = issue(cli, demo_home, "hangzhou", "--for", "quzhou", "--device-key", str(tmp_path / "phone.key.pub"))
    bare = cli("verify", bound, "--home", home, "--json")
    assert bare.code == 1 and bare.json()["error"]["code"] == "CC_DEVICE_PROOF_REQUIRED"
    shown = cli("present", bound, "--device-key", str(key))
    assert shown.code == 0 and shown.out.startswith("CP1:")
    presentation = shown.out.strip()
    verified = cli("verify", presentation, "--home", home, "--json")
    assert verified.code == 0 and verified.json()["device_bound"] is True and verified.json()["audience"] == "330800"
    assert "presented by the holder's device" in cli("verify", presentation, "--home", home).out
    decision = cli("check", presentation, "--home", home, "--offer", "quzhou-parking-discount-10", "--json")
    assert decision.code == 0 and decision.json()["eligible"] is True
    other_key = tmp_path / "other.key"
    cli("holder", "device-key", "--out", str(other_key), "--alg", alg)
    forged = cli("verify", cli("present", bound, "--device-key", str(other_key)).out.strip(), "--home", home, "--json")
    assert forged.code == 1 and forged.json()["error"]["code"] == "CC_DEVICE_SIGNATURE_INVALID"


def test_presentations_go_stale_and_are_refused_when_replayed(cli, demo_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "phone.key"
    cli("holder", "device-key", "--out", str(key))
    bound = issue(cli, demo_home, "quzhou", "--device-key", str(tmp_path / "phone.key.pub"))
    at = datetime.now(UTC).replace(microsecond=0)
    presentation = cli("present", bound, "--device-key", str(key), "--at", at.isoformat()).out.strip()
    home = str(demo_home)
    ok = cli("verify", presentation, "--home", home, "--at", (at + timedelta(seconds=30)).isoformat())
    assert ok.code == 0
    stale = cli("verify", presentation, "--home", home, "--json", "--at", (at + timedelta(seconds=31)).isoformat())
    assert stale.code == 1 and stale.json()["error"]["code"] == "CC_PRESENTATION_STALE"
    state = tmp_path / "till"
    first = cli("verify", presentation, "--home", home, "--state", str(state), "--venue", "east-gate")
    assert first.code == 0
    replayed = cli("verify", presentation, "--home", home, "--state", str(state), "--venue", "east-gate", "--json")
    assert replayed.code == 1 and replayed.json()["error"]["code"] == "CC_PRESENTATION_REPLAYED"
    assert cli("verify", presentation, "--home", home, "--state", str(state), "--venue", "west-gate").code == 0


def test_device_keys_of_other_algorithms_are_refused_as_bad_input(cli, demo_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from citycredit.core import Algorithm, SigningKey

    sm2 = SigningKey.generate(Algorithm.SM2)
    (tmp_path / "sm2.pub").write_text(json.dumps({"format": "citycredit-device-key/1", "algorithm": "sm2",
                                                  "spki": sm2.spki.hex()}))
    (tmp_path / "sm2.key").write_bytes(sm2.to_pem())
    run = cli("issue", "--home", str(demo_home), "--city", "hangzhou", "--score", "720", "--device-key",
              str(tmp_path / "sm2.pub"))
    assert run.code == 2 and "CC_INVALID_ARGUMENT" in run.err and "Traceback" not in run.err
    code = issue(cli, demo_home, "hangzhou")
    shown = cli("present", code, "--device-key", str(tmp_path / "sm2.key"))
    assert shown.code == 2 and "CC_INVALID_ARGUMENT" in shown.err and "Traceback" not in shown.err


# --- the city office's status changes ---------------------------------------------------------------------


def test_revoke_suspend_reinstate_and_their_repetition(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    def status(code: str) -> str | None:
        doc = cli("verify", code, "--home", str(home), "--json").json()
        return None if doc["valid"] else doc["error"]["code"]  # type: ignore[no-any-return]

    code, keep = issue(cli, home, "xiamen"), issue(cli, home, "xiamen")
    suspended = cli("suspend", code, "--home", str(home), "--city", "xiamen", "--json")
    assert suspended.code == 0 and suspended.json()["changed"] == 1 and suspended.json()["status"] == "SUSPENDED"
    assert status(code) == "CC_SUSPENDED" and status(keep) is None
    revoked = cli("revoke", code, "--home", str(home), "--city", "xiamen")
    assert revoked.code == 0 and "revoked 1 code(s)" in revoked.out
    version = cli("trust", "show", "--home", str(home), "--json").json()
    assert status(code) == "CC_REVOKED"
    again = cli("revoke", code, "--home", str(home), "--city", "xiamen")
    assert again.code == 0 and "already revoked: nothing changed and nothing was published" in again.out
    assert cli("trust", "show", "--home", str(home), "--json").json() == version  # nothing was signed
    reinstated = cli("reinstate", code, "--home", str(home), "--city", "xiamen", "--json")
    assert reinstated.code == 0 and reinstated.json()["changed"] == 1
    assert status(code) is None and status(keep) is None


def test_holder_wide_status_changes(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    mine = [issue(cli, home, "fuzhou", "--holder", "fz-42"), issue(cli, home, "fuzhou", "--holder", "fz-42")]
    theirs = issue(cli, home, "fuzhou", "--holder", "fz-43")
    run = cli("suspend", mine[0], "--home", str(home), "--city", "fuzhou", "--holder", "--json")
    assert run.code == 0 and run.json()["changed"] == 2
    for code in mine:
        assert cli("verify", code, "--home", str(home), "--json").json()["error"]["code"] == "CC_SUSPENDED"
    assert cli("verify", theirs, "--home", str(home)).code == 0
    assert cli("reinstate", mine[1], "--home", str(home), "--city", "fuzhou", "--holder").code == 0
    assert all(cli("verify", code, "--home", str(home)).code == 0 for code in mine)


def test_a_forged_code_cannot_revoke_anything(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    genuine = issue(cli, home, "hangzhou")
    stranger = InMemoryAlliance(now_s=int(time.time()))
    forged = Issuer(city=330100, key=stranger.keys[(330100, stranger.issuer(330100).key.algorithm)],
                    pseudonym=stranger.issuer(330100).pseudonym).issue(holder_ref="x", tier=Tier.GOOD, band="",
                                                                       now_s=int(time.time())).code
    run = cli("revoke", forged, "--home", str(home), "--city", "hangzhou")
    assert run.code == 2 and "CC_PERMISSION_DENIED" in run.err
    foreign = cli("revoke", genuine, "--home", str(home), "--city", "quzhou")  # another office's own code
    assert foreign.code == 2 and "CC_PERMISSION_DENIED" in foreign.err
    assert cli("verify", genuine, "--home", str(home)).code == 0


# --- keys, offers, trust --------------------------------------------------------------------------------


def test_keys_new_and_retire(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    before = cli("trust", "show", "--home", str(home), "--json").json()
    run = cli("keys", "new", "--home", str(home), "--city", "quzhou", "--alg", "p256", "--json")
    assert run.code == 0, run.err
    kid = run.json()["kid"]
    after = cli("trust", "show", "--home", str(home), "--json").json()
    quzhou = next(c for c in after["cities"] if c["slug"] == "quzhou")
    assert quzhou["keys"] == 3 and quzhou["version"] == 2 and after["versions"]["snapshot"] > before["versions"][
        "snapshot"]
    code = issue(cli, home, "quzhou", "--alg", "p256")
    assert cli("verify", code, "--home", str(home)).code == 0
    before_retiring = int(time.time())
    retired = cli("keys", "retire", kid, "--home", str(home), "--city", "quzhou", "--json")
    assert retired.code == 0 and retired.json()["not_after_s"] > before_retiring  # after the current second
    assert cli("verify", code, "--home", str(home)).code == 0  # issued inside the window
    for bad in ("nothex", "00" * 7, "00" * 8):
        assert cli("keys", "retire", bad, "--home", str(home), "--city", "quzhou").code == 2


def test_an_sm2_key_from_the_cli(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("keys", "new", "--home", str(home), "--city", "hangzhou", "--alg", "sm2").code == 0
    code = issue(cli, home, "hangzhou", "--alg", "sm2")
    assert cli("verify", code, "--home", str(home), "--json").json()["tier"] == "EXCELLENT"


def test_offers_listed_published_and_withdrawn(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    listed = cli("offers", "--home", str(home), "--city", "quzhou", "--json")
    assert listed.code == 0 and {o["city"] for o in listed.json()} == {"330800"}
    human = cli("offers", "list", "--home", str(home), "--city", "330800")
    assert "quzhou-parking-free-3" in human.out and "3 per month" in human.out and "6 offer(s)" in human.out
    offer = dict(listed.json()[0], id="quzhou-new-offer")
    (tmp_path / "offer.json").write_text(json.dumps(offer, ensure_ascii=False))
    assert cli("offers", "publish", str(tmp_path / "offer.json"), "--home", str(home), "--city", "quzhou").code == 0
    ids = {o["id"] for o in cli("offers", "--home", str(home), "--json").json()}
    assert "quzhou-new-offer" in ids
    assert cli("offers", "withdraw", "quzhou-new-offer", "--home", str(home), "--city", "quzhou").code == 0
    assert "quzhou-new-offer" not in {o["id"] for o in cli("offers", "--home", str(home), "--json").json()}
    foreign = cli("offers", "publish", str(tmp_path / "offer.json"), "--home", str(home), "--city", "hangzhou")
    assert foreign.code == 2 and "CC_PERMISSION_DENIED" in foreign.err


def test_trust_show(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    run = cli("trust", "show", "--home", str(demo_home))
    assert run.code == 0 and "governance   2 of 3 keys" in run.out and "330100       hangzhou 杭州" in run.out
    doc = cli("trust", "show", "--home", str(demo_home), "--json").json()
    assert len(doc["cities"]) == 11 and doc["versions"]["root"] == 1 and "hangzhou-quzhou" in doc["agreements"]
    assert all(c["status_list_version"] >= 1 for c in doc["cities"])


def test_a_trust_directory_with_its_anchor_and_rollback_state(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    merchant = tmp_path / "merchant"
    old = merchant / "old"
    shutil.copytree(home / "repository", old)
    (old / "anchor.json").write_bytes((home / "anchor.json").read_bytes())
    code = issue(cli, home, "jinhua")
    state = merchant / "state"
    assert cli("verify", code, "--trust", str(old), "--state", str(state)).code == 0
    assert cli("keys", "new", "--home", str(home), "--city", "jinhua").code == 0  # a newer trust set
    assert cli("verify", code, "--trust", str(home / "repository"), "--anchor", str(home / "anchor.json"),
               "--state", str(state)).code == 0
    rollback = cli("verify", code, "--trust", str(old), "--state", str(state), "--json")
    assert rollback.code == 2 and rollback.json()["error"]["code"] == "CC_BUNDLE_ROLLBACK"
    assert cli("verify", code, "--trust", str(old)).code == 0  # without the state nothing says it is old


def test_a_stale_list_of_one_city_stops_only_that_city(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    hangzhou = issue(cli, home, "hangzhou", "--ttl-s", str(5 * 86400))
    quzhou = issue(cli, home, "quzhou", "--ttl-s", str(5 * 86400))
    # Four days on, every list signed at the demo's start is past its day and the three-day grace; Quzhou has
    # signed a new one, and the gateway (played by the demo) has renewed the snapshot and timestamp.
    later = int(time.time()) + 4 * 86400
    demo = DemoHome(home)
    with demo.city("quzhou") as office:
        update, _, _ = office.status_update(now_s=later - 3600, renew_before_s=10**9)
        role, files, _ = office.signed_role(now_s=later)
    demo.publish_local(now_s=later, roles={city_role(330800): role}, files=files, status_lists={330800: update})
    at = datetime.fromtimestamp(later, UTC).isoformat()
    q = cli("verify", quzhou, "--home", str(home), "--json", "--at", at)
    h = cli("verify", hangzhou, "--home", str(home), "--json", "--at", at)
    assert q.code == 0 and q.json()["city"] == "330800"
    assert h.code == 2 and h.json()["error"]["code"] == "CC_BUNDLE_STALE"
    trust = home / "merchant"  # the same with a plain trust directory and a state
    shutil.copytree(home / "repository", trust)
    (trust / "anchor.json").write_bytes((home / "anchor.json").read_bytes())
    assert cli("verify", quzhou, "--trust", str(trust), "--at", at, "--state", str(home / "state")).code == 0
    assert cli("verify", hangzhou, "--trust", str(trust), "--at", at, "--state", str(home / "state")).code == 2


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["verify", "CC1:BB8", "--home", "/nonexistent/citycredit"],
    ["verify", "CC1:BB8", "--home", "{home}", "--at", "yesterday"],
    ["verify", "CC1:BB8", "--home", "{home}", "--at", "2026-11-22T10:00:00"],
    ["verify", "CC1:BB8", "--home", "{home}", "--at", "10000-01-01T00:00:00Z"],
    ["verify", "CC1:BB8"],
    ["verify", "CC1:BB8", "--home", "{home}", "--trust", "{home}/repository"],
    ["verify", "CC1:BB8", "--gateway", "http://127.0.0.1:9"],
    ["issue", "--home", "{home}", "--city", "atlantis", "--score", "700"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "1001"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "-5"],
    ["issue", "--home", "{home}", "--city", "huizhou", "--colour", "purple"],
    ["issue", "--home", "{home}", "--city", "rongcheng", "--grade", "Z"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "700", "--ttl-s", "0"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "seven hundred"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "700", "--for", "atlantis"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "700", "--device-key", "/nonexistent"],
    ["issue", "--home", "{home}", "--city", "hangzhou"],
    ["present", "CC1:BB8", "--device-key", "/nonexistent"],
    ["revoke", "CC1:BB8", "--home", "{home}", "--city", "hangzhou"],
    ["revoke", "CC1:BB8", "--home", "{home}"],
    ["keys", "retire", "00", "--home", "{home}", "--city", "hangzhou"],
    ["check", "CC1:BB8", "--home", "{home}"],
    ["trust", "show", "--home", "/nonexistent/citycredit"],
    ["governance", "show", "/nonexistent/proposal.json"],
    ["nonsense"],
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(cli, demo_home: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    run = cli(*[a.replace("{home}", str(demo_home)) for a in argv])
    assert run.code == 2, (argv, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    assert "error CC_" in run.err


# --- the terminal and the process -------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output is a pipe whose reader went away: exit as SIGPIPE would (128 + 13), no traceback."""
    read, write = os.pipe()
    os.close(read)
    stdout = open(write, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed below, after main
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["--no-color", "offers", "--home", str(demo_home)]) == 141
        print("the interpreter's own last flush cannot fail either", file=stdout)  # fd now points at /dev/null
    finally:
        stdout.close()


def test_offers_piped_into_head_ends_without_a_traceback(demo_home: Path) -> None:
    citycredit = Path(sys.executable).parent / "citycredit"
    run = subprocess.run(["bash", "-c", f'"{citycredit}" offers --home "{demo_home}" | head -1; '
                                        'echo "exit=${PIPESTATUS[0]}" >&2'],
                         capture_output=True, text=True, timeout=120)
    assert len(run.stdout.splitlines()) == 1
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] in ("exit=141", "exit=0")


def test_the_installed_entry_point_runs(demo_home: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "citycredit._cli", "trust", "show", "--home", str(demo_home)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "governance" in run.stdout
    version = subprocess.run([sys.executable, "-m", "citycredit", "--version"], capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("citycredit ")


def test_qr_output(cli, demo_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import zxingcpp
    from PIL import Image

    png, svg = tmp_path / "code.png", tmp_path / "code.svg"
    code = issue(cli, demo_home, "huizhou", "--qr", str(png))
    issue(cli, demo_home, "huizhou", "--qr", str(svg))
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [code]
    bad = cli("issue", "--home", str(demo_home), "--city", "huizhou", "--colour", "blue", "--qr",
              str(tmp_path / "code.gif"))
    assert bad.code == 2


def test_the_conformance_adapter_check(cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("conformance", "adapter", "hangzhou")
    assert run.code == 0, run.err + run.out


@pytest.mark.slow
def test_demo_init_is_idempotent_and_never_overwrites(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    made = cli("demo", "init", "--dir", str(home))
    assert made.code == 0 and "demo alliance created" in made.out and "next: citycredit issue" in made.out
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    again = cli("demo", "init", "--dir", str(home))
    assert again.code == 0 and "nothing changed" in again.out
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in (home / "passphrases.json", home / "credentials.json"))
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "somekey.pem").write_text("mine")
    refused = cli("demo", "init", "--dir", str(stray))
    assert refused.code == 2 and "refusing" in refused.err and (stray / "somekey.pem").read_text() == "mine"


def test_run_objects_decode_json() -> None:
    assert Run(0, '{"a": 1}', "").json() == {"a": 1}
