"""Status lists (DESIGN 7): two bits per entry, signed by the city's status key, synced by delta.

Entry i is `(list[i // 4] >> (2 * (i % 4))) & 3`, least significant bits first as in
the IETF Token Status List: 0 VALID, 1 REVOKED, 2 SUSPENDED, 3 reserved (read as
REVOKED). The signed head carries the SHA-256 of the uncompressed list, so a verifier
holding version N can apply the changes to N+k and check the result against the new
head; a whole list comes zlib-compressed and is inflated with a bound (no zip bomb).

`StatusBitmap` is the issuer's side (mutable); `StatusList` what a verifier accepted;
`open_status_update` the one way from the wire to a `StatusList`.
"""

from __future__ import annotations

import enum
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from citycredit._gen.citycredit.v1 import status_pb2, trust_pb2
from citycredit.core._keys import Signer, VerifyingKey
from citycredit.errors import BundleMalformedError, BundleRollbackError, BundleStaleError, InvalidArgumentError

__all__ = [
    "MAX_STATUS_LIST_SIZE",
    "MIN_STATUS_LIST_SIZE",
    "STATUS_CONTEXT",
    "Status",
    "StatusBitmap",
    "StatusList",
    "grown_size",
    "open_status_update",
    "sign_part",
    "status_delta",
    "verify_part",
]

MIN_STATUS_LIST_SIZE = 131_072
# 2^32 entries (1 GiB of list): refused before anything is inflated.
MAX_STATUS_LIST_SIZE = 1 << 32
STATUS_CONTEXT = b"CCS1\x00"
_BITS = 2


class Status(enum.IntEnum):
    VALID = 0
    REVOKED = 1
    # Under appeal or a credit commitment (信用承诺): reversible.
    SUSPENDED = 2


def grown_size(size: int, used: int) -> int:
    """The list size for `used` live entries: at least twice as many entries as in use, doubling as needed.

    Keeping half the list free keeps random index picks cheap and the holders of a
    list many (herd privacy); sizes stay powers of two times the minimum.
    """
    size = max(size, MIN_STATUS_LIST_SIZE)
    while used * 2 > size:
        size *= 2
    if size > MAX_STATUS_LIST_SIZE:
        raise InvalidArgumentError(f"{used} live entries need more than {MAX_STATUS_LIST_SIZE} list entries")
    return size


def _check_size(size: int) -> None:
    if not MIN_STATUS_LIST_SIZE <= size <= MAX_STATUS_LIST_SIZE or size % 4:
        raise BundleMalformedError(f"status list size {size} is not a multiple of 4 between "
                                   f"{MIN_STATUS_LIST_SIZE} and {MAX_STATUS_LIST_SIZE}")


class StatusBitmap:
    """A mutable list of 2-bit entries (the issuer's copy)."""

    __slots__ = ("data", "size")

    def __init__(self, size: int = MIN_STATUS_LIST_SIZE, data: bytes | bytearray | None = None) -> None:
        _check_size(size)
        self.size = size
        self.data = bytearray(data) if data is not None else bytearray(size // 4)
        if len(self.data) != size // 4:
            raise InvalidArgumentError("status list data does not match its size")

    def get(self, index: int) -> int:
        return self.data[index >> 2] >> ((index & 3) << 1) & 3

    def set(self, index: int, status: Status | int) -> None:
        if not 0 <= index < self.size:
            raise InvalidArgumentError(f"status index {index} is outside the list (size {self.size})")
        if status not in (0, 1, 2):
            raise InvalidArgumentError(f"status {status} is not VALID, REVOKED or SUSPENDED")
        shift = (index & 3) << 1
        self.data[index >> 2] = self.data[index >> 2] & ~(3 << shift) & 0xFF | status << shift

    def grow(self, size: int) -> None:
        """Enlarge to `size` entries; the new ones are VALID."""
        if size < self.size:
            raise InvalidArgumentError("a status list never shrinks")
        _check_size(size)
        self.data.extend(bytes((size - self.size) // 4))
        self.size = size

    def count(self, status: Status | int) -> int:
        """Entries with this status (a linear scan: for reports and tests)."""
        if status == 0:
            return self.size - sum(self.count(s) for s in (1, 2, 3))
        table = bytes(sum(((b >> (2 * k)) & 3) == status for k in range(4)) for b in range(256))
        return sum(self.data.translate(table))

    def digest(self) -> bytes:
        return hashlib.sha256(self.data).digest()

    def compress(self) -> bytes:
        return zlib.compress(bytes(self.data), 9)

    def copy(self) -> StatusBitmap:
        return StatusBitmap(self.size, self.data)


def sign_part(body: bytes, signer: Signer, context: bytes) -> trust_pb2.SignedPart:
    """A SignedPart: `body` signed as context + body."""
    return trust_pb2.SignedPart(body=body, kid=signer.kid, signature=signer.sign(context + body))


def verify_part(part: trust_pb2.SignedPart, keys: Mapping[bytes, VerifyingKey], context: bytes, what: str) -> None:
    """Refuse a SignedPart not signed by one of `keys` (looked up by kid)."""
    key = keys.get(part.kid)
    if key is None:
        raise BundleMalformedError(f"{what} is signed by {part.kid.hex() or 'no key'}, not one of the city's "
                                   "status keys")
    if not key.verify(part.signature, context + part.body):
        raise BundleMalformedError(f"the signature of {what} does not verify")


@dataclass(frozen=True, slots=True, eq=False)
class StatusList:
    """A city's status list as a verifier accepted it."""

    city: int
    version: int
    size: int
    issued_at_s: int
    expires_at_s: int
    ttl_s: int
    # The signed head as received (its bytes are what a fork check compares), and the uncompressed list.
    head: bytes
    data: bytes

    def status(self, index: int) -> int:
        """The entry's status; an index beyond the list reads REVOKED (an issuer never hands one out)."""
        if index >= self.size:
            return 1
        return self.data[index >> 2] >> ((index & 3) << 1) & 3

    def bitmap(self) -> StatusBitmap:
        return StatusBitmap(self.size, self.data)


def _parse(message: status_pb2.StatusListUpdate | status_pb2.StatusListHead, data: bytes, what: str) -> None:
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise BundleMalformedError(f"{what} is not a valid {type(message).__name__}") from None


def open_status_update(update: bytes | status_pb2.StatusListUpdate, *, city: int,
                       status_keys: Mapping[bytes, VerifyingKey], previous: StatusList | None, now_s: int,
                       grace_s: int) -> StatusList:
    """Verify a whole list or a delta for `city` into the list it describes.

    Refuses a list not signed by one of the city's status keys, for another city, older
    than `previous` (rollback) or different under the same version (fork), a delta that
    does not start at `previous`, a result whose digest is not the signed one, and a
    list stale beyond the grace. Returns `previous` itself when the update is that very version.
    """
    if isinstance(update, bytes | bytearray):
        message = status_pb2.StatusListUpdate()
        _parse(message, bytes(update), "the status list update")
    else:
        message = update
    kind = message.WhichOneof("update")
    if kind is None:
        raise BundleMalformedError("the status list update carries neither a list nor a delta")
    signed = message.list.head if kind == "list" else message.delta.head
    verify_part(signed, status_keys, STATUS_CONTEXT, f"the status list of {city:06d}")
    head = status_pb2.StatusListHead()
    _parse(head, signed.body, "the status list head")
    if head.city != city:
        raise BundleMalformedError(f"a status list of {head.city:06d} was offered for {city:06d}")
    if head.bits != _BITS:
        raise BundleMalformedError(f"status lists have 2 bits per entry, not {head.bits}")
    _check_size(head.size)
    if head.expires_at <= head.issued_at:
        raise BundleMalformedError("the status list's expiry must follow its issue time")
    if previous is not None:
        if head.version < previous.version:
            raise BundleRollbackError(f"status list version {head.version} of {city:06d} is older than the "
                                      f"accepted {previous.version}")
        if head.version == previous.version:
            if signed.SerializeToString(deterministic=True) != previous.head:
                raise BundleRollbackError(f"a different status list of {city:06d} under accepted version "
                                          f"{head.version}")
            return previous
    if previous is not None and head.size < previous.size:
        raise BundleMalformedError(f"the status list of {city:06d} shrank from {previous.size} to {head.size} entries")
    if now_s > head.expires_at + grace_s:
        raise BundleStaleError(f"the status list of {city:06d} (version {head.version}) expired at "
                               f"{head.expires_at} and the grace of {grace_s} s is over")
    data = _inflate(message.list.list_zlib, head.size // 4) if kind == "list" else _apply(message.delta, head, previous)
    if hashlib.sha256(data).digest() != head.list_sha256:
        raise BundleMalformedError(f"the status list of {city:06d} does not match its signed digest")
    return StatusList(city=city, version=head.version, size=head.size, issued_at_s=head.issued_at,
                      expires_at_s=head.expires_at, ttl_s=head.ttl_s,
                      head=signed.SerializeToString(deterministic=True), data=data)


def _inflate(data: bytes, length: int) -> bytes:
    """Inflate at most `length` bytes: a hostile list cannot expand beyond what its head declares."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, length)
    except zlib.error as exc:
        raise BundleMalformedError(f"the status list is not valid zlib data: {exc}") from None
    if len(raw) != length or inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise BundleMalformedError("the status list's length does not match its declared size")
    return raw


def _apply(delta: status_pb2.StatusListDelta, head: status_pb2.StatusListHead, previous: StatusList | None) -> bytes:
    if previous is None or delta.from_version != previous.version:
        held = "none" if previous is None else previous.version
        raise BundleMalformedError(f"a delta from version {delta.from_version} cannot apply to the held {held}")
    if head.size < previous.size:
        raise BundleMalformedError("a status list never shrinks")
    if len(delta.indexes) != len(delta.statuses):
        raise BundleMalformedError("a delta needs one status per index")
    bitmap = StatusBitmap(previous.size, previous.data)
    bitmap.grow(head.size)
    last = -1
    for index, status in zip(delta.indexes, delta.statuses, strict=True):
        if index <= last or index >= head.size or status > 2:
            raise BundleMalformedError("delta indexes ascend, each once, inside the list, with status 0, 1 or 2")
        bitmap.set(index, status)
        last = index
    return bytes(bitmap.data)


def status_delta(old: bytes, new: bytes) -> tuple[list[int], bytes]:
    """The entries that differ between two uncompressed lists (the newer may be larger): (indexes, new statuses)."""
    if len(new) < len(old):
        raise InvalidArgumentError("a status list never shrinks")
    old_data, new_data = bytes(old) + bytes(len(new) - len(old)), bytes(new)
    indexes: list[int] = []
    statuses = bytearray()
    if old_data == new_data:
        return indexes, bytes(statuses)
    for offset in _differing_bytes(old_data, new_data):
        before, after = old_data[offset], new_data[offset]
        for k in range(4):
            value = after >> (2 * k) & 3
            if before >> (2 * k) & 3 != value:
                indexes.append(offset * 4 + k)
                statuses.append(value)
    return indexes, bytes(statuses)


def _differing_bytes(a: bytes, b: bytes, chunk: int = 4096) -> Iterable[int]:
    """Offsets where two equal-length byte strings differ, comparing large chunks first."""
    for start in range(0, len(a), chunk):
        if a[start:start + chunk] != b[start:start + chunk]:
            for offset in range(start, min(start + chunk, len(a))):
                if a[offset] != b[offset]:
                    yield offset
