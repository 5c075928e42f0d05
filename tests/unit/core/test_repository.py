"""Writing the trust set (SPEC 6.6, 6.10): served names, versions, what a publication keeps and drops."""

from __future__ import annotations

import hashlib

import pytest
from citycredit.core import MEMBERSHIP_PATH, Repository, SigningKey, publish, renew_timestamp, served_path
from citycredit.errors import InvalidArgumentError
from citycredit.testing import InMemoryAlliance
from tuf.api.metadata import Metadata

from tests.conftest import NOW_S
from tests.unit.core.trust_ops import open_, republish, rotated_root, targets


def _version(data: bytes) -> int:
    return int(Metadata.from_bytes(data).signed.version)


def test_served_names_are_tufs_consistent_snapshots() -> None:
    assert served_path("timestamp", "timestamp") == "timestamp.json"
    assert served_path("metadata", "snapshot", 3) == "3.snapshot.json"
    assert served_path("metadata", "city-330100", 7) == "7.city-330100.json"
    digest = hashlib.sha256(b"keys").hexdigest()
    assert served_path("target", "cities/330100/keys.pb", data=b"keys") == f"targets/cities/330100/{digest}.keys.pb"


def test_every_publication_is_the_next_snapshot_and_timestamp(alliance: InMemoryAlliance) -> None:
    first = alliance.repository
    assert first is not None and (_version(first.snapshot), _version(first.timestamp)) == (1, 1)
    second = alliance.publish_city(330100)
    assert (_version(second.snapshot), _version(second.timestamp)) == (2, 2)
    renewed = renew_timestamp(second, signer=alliance.timestamp_key, now_s=NOW_S + 60)
    assert (_version(renewed.snapshot), _version(renewed.timestamp)) == (2, 3)
    assert open_(alliance, renewed).versions["timestamp"] == 3
    served = renewed.served()
    assert {"1.root.json", "timestamp.json", "2.snapshot.json", "1.targets.json", "2.city-330100.json",
            "1.city-330800.json"} <= served.keys()
    assert sum(p.startswith("targets/cities/330100/") for p in served) == 3


def test_a_first_repository_needs_root_and_targets() -> None:
    key = SigningKey.generate()
    with pytest.raises(InvalidArgumentError):
        publish(None, snapshot_signer=key, timestamp_signer=key, now_s=NOW_S)


def test_a_removed_role_stays_in_the_snapshot_and_unlisted_files_go(alliance: InMemoryAlliance) -> None:
    data, files = targets(alliance, alliance.governance[:2], members=[330100, 330800])
    smaller = republish(alliance, targets=data, files=files)
    snapshot_meta = Metadata.from_bytes(smaller.snapshot).signed.meta
    assert "city-330400.json" in snapshot_meta  # clients refuse a snapshot that forgets a role
    assert any(p.startswith("cities/330400/") for p in smaller.targets_files)  # its role still lists them
    assert MEMBERSHIP_PATH in smaller.targets_files
    orphan = republish(alliance, smaller, files={"cities/330100/stray.pb": b"x"})
    assert "cities/330100/stray.pb" not in orphan.targets_files  # no role lists it


def test_files_start_from_the_root_a_client_trusts(alliance: InMemoryAlliance) -> None:
    new = [SigningKey.generate() for _ in range(3)]
    root = rotated_root(alliance, new, threshold=2, signers=[*alliance.governance[:2], *new[:2]])
    data, files = targets(alliance, new[:2])
    rotated = republish(alliance, root=root, targets=data, files=files)
    assert len(rotated.roots) == 2 and "2.root.json" in rotated.served()
    from_anchor = rotated.files(trusted_root_version=1)
    assert from_anchor.root == alliance.anchor.data and list(from_anchor.newer_roots) == [root]
    assert rotated.files().root == root and list(rotated.files().newer_roots) == []
    again = Repository.from_files(from_anchor)
    assert again.roots == rotated.roots and again.served() == rotated.served()
