"""The governance ceremony: propose a membership change, each member signs it on their own machine, publish.

    proposal = propose_membership(current, add=[member], authorities={330900: key}, now_s=now)
    print(describe(proposal, current))                 # what the members are asked to sign
    proposal = sign(proposal, my_key)                  # one member, offline
    publish_files(proposal)                            # once the threshold of valid signatures is there

A proposal is a file (`citycredit-proposal/1`, JSON): the new top-level targets (the
membership part and the delegations: who the members are, each city's authority key,
the agreements' roles) and, for a change of governance, the next root. Members sign
exactly those bytes; anyone can read a proposal before signing (`describe`). A rotation
of the governance keys or threshold is signed by the threshold of the old root and by
that of the new one (TUF's rule), and carries top-level targets re-signed by the new keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tuf.api.metadata import Metadata, Root, Targets

from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import (
    MEMBERSHIP_PATH,
    Signer,
    TrustSnapshot,
    VerifyingKey,
    add_signature,
    membership_part,
    root_metadata,
    sign_metadata,
    targets_metadata,
)
from citycredit.errors import InvalidArgumentError

__all__ = ["PROPOSAL_FORMAT", "Proposal", "describe", "propose_governance", "propose_membership", "sign"]

PROPOSAL_FORMAT = "citycredit-proposal/1"


@dataclass(frozen=True)
class Proposal:
    """A change of membership (new top-level targets) and optionally of governance (a new root)."""

    summary: tuple[str, ...]
    targets: bytes
    files: Mapping[str, bytes] = field(default_factory=dict)
    root: bytes | None = None

    def to_json(self) -> str:
        return json.dumps({"format": PROPOSAL_FORMAT, "summary": list(self.summary),
                           "root": None if self.root is None else self.root.decode(),
                           "targets": self.targets.decode(),
                           "files": {p: base64.b64encode(d).decode() for p, d in sorted(self.files.items())}},
                          ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Proposal:
        try:
            doc = json.loads(text)
            if doc["format"] != PROPOSAL_FORMAT:
                raise ValueError(f"not a {PROPOSAL_FORMAT} file")
            return cls(summary=tuple(doc["summary"]), targets=doc["targets"].encode(),
                       root=None if doc["root"] is None else doc["root"].encode(),
                       files={p: base64.b64decode(d) for p, d in doc["files"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidArgumentError(f"the proposal is malformed: {exc}") from None

    def signers(self) -> dict[str, list[str]]:
        """The key ids that signed the root and the targets so far (not verified: publishing verifies)."""
        out = {"targets": sorted(Metadata.from_bytes(self.targets).signatures)}
        if self.root is not None:
            out["root"] = sorted(Metadata.from_bytes(self.root).signatures)
        return out


def _members(snapshot: TrustSnapshot) -> dict[int, trust_pb2.Member]:
    return dict(snapshot.members)


def _authorities(snapshot: TrustSnapshot) -> dict[int, VerifyingKey]:
    return dict(snapshot.authorities)


def _agreements(snapshot: TrustSnapshot) -> dict[str, frozenset[int]]:
    targets = Metadata[Targets].from_bytes(snapshot.files.targets).signed
    delegations = targets.delegations.roles or {} if targets.delegations is not None else {}
    keyid_city = {targets.get_delegated_role(f"city-{c:06d}").keyids[0]: c for c in snapshot.cities}
    return {name.removeprefix("agreement-"): frozenset(keyid_city[k] for k in role.keyids if k in keyid_city)
            for name, role in delegations.items() if name.startswith("agreement-")}


def propose_membership(current: TrustSnapshot, *, now_s: int, add: Iterable[trust_pb2.Member] = (),
                       authorities: Mapping[int, VerifyingKey | Signer] | None = None, remove: Iterable[int] = (),
                       agreements: Mapping[str, Iterable[int]] | None = None, drop_agreements: Iterable[str] = (),
                       ttl_s: int | None = None) -> Proposal:
    """New top-level targets: members added or removed, cities' authority keys set, agreements' roles delegated."""
    members = _members(current)
    keys: dict[int, VerifyingKey | Signer] = dict(_authorities(current))
    pacts = _agreements(current)
    summary = []
    for member in add:
        if member.city in members:
            raise InvalidArgumentError(f"{member.city:06d} is already a member")
        members[member.city] = member
        summary.append(f"add member {member.city:06d} {member.slug} ({member.name_zh} {member.name_en})")
    for city, key in (authorities or {}).items():
        if city not in members:
            raise InvalidArgumentError(f"{city:06d} is not a member; add it first")
        verb = "set" if city not in keys else "rotate"
        keys[city] = key
        summary.append(f"{verb} the authority key of {city:06d} to {key.spki.hex()[-16:]}…")
    for city in remove:
        if city not in members:
            raise InvalidArgumentError(f"{city:06d} is not a member")
        del members[city]
        keys.pop(city, None)
        for name in [n for n, cities in pacts.items() if city in cities]:
            del pacts[name]
            summary.append(f"drop agreement {name} (it binds {city:06d})")
        summary.append(f"remove member {city:06d}")
    for name in drop_agreements:
        if pacts.pop(name, None) is None:
            raise InvalidArgumentError(f"no agreement {name} is delegated")
        summary.append(f"drop agreement {name}")
    for name, cities in (agreements or {}).items():
        pacts[name] = frozenset(cities)
        summary.append(f"delegate agreement {name} to the authority keys of "
                       f"{', '.join(f'{c:06d}' for c in sorted(pacts[name]))} (all must sign it)")
    missing = sorted(c for c in members if c not in keys)
    if missing:
        raise InvalidArgumentError(f"members without an authority key: {missing}")
    membership = membership_part(current.alliance, members.values())
    version = current.versions["targets"] + 1
    targets = targets_metadata(membership=membership, authorities=keys, agreements=pacts, version=version,
                               now_s=now_s, **({"ttl_s": ttl_s} if ttl_s else {}))
    return Proposal(summary=tuple(summary) or ("re-sign the membership unchanged",),
                    targets=sign_metadata(targets, []), files={MEMBERSHIP_PATH: membership})


def propose_governance(current: TrustSnapshot, *, keys: Sequence[VerifyingKey | Signer], threshold: int, now_s: int,
                       timestamp_key: VerifyingKey | Signer | None = None,
                       snapshot_key: VerifyingKey | Signer | None = None) -> Proposal:
    """The next root (new governance keys, threshold or gateway keys) and the targets re-signed under it."""
    root = current.root

    def online(role: str) -> VerifyingKey:
        return next(iter(current.role_keys(role).values()))

    new_root = root_metadata(governance=keys, threshold=threshold, now_s=now_s, version=root.version + 1,
                             timestamp_key=timestamp_key or online("timestamp"),
                             snapshot_key=snapshot_key or online("snapshot"))
    membership = propose_membership(current, now_s=now_s)
    summary = (f"root version {root.version + 1}: {len(keys)} governance keys, threshold {threshold} "
               f"(was {len(root.roles['root'].keyids)} keys, threshold {root.roles['root'].threshold})",
               "top-level targets re-signed under the new keys")
    return Proposal(summary=summary, targets=membership.targets, files=membership.files,
                    root=sign_metadata(new_root, []))


def sign(proposal: Proposal, signer: Signer) -> Proposal:
    """Add one member's signature to what the proposal asks them to sign."""
    targets = add_signature(proposal.targets, signer)
    root = add_signature(proposal.root, signer) if proposal.root is not None else None
    return Proposal(summary=proposal.summary, targets=targets, files=proposal.files, root=root)


def describe(proposal: Proposal, current: TrustSnapshot | None = None) -> list[str]:
    """What a member reads before signing: the change, the versions, and who signed so far."""
    targets = Metadata[Targets].from_bytes(proposal.targets).signed
    lines = [*proposal.summary, f"top-level targets version {targets.version}, expires {targets.expires:%Y-%m-%d}"]
    if proposal.root is not None:
        root: Root = Metadata[Root].from_bytes(proposal.root).signed
        lines.append(f"root version {root.version}, expires {root.expires:%Y-%m-%d}, governance threshold "
                     f"{root.roles['root'].threshold} of {len(root.roles['root'].keyids)}")
    membership = trust_pb2.Membership.FromString(proposal.files.get(MEMBERSHIP_PATH, b""))
    lines.append("members: " + ", ".join(f"{m.city:06d} {m.slug}" for m in membership.members))
    if current is not None:
        lines.append(f"current: root {current.versions['root']}, targets {current.versions['targets']}, "
                     f"{len(current.cities)} members")
    for role, keyids in proposal.signers().items():
        lines.append(f"signatures on {role}: {len(keyids)} ({', '.join(k[:12] for k in keyids) or 'none'})")
    return lines
