"""The trust set (SPEC 6): TUF roles over protobuf parts, the chain anchor → governance → city → part → key,
rollback of any part, freshness, co-signed agreements and withdrawals, governance rotation, removed cities."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from citycredit import Algorithm, SigningKey, Tier, TrustAnchor, Verifier, VerifierConfig
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import (
    MAX_TRUST_FILE_BYTES,
    MEMBERSHIP_PATH,
    Agreement,
    Benefit,
    BenefitKind,
    Category,
    Offer,
    Reason,
    TrustFiles,
    agreement_metadata,
    city_part_path,
    describe,
    open_trust,
    renew_timestamp,
    sign_metadata,
    to_proto,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
    KeyUnknownError,
)
from citycredit.testing import InMemoryAlliance, public_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuf.api.metadata import Metadata, TargetFile, Timestamp

from tests.conftest import NOW_S
from tests.unit.core.trust_ops import open_, republish, rotated_root, targets

HANGZHOU, QUZHOU, JIAXING = 330100, 330800, 330400
DAY = 86400
PARKING = Offer(id="qz-parking", city=QUZHOU, category=Category.PARKING, min_tier=Tier.GOOD,
                benefit=Benefit(kind=BenefitKind.DISCOUNT, discount_percent=10, text_zh="停车9折"), title_zh="停车")
HZ_QZ = Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=NOW_S - 365 * DAY)


@pytest.fixture
def pact() -> InMemoryAlliance:
    """Three cities, a Quzhou offer and the Hangzhou–Quzhou agreement signed by both."""
    return InMemoryAlliance(now_s=NOW_S, offers=[PARKING], agreements=[HZ_QZ])


# --- the chain ------------------------------------------------------------------------------------------


def test_the_chain_from_the_anchor_to_a_code_key(pact: InMemoryAlliance) -> None:
    snapshot = open_(pact)
    assert snapshot.versions["root"] == 1 and {"timestamp", "snapshot", "targets"} <= snapshot.versions.keys()
    assert sorted(snapshot.cities) == [HANGZHOU, JIAXING, QUZHOU]
    assert {c: snapshot.versions[f"city-{c}"] for c in snapshot.cities} == {c: 1 for c in snapshot.cities}
    hangzhou = snapshot.cities[HANGZHOU]
    assert {k.kid for k in hangzhou.code_keys} == {pact.keys[(HANGZHOU, a)].kid for a in (Algorithm.ED25519,
                                                                                           Algorithm.P256)}
    assert pact.status_keys[HANGZHOU].kid in hangzhou.status_keys and hangzhou.tier_policy is not None
    assert [a.id for a in snapshot.agreements] == ["hz-qz"] and snapshot.catalogue.offer("qz-parking") == PARKING
    assert snapshot.expires_at_s == NOW_S + 6 * 3600  # the timestamp's six hours come first
    summary = describe(snapshot)
    assert summary["governance"] == {"threshold": 2, "keys": 3} and len(summary["cities"]) == 3


def test_a_code_verifies_only_through_the_chain(pact: InMemoryAlliance) -> None:
    stranger = InMemoryAlliance(now_s=NOW_S, cities=[(HANGZHOU, "hangzhou", "杭州", "Hangzhou")])
    with pytest.raises(KeyUnknownError):
        pact.verifier().verify(stranger.issue(HANGZHOU).code)


@pytest.mark.parametrize(("signers", "accepted"), [
    ([0, 1], True), ([0, 1, 2], True), ([1], False), ([0, 0], False), ([0, "outsider"], False), ([], False),
])
def test_top_level_targets_need_the_governance_threshold(pact: InMemoryAlliance, signers: list[object],
                                                         accepted: bool) -> None:
    keys = [pact.governance[s] if isinstance(s, int) else SigningKey.generate() for s in signers]
    data, files = targets(pact, keys)
    repository = republish(pact, targets=data, files=files)
    if accepted:
        assert open_(pact, repository).versions["targets"] == 2
    else:
        with pytest.raises(BundleThresholdError):
            open_(pact, repository)


def test_a_city_role_signed_by_another_city_is_out_of_the_chain(pact: InMemoryAlliance) -> None:
    role = Metadata.from_bytes(pact.repository.roles[f"city-{HANGZHOU}"])  # type: ignore[union-attr]
    role.signed.version += 1
    forged = sign_metadata(role, [pact.authority[QUZHOU]])
    with pytest.raises(BundleThresholdError):
        open_(pact, republish(pact, roles={f"city-{HANGZHOU}": forged}))


def test_the_gateway_cannot_add_a_key_to_a_city(pact: InMemoryAlliance) -> None:
    """The operator holds snapshot and timestamp keys only: a part it alters no longer matches its city's role."""
    assert pact.repository is not None
    path = city_part_path(HANGZHOU, "keys")
    keys = trust_pb2.CityKeys.FromString(pact.repository.targets_files[path])
    rogue = SigningKey.generate()
    keys.code_keys.append(public_key(rogue, not_before_s=0))
    altered = dataclasses.replace(pact.repository, targets_files={**pact.repository.targets_files,
                                                                  path: keys.SerializeToString()})
    with pytest.raises(BundleMalformedError, match="length and hashes"):
        open_(pact, republish(pact, altered))


@pytest.mark.parametrize("change", [
    pytest.param(lambda k: setattr(k, "kid", b"\x00" * 8), id="kid not of its key"),
    pytest.param(lambda k: setattr(k, "status", 0), id="status unspecified"),
    pytest.param(lambda k: setattr(k, "status", 9), id="status unknown"),
    pytest.param(lambda k: setattr(k, "algorithm", 0), id="algorithm unspecified"),
    pytest.param(lambda k: setattr(k, "algorithm", 3), id="a P-256 key listed as SM2"),
    pytest.param(lambda k: setattr(k, "algorithm", 1), id="a P-256 key listed as Ed25519"),
    pytest.param(lambda k: setattr(k, "spki", k.spki[:-1]), id="truncated key"),
])
def test_a_bad_key_entry_refuses_the_keys_part(pact: InMemoryAlliance, change) -> None:  # type: ignore[no-untyped-def]
    change(pact.key_entries[HANGZHOU][1])  # the P-256 key
    with pytest.raises(BundleMalformedError):
        open_(pact, pact.publish_city(HANGZHOU))


def test_membership_rules(pact: InMemoryAlliance) -> None:
    def with_members(change) -> BundleError:  # type: ignore[no-untyped-def]
        data, files = targets(pact, pact.governance[:2])
        members = trust_pb2.Membership.FromString(files[MEMBERSHIP_PATH])
        change(members)
        raw = members.SerializeToString()
        metadata = Metadata.from_bytes(data)
        metadata.signed.targets[MEMBERSHIP_PATH] = TargetFile.from_data(MEMBERSHIP_PATH, raw, ["sha256"])
        resigned = sign_metadata(metadata, pact.governance[:2])
        with pytest.raises(BundleError) as caught:
            open_(pact, republish(pact, targets=resigned, files={MEMBERSHIP_PATH: raw}))
        return caught.value

    assert isinstance(with_members(lambda m: m.members.add(city=250000, slug="nowhere")), BundleMalformedError)
    assert isinstance(with_members(lambda m: setattr(m.members[1], "slug", m.members[0].slug)), BundleMalformedError)
    assert isinstance(with_members(lambda m: m.members.add().CopyFrom(m.members[0])), BundleMalformedError)
    assert isinstance(with_members(lambda m: m.members.add(city=330500, slug="huzhou")), BundleMalformedError)
    assert isinstance(with_members(lambda m: m.members.pop()), BundleMalformedError)  # a delegation, no member


def test_files_too_large_are_refused_before_parsing(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    files = pact.repository.files(trusted_root_version=1)
    huge = b" " * (MAX_TRUST_FILE_BYTES + 1)
    for name in ("timestamp", "snapshot", "targets"):
        with pytest.raises(BundleMalformedError, match="larger than"):
            open_trust(dataclasses.replace(files, **{name: huge}), now_s=NOW_S, grace_s=0, anchor=pact.anchor)


# --- the pinned anchor (SPEC 6.9) -----------------------------------------------------------------------


def test_the_anchor_is_a_self_signed_root(pact: InMemoryAlliance) -> None:
    again = TrustAnchor.from_json(pact.anchor.to_json())
    assert again.same_keys(pact.anchor) and (again.version, again.threshold) == (1, 2)
    for doc in ("", "{}", "not json", '{"signed": {}, "signatures": []}'):
        with pytest.raises(BundleMalformedError):
            TrustAnchor.from_json(doc)
    under_signed = sign_metadata(Metadata.from_bytes(pact.anchor.data), pact.governance[:1])
    with pytest.raises(BundleMalformedError):
        TrustAnchor.from_json(under_signed)


def test_a_trust_set_rooted_elsewhere_is_refused_whoever_hands_it_over(pact: InMemoryAlliance) -> None:
    """The pinned anchor decides, not the root that comes with the files."""
    impostor = InMemoryAlliance(now_s=NOW_S)
    assert impostor.repository is not None
    with pytest.raises(BundleThresholdError):
        open_trust(impostor.repository.files(trusted_root_version=1), now_s=NOW_S, grace_s=0, anchor=pact.anchor)
    with pytest.raises(BundleThresholdError):
        Verifier.from_files(impostor.repository.files(trusted_root_version=1), anchor=pact.anchor,
                            status_lists=impostor.status_lists, clock=lambda: NOW_S)
    verifier = pact.verifier()
    with pytest.raises(BundleThresholdError):
        verifier.update(impostor.repository.files(trusted_root_version=1))


# --- rollback of any part (SPEC 6.7 T3-T11) --------------------------------------------------------------


def test_rollback_of_the_whole_set_is_refused(pact: InMemoryAlliance) -> None:
    old = pact.repository
    newer = open_(pact, pact.publish_city(HANGZHOU))
    with pytest.raises(BundleRollbackError):
        open_(pact, old, previous=newer)
    assert open_(pact, old).versions["snapshot"] == 1  # a client holding nothing has only its anchor (SPEC 11.2)
    assert open_(pact, previous=newer).versions == newer.versions  # the same files again: nothing to refuse


def test_rollback_of_one_city_role_under_a_fresh_snapshot_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    old = pact.repository
    newer = open_(pact, pact.publish_city(HANGZHOU))
    role = f"city-{HANGZHOU}"
    parts = {p: d for p, d in old.targets_files.items() if p.startswith(f"cities/{HANGZHOU}/")}
    replayed = republish(pact, roles={role: old.roles[role]}, files=parts)  # the gateway signs a new snapshot
    with pytest.raises(BundleRollbackError):
        open_(pact, replayed, previous=newer)


def test_rollback_of_an_agreement_role_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    old = pact.repository
    newer = open_(pact, pact.publish_agreement(HZ_QZ))
    role = "agreement-hz-qz"
    replayed = republish(pact, roles={role: old.roles[role]})
    with pytest.raises(BundleRollbackError):
        open_(pact, replayed, previous=newer)


def test_rollback_of_the_top_level_targets_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    old_targets = pact.repository.targets
    data, files = targets(pact, pact.governance[:2])
    second = republish(pact, targets=data, files=files)
    newer = open_(pact, second)
    replayed = republish(pact, second, targets=old_targets)
    with pytest.raises(BundleRollbackError):
        open_(pact, replayed, previous=newer)


def test_a_newer_timestamp_over_an_older_snapshot_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    old = pact.repository
    newer = open_(pact, pact.publish_city(HANGZHOU))
    stale_snapshot = renew_timestamp(dataclasses.replace(old, timestamp=pact.repository.timestamp),
                                     signer=pact.timestamp_key, now_s=NOW_S)
    with pytest.raises(BundleRollbackError):
        open_(pact, stale_snapshot, previous=newer)


def test_a_different_timestamp_under_an_accepted_version_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    held = open_(pact)
    stamp: Metadata[Timestamp] = Metadata.from_bytes(pact.repository.timestamp)
    stamp.signed.expires += timedelta(seconds=1)
    fork = dataclasses.replace(pact.repository, timestamp=sign_metadata(stamp, [pact.timestamp_key]))
    with pytest.raises(BundleRollbackError):
        open_(pact, fork, previous=held)


def test_a_snapshot_that_forgets_a_role_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    held = open_(pact)
    roles = {k: v for k, v in pact.repository.roles.items() if k != "agreement-hz-qz"}
    data, files = targets(pact, pact.governance[:2], agreements={})
    shorter = republish(pact, dataclasses.replace(pact.repository, roles=roles), targets=data, files=files)
    with pytest.raises(BundleMalformedError, match="missing"):
        open_(pact, shorter, previous=held)


def test_a_role_whose_version_is_not_the_snapshots_is_refused(pact: InMemoryAlliance) -> None:
    assert pact.repository is not None
    old_role = pact.repository.roles[f"city-{HANGZHOU}"]
    pact.publish_city(HANGZHOU)
    swapped = dataclasses.replace(pact.repository, roles={**pact.repository.roles, f"city-{HANGZHOU}": old_role})
    with pytest.raises(BundleRollbackError):
        open_(pact, swapped)


# --- freshness (SPEC 6.8, 9.4) --------------------------------------------------------------------------


def test_a_stale_timestamp_is_refused_past_the_grace_only(pact: InMemoryAlliance) -> None:
    expires = NOW_S + 6 * 3600
    assert open_(pact, now_s=expires - 1).version == 1
    with pytest.raises(BundleStaleError):
        open_(pact, now_s=expires)  # opening: expired when now - grace >= expires (TUF's rule)
    assert open_(pact, now_s=expires + 100, grace_s=101).version == 1
    with pytest.raises(BundleStaleError):
        open_(pact, now_s=expires + 100, grace_s=100)


def test_an_open_set_verifies_up_to_its_expiry_plus_the_grace(pact: InMemoryAlliance) -> None:
    expires = NOW_S + 6 * 3600
    code = pact.issue(QUZHOU, now_s=expires + 50, ttl_s=3600).code
    verifier = Verifier(open_(pact, grace_s=0), config=VerifierConfig(grace_s=100), clock=lambda: NOW_S)
    verifier.update_status_list(QUZHOU, pact.sign_status(QUZHOU, now_s=expires))
    assert verifier.verify(code, at=expires + 100).city == QUZHOU  # inclusive edge (V1)
    with pytest.raises(BundleStaleError):
        verifier.verify(code, at=expires + 101)
    with pytest.raises(BundleStaleError):
        verifier.verify("garbage", at=expires + 101)  # V1 comes before decoding


def test_a_stale_city_role_stops_only_that_citys_codes(pact: InMemoryAlliance) -> None:
    pact.now_s = NOW_S - 35 * DAY  # Hangzhou last signed its role 35 days ago: it expired 5 days ago
    pact.publish_city(HANGZHOU)
    pact.now_s = NOW_S
    pact.repository = republish(pact)  # the gateway keeps snapshot and timestamp fresh
    hangzhou, quzhou = pact.issue(HANGZHOU).code, pact.issue(QUZHOU).code
    verifier = pact.verifier()
    with pytest.raises(BundleStaleError, match=str(HANGZHOU)):
        verifier.verify(hangzhou)
    assert verifier.verify(quzhou).city == QUZHOU
    graced = pact.verifier(grace_s=5 * DAY)
    assert graced.verify(hangzhou).city == HANGZHOU


# --- agreements: every bound city signs, any one may leave (SPEC 6.4, T11, T12) ---------------------------


def _decision(alliance: InMemoryAlliance, at: int, **verifier: int) -> Reason | None:
    code = alliance.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU, now_s=at, ttl_s=600).code
    return alliance.verifier(now_s=at, **verifier).check(code, "qz-parking").reason


def test_an_agreement_signed_by_every_city_is_in_force(pact: InMemoryAlliance) -> None:
    assert _decision(pact, NOW_S) is None
    lonely = InMemoryAlliance(now_s=NOW_S, offers=[PARKING])
    assert _decision(lonely, NOW_S) is Reason.NO_AGREEMENT


@pytest.mark.parametrize("signers", [[HANGZHOU], [QUZHOU], []])
def test_an_agreement_missing_a_bound_citys_signature_refuses_the_set(pact: InMemoryAlliance,
                                                                      signers: list[int]) -> None:
    third = Agreement(id="hz-qz-jx", cities=frozenset({HANGZHOU, QUZHOU, JIAXING}), not_before_s=NOW_S)
    with pytest.raises(BundleThresholdError):
        open_(pact, pact.publish_agreement(third, signers=[*signers, JIAXING]))


def test_an_agreement_binds_with_every_signature_whatever_its_delegation_says(pact: InMemoryAlliance) -> None:
    """Governance delegating with a threshold of one does not let one city bind another."""
    third = Agreement(id="hz-jx", cities=frozenset({HANGZHOU, JIAXING}), not_before_s=NOW_S)

    def threshold_one(signed: object) -> None:
        signed.delegations.roles["agreement-hz-jx"].threshold = 1  # type: ignore[attr-defined]

    pact.agreements[third.id] = third
    data, files = targets(pact, pact.governance[:2], change=threshold_one)
    metadata, part = agreement_metadata(to_proto(third).SerializeToString(deterministic=True), third.id, version=1,
                                        now_s=NOW_S, ttl_s=365 * DAY)
    role = sign_metadata(metadata, [pact.authority[HANGZHOU]])
    with pytest.raises(BundleThresholdError, match="lacks a valid signature of 330400"):
        open_(pact, republish(pact, targets=data, roles={"agreement-hz-jx": role}, files={**files, **part}))


def test_an_agreement_delegated_to_other_keys_is_refused(pact: InMemoryAlliance) -> None:
    def to_jiaxing(signed: object) -> None:
        role = signed.delegations.roles["agreement-hz-qz"]  # type: ignore[attr-defined]
        role.keyids = [signed.delegations.roles[f"city-{JIAXING}"].keyids[0], role.keyids[0]]  # type: ignore[attr-defined]

    data, files = targets(pact, pact.governance[:2], change=to_jiaxing)
    with pytest.raises(BundleThresholdError):
        open_(pact, republish(pact, targets=data, files=files))


def test_one_city_withdrawing_ends_an_agreement(pact: InMemoryAlliance) -> None:
    pact.withdraw(QUZHOU, "hz-qz", at_s=NOW_S + 100)
    snapshot = open_(pact)
    assert snapshot.agreements[0].not_after_s == NOW_S + 100
    assert _decision(pact, NOW_S + 99) is None
    assert _decision(pact, NOW_S + 100) is Reason.NO_AGREEMENT


def test_an_earlier_withdrawal_wins_and_one_before_the_start_drops_the_agreement(pact: InMemoryAlliance) -> None:
    pact.withdraw(HANGZHOU, "hz-qz", at_s=NOW_S + 500)
    pact.withdraw(QUZHOU, "hz-qz", at_s=NOW_S + 200)
    assert open_(pact).agreements[0].not_after_s == NOW_S + 200
    pact.withdraw(QUZHOU, "hz-qz", at_s=HZ_QZ.not_before_s)
    assert open_(pact).agreements == ()


def test_a_withdrawal_by_a_city_the_agreement_does_not_bind_is_ignored(pact: InMemoryAlliance) -> None:
    pact.withdraw(JIAXING, "hz-qz", at_s=NOW_S)
    assert open_(pact).agreements[0].not_after_s == 0
    assert _decision(pact, NOW_S + 10) is None


def test_a_stale_agreement_is_not_in_force(pact: InMemoryAlliance) -> None:
    # Both cities signed this version 400 days ago for a year: it expired 35 days ago.
    body = to_proto(HZ_QZ).SerializeToString(deterministic=True)
    metadata, files = agreement_metadata(body, HZ_QZ.id, version=2, now_s=NOW_S - 400 * DAY, ttl_s=365 * DAY)
    role = sign_metadata(metadata, [pact.authority[HANGZHOU], pact.authority[QUZHOU]])
    repository = republish(pact, roles={"agreement-hz-qz": role}, files=files)
    assert open_(pact, repository).agreements == ()
    assert [a.id for a in open_(pact, repository, grace_s=35 * DAY).agreements] == ["hz-qz"]
    verifier = Verifier(open_(pact, repository), config=VerifierConfig(grace_s=0), clock=lambda: NOW_S)
    for city, data in pact.status_lists.items():
        verifier.update_status_list(city, data)
    code = pact.issue(HANGZHOU, Tier.EXCELLENT, audience=QUZHOU).code
    assert verifier.check(code, "qz-parking").reason is Reason.NO_AGREEMENT


# --- governance rotation (SPEC 6.9) ---------------------------------------------------------------------


@pytest.fixture
def new_keys() -> list[SigningKey]:
    return [SigningKey.generate() for _ in range(3)]


def _rotation(alliance: InMemoryAlliance, new_keys: list[SigningKey], signers: list[SigningKey]) -> object:
    root = rotated_root(alliance, new_keys, threshold=2, signers=signers)
    data, files = targets(alliance, new_keys[:2])
    return republish(alliance, root=root, targets=data, files=files)


def test_a_rotation_signed_by_the_old_keys_only_is_refused(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    with pytest.raises(BundleThresholdError):
        open_(pact, _rotation(pact, new_keys, pact.governance[:2]), previous=open_(pact))  # type: ignore[arg-type]


def test_a_rotation_signed_by_the_new_keys_only_is_refused(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    with pytest.raises(BundleThresholdError):
        open_(pact, _rotation(pact, new_keys, new_keys[:2]), previous=open_(pact))  # type: ignore[arg-type]


def test_a_rotation_needs_the_full_threshold_on_each_side(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    with pytest.raises(BundleThresholdError):
        open_(pact, _rotation(pact, new_keys, [*pact.governance[:2], new_keys[0]]))  # type: ignore[arg-type]
    with pytest.raises(BundleThresholdError):
        open_(pact, _rotation(pact, new_keys, [pact.governance[0], *new_keys[:2]]))  # type: ignore[arg-type]


def test_a_rotation_signed_by_both_thresholds_is_accepted(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    held = open_(pact)
    rotated = _rotation(pact, new_keys, [*pact.governance[1:], *new_keys[1:]])
    snapshot = open_(pact, rotated, previous=held)  # type: ignore[arg-type]
    assert snapshot.root.version == 2 and snapshot.versions["targets"] == 2
    assert {k.spki for k in snapshot.role_keys("root").values()} == {k.spki for k in new_keys}
    pact.repository = rotated  # type: ignore[assignment]
    # From then on the new keys alone sign the membership; the old ones no longer count.
    data, files = targets(pact, new_keys[:2])
    assert open_(pact, republish(pact, targets=data, files=files), previous=snapshot).versions["targets"] == 3
    data, files = targets(pact, pact.governance[:2])
    with pytest.raises(BundleThresholdError):
        open_(pact, republish(pact, targets=data, files=files), previous=snapshot)


def test_after_a_rotation_a_set_that_stops_at_the_old_root_is_a_rollback(pact: InMemoryAlliance,
                                                                          new_keys: list[SigningKey]) -> None:
    rotated = _rotation(pact, new_keys, [*pact.governance[:2], *new_keys[:2]])
    held = open_(pact, rotated)  # type: ignore[arg-type]
    assert held.root.version == 2
    chain_cut = dataclasses.replace(rotated.files(trusted_root_version=1), newer_roots=())  # type: ignore[attr-defined]
    with pytest.raises(BundleError):  # under root 1 the new targets lack signatures, and root 1 < root 2
        open_trust(chain_cut, now_s=NOW_S, grace_s=0, anchor=pact.anchor, previous=held)


def test_a_root_version_cannot_be_skipped(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    root = rotated_root(pact, new_keys, threshold=2, signers=[*pact.governance[:2], *new_keys[:2]], version=3)
    data, files = targets(pact, new_keys[:2])
    with pytest.raises(BundleRollbackError):
        open_(pact, republish(pact, root=root, targets=data, files=files))


def test_verifier_update_adopts_a_rotation_in_memory(pact: InMemoryAlliance, new_keys: list[SigningKey]) -> None:
    verifier = pact.verifier()
    rotated = _rotation(pact, new_keys, [*pact.governance[:2], *new_keys[:2]])
    assert verifier.update(rotated.files(trusted_root_version=1)) is True  # type: ignore[attr-defined]
    assert verifier.snapshot.root.version == 2 and verifier.snapshot.anchor.version == 1  # the pin stays
    code = pact.issue(QUZHOU).code
    assert verifier.verify(code).city == QUZHOU


# --- membership changes ---------------------------------------------------------------------------------


def test_removing_a_city_does_not_break_a_client_holding_the_previous_snapshot(pact: InMemoryAlliance) -> None:
    held = open_(pact)
    jiaxing_code = pact.issue(JIAXING).code
    data, files = targets(pact, pact.governance[:2], members=[HANGZHOU, QUZHOU])
    smaller = republish(pact, targets=data, files=files)
    assert f"city-{JIAXING}" in smaller.roles  # the snapshot keeps listing the removed role (SPEC 6.10)
    snapshot = open_(pact, smaller, previous=held)
    assert sorted(snapshot.cities) == [HANGZHOU, QUZHOU] and snapshot.versions["targets"] == 2
    verifier = Verifier(snapshot, config=VerifierConfig(grace_s=0), clock=lambda: NOW_S)
    with pytest.raises(KeyUnknownError):
        verifier.verify(jiaxing_code)
    verifier.update_status_list(QUZHOU, pact.status_lists[QUZHOU])
    assert verifier.verify(pact.issue(QUZHOU).code).city == QUZHOU
    # The verifier that held Jiaxing follows the change too.
    old_verifier = pact.verifier()
    assert old_verifier.update(smaller.files(trusted_root_version=1)) is True
    assert JIAXING not in old_verifier.snapshot.cities
    with pytest.raises(KeyUnknownError):
        old_verifier.verify(jiaxing_code)


def test_unchanged_roles_are_reused_when_a_set_is_reopened(pact: InMemoryAlliance) -> None:
    held = open_(pact)
    newer = open_(pact, pact.publish_city(HANGZHOU), previous=held)
    assert newer.cities[QUZHOU] is held.cities[QUZHOU]  # not verified again
    assert newer.cities[HANGZHOU] is not held.cities[HANGZHOU] and newer.cities[HANGZHOU].version == 2


# --- arbitrary input ------------------------------------------------------------------------------------

_ALLIANCE = InMemoryAlliance(now_s=NOW_S, agreements=[HZ_QZ])
assert _ALLIANCE.repository is not None
_FILES = _ALLIANCE.repository.files(trusted_root_version=1)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["timestamp", "snapshot", "targets", "newer_roots", "role", "part"]), st.binary(max_size=300),
       st.booleans())
def test_arbitrary_trust_files_give_only_bundle_errors(which: str, data: bytes, as_json: bool) -> None:
    if as_json:
        data = b'{"signed": ' + data + b', "signatures": []}'
    if which == "newer_roots":
        files = dataclasses.replace(_FILES, newer_roots=(data,))
    elif which == "role":
        files = dataclasses.replace(_FILES, roles={**_FILES.roles, f"city-{QUZHOU}": data})
    elif which == "part":
        files = dataclasses.replace(_FILES, targets_files={**_FILES.targets_files,
                                                           city_part_path(QUZHOU, "offers"): data})
    else:
        files = dataclasses.replace(_FILES, **{which: data})
    with contextlib.suppress(BundleError):
        open_trust(files, now_s=NOW_S, grace_s=0, anchor=_ALLIANCE.anchor)


def test_files_is_what_a_client_needs() -> None:
    assert isinstance(_FILES, TrustFiles) and _FILES.root == _ALLIANCE.anchor.data and _FILES.newer_roots == []
    assert datetime.fromtimestamp(open_trust(_FILES, now_s=NOW_S, grace_s=0).expires_at_s, UTC) > \
        datetime.fromtimestamp(NOW_S, UTC)
