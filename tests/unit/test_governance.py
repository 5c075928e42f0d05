"""`citycredit.governance`: proposals a member reads and signs, and what publishing them does to a client."""

from __future__ import annotations

import pytest
from citycredit import SigningKey, Verifier, VerifierConfig
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import Agreement, publish
from citycredit.errors import BundleThresholdError, InvalidArgumentError
from citycredit.governance import PROPOSAL_FORMAT, Proposal, describe, propose_governance, propose_membership, sign
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

HANGZHOU, QUZHOU, JIAXING, ZHOUSHAN = 330100, 330800, 330400, 330900


@pytest.fixture
def pact() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S, agreements=[
        Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=NOW_S)])


def _publish(alliance: InMemoryAlliance, proposal: Proposal) -> Verifier:
    """What a gateway does with a proposal: publish it, keeping the result only if a verifier accepts it."""
    repository = publish(alliance.repository, snapshot_signer=alliance.snapshot_key,
                         timestamp_signer=alliance.timestamp_key, now_s=NOW_S, root=proposal.root,
                         targets=proposal.targets, files=proposal.files)
    verifier = Verifier.from_files(repository.files(trusted_root_version=1), anchor=alliance.anchor,
                                   status_lists=alliance.status_lists, config=VerifierConfig(grace_s=0),
                                   clock=lambda: NOW_S)
    alliance.repository = repository
    return verifier


def test_a_proposal_is_a_file_anyone_can_read(pact: InMemoryAlliance) -> None:
    current = pact.snapshot()
    authority = SigningKey.generate()
    member = trust_pb2.Member(city=ZHOUSHAN, slug="zhoushan", name_zh="舟山", name_en="Zhoushan")
    proposal = propose_membership(current, now_s=NOW_S, add=[member], authorities={ZHOUSHAN: authority})
    again = Proposal.from_json(proposal.to_json())
    assert again == proposal and PROPOSAL_FORMAT in proposal.to_json()
    assert proposal.signers() == {"targets": []} and proposal.root is None
    lines = describe(proposal, current)
    assert lines[0] == "add member 330900 zhoushan (舟山 Zhoushan)"
    assert any("targets version 2" in line for line in lines) and any("330900 zhoushan" in line for line in lines)
    assert any(line.startswith("current: root 1, targets 1, 3 members") for line in lines)
    for bad in ("", "{}", '{"format": "other"}', '{"format": "citycredit-proposal/1"}'):
        with pytest.raises(InvalidArgumentError):
            Proposal.from_json(bad)


def test_a_membership_change_takes_the_governance_threshold(pact: InMemoryAlliance) -> None:
    member = trust_pb2.Member(city=ZHOUSHAN, slug="zhoushan", name_zh="舟山", name_en="Zhoushan")
    proposal = propose_membership(pact.snapshot(), now_s=NOW_S, add=[member],
                                  authorities={ZHOUSHAN: SigningKey.generate()})
    one = sign(proposal, pact.governance[0])
    with pytest.raises(BundleThresholdError):
        _publish(pact, one)
    two = sign(one, pact.governance[2])
    assert len(two.signers()["targets"]) == 2
    verifier = _publish(pact, two)
    assert verifier.snapshot.versions["targets"] == 2


def test_removing_a_city_drops_its_agreements(pact: InMemoryAlliance) -> None:
    proposal = propose_membership(pact.snapshot(), now_s=NOW_S, remove=[QUZHOU])
    assert proposal.summary == ("drop agreement hz-qz (it binds 330800)", "remove member 330800")
    for signer in pact.governance[:2]:
        proposal = sign(proposal, signer)
    verifier = _publish(pact, proposal)
    assert sorted(verifier.snapshot.cities) == [HANGZHOU, JIAXING] and verifier.snapshot.agreements == ()


def test_refused_proposals(pact: InMemoryAlliance) -> None:
    current = pact.snapshot()
    hangzhou = trust_pb2.Member(city=HANGZHOU, slug="hangzhou")
    with pytest.raises(InvalidArgumentError, match="already a member"):
        propose_membership(current, now_s=NOW_S, add=[hangzhou])
    with pytest.raises(InvalidArgumentError, match="not a member"):
        propose_membership(current, now_s=NOW_S, remove=[ZHOUSHAN])
    with pytest.raises(InvalidArgumentError, match="add it first"):
        propose_membership(current, now_s=NOW_S, authorities={ZHOUSHAN: SigningKey.generate()})
    with pytest.raises(InvalidArgumentError, match="no agreement"):
        propose_membership(current, now_s=NOW_S, drop_agreements=["nope"])
    with pytest.raises(InvalidArgumentError, match="without an authority key"):
        propose_membership(current, now_s=NOW_S, add=[trust_pb2.Member(city=ZHOUSHAN, slug="zhoushan")])
    with pytest.raises(InvalidArgumentError):
        propose_governance(current, keys=[SigningKey.generate()], threshold=2, now_s=NOW_S)


def test_a_governance_rotation_is_signed_by_old_and_new(pact: InMemoryAlliance) -> None:
    new = [SigningKey.generate() for _ in range(3)]
    proposal = propose_governance(pact.snapshot(), keys=new, threshold=2, now_s=NOW_S)
    assert proposal.root is not None and proposal.signers() == {"targets": [], "root": []}
    assert "root version 2: 3 governance keys, threshold 2" in proposal.summary[0]
    only_old = sign(sign(proposal, pact.governance[0]), pact.governance[1])
    with pytest.raises(BundleThresholdError):
        _publish(pact, only_old)
    only_new = sign(sign(proposal, new[0]), new[1])
    with pytest.raises(BundleThresholdError):
        _publish(pact, only_new)
    both = sign(sign(only_old, new[0]), new[2])
    verifier = _publish(pact, both)
    assert verifier.snapshot.root.version == 2 and verifier.snapshot.versions["targets"] == 2
    assert {k.spki for k in verifier.snapshot.role_keys("root").values()} == {k.spki for k in new}
    # The next membership change needs the new members only.
    follow_up = propose_membership(verifier.snapshot, now_s=NOW_S, remove=[JIAXING])
    with pytest.raises(BundleThresholdError):
        _publish(pact, sign(sign(follow_up, pact.governance[0]), pact.governance[1]))
    assert sorted(_publish(pact, sign(sign(follow_up, new[1]), new[2])).snapshot.cities) == [HANGZHOU, QUZHOU]
