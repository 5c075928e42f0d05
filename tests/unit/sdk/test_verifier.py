"""`Verifier` over a trust directory or files in memory: building, checking, updating parts and status lists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from citycredit import SigningKey, Tier, TrustAnchor, Verifier, VerifierConfig
from citycredit._trustdir import write_trust_dir
from citycredit.core import Agreement, Benefit, BenefitKind, Category, Offer, Reason, Status, encode_presentation
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    CodeRevokedError,
    InvalidArgumentError,
    PresentationReplayedError,
)
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

HANGZHOU, QUZHOU, JIAXING = 330100, 330800, 330400
DAY = 86400
PARKING = Offer(id="qz-parking", city=QUZHOU, category=Category.PARKING, min_tier=Tier.GOOD,
                benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=10, text_zh="停车9折"), title_zh="停车")
HZ_QZ = Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=NOW_S - DAY)


@pytest.fixture
def world() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S, offers=[PARKING], agreements=[HZ_QZ])


def write(alliance: InMemoryAlliance, directory: Path, *, anchor_beside: bool = True) -> Path:
    assert alliance.repository is not None
    write_trust_dir(directory, alliance.repository, alliance.status_lists)
    if anchor_beside:
        (directory / "anchor.json").write_bytes(alliance.anchor.data)
    return directory


def test_from_directory_with_the_anchor_beside_it_or_one_folder_up(world: InMemoryAlliance, tmp_path: Path) -> None:
    trust = write(world, tmp_path / "repository")
    code = world.issue(QUZHOU).code
    assert Verifier.from_directory(trust, clock=lambda: NOW_S).verify(code).city == QUZHOU
    (trust / "anchor.json").rename(tmp_path / "anchor.json")
    assert Verifier.from_directory(trust, clock=lambda: NOW_S).verify(code).city == QUZHOU
    explicit = tmp_path / "pinned.json"
    (tmp_path / "anchor.json").rename(explicit)
    with pytest.raises(BundleMalformedError, match="no trust anchor"):
        Verifier.from_directory(trust, clock=lambda: NOW_S)
    assert Verifier.from_directory(trust, anchor=explicit, clock=lambda: NOW_S).version == 1
    assert Verifier.from_directory(trust, anchor=TrustAnchor.from_json(explicit.read_bytes()),
                                   clock=lambda: NOW_S).version == 1


def test_from_directory_refuses_a_directory_under_another_anchor(world: InMemoryAlliance, tmp_path: Path) -> None:
    trust = write(world, tmp_path / "repository", anchor_beside=False)
    stranger = InMemoryAlliance(now_s=NOW_S)
    (trust / "anchor.json").write_bytes(stranger.anchor.data)
    with pytest.raises(BundleError):
        Verifier.from_directory(trust, clock=lambda: NOW_S)


def test_a_stale_status_list_in_the_directory_stops_only_its_city(world: InMemoryAlliance, tmp_path: Path) -> None:
    world.sign_status(QUZHOU, now_s=NOW_S - 5 * DAY)  # expired four days ago: beyond the default three-day grace
    trust = write(world, tmp_path / "repository")
    verifier = Verifier.from_directory(trust, clock=lambda: NOW_S)
    with pytest.raises(BundleStaleError, match=str(QUZHOU)):
        verifier.verify(world.issue(QUZHOU).code)
    assert verifier.verify(world.issue(HANGZHOU).code).city == HANGZHOU
    assert QUZHOU not in verifier.snapshot.statuses


def test_a_malformed_status_list_in_the_directory_is_refused(world: InMemoryAlliance, tmp_path: Path) -> None:
    trust = write(world, tmp_path / "repository")
    (trust / "status" / f"{QUZHOU}.pb").write_bytes(b"\xff\xff")
    with pytest.raises(BundleMalformedError):
        Verifier.from_directory(trust, clock=lambda: NOW_S)


def test_from_files_in_memory(world: InMemoryAlliance) -> None:
    assert world.repository is not None
    verifier = Verifier.from_files(world.repository.files(trusted_root_version=1), anchor=world.anchor,
                                   status_lists=world.status_lists, clock=lambda: NOW_S)
    assert verifier.verify(world.issue(HANGZHOU).code).city == HANGZHOU
    bare = Verifier.from_files(world.repository.files(trusted_root_version=1), anchor=world.anchor,
                               clock=lambda: NOW_S)
    with pytest.raises(BundleStaleError):  # no status list held: no city can be judged
        bare.verify(world.issue(HANGZHOU).code)


def test_check_decides_and_refused_codes_are_decisions(world: InMemoryAlliance) -> None:
    verifier = world.verifier()
    visitor = world.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU).code
    decision = verifier.check(visitor, "qz-parking")
    assert decision.eligible and decision.agreement_id == "hz-qz"
    assert verifier.check(world.issue(JIAXING, Tier.EXCELLENT, audience=QUZHOU).code, "qz-parking").reason \
        is Reason.NO_AGREEMENT
    assert verifier.check(visitor, "qz-parking", at=NOW_S + 300).reason is Reason.CODE_EXPIRED
    assert verifier.check("CC1:garbage", "qz-parking").reason is Reason.CODE_INVALID
    unknown = verifier.check(visitor, "no-such-offer")
    assert (unknown.reason, unknown.tier) == (Reason.OFFER_UNKNOWN, Tier.EXCELLENT)
    with pytest.raises(BundleStaleError):  # a trust set that cannot judge is not a verdict on the holder
        verifier.check(visitor, "qz-parking", at=NOW_S + 7 * 3600)


def test_update_adopts_newer_parts_and_refuses_rollback(world: InMemoryAlliance) -> None:
    assert world.repository is not None
    old = world.repository.files(trusted_root_version=1)
    verifier = world.verifier()
    newer = world.publish_city(QUZHOU, offers=[]).files(trusted_root_version=1)
    assert verifier.update(newer) is True and verifier.version == 2
    assert verifier.update(newer) is False
    assert verifier.check(world.issue(QUZHOU).code, "qz-parking").reason is Reason.OFFER_UNKNOWN
    with pytest.raises(BundleRollbackError):
        verifier.update(old)
    assert verifier.version == 2  # a refused update leaves what is held


def test_update_status_list(world: InMemoryAlliance) -> None:
    code = world.issue(QUZHOU, status_index=3).code
    verifier = world.verifier()
    first = world.status_lists[QUZHOU]
    assert verifier.update_status_list(QUZHOU, first) is False  # the version it holds
    assert verifier.update_status_list(QUZHOU, world.set_status(QUZHOU, 3, Status.REVOKED)) is True
    with pytest.raises(CodeRevokedError):
        verifier.verify(code)
    with pytest.raises(BundleRollbackError):
        verifier.update_status_list(QUZHOU, first)
    with pytest.raises(InvalidArgumentError):
        verifier.update_status_list(350200, first)
    with pytest.raises(BundleMalformedError):  # another city's list offered as Quzhou's
        verifier.update_status_list(QUZHOU, world.status_lists[HANGZHOU])
    assert verifier.snapshot.statuses[QUZHOU].version == 2


def test_a_verifier_remembers_presentations_per_venue_unless_told_not_to(world: InMemoryAlliance) -> None:
    device = SigningKey.generate()
    text = encode_presentation(world.issue(HANGZHOU, device=device).code, device, presented_at_s=NOW_S)
    till = Verifier(world.snapshot(), config=VerifierConfig(grace_s=0), clock=lambda: NOW_S, venue="east-gate")
    assert till.verify(text).device_bound
    with pytest.raises(PresentationReplayedError):
        till.verify(text)
    assert till.verify(text, venue="west-gate").device_bound
    forgetful = Verifier(world.snapshot(), config=VerifierConfig(grace_s=0, replay_entries=0), clock=lambda: NOW_S)
    assert forgetful.verify(text).device_bound and forgetful.verify(text).device_bound


@pytest.mark.parametrize("config", [{"grace_s": -1}, {"window_s": 0}, {"replay_entries": -1}])
def test_config_is_checked(config: dict[str, int]) -> None:
    with pytest.raises(InvalidArgumentError):
        VerifierConfig(**config)


def test_the_default_grace_is_three_days() -> None:
    assert VerifierConfig().grace_s == 3 * DAY and VerifierConfig().window_s == 30


def test_a_directory_copied_elsewhere_still_verifies(world: InMemoryAlliance, tmp_path: Path) -> None:
    trust = write(world, tmp_path / "a")
    shutil.copytree(trust, tmp_path / "b")
    assert Verifier.from_directory(tmp_path / "b", clock=lambda: NOW_S).verify(world.issue(QUZHOU).code)
