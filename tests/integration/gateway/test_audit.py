"""The audit log is hash-chained: `citycredit audit verify` finds any edited, removed or reordered entry."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from citycredit._cli.main import main
from citycredit.gateway import gateway_in_thread

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, bearer, config_for, issue

Tamper = Callable[[sqlite3.Connection], None]


@pytest.fixture(scope="module")
def audited_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped gateway's database holding seed, issuance, admin and redemption entries."""
    home = tmp_path_factory.mktemp("audit") / "home"
    with gateway_in_thread(config_for(home)) as gw, httpx.Client(base_url=gw.http_url) as client:
        code = issue(client, gw)["code"]
        client.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER, "idempotency_key": "a"},
                    headers=bearer(gw.token(QUZHOU, "merchant"))).raise_for_status()
        client.post(f"/v1/cities/{HANGZHOU}/revocations", json={"status_indexes": [3, 4]},
                    headers=bearer(gw.token(HANGZHOU, "city_office"))).raise_for_status()
        client.post(f"/v1/cities/{HANGZHOU}/merchant-keys", json={"venue": "西湖"},
                    headers=bearer(gw.token(HANGZHOU, "city_office"))).raise_for_status()
    return home / "gateway.db"


def _copy(db: Path, to: Path) -> Path:
    with sqlite3.connect(db) as src, sqlite3.connect(to) as dst:
        src.backup(dst)
    return to


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["audit", "verify", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_intact_chain_verifies(audited_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _verify(capsys, "--home", str(audited_db.parent))
    assert code == 0 and report["ok"] is True and report["entries"] == 5
    with sqlite3.connect(audited_db) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
        subjects = [row[0] for row in conn.execute("SELECT subject FROM audit_log WHERE action = 'redemption'")]
    assert actions == ["alliance.seed", "code.issue", "redemption", "codes.revoke", "credential.create"]
    assert all(len(s) == 32 for s in subjects)  # holder pseudonyms, never identities
    assert main(["audit", "verify", "--db", f"sqlite:///{audited_db}"]) == 0


def _edit(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit_log SET details = '{"offer":"something-else"}' WHERE seq = 3""")


def _remove(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_log WHERE seq = 3")


def _reorder(conn: sqlite3.Connection) -> None:
    rows = {seq: rest for seq, *rest in conn.execute(
        "SELECT seq, at_s, actor, action, city, subject, details, prev_hash, hash FROM audit_log WHERE seq IN (2, 3)")}
    for seq, other in ((2, 3), (3, 2)):
        conn.execute("UPDATE audit_log SET at_s=?, actor=?, action=?, city=?, subject=?, details=?, prev_hash=?, "
                     "hash=? WHERE seq=?", (*rows[other], seq))


def _drop_tail(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_log WHERE seq = 5")


def _rehash_edit(conn: sqlite3.Connection) -> None:
    """An edit that also fixes its own hash still breaks the next entry's link."""
    from citycredit.gateway.audit import entry_hash

    seq, at_s, actor, action, city, subject, _details, prev = conn.execute(
        "SELECT seq, at_s, actor, action, city, subject, details, prev_hash FROM audit_log WHERE seq = 2").fetchone()
    details = '{"tier":"OUTSTANDING"}'
    digest = entry_hash(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject,
                        details=details, prev_hash=prev)
    conn.execute("UPDATE audit_log SET details = ?, hash = ? WHERE seq = 2", (details, digest))


@pytest.mark.parametrize(("tamper", "bad_seq"), [(_edit, 3), (_remove, 3), (_reorder, 2), (_drop_tail, 5),
                                                 (_rehash_edit, 3)])
def test_tampering_is_found(audited_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            tamper: Tamper, bad_seq: int) -> None:
    copy = _copy(audited_db, tmp_path / "tampered.db")
    with sqlite3.connect(copy) as conn:
        tamper(conn)
    code, report = _verify(capsys, "--db", f"sqlite:///{copy}")
    assert code == 1 and report["ok"] is False and report["bad_seq"] == bad_seq, report
    assert main(["audit", "verify", "--db", f"sqlite:///{copy}"]) == 1
    assert f"seq {bad_seq}" in capsys.readouterr().out


def _pending_db(tmp_path: Path, *, chained: bool) -> tuple[Path, str]:
    """A stopped gateway's database with one redemption, its audit record still pending unless `chained`."""
    home = tmp_path / "home"
    config = config_for(home, audit_chain_interval_s=60.0)
    with gateway_in_thread(config) as gw, httpx.Client(base_url=gw.http_url) as client:
        code = issue(client, gw)["code"]
        answer = client.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER, "idempotency_key": "p"},
                             headers=bearer(gw.token(QUZHOU, "merchant")))
        answer.raise_for_status()
        if not chained:  # keep what a crash would leave: stop without the graceful linking
            assert gw.service is not None
            gw.service.chain_audit = lambda: 0  # type: ignore[method-assign]
    return home / "gateway.db", str(answer.json()["redemption_id"])


def test_a_pending_record_is_checked_and_then_linked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, rid = _pending_db(tmp_path, chained=False)
    code, report = _verify(capsys, "--db", f"sqlite:///{db}")
    assert code == 0 and report["pending"] == 1 and report["entries"] == 2, report
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM audit_pending").fetchall() == [(rid,)]
    # the next replica to start links it into the chain
    with gateway_in_thread(config_for(db.parent)):
        pass
    code, report = _verify(capsys, "--db", f"sqlite:///{db}")
    assert code == 0 and report["pending"] == 0 and report["entries"] == 3, report
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT action FROM audit_log WHERE seq = 3").fetchone() == ("redemption",)


def _edit_pending(conn: sqlite3.Connection) -> None:
    conn.execute("""UPDATE audit_pending SET subject = '00112233445566778899aabbccddeeff'""")


def _drop_pending(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_pending")


def _rehash_pending(conn: sqlite3.Connection) -> None:
    """An edit that recomputes the record's hash still disagrees with the redemption it records."""
    from citycredit.gateway.audit import record_hash

    rid, at_s, actor, action, city, subject, details = conn.execute(
        "SELECT id, at_s, actor, action, city, subject, details FROM audit_pending").fetchone()
    actor = "mkey-someone-else"
    conn.execute("UPDATE audit_pending SET actor = ?, hash = ?", (actor, record_hash(
        id=rid, at_s=at_s, actor=actor, action=action, city=city, subject=subject, details=details)))


def _drop_redemption(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM redemptions")


@pytest.mark.parametrize(("tamper", "reason"), [
    (_edit_pending, "does not match its hash"), (_drop_pending, "has no audit record"),
    (_rehash_pending, "does not match its pending record"), (_drop_redemption, "missing from the redemptions table")])
def test_pending_records_and_redemptions_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     tamper: Tamper, reason: str) -> None:
    db, rid = _pending_db(tmp_path, chained=False)
    with sqlite3.connect(db) as conn:
        tamper(conn)
    code, report = _verify(capsys, "--db", f"sqlite:///{db}")
    assert code == 1 and report["bad_record"] == rid and reason in str(report["reason"]), report
    assert report["bad_seq"] is None


def test_a_chained_redemption_must_keep_its_row_and_its_facts(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db, rid = _pending_db(tmp_path, chained=True)
    assert _verify(capsys, "--db", f"sqlite:///{db}")[1]["pending"] == 0
    copy = _copy(db, tmp_path / "copy.db")
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE redemptions SET holder = '00112233445566778899aabbccddeeff'")
    code, report = _verify(capsys, "--db", f"sqlite:///{copy}")
    assert code == 1 and report["bad_record"] == rid and "does not match entry 3" in str(report["reason"]), report
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM redemptions")
    code, report = _verify(capsys, "--db", f"sqlite:///{db}")
    assert code == 1 and report["bad_record"] == rid, report


@pytest.mark.slow
def test_redemptions_reach_the_chain_within_the_interval(tmp_path: Path) -> None:
    with gateway_in_thread(config_for(tmp_path / "home", audit_chain_interval_s=0.2)) as gw, \
            httpx.Client(base_url=gw.http_url) as client:
        code = issue(client, gw)["code"]
        client.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER, "idempotency_key": "soon"},
                    headers=bearer(gw.token(QUZHOU, "merchant"))).raise_for_status()
        done = time.monotonic()
        db = tmp_path / "home" / "gateway.db"
        while True:
            with sqlite3.connect(db) as conn:
                if conn.execute("SELECT count(*) FROM audit_pending").fetchone() == (0,):
                    break
            assert time.monotonic() - done < 2.0, "a pending record stayed unlinked"
            time.sleep(0.05)
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'redemption'").fetchone() == (1,)


def test_missing_database_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--home", str(tmp_path)]) == 2
    assert "CC_NOT_FOUND" in capsys.readouterr().err
