"""Changes to an in-memory alliance's trust set that `InMemoryAlliance` has no method for, made with the core's
own writers: the gateway re-signing snapshot and timestamp, governance ceremonies, hostile variants."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from citycredit.core import (
    MEMBERSHIP_PATH,
    Repository,
    SigningKey,
    TrustSnapshot,
    membership_part,
    open_trust,
    publish,
    root_metadata,
    sign_metadata,
    targets_metadata,
)
from citycredit.testing import InMemoryAlliance
from tuf.api.metadata import Metadata, Targets

from tests.conftest import NOW_S

__all__ = ["open_", "republish", "rotated_root", "targets", "targets_version"]


def open_(alliance: InMemoryAlliance, repository: Repository | None = None, *, now_s: int = NOW_S,
          grace_s: int = 0, previous: TrustSnapshot | None = None, root_version: int = 1) -> TrustSnapshot:
    """Open a repository (the alliance's current one by default) as a client pinning the alliance's anchor."""
    repo = repository or alliance.repository
    assert repo is not None
    return open_trust(repo.files(trusted_root_version=root_version), now_s=now_s, grace_s=grace_s,
                      anchor=alliance.anchor, previous=previous)


def republish(alliance: InMemoryAlliance, repository: Repository | None = None, *, now_s: int | None = None,
              **changes: object) -> Repository:
    """What the gateway does: apply `changes` (root, targets, roles, files) and sign the next snapshot and timestamp."""
    return publish(repository or alliance.repository, snapshot_signer=alliance.snapshot_key,
                   timestamp_signer=alliance.timestamp_key, now_s=alliance.now_s if now_s is None else now_s,
                   **changes)  # type: ignore[arg-type]


def targets_version(repository: Repository) -> int:
    return int(Metadata[Targets].from_bytes(repository.targets).signed.version)


def targets(alliance: InMemoryAlliance, signers: Sequence[SigningKey], *, version: int | None = None,
            members: Iterable[int] | None = None, agreements: Mapping[str, Iterable[int]] | None = None,
            change: Callable[[Targets], None] | None = None) -> tuple[bytes, dict[str, bytes]]:
    """Top-level targets (and the membership part) over some of the alliance's members, signed by `signers`."""
    assert alliance.repository is not None
    cities = sorted(alliance.members if members is None else members)
    membership = membership_part(alliance.name, [alliance.members[c] for c in cities])
    metadata = targets_metadata(
        membership=membership, authorities={c: alliance.authority[c] for c in cities},
        agreements={a.id: a.cities for a in alliance.agreements.values()} if agreements is None else agreements,
        version=targets_version(alliance.repository) + 1 if version is None else version, now_s=alliance.now_s)
    if change is not None:
        change(metadata.signed)
    return sign_metadata(metadata, signers), {MEMBERSHIP_PATH: membership}


def rotated_root(alliance: InMemoryAlliance, new_keys: Sequence[SigningKey], *, threshold: int,
                 signers: Sequence[SigningKey], version: int = 2) -> bytes:
    """The next root naming `new_keys` as governance (same gateway keys), signed by `signers`."""
    metadata = root_metadata(governance=new_keys, threshold=threshold, timestamp_key=alliance.timestamp_key,
                             snapshot_key=alliance.snapshot_key, version=version, now_s=alliance.now_s)
    return sign_metadata(metadata, signers)
