"""The CLI as a user drives it: issue → verify → check, and every way input can be bad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from citycredit.core import b45decode, b45encode

# Each demo city's natural input.
CITY_INPUTS = {
    "hangzhou": ["--score", "720"], "quzhou": ["--score", "880"], "wenzhou": ["--score", "660"],
    "jiaxing": ["--score", "700"], "huzhou": ["--score", "700"], "jinhua": ["--score", "700"],
    "ningbo": ["--score", "700"], "fuzhou": ["--score", "760"], "xiamen": ["--score", "690"],
    "huizhou": ["--colour", "green", "--honours"], "rongcheng": ["--grade", "AA"],
}


def issue(cli, home: Path, city: str, *extra: str) -> str:  # type: ignore[no-untyped-def]
    run = cli("issue", "--home", str(home), "--city", city, *CITY_INPUTS.get(city, []), *extra)
    assert run.code == 0, run.err
    return str(run.out.strip())


@pytest.mark.parametrize("alg", ["ed25519", "p256"])
@pytest.mark.parametrize("city", sorted(CITY_INPUTS))
def test_issue_verify_round_trip(cli, demo_home: Path, city: str, alg: str) -> None:  # type: ignore[no-untyped-def]
    code = issue(cli, demo_home, city, "--alg", alg)
    assert code.startswith("CC1:")
    run = cli("verify", code, "--home", str(demo_home), "--json")
    assert run.code == 0, run.out
    doc = run.json()
    assert doc["valid"] is True and doc["error"] is None
    assert len(doc["city"]) == 6 and doc["tier"] and doc["band"] and doc["expires_at"].endswith("Z")


def test_verify_is_readable_without_json(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    run = cli("verify", issue(cli, demo_home, "hangzhou"), "--home", str(demo_home))
    assert run.code == 0
    assert "VALID" in run.out and "330100" in run.out and "EXCELLENT" in run.out and "钱江分·优秀" in run.out


def test_global_json_flag_is_the_same_as_the_local_one(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    code = issue(cli, demo_home, "quzhou")
    assert cli("--json", "verify", code, "--home", str(demo_home)).json()["tier"] == \
        cli("verify", code, "--home", str(demo_home), "--json").json()["tier"]


def test_time_travel_with_at(cli, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    code = issue(cli, demo_home, "hangzhou", "--ttl-s", "60")
    doc = cli("verify", code, "--home", str(demo_home), "--json").json()
    from datetime import datetime, timedelta

    expires = datetime.fromisoformat(doc["expires_at"].replace("Z", "+00:00"))
    late = cli("verify", code, "--home", str(demo_home), "--json", "--at", (expires + timedelta(seconds=1)).isoformat())
    assert late.code == 1 and late.json()["error"]["code"] == "CC_EXPIRED"
    early = cli("verify", code, "--home", str(demo_home), "--json", "--at",
                (expires - timedelta(seconds=3600)).isoformat())
    assert early.code == 1 and early.json()["error"]["code"] == "CC_NOT_YET_VALID"


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda c: "CC1:" + b45encode(b45decode(c[4:])[:-1] + bytes([b45decode(c[4:])[-1] ^ 1])), "CC_SIGNATURE_INVALID"),
    (lambda c: "CC2:" + c[4:], "CC_PREFIX"),
    (lambda c: c + "~", "CC_BASE45"),
    (lambda c: c + "A" * 1024, "CC_TOO_LONG"),
    (lambda c: "CC1:" + b45encode(b45decode(c[4:])[:-5]), "CC_MALFORMED"),
])
def test_broken_codes_are_invalid_with_their_code(cli, demo_home: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    run = cli("verify", mutate(issue(cli, demo_home, "wenzhou")), "--home", str(demo_home), "--json")
    assert run.code == 1
    assert run.json()["valid"] is False and run.json()["error"]["code"] == expected


def test_unknown_kid(cli, demo_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "other"
    assert cli("demo", "init", "--dir", str(other)).code == 0
    run = cli("verify", issue(cli, other, "hangzhou"), "--home", str(demo_home), "--json")
    assert run.code == 1 and run.json()["error"]["code"] == "CC_KEY_UNKNOWN"


def test_revocation_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    assert cli("demo", "init", "--dir", str(home)).code == 0
    code, keep = issue(cli, home, "xiamen"), issue(cli, home, "xiamen")
    assert cli("revoke", code, "--home", str(home)).code == 0
    assert cli("verify", code, "--home", str(home), "--json").json()["error"]["code"] == "CC_REVOKED"
    assert cli("verify", keep, "--home", str(home)).code == 0  # live codes never share a status index
    holder = issue(cli, home, "fuzhou", "--holder", "id-42")
    assert cli("revoke", holder, "--home", str(home), "--holder").code == 0
    assert cli("verify", holder, "--home", str(home), "--json").json()["error"]["code"] == "CC_REVOKED"


def test_new_p256_key_published_into_the_bundle(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    assert cli("demo", "init", "--dir", str(home)).code == 0
    before = cli("bundle", "show", "--home", str(home), "--json").json()["version"]
    out = tmp_path / "keys"
    run = cli("keys", "new", "--city", "330800", "--alg", "p256", "--out", str(out), "--home", str(home))
    assert run.code == 0, run.err
    assert len(list(out.glob("*.p256.pem"))) == 1 and len(list(out.glob("*.pub.json"))) == 1
    assert cli("bundle", "show", "--home", str(home), "--json").json()["version"] == before + 1
    code = issue(cli, home, "quzhou", "--alg", "p256")
    assert cli("verify", code, "--home", str(home)).code == 0


def test_sm2_key_from_the_cli_round_trip(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    assert cli("demo", "init", "--dir", str(home)).code == 0
    assert cli("keys", "new", "--city", "hangzhou", "--alg", "sm2", "--home", str(home)).code == 0
    code = issue(cli, home, "hangzhou", "--alg", "sm2")
    assert cli("verify", code, "--home", str(home), "--json").json()["tier"] == "EXCELLENT"


def test_keys_new_refuses_to_overwrite(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import citycredit.core as keys

    fixed = keys.SigningKey.generate()
    monkeypatch.setattr(keys.SigningKey, "generate", classmethod(lambda cls, alg=None: fixed))
    assert cli("keys", "new", "--city", "hangzhou", "--out", str(tmp_path)).code == 0
    again = cli("keys", "new", "--city", "hangzhou", "--out", str(tmp_path))
    assert again.code == 2 and "refusing to overwrite" in again.err


def test_demo_init_is_idempotent_and_never_overwrites(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    assert cli("demo", "init", "--dir", str(home)).code == 0
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    again = cli("demo", "init", "--dir", str(home))
    assert again.code == 0 and "nothing changed" in again.out
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "somekey.pem").write_text("mine")
    refused = cli("demo", "init", "--dir", str(stray))
    assert refused.code == 2 and "refusing" in refused.err and (stray / "somekey.pem").read_text() == "mine"


@pytest.mark.parametrize("argv", [
    ["verify", "CC1:BB8", "--home", "/nonexistent/citycredit"],
    ["verify", "CC1:BB8", "--home", "{home}", "--at", "yesterday"],
    ["verify", "CC1:BB8", "--home", "{home}", "--at", "2026-11-22T10:00:00"],
    ["verify", "CC1:BB8"],
    ["issue", "--home", "{home}", "--city", "atlantis", "--score", "700"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "1001"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "-5"],
    ["issue", "--home", "{home}", "--city", "huizhou", "--colour", "purple"],
    ["issue", "--home", "{home}", "--city", "rongcheng", "--grade", "Z"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "700", "--ttl-s", "0"],
    ["issue", "--home", "{home}", "--city", "hangzhou", "--score", "seven hundred"],
    ["check", "CC1:BB8", "--home", "{home}"],
    ["nonsense"],
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(cli, demo_home: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    run = cli(*[a.replace("{home}", str(demo_home)) for a in argv])
    assert run.code == 2, (argv, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    assert "error CC_" in run.err


def test_bundle_file_with_anchor_beside_it_and_rollback_state(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    assert cli("demo", "init", "--dir", str(home)).code == 0
    old = tmp_path / "merchant" / "bundle.ccb"
    old.parent.mkdir()
    old.write_bytes((home / "bundle.ccb").read_bytes())
    (old.parent / "anchor.json").write_bytes((home / "anchor.json").read_bytes())
    code = issue(cli, home, "jinhua")
    state = tmp_path / "merchant" / "state.json"
    assert cli("verify", code, "--bundle", str(old), "--state", str(state)).code == 0
    assert cli("bundle", "publish", "--home", str(home)).code == 0
    new = tmp_path / "merchant" / "new.ccb"
    new.write_bytes((home / "bundle.ccb").read_bytes())
    assert cli("verify", code, "--bundle", str(new), "--anchor", str(home / "anchor.json"),
               "--state", str(state)).code == 0
    assert json.loads(state.read_text())["version"] == 2
    rollback = cli("verify", code, "--bundle", str(old), "--state", str(state), "--json")
    assert rollback.code == 2 and rollback.json()["error"]["code"] == "CC_BUNDLE_ROLLBACK"


def test_qr_output(cli, demo_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import zxingcpp
    from PIL import Image

    png, svg = tmp_path / "code.png", tmp_path / "code.svg"
    code = issue(cli, demo_home, "huizhou", "--qr", str(png))
    issue(cli, demo_home, "huizhou", "--qr", str(svg))
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [code]


def test_the_installed_entry_point_runs(demo_home: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "citycredit._cli", "bundle", "show", "--home", str(demo_home)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "trust bundle version" in run.stdout


def test_a_bundle_refused_while_verifying_is_bad_input_not_a_verdict(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time

    from citycredit.core import sign_bundle
    from citycredit.testing import InMemoryAlliance

    now = int(time.time())
    alliance = InMemoryAlliance(now_s=now)
    body = alliance.alliance.body(version=5, now_s=now, ttl_s=3600)
    body.cities[0].status_list.bits_zlib = b"not zlib at all"  # found only when the list is first read
    (tmp_path / "bundle.ccb").write_bytes(sign_bundle(body, alliance.governance[:2]))
    (tmp_path / "anchor.json").write_text(alliance.anchor.to_json())
    run = cli("verify", alliance.issue(body.cities[0].city).code, "--bundle", str(tmp_path / "bundle.ccb"), "--json")
    assert run.code == 2 and run.json()["error"]["code"] == "CC_BUNDLE_MALFORMED"


def test_status_indexes_of_live_codes_are_never_shared(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Two live codes on one index would be revoked together: the register makes the issuer draw again."""
    import itertools
    import time

    from citycredit import Tier
    from citycredit import _home as home_module
    from citycredit._home import Home

    assert cli("demo", "init", "--dir", str(tmp_path / "home")).code == 0
    home = Home(tmp_path / "home")
    now = int(time.time())
    draws = itertools.chain([7, 7, 7, 8], itertools.repeat(9))
    monkeypatch.setattr(home_module.secrets, "randbelow", lambda n: next(draws))
    first = home.issue(330500, holder_ref="a", tier=Tier.GOOD, band="良好", now_s=now, ttl_s=60)
    second = home.issue(330500, holder_ref="b", tier=Tier.GOOD, band="良好", now_s=now, ttl_s=60)
    assert (first.status_index, second.status_index) == (7, 8)
    # Once the first code has expired its index is free again.
    draws = itertools.chain([7], itertools.repeat(9))
    third = home.issue(330500, holder_ref="c", tier=Tier.GOOD, band="良好", now_s=now + 61, ttl_s=60)
    assert third.status_index == 7
    # A revoked index is never handed out again: the code would be born revoked.
    alliance = home.load()
    alliance.revoke_index(330500, 11, now_s=now)
    home.publish(alliance, now_s=now)
    draws = itertools.chain([11, 11], itertools.repeat(12))
    assert home.issue(330500, holder_ref="d", tier=Tier.GOOD, band="良好", now_s=now + 200, ttl_s=60
                      ).status_index == 12
