"""The append-only, hash-chained audit log.

Each entry's `hash` is SHA-256 over the canonical JSON (sorted keys, no spaces,
UTF-8) of seq, at_s, actor, action, city, subject, details and `prev_hash`, the
previous entry's hash (64 zeros for the first). Editing an entry breaks its hash,
removing or reordering breaks a `prev_hash` link or the seq run, and removing the
tail is caught by `audit_head`, the row every appender locks. Subjects are holder
pseudonyms, key ids or offer ids: never identities.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from citycredit.gateway.models import AuditEntry, AuditHead
from sqlmodel import Session, select

__all__ = ["GENESIS_HASH", "AuditReport", "append_audit", "entry_hash", "verify_chain"]

GENESIS_HASH = "0" * 64


def entry_hash(*, seq: int, at_s: int, actor: str, action: str, city: int | None, subject: str | None,
               details: str, prev_hash: str) -> str:
    doc = {"seq": seq, "at_s": at_s, "actor": actor, "action": action, "city": city, "subject": subject,
           "details": json.loads(details), "prev_hash": prev_hash}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def append_audit(session: Session, *, at_s: int, actor: str, action: str, city: int | None = None,
                 subject: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry inside the caller's write transaction (call it last: it locks the chain head)."""
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
    text = json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    seq = head.seq + 1
    digest = entry_hash(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject, details=text,
                        prev_hash=head.hash)
    entry = AuditEntry(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject, details=text,
                       prev_hash=head.hash, hash=digest)
    head.seq, head.hash = seq, digest
    session.add(entry)
    session.add(head)
    return entry


@dataclass(frozen=True)
class AuditReport:
    """The outcome of checking the chain: `bad_seq` is the first entry that does not hold."""

    entries: int
    bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def verify_chain(entries: Iterable[AuditEntry], head: AuditHead | None) -> AuditReport:
    """Walk the entries in stored seq order and check every hash, link and the head."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return AuditReport(count, expected_seq, f"entry {expected_seq} is missing (next stored is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return AuditReport(count, entry.seq, "its prev_hash does not link to the entry before it")
        try:
            digest = entry_hash(seq=entry.seq, at_s=entry.at_s, actor=entry.actor, action=entry.action,
                                city=entry.city, subject=entry.subject, details=entry.details,
                                prev_hash=entry.prev_hash)
        except ValueError:
            return AuditReport(count, entry.seq, "its details are not valid JSON")
        if digest != entry.hash:
            return AuditReport(count, entry.seq, "its contents do not match its hash (edited)")
        prev_hash, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    if head_seq != count or head_hash != prev_hash:
        return AuditReport(count, count + 1 if head_seq > count else head_seq,
                           f"the chain head records {head_seq} entries ending in {head_hash[:12]}…, "
                           f"the log holds {count}")
    return AuditReport(count)


def load_and_verify(session: Session) -> AuditReport:
    entries = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).first()
    return verify_chain(entries, head)
