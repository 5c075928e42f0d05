"""The governance ceremony from the command line (propose → each member signs on their own store → publish):
a twelfth city joins with 2 of 3 signatures, and the governance keys rotate. Agreements are co-signed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.alliance import passphrase

pytestmark = pytest.mark.slow  # every step opens a party's key store (scrypt): about a second each
ZHOUSHAN = 330900
SCHEMES = Path(__file__).resolve().parents[3] / "city_adapters" / "schemes"


def member_elsewhere(home: Path, n: int, where: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Member n's store copied to their own machine; its passphrase comes from their environment."""
    store = where / f"member-{n}"
    shutil.copytree(home / "governance" / f"member-{n}", store)
    monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", passphrase(home, f"governance/member-{n}/keys"))
    return store


def zhoushan_scheme(directory: Path) -> Path:
    text = (SCHEMES / "jiaxing.json").read_text(encoding="utf-8")
    text = text.replace("330400", str(ZHOUSHAN)).replace("jiaxing", "zhoushan").replace("嘉兴", "舟山") \
        .replace("Jiaxing", "Zhoushan")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "zhoushan.json").write_text(text, encoding="utf-8")
    return directory / "zhoushan.json"


def test_a_twelfth_city_joins_with_two_of_three_signatures(cli, home: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    scheme = zhoushan_scheme(home / "schemes")
    monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", "zhoushan's own passphrase")
    office = home / "cities" / "zhoushan"
    assert cli("city", "init", "--store", str(office), "--scheme", str(scheme)).code == 0
    monkeypatch.delenv("CITYCREDIT_KEYSTORE_PASSPHRASE")
    proposal = tmp_path / "add-zhoushan.json"
    run = cli("governance", "propose", "add-city", "--city", str(ZHOUSHAN), "--slug", "zhoushan", "--name-zh", "舟山",
              "--name-en", "Zhoushan", "--authority-key", str(office / "authority.pub"), "--home", str(home),
              "--out", str(proposal))
    assert run.code == 0, run.err
    assert "add member 330900 zhoushan" in run.out

    shown = cli("governance", "show", str(proposal), "--home", str(home), "--json")
    assert shown.code == 0 and shown.json()["signers"] == {"targets": []}
    assert any("330900 zhoushan" in line for line in shown.json()["lines"])
    assert cli("governance", "show", str(proposal)).code == 0  # anyone can read it, with no trust set at hand

    before = cli("trust", "show", "--home", str(home), "--json").json()
    refused = cli("governance", "publish", str(proposal), "--home", str(home))
    assert refused.code == 2 and "CC_BUNDLE_THRESHOLD" in refused.err
    assert cli("governance", "sign", str(proposal), "--member", str(home / "governance" / "member-1"),
               "--home", str(home)).code == 0
    refused = cli("governance", "publish", str(proposal), "--home", str(home))
    assert refused.code == 2 and "CC_BUNDLE_THRESHOLD" in refused.err
    # A refused publication changes nothing: the home's trust set is what it was.
    assert cli("trust", "show", "--home", str(home), "--json").json() == before

    elsewhere = member_elsewhere(home, 3, tmp_path / "member-3's machine", monkeypatch)
    assert cli("governance", "sign", str(proposal), "--member", str(elsewhere)).code == 0
    monkeypatch.delenv("CITYCREDIT_KEYSTORE_PASSPHRASE")
    assert len(cli("governance", "show", str(proposal), "--json").json()["signers"]["targets"]) == 2
    published = cli("governance", "publish", str(proposal), "--home", str(home), "--json")
    assert published.code == 0, published.err
    after = cli("trust", "show", "--home", str(home), "--json").json()
    assert after["versions"]["targets"] == before["versions"]["targets"] + 1

    # The new office publishes its own signed part, issues, and its codes verify everywhere. (In a demo home one
    # command plays several parties, each store opened with its passphrase from passphrases.json.)
    known = json.loads((home / "passphrases.json").read_text())
    known["cities/zhoushan/keys"] = "zhoushan's own passphrase"
    (home / "passphrases.json").write_text(json.dumps(known))
    assert cli("keys", "new", "--home", str(home), "--city", "zhoushan").code == 0
    codes = [cli("issue", "--home", str(home), "--city", "zhoushan", "--score", "700", "--holder", f"zs-{n}").out
             .strip() for n in range(2)]
    assert cli("revoke", codes[0], "--home", str(home), "--city", "zhoushan").code == 0  # its first status list
    cities = cli("trust", "show", "--home", str(home), "--json").json()["cities"]
    assert len(cities) == 12 and any(c["city"] == "330900" and c["slug"] == "zhoushan" for c in cities)
    valid = cli("verify", codes[1], "--home", str(home), "--json")
    assert valid.code == 0 and valid.json()["city"] == "330900" and valid.json()["tier"] == "EXCELLENT"
    assert cli("verify", codes[0], "--home", str(home), "--json").json()["error"]["code"] == "CC_REVOKED"


def test_a_rotation_of_the_governance_keys(cli, home: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    new_members = []
    for n in range(3):
        monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", f"new member {n}")
        store = tmp_path / f"new-{n}"
        assert cli("governance", "member-key", "--store", str(store), "--out", str(tmp_path / f"new-{n}.pub")).code == 0
        new_members.append(store)
    monkeypatch.delenv("CITYCREDIT_KEYSTORE_PASSPHRASE")
    proposal = tmp_path / "rotate.json"
    keys = [a for n in range(3) for a in ("--key", str(tmp_path / f"new-{n}.pub"))]
    run = cli("governance", "propose", "keys", *keys,
              "--threshold", "2", "--home", str(home), "--out", str(proposal))
    assert run.code == 0, run.err
    assert "root version 2" in run.out

    def signed_by(name: str, old: list[int], new: list[int]) -> Path:
        copy = tmp_path / name
        shutil.copy(proposal, copy)
        for n in old:
            assert cli("governance", "sign", str(copy), "--member", str(home / "governance" / f"member-{n}"),
                       "--home", str(home)).code == 0
        for n in new:
            monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", f"new member {n}")
            assert cli("governance", "sign", str(copy), "--member", str(new_members[n])).code == 0
            monkeypatch.delenv("CITYCREDIT_KEYSTORE_PASSPHRASE")
        return copy

    before = cli("trust", "show", "--home", str(home), "--json").json()
    for name, old, new in (("old-only.json", [1, 2], []), ("new-only.json", [], [0, 1])):
        refused = cli("governance", "publish", str(signed_by(name, old, new)), "--home", str(home))
        assert refused.code == 2 and "CC_BUNDLE_THRESHOLD" in refused.err, (name, refused.err)
        assert cli("trust", "show", "--home", str(home), "--json").json() == before
    both = signed_by("both.json", [2, 3], [1, 2])
    shown = cli("governance", "show", str(both), "--json").json()
    assert len(shown["signers"]["root"]) == 4 and len(shown["signers"]["targets"]) == 4
    assert cli("governance", "publish", str(both), "--home", str(home)).code == 0
    after = cli("trust", "show", "--home", str(home), "--json").json()
    assert after["versions"]["root"] == 2 and after["governance"] == {"threshold": 2, "keys": 3}
    assert json.loads((home / "anchor.json").read_text())["signed"]["version"] == 1  # the pin stays
    code = cli("issue", "--home", str(home), "--city", "hangzhou", "--score", "720").out.strip()
    assert cli("verify", code, "--home", str(home)).code == 0
    # The old members alone can no longer change the membership.
    remove = tmp_path / "remove.json"
    assert cli("governance", "propose", "remove-city", "--city", "330200", "--home", str(home),
               "--out", str(remove)).code == 0
    for n in (1, 2):
        cli("governance", "sign", str(remove), "--member", str(home / "governance" / f"member-{n}"), "--home",
            str(home))
    refused = cli("governance", "publish", str(remove), "--home", str(home))
    assert refused.code == 2 and "CC_BUNDLE_THRESHOLD" in refused.err


def test_an_agreement_takes_effect_only_when_every_city_signed_it(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    visitor = cli("issue", "--home", str(home), "--city", "hangzhou", "--score", "720", "--for", "xiamen",
                  "--ttl-s", "3600").out.strip()

    def reason() -> str | None:
        run = cli("check", visitor, "--home", str(home), "--offer", "xiamen-library-40-books", "--json")
        return run.json()["reason"]  # type: ignore[no-any-return]

    assert reason() == "NO_AGREEMENT"
    # The governance delegates the agreement's role to the authority keys of both cities first.
    delegation = tmp_path / "delegate.json"
    assert cli("governance", "propose", "agreement", "--id", "hangzhou-xiamen", "--cities", "330100,350200",
               "--home", str(home), "--out", str(delegation)).code == 0
    for n in (1, 2):
        cli("governance", "sign", str(delegation), "--member", str(home / "governance" / f"member-{n}"), "--home",
            str(home))
    assert cli("governance", "publish", str(delegation), "--home", str(home)).code == 0
    assert reason() == "NO_AGREEMENT"  # delegated, not yet signed by the cities: not in force
    pact = tmp_path / "pact.json"
    assert cli("agreement", "propose", "--id", "hangzhou-xiamen", "--cities", "330100,350200", "--categories",
               "library", "--from", "2020-01-01", "--out", str(pact)).code == 0
    assert cli("agreement", "sign", str(pact), "--home", str(home), "--city", "hangzhou").code == 0
    refused = cli("agreement", "publish", str(pact), "--home", str(home))
    assert refused.code == 2 and "CC_BUNDLE_THRESHOLD" in refused.err
    assert reason() == "NO_AGREEMENT"
    assert cli("agreement", "sign", str(pact), "--home", str(home), "--city", "xiamen").code == 0
    assert cli("agreement", "publish", str(pact), "--home", str(home)).code == 0
    assert reason() is None  # eligible: same-city treatment under hangzhou-xiamen
    # One city may always leave.
    assert cli("agreement", "withdraw", "hangzhou-xiamen", "--home", str(home), "--city", "xiamen").code == 0
    assert reason() == "NO_AGREEMENT"
