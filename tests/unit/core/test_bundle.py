from __future__ import annotations

import contextlib

import pytest
from citycredit import SigningKey, TrustAnchor, Verifier
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.core import open_bundle, sign_bundle
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
)
from citycredit.testing import InMemoryAlliance
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import NOW_S


def open_(alliance: InMemoryAlliance, data: bytes, **kw: object) -> object:
    return open_bundle(data, anchor=alliance.anchor, now_s=NOW_S, grace_s=0, **kw)  # type: ignore[arg-type]


def test_threshold_of_distinct_keys(alliance: InMemoryAlliance) -> None:
    g = alliance.governance
    assert open_(alliance, alliance.publish(signers=g[:2]))
    assert open_(alliance, alliance.publish(signers=g))
    with pytest.raises(BundleThresholdError):
        open_(alliance, alliance.publish(signers=g[:1]))
    with pytest.raises(BundleThresholdError):  # one key signing twice still counts once
        open_(alliance, alliance.publish(signers=[g[0], g[0]]))
    with pytest.raises(BundleThresholdError):  # outsiders do not count
        open_(alliance, alliance.publish(signers=[g[0], SigningKey.generate()]))


def test_tampered_body_fails_the_threshold(alliance: InMemoryAlliance) -> None:
    bundle = bundle_pb2.TrustBundle()
    bundle.ParseFromString(alliance.bundle)
    body = bytearray(bundle.body)
    body[-1] ^= 1
    bundle.body = bytes(body)
    with pytest.raises(BundleThresholdError):
        open_(alliance, bundle.SerializeToString())


def test_rollback_and_fork_are_refused(alliance: InMemoryAlliance) -> None:
    first = alliance.bundle
    second = alliance.publish()
    accepted = open_(alliance, second).accepted  # type: ignore[attr-defined]
    with pytest.raises(BundleRollbackError):
        open_(alliance, first, accepted=accepted)
    assert open_(alliance, second, accepted=accepted).version == accepted.version  # type: ignore[attr-defined]
    alliance.alliance.version -= 1  # the same version number, different contents
    alliance.alliance.name = "forked"
    fork = alliance.publish()
    with pytest.raises(BundleRollbackError):
        open_(alliance, fork, accepted=accepted)


def test_verifier_update_refuses_rollback(alliance: InMemoryAlliance) -> None:
    old = alliance.bundle
    verifier = alliance.verifier()
    newer = alliance.publish()
    assert verifier.update(newer) is True
    assert verifier.update(newer) is False
    with pytest.raises(BundleRollbackError):
        verifier.update(old)


def test_expiry_and_grace(alliance: InMemoryAlliance) -> None:
    expires = open_(alliance, alliance.bundle).expires_at_s  # type: ignore[attr-defined]
    assert open_bundle(alliance.bundle, anchor=alliance.anchor, now_s=expires, grace_s=0)
    assert open_bundle(alliance.bundle, anchor=alliance.anchor, now_s=expires + 100, grace_s=100)
    with pytest.raises(BundleStaleError):
        open_bundle(alliance.bundle, anchor=alliance.anchor, now_s=expires + 101, grace_s=100)


def test_governance_rotation_needs_old_and_new_thresholds(alliance: InMemoryAlliance) -> None:
    new_keys = [SigningKey.generate() for _ in range(3)]
    new_anchor = TrustAnchor(threshold=2, keys=tuple(k.verifying_key() for k in new_keys))
    alliance.alliance.governance = new_anchor
    with pytest.raises(BundleThresholdError):  # only the old keys signed
        open_(alliance, alliance.publish(signers=alliance.governance[:2]))
    with pytest.raises(BundleThresholdError):  # only the new keys signed
        open_(alliance, alliance.publish(signers=new_keys[:2]))
    both = alliance.publish(signers=alliance.governance[:2] + new_keys[:2])
    snapshot = open_(alliance, both)
    assert snapshot.anchor.same_keys(new_anchor)  # type: ignore[attr-defined]
    # From then on the new keys alone are enough for a verifier that accepted the rotation.
    verifier = Verifier(snapshot, clock=lambda: NOW_S)  # type: ignore[arg-type]
    assert verifier.update(alliance.publish(signers=new_keys[1:])) is True


def test_anchor_json_round_trip(alliance: InMemoryAlliance) -> None:
    again = TrustAnchor.from_json(alliance.anchor.to_json())
    assert again.same_keys(alliance.anchor)


@pytest.mark.parametrize("doc", ["", "{}", '{"threshold": 1, "keys": []}', '{"threshold": "2", "keys": []}',
                                 '{"threshold": 1, "keys": [{"algorithm": "rsa", "spki": "AA=="}]}',
                                 '{"threshold": 1, "keys": [{"algorithm": "ed25519", "spki": "not base64!"}]}'])
def test_bad_anchor_json(doc: str) -> None:
    with pytest.raises(BundleMalformedError):
        TrustAnchor.from_json(doc)


def test_malformed_bodies(alliance: InMemoryAlliance) -> None:
    g = alliance.governance[:2]
    body = alliance.alliance.body(version=9, now_s=NOW_S, ttl_s=60)
    body.cities[0].keys[0].kid = b"12345678"
    with pytest.raises(BundleMalformedError):
        open_(alliance, sign_bundle(body, g))
    body = alliance.alliance.body(version=9, now_s=NOW_S, ttl_s=60)
    body.cities[1].city = body.cities[0].city
    with pytest.raises(BundleMalformedError):
        open_(alliance, sign_bundle(body, g))
    body = alliance.alliance.body(version=9, now_s=NOW_S, ttl_s=60)
    body.expires_at = body.issued_at
    with pytest.raises(BundleMalformedError):
        open_(alliance, sign_bundle(body, g))


def test_status_list_cannot_inflate_beyond_its_size(alliance: InMemoryAlliance) -> None:
    import zlib

    body = alliance.alliance.body(version=9, now_s=NOW_S, ttl_s=60)
    body.cities[0].status_list.bits_zlib = zlib.compress(bytes(10_000_000))  # a small bomb
    snapshot = open_(alliance, sign_bundle(body, alliance.governance[:2]))
    with pytest.raises(BundleMalformedError):
        snapshot.status_bits(body.cities[0].city)  # type: ignore[attr-defined]


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_arbitrary_bundle_bytes_raise_only_bundle_errors(data: bytes) -> None:
    with contextlib.suppress(BundleError):
        open_bundle(data, anchor=_ANCHOR, now_s=NOW_S, grace_s=0)


_ANCHOR = TrustAnchor(threshold=1, keys=(SigningKey.generate().verifying_key(),))
