"""A trust set on disk in the served layout (SPEC 6.6): written file by file, read by following the timestamp."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from citycredit import Verifier
from citycredit._trustdir import read_status_lists, read_trust_dir, write_trust_dir
from citycredit.core import open_trust
from citycredit.errors import BundleMalformedError, NotFoundError
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S


def test_the_layout_and_a_round_trip(alliance: InMemoryAlliance, tmp_path: Path) -> None:
    assert alliance.repository is not None
    write_trust_dir(tmp_path, alliance.repository, alliance.status_lists)
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {"metadata/1.root.json", "metadata/timestamp.json", "metadata/1.snapshot.json", "metadata/1.targets.json",
            "metadata/1.city-330100.json", "status/330100.pb"} <= names
    assert sum(n.startswith("targets/cities/330100/") for n in names) == 3
    assert all(os.stat(tmp_path / n).st_mode & 0o777 == 0o644 for n in names)
    files = read_trust_dir(tmp_path, trusted_root=alliance.anchor.data)
    assert files.timestamp == alliance.repository.timestamp and files.roles == alliance.repository.roles
    assert files.targets_files == alliance.repository.targets_files and list(files.newer_roots) == []
    assert read_status_lists(tmp_path) == alliance.status_lists
    assert open_trust(files, now_s=NOW_S, grace_s=0, anchor=alliance.anchor).version == 1


def test_a_new_version_replaces_the_old_files_but_keeps_every_root(alliance: InMemoryAlliance, tmp_path: Path) -> None:
    assert alliance.repository is not None
    write_trust_dir(tmp_path, alliance.repository)
    write_trust_dir(tmp_path, alliance.publish_city(330100))
    metadata = {p.name for p in (tmp_path / "metadata").iterdir()}
    assert "2.snapshot.json" in metadata and "1.snapshot.json" not in metadata
    assert "2.city-330100.json" in metadata and "1.city-330100.json" not in metadata and "1.root.json" in metadata
    assert len(list((tmp_path / "targets" / "cities" / "330100").iterdir())) == 3


def test_missing_files(alliance: InMemoryAlliance, tmp_path: Path) -> None:
    assert alliance.repository is not None
    write_trust_dir(tmp_path, alliance.repository, alliance.status_lists)
    (tmp_path / "anchor.json").write_bytes(alliance.anchor.data)
    part = next((tmp_path / "targets" / "cities" / "330800").iterdir())
    part.unlink()  # a part the role lists: the core words the refusal
    with pytest.raises(BundleMalformedError, match="missing"):
        Verifier.from_directory(tmp_path, clock=lambda: NOW_S)
    (tmp_path / "metadata" / "timestamp.json").unlink()
    with pytest.raises(NotFoundError):
        read_trust_dir(tmp_path, trusted_root=alliance.anchor.data)
    (tmp_path / "metadata" / "timestamp.json").write_text("not json")
    with pytest.raises(BundleMalformedError):
        read_trust_dir(tmp_path, trusted_root=alliance.anchor.data)


def test_only_six_digit_status_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "status").mkdir()
    for name in ("330100.pb", "33010.pb", "notes.pb", "330800.txt"):
        (tmp_path / "status" / name).write_bytes(name.encode())
    assert read_status_lists(tmp_path) == {330100: b"330100.pb"}
