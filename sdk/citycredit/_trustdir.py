"""A trust set on disk, in the layout a gateway serves it under /v1/trust/ (a static web server can too).

    D/metadata/1.root.json, 2.root.json …   every root version (the rotation chain)
    D/metadata/timestamp.json               the current timestamp
    D/metadata/<v>.snapshot.json            the snapshot it names
    D/metadata/<v>.targets.json, <v>.city-330100.json, <v>.agreement-hz-qz.json …
    D/targets/cities/330100/<sha256>.keys.pb …   the parts, by content hash
    D/status/330100.pb                      each city's latest status list (SignedStatusList)

`read_trust_dir` follows timestamp -> snapshot -> roles -> parts and hands back the
files for `open_trust` (unverified: opening them is the core's work); `write_trust_dir`
writes a `Repository` and status lists there, atomically file by file, and drops files
no current version names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from tuf.api.metadata import Metadata, Snapshot, Targets, Timestamp

from citycredit._files import write_public
from citycredit.core import Repository, TrustFiles, served_path
from citycredit.errors import BundleMalformedError, NotFoundError

__all__ = ["read_status_lists", "read_trust_dir", "write_trust_dir"]


def _read(path: Path, *, named_by: str | None = None) -> bytes:
    """A file's bytes. One that another file of the set names (`named_by`) and is missing makes the set
    malformed; a missing timestamp means there is no trust set here at all."""
    try:
        return path.read_bytes()
    except OSError as exc:
        if named_by is not None:
            raise BundleMalformedError(f"{named_by} names {path.name}, which cannot be read: {exc.strerror}") \
                from None
        raise NotFoundError(f"cannot read {path}: {exc.strerror}") from None


def _version(data: bytes, what: str) -> Metadata[Snapshot]:
    try:
        return Metadata.from_bytes(data)
    except Exception as exc:  # python-tuf raises several types for malformed metadata
        raise BundleMalformedError(f"{what} is not TUF metadata: {exc}") from None


def read_trust_dir(directory: str | Path, *, trusted_root: bytes) -> TrustFiles:
    """The files of the trust set in `directory`, for a client that trusts `trusted_root`."""
    base = Path(directory)
    metadata = base / "metadata"
    root_version = _version(trusted_root, "the trusted root").signed.version
    newer: list[bytes] = []
    while (metadata / f"{root_version + len(newer) + 1}.root.json").is_file():
        newer.append(_read(metadata / f"{root_version + len(newer) + 1}.root.json"))
    timestamp = _read(metadata / "timestamp.json")
    stamp: Metadata[Timestamp] = _version(timestamp, "timestamp.json")  # type: ignore[assignment]
    snapshot = _read(metadata / served_path("metadata", "snapshot", stamp.signed.snapshot_meta.version),
                     named_by="timestamp.json")
    snap: Metadata[Snapshot] = _version(snapshot, "the snapshot")
    roles: dict[str, bytes] = {}
    targets = b""
    for name, meta in snap.signed.meta.items():
        role = name.removesuffix(".json")
        data = _read(metadata / served_path("metadata", role, meta.version), named_by="the snapshot")
        if role == "targets":
            targets = data
        else:
            roles[role] = data
    if not targets:
        raise BundleMalformedError("the snapshot names no top-level targets")
    files: dict[str, bytes] = {}
    for data in (targets, *roles.values()):
        signed: Targets = _version(data, "a targets role").signed  # type: ignore[assignment]
        for path, info in signed.targets.items():
            digest = info.hashes.get("sha256", "")
            directory_part, _, name = path.rpartition("/")
            stored = base / "targets" / directory_part / f"{digest}.{name}"
            with contextlib.suppress(NotFoundError):  # a missing part is open_trust's refusal to word
                files[path] = _read(stored)
    return TrustFiles(root=trusted_root, newer_roots=newer, timestamp=timestamp, snapshot=snapshot, targets=targets,
                      roles=roles, targets_files=files)


def read_status_lists(directory: str | Path) -> dict[int, bytes]:
    """The status lists kept beside the trust set, by city (each a serialized StatusListUpdate)."""
    found = {}
    for path in sorted((Path(directory) / "status").glob("*.pb")):
        if path.stem.isdigit() and len(path.stem) == 6:
            found[int(path.stem)] = path.read_bytes()
    return found


def write_trust_dir(directory: str | Path, repository: Repository,
                    status_lists: Mapping[int, bytes] | None = None) -> None:
    """Write the repository (and status lists, as StatusListUpdate bytes) in the served layout."""
    base = Path(directory)
    served = repository.served()
    for path, data in served.items():
        target = base / ("metadata/" + path if not path.startswith("targets/") else path)
        if not target.is_file() or target.read_bytes() != data:
            write_public(target, data)
    for city, data in (status_lists or {}).items():
        write_public(base / "status" / f"{city:06d}.pb", data)
    keep = {base / ("metadata/" + p if not p.startswith("targets/") else p) for p in served}
    for old in [*(base / "metadata").glob("*.json"), *(base / "targets").rglob("*.pb")]:
        if old not in keep and not old.name.endswith(".root.json"):
            old.unlink()
