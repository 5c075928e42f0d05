"""The append-only, hash-chained audit log, and the pending records redemptions leave for it.

The chain. Each entry's `hash` is SHA-256 over the canonical JSON (sorted keys, no
spaces, UTF-8) of seq, at_s, actor, action, city, subject, details and `prev_hash`,
the previous entry's hash (64 zeros for the first). Editing an entry breaks its hash,
removing or reordering breaks a `prev_hash` link or the seq run, and removing the
tail is caught by `audit_head`, the row every appender locks. Subjects are holder
pseudonyms, key ids or offer ids: never identities. Admin actions and issuance append
to the chain inside their own transaction (`append_audit`).

Redemptions do not take the chain-head lock, which would serialise every redemption
of the cluster. The statement that stores a redemption and its idempotent answer also
stores an `audit_pending` record (`pending_record`): the same fields without seq and
prev_hash, keyed by the redemption id, with `hash` = SHA-256 over its canonical JSON.
The record commits with the redemption or not at all, so it is exactly as durable as
the acknowledged redemption. `chain_pending` then links pending records into the
chain, oldest first, in batches, deleting them in the same transaction. One chainer
runs at a time across the cluster: on PostgreSQL it takes a transaction-level
advisory lock (replicas that do not get it skip the round), then the head row lock
that admin appenders take as well; on SQLite the single writer does the same. Every
replica runs it every `audit_chain_interval_s`, `append_audit` links everything
pending before its own entry, and a replica links what is pending when it starts and
when it stops gracefully. So while any replica runs, a redemption is in the chain
within about `audit_chain_interval_s` (plus one batch per `CHAIN_BATCH` waiting).

`verify` (what `citycredit audit verify` runs) checks, in this order:

- the chain: every entry's hash, link and seq, and the head (as above);
- every pending record's hash: an edited pending record is found;
- completeness: every row of `redemptions` has exactly one audit record, chained or
  pending, naming the same redemption id, merchant credential (actor), holder
  (subject), city, offer, period and time; and every redemption the log names still
  has its row (deleting one would hand the quota back).

What it cannot find, as before for the chain's tail: a writer with database access
who rewrites a pending record *and* its redemption row consistently and recomputes
the record's hash before the chainer links it. That window is the chaining delay;
once linked, a record is covered by the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from citycredit.gateway.models import AuditEntry, AuditHead, AuditPending, RedemptionRow
from sqlalchemy import CursorResult, delete, insert, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

__all__ = [
    "CHAIN_BATCH",
    "GENESIS_HASH",
    "REDEMPTION",
    "AuditReport",
    "append_audit",
    "chain_pending",
    "entry_hash",
    "load_and_verify",
    "pending_record",
    "record_hash",
    "verify",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
REDEMPTION = "redemption"
CHAIN_BATCH = 2000  # pending records linked per chainer transaction
_CHAINER_LOCK = 0x63636368  # PostgreSQL advisory lock id of the chainer ("ccch")


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(*, seq: int, at_s: int, actor: str, action: str, city: int | None, subject: str | None,
               details: str, prev_hash: str) -> str:
    doc = {"seq": seq, "at_s": at_s, "actor": actor, "action": action, "city": city, "subject": subject,
           "details": json.loads(details), "prev_hash": prev_hash}
    return hashlib.sha256(_canonical(doc)).hexdigest()


def record_hash(*, id: str, at_s: int, actor: str, action: str, city: int | None, subject: str | None,
                details: str) -> str:
    """The hash of a pending record: its fields, canonical JSON, SHA-256."""
    doc = {"id": id, "at_s": at_s, "actor": actor, "action": action, "city": city, "subject": subject,
           "details": json.loads(details)}
    return hashlib.sha256(_canonical(doc)).hexdigest()


def pending_record(*, id: str, at_s: int, actor: str, action: str, city: int | None, subject: str | None,
                   details: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of a pending record (for the caller's insert, in the caller's transaction)."""
    text_ = _canonical(details).decode()
    return {"id": id, "at_s": at_s, "actor": actor, "action": action, "city": city, "subject": subject,
            "details": text_, "hash": record_hash(id=id, at_s=at_s, actor=actor, action=action, city=city,
                                                  subject=subject, details=text_)}


def _locked_head(session: Session) -> AuditHead:
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    return head if head is not None else AuditHead(id=1, seq=0, hash=GENESIS_HASH)


def _link_pending(session: Session, head: AuditHead, limit: int) -> int:
    """Link up to `limit` pending records after `head` (locked by the caller); returns how many."""
    table = SQLModel.metadata.tables["audit_pending"]  # Core, not ORM objects: a batch is thousands of rows
    pending = session.execute(sa_select(table.c.id, table.c.at_s, table.c.actor, table.c.action, table.c.city,
                                        table.c.subject, table.c.details)
                              .order_by(table.c.at_s, table.c.id).limit(limit)).all()
    if not pending:
        return 0
    rows = []
    seq, prev = head.seq, head.hash
    for _id, at_s, actor, action, city, subject, details in pending:
        seq += 1
        digest = entry_hash(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject,
                            details=details, prev_hash=prev)
        rows.append({"seq": seq, "at_s": at_s, "actor": actor, "action": action, "city": city, "subject": subject,
                     "details": details, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(SQLModel.metadata.tables["audit_log"]), rows)
    removed = cast(CursorResult[Any], session.execute(delete(table).where(table.c.id.in_([r[0] for r in pending]))))
    if removed.rowcount != len(pending):  # pragma: no cover - the head lock makes this impossible
        raise RuntimeError("pending audit records changed while being linked")
    head.seq, head.hash = seq, prev
    session.add(head)
    session.flush()
    return len(pending)


def append_audit(session: Session, *, at_s: int, actor: str, action: str, city: int | None = None,
                 subject: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry inside the caller's write transaction (call it last: it locks the chain head).

    Pending records are linked first, so the chain keeps them before the entry that follows them.
    """
    head = _locked_head(session)
    while _link_pending(session, head, CHAIN_BATCH) == CHAIN_BATCH:
        pass
    text_ = _canonical(details or {}).decode()
    seq = head.seq + 1
    digest = entry_hash(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject, details=text_,
                        prev_hash=head.hash)
    entry = AuditEntry(seq=seq, at_s=at_s, actor=actor, action=action, city=city, subject=subject, details=text_,
                       prev_hash=head.hash, hash=digest)
    head.seq, head.hash = seq, digest
    session.add(entry)
    session.add(head)
    return entry


def chain_pending(session: Session, *, limit: int = CHAIN_BATCH) -> int:
    """One chainer round in the caller's write transaction: link up to `limit` pending records.

    Returns how many were linked; 0 when another replica's chainer holds the lock.
    """
    if session.get_bind().dialect.name == "postgresql" and not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _CHAINER_LOCK}).scalar():
        return 0
    if session.exec(select(AuditPending.id).limit(1)).first() is None:
        return 0  # nothing to do: do not touch the head row
    return _link_pending(session, _locked_head(session), limit)


@dataclass(frozen=True)
class AuditReport:
    """The outcome of a check: `bad_seq` is the first chain entry that does not hold, `bad_record` the
    redemption (or pending record) id that does not; `pending` counts records not linked yet."""

    entries: int
    bad_seq: int | None = None
    reason: str = ""
    pending: int = 0
    bad_record: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_seq is None and self.bad_record is None


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


def _redemption_facts(actor: str, city: int | None, subject: str | None, at_s: int,
                      details: Mapping[str, Any]) -> tuple[object, ...]:
    return (actor, city, subject, at_s, details.get("offer"), details.get("period"))


def verify(entries: Iterable[AuditEntry], head: AuditHead | None, pending: Iterable[AuditPending],
           redemptions: Iterable[RedemptionRow]) -> AuditReport:
    """The chain, then the pending records' hashes, then one matching record per stored redemption."""
    entries = list(entries)
    report = verify_chain(entries, head)
    if not report.ok:
        return report
    count = report.entries
    recorded: dict[str, tuple[str, tuple[object, ...]]] = {}  # redemption id -> (where, facts)
    for entry in entries:
        if entry.action != REDEMPTION:
            continue
        details = json.loads(entry.details)
        rid = str(details.get("redemption_id"))
        if rid in recorded:
            return AuditReport(count, entry.seq, f"redemption {rid} is recorded twice", bad_record=rid)
        recorded[rid] = (f"entry {entry.seq}",
                         _redemption_facts(entry.actor, entry.city, entry.subject, entry.at_s, details))
    pending = list(pending)
    for record in pending:
        try:
            digest = record_hash(id=record.id, at_s=record.at_s, actor=record.actor, action=record.action,
                                 city=record.city, subject=record.subject, details=record.details)
            details = json.loads(record.details)
        except ValueError:
            return AuditReport(count, None, "its details are not valid JSON", len(pending), record.id)
        if digest != record.hash:
            return AuditReport(count, None, f"pending record {record.id} does not match its hash (edited)",
                               len(pending), record.id)
        rid = str(details.get("redemption_id"))
        if record.action != REDEMPTION or rid != record.id or rid in recorded:
            return AuditReport(count, None, f"pending record {record.id} is not one redemption's only record",
                               len(pending), record.id)
        recorded[rid] = ("its pending record",
                         _redemption_facts(record.actor, record.city, record.subject, record.at_s, details))
    for row in redemptions:
        found = recorded.pop(row.id, None)
        if found is None:
            return AuditReport(count, None, f"redemption {row.id} has no audit record", len(pending), row.id)
        where, facts = found
        if facts != (row.credential_id, row.city, row.holder, row.created_at_s, row.offer_id, row.period_key):
            return AuditReport(count, None, f"redemption {row.id} does not match {where}", len(pending), row.id)
    if recorded:
        rid, (where, _facts) = min(recorded.items())
        return AuditReport(count, None, f"redemption {rid} of {where} is missing from the redemptions table",
                           len(pending), rid)
    return AuditReport(count, pending=len(pending))


def load_and_verify(session: Session) -> AuditReport:
    """Read the log, the pending records and the redemptions in one snapshot, and `verify` them."""
    if session.get_bind().dialect.name == "postgresql":  # SQLite's read transaction is one snapshot already
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    entries = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).first()
    pending = session.exec(select(AuditPending).order_by(AuditPending.id)).all()
    redemptions = session.exec(select(RedemptionRow).order_by(RedemptionRow.id)).all()
    return verify(entries, head, pending, redemptions)
