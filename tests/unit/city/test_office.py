"""`CityOffice` over its own key store and SQLite register (a copy of the demo alliance, real keys): issuing at
random free status indexes, growing the list, revoking, suspending and reinstating, retiring keys."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from citycredit import Tier, Verifier, VerifierConfig
from citycredit._demo import DemoHome
from citycredit.city import CityOffice, CodeRecord
from citycredit.core import (
    MIN_STATUS_LIST_SIZE,
    Algorithm,
    Benefit,
    BenefitKind,
    Category,
    Issuer,
    Offer,
    Status,
    city_role,
    hmac_sha256,
)
from citycredit.errors import (
    CodeRevokedError,
    CodeSuspendedError,
    InvalidArgumentError,
    KeyNotValidError,
    NotFoundError,
    PermissionDeniedError,
)
from citycredit.testing import InMemoryAlliance

from tests.support.alliance import demo_copy

HANGZHOU, QUZHOU = 330100, 330800


@pytest.fixture
def home(tmp_path: Path) -> DemoHome:
    return DemoHome(demo_copy(tmp_path))


@pytest.fixture
def office(home: DemoHome) -> Iterator[CityOffice]:
    with home.city("hangzhou") as opened:
        yield opened


@pytest.fixture
def now() -> int:
    return int(time.time())


class Draws:
    """A random source whose index draws are given in advance (then always the last one)."""

    def __init__(self, *draws: int) -> None:
        self.draws = list(draws)

    def randbelow(self, exclusive_upper_bound: int) -> int:
        return self.draws.pop(0) if len(self.draws) > 1 else self.draws[0]

    def token_bytes(self, nbytes: int | None = None) -> bytes:
        import secrets

        return secrets.token_bytes(nbytes)


def issue(office: CityOffice, now: int, holder: str = "330102-demo-a", **kwargs: object):  # type: ignore[no-untyped-def]
    return office.issue(holder_ref=holder, tier=Tier.EXCELLENT, band="钱江分·优秀", now_s=now, **kwargs)  # type: ignore[arg-type]


def verifier(home: DemoHome, office: CityOffice, now: int) -> Verifier:
    """The demo repository (with the office's latest list published into it) as a merchant sees it."""
    update, _, _ = office.status_update(now_s=now, renew_before_s=0)
    home.publish_local(now_s=now, status_lists={office.city: update})
    return Verifier.from_directory(home.repository_dir, anchor=home.anchor_path, clock=lambda: now,
                                   config=VerifierConfig(grace_s=0))


# --- issuing --------------------------------------------------------------------------------------------


def test_issued_codes_verify_and_are_registered_pseudonymously(home: DemoHome, office: CityOffice, now: int) -> None:
    issued = issue(office, now, holder="330102-identity-never-stored")
    assert verifier(home, office, now).verify(issued.code).tier is Tier.EXCELLENT
    record = office.register.code(issued.code_id.hex())
    assert record is not None and record.status_index == issued.status_index and record.status == 0
    assert record.holder == office.holder_key("330102-identity-never-stored") == issued.holder.hex()
    raw = (office.directory / "register.db").read_bytes()
    assert b"330102-identity-never-stored" not in raw  # the register names pseudonyms only


def test_indexes_are_random_among_free_ones_and_never_shared_by_live_codes(office: CityOffice, now: int) -> None:
    first = issue(office, now, ttl_s=60, rng=Draws(7))
    second = issue(office, now, ttl_s=60, rng=Draws(7, 7, 7, 8))  # 7 is taken by a live code: drawn again
    assert (first.status_index, second.status_index) == (7, 8)
    third = issue(office, now + 61, ttl_s=60, rng=Draws(7))  # the first has expired: 7 is free again
    assert third.status_index == 7
    office.set_status(second.code, Status.REVOKED, now_s=now + 1)
    fourth = issue(office, now + 200, rng=Draws(8, 8, 9))  # 8's code expired, but its entry is REVOKED
    assert fourth.status_index == 9
    spread = {issue(office, now, holder=f"h{i}").status_index for i in range(40)}
    assert len(spread) == 40 and max(spread) > 1000  # random, not first-fit


@pytest.mark.slow
def test_the_list_grows_when_half_of_it_is_in_use(home: DemoHome, office: CityOffice, now: int) -> None:
    """65,536 live codes fill half of the minimum list: the next one doubles it, and the signed list follows."""
    with office.register.transaction() as db:
        office.register.save_status(db, office.register.status()[0])
        for i in range(MIN_STATUS_LIST_SIZE // 2):
            office.register.add_code(db, CodeRecord(code_id=f"{i:032x}", holder="bulk", audience=HANGZHOU,
                                                    status_index=2 * i, issued_at_s=now, expires_at_s=now + 3600,
                                                    status=0, device_bound=False))
    grown = issue(office, now, rng=Draws(1, 2 * MIN_STATUS_LIST_SIZE - 1))
    bitmap, _, _ = office.register.status()
    assert bitmap.size == 2 * MIN_STATUS_LIST_SIZE and grown.status_index % 2 == 1
    _update, version, signed = office.status_update(now_s=now)
    assert signed and version == 2  # a list of a new size is signed at once
    checking = verifier(home, office, now)
    assert checking.snapshot.statuses[HANGZHOU].size == 2 * MIN_STATUS_LIST_SIZE
    assert checking.verify(grown.code).status_index == grown.status_index
    high = issue(office, now, rng=Draws(2 * MIN_STATUS_LIST_SIZE - 1))
    assert high.status_index == 2 * MIN_STATUS_LIST_SIZE - 1 and checking.verify(high.code)


def test_issue_with_a_device_key_an_audience_and_an_algorithm(home: DemoHome, office: CityOffice, now: int) -> None:
    from citycredit.core import SigningKey, device_key, encode_presentation

    device = SigningKey.generate(Algorithm.P256)
    issued = issue(office, now, audience=QUZHOU, device_key=device_key(device), algorithm=Algorithm.P256)
    assert issued.device_bound and issued.audience == QUZHOU
    verified = verifier(home, office, now).verify(encode_presentation(issued.code, device, presented_at_s=now))
    assert (verified.audience, verified.device_bound) == (QUZHOU, True)
    assert verified.kid == next(k.kid for k in office.code_keys if k.algorithm is Algorithm.P256)
    assert issued.holder != issue(office, now).holder  # pairwise: another audience, another pseudonym


# --- revoking, suspending, reinstating -------------------------------------------------------------------


def test_revoke_suspend_and_reinstate_one_code(home: DemoHome, office: CityOffice, now: int) -> None:
    code, neighbour = issue(office, now).code, issue(office, now, holder="other").code
    change = office.set_status(code, Status.SUSPENDED, now_s=now)
    assert change.changed and change.version == 2 and change.update is not None
    with pytest.raises(CodeSuspendedError):
        verifier(home, office, now).verify(code)
    office.set_status(code, Status.REVOKED, now_s=now)
    with pytest.raises(CodeRevokedError):
        verifier(home, office, now).verify(code)
    office.set_status(code, Status.VALID, now_s=now)
    checking = verifier(home, office, now)
    assert checking.verify(code) and checking.verify(neighbour)


def test_every_live_code_of_a_holder(home: DemoHome, office: CityOffice, now: int) -> None:
    expired = issue(office, now - 600, ttl_s=60)
    mine = [issue(office, now), issue(office, now, audience=QUZHOU), issue(office, now, ttl_s=3600)]
    someone_else = issue(office, now, holder="someone else")
    change = office.set_status(mine[0].code, Status.SUSPENDED, holder=True, now_s=now)
    assert sorted(change.code_ids) == sorted(m.code_id.hex() for m in mine)
    assert office.register.code(expired.code_id.hex()).status == 0  # type: ignore[union-attr]
    checking = verifier(home, office, now)
    for issued in mine:
        with pytest.raises(CodeSuspendedError):
            checking.verify(issued.code)
    assert checking.verify(someone_else.code)
    back = office.set_status(mine[1].code, Status.VALID, holder=True, now_s=now)  # credit repair
    assert len(back.code_ids) == 3 and all(verifier(home, office, now).verify(m.code) for m in mine)


def test_repeating_a_revoke_changes_nothing_and_signs_nothing(office: CityOffice, now: int) -> None:
    code = issue(office, now).code
    first = office.set_status(code, Status.REVOKED, now_s=now)
    outbox = (office.directory / "outbox" / "status.pb").read_bytes()
    again = office.set_status(code, Status.REVOKED, now_s=now + 5)
    assert not again.changed and again.update is None and again.version is None
    _, version, signed = office.register.status()
    assert version == first.version and signed == first.update
    assert (office.directory / "outbox" / "status.pb").read_bytes() == outbox
    assert not office.set_status(issue(office, now).code, Status.VALID, now_s=now).changed  # already valid


def test_a_forged_or_foreign_code_cannot_change_any_status(home: DemoHome, office: CityOffice, now: int) -> None:
    genuine = issue(office, now)
    # A code naming this city and one of its indexes, signed by a key the city never had.
    stranger = InMemoryAlliance(now_s=now)
    forged = Issuer(city=HANGZHOU, key=stranger.keys[(HANGZHOU, Algorithm.ED25519)],
                    pseudonym=hmac_sha256(bytes(32))).issue(holder_ref="x", tier=Tier.GOOD, band="", now_s=now,
                                                            status_index=genuine.status_index).code
    with pytest.raises(PermissionDeniedError):
        office.set_status(forged, Status.REVOKED, now_s=now)
    # The genuine code's claims under a signature that does not verify.
    from tests.unit.core.codes import envelope, wrap

    env = envelope(genuine.code)
    env.signature = bytes(64)
    with pytest.raises(PermissionDeniedError):
        office.set_status(wrap(env.SerializeToString()), Status.REVOKED, now_s=now)
    with home.city("quzhou") as quzhou, pytest.raises(PermissionDeniedError):  # another city's genuine code
        quzhou.set_status(genuine.code, Status.REVOKED, now_s=now)
    assert office.register.status()[0].get(genuine.status_index) == 0
    with pytest.raises(NotFoundError):  # signed by this city, but not in this register
        office.set_status(Issuer(city=HANGZHOU, key=office.keystore.signer(office.code_keys[0].name),
                                 pseudonym=hmac_sha256(bytes(32))).issue(holder_ref="x", tier=Tier.GOOD, band="",
                                                                         now_s=now, status_index=5).code,
                          Status.REVOKED, now_s=now)


def test_re_signing_clears_the_entries_of_expired_revoked_codes(office: CityOffice, now: int) -> None:
    short = issue(office, now, ttl_s=60)
    office.set_status(short.code, Status.REVOKED, now_s=now)
    assert office.register.status()[0].get(short.status_index) == 1
    _, version, signed = office.status_update(now_s=now + 61, renew_before_s=10**9)
    assert signed and office.register.status()[0].get(short.status_index) == 0 and version == 3
    _, again, signed_again = office.status_update(now_s=now + 62)
    assert (again, signed_again) == (version, False)  # fresh enough: not re-signed


# --- keys ------------------------------------------------------------------------------------------------


def test_retiring_a_key_ends_its_window_after_the_current_second(home: DemoHome, office: CityOffice, now: int) -> None:
    key = next(k for k in office.code_keys if k.algorithm is Algorithm.ED25519)
    early_in_the_second = issue(office, now, algorithm=Algorithm.ED25519)
    entry = office.retire_key(key.kid, now_s=now)
    assert (entry.status, entry.not_after_s) == ("retired", now + 1)
    role, files, signed = office.signed_role(now_s=now)
    assert signed
    home.publish_local(now_s=now, roles={city_role(HANGZHOU): role}, files=files)
    checking = verifier(home, office, now)
    assert checking.verify(early_in_the_second.code).kid == key.kid  # issued in that second: still valid
    later = Issuer(city=HANGZHOU, key=office.keystore.signer(key.name), pseudonym=office.keystore.mac("pseudonym").mac)
    with pytest.raises(KeyNotValidError):
        checking.verify(later.issue(holder_ref="x", tier=Tier.GOOD, band="", now_s=now + 1, status_index=3).code)
    assert issue(office, now).status_index >= 0  # the office goes on issuing, with its other key
    assert next(k for k in office.code_keys if k.kid == key.kid).status == "retired"


def test_retire_refusals(office: CityOffice, now: int) -> None:
    key = office.code_keys[0]
    with pytest.raises(NotFoundError):
        office.retire_key(b"\x00" * 8, now_s=now)
    with pytest.raises(InvalidArgumentError):
        office.retire_key(key.kid, now_s=now, not_after_s=key.not_before_s)


def test_a_new_key_and_the_role_that_publishes_it(home: DemoHome, office: CityOffice, now: int) -> None:
    _, _, signed = office.signed_role(now_s=now)
    assert not signed and office.role_version() == 1  # nothing changed since the demo signed it
    entry = office.new_code_key(Algorithm.SM2, now_s=now)
    role, files, signed = office.signed_role(now_s=now)
    assert signed and office.role_version() == 2
    home.publish_local(now_s=now, roles={city_role(HANGZHOU): role}, files=files)
    code = issue(office, now, algorithm=Algorithm.SM2)
    assert verifier(home, office, now).verify(code.code).kid == entry.kid


def test_offers_of_another_city_are_refused(office: CityOffice) -> None:
    foreign = Offer(id="qz-x", city=QUZHOU, category=Category.PARKING, min_tier=Tier.GOOD,
                    benefit=Benefit(kind=BenefitKind.WAIVER, text_zh="免"), title_zh="停车")
    with pytest.raises(PermissionDeniedError):
        office.publish_offer(foreign)
    with pytest.raises(NotFoundError):
        office.withdraw_offer("no-such-offer")


def test_the_register_keeps_one_device_per_holder_per_audience(office: CityOffice) -> None:
    with office.register.transaction() as db:
        office.register.register_device(db, "h", HANGZHOU, 2, b"\x02" * 33, 1)
        office.register.register_device(db, "h", HANGZHOU, 1, b"\x01" * 32, 2)
        office.register.register_device(db, "h", QUZHOU, 2, b"\x03" * 33, 3)
    assert office.register.device("h", HANGZHOU) == (1, b"\x01" * 32)
    assert office.register.device("h", QUZHOU) == (2, b"\x03" * 33) and office.register.device("x", HANGZHOU) is None
    with pytest.raises(sqlite3.IntegrityError), office.register.transaction() as db:  # rolled back together
        office.register.register_device(db, "h", 330400, 1, b"\x01" * 32, 4)
        db.execute("INSERT INTO codes (code_id, holder, audience, status_index, issued_at, expires_at) "
                   "VALUES ('dup', 'h', 1, 1, 1, 2), ('dup', 'h', 1, 1, 1, 2)")
    assert office.register.device("h", 330400) is None
