"""Revocation status lists: a bitstring per city, one bit per status index."""

from __future__ import annotations

import zlib

from citycredit.errors import BundleMalformedError, InvalidArgumentError

__all__ = ["MIN_STATUS_LIST_SIZE", "StatusBits"]

MIN_STATUS_LIST_SIZE = 131_072
# A list larger than this is refused before inflating (256 MiB of bits).
_MAX_STATUS_LIST_SIZE = 1 << 31


class StatusBits:
    """A mutable bitstring, most significant bit first; bit set = revoked."""

    __slots__ = ("bits", "size")

    def __init__(self, size: int = MIN_STATUS_LIST_SIZE, bits: bytes | bytearray | None = None) -> None:
        if size < MIN_STATUS_LIST_SIZE or size % 8:
            raise InvalidArgumentError(f"a status list needs at least {MIN_STATUS_LIST_SIZE} entries, a multiple of 8")
        self.size = size
        self.bits = bytearray(bits) if bits is not None else bytearray(size // 8)
        if len(self.bits) != size // 8:
            raise InvalidArgumentError("status list bits do not match its size")

    def is_revoked(self, index: int) -> bool:
        """Indexes beyond the list are treated as revoked: an issuer never hands them out."""
        if index >= self.size:
            return True
        return bool(self.bits[index >> 3] >> (7 - (index & 7)) & 1)

    def revoke(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise InvalidArgumentError(f"status index {index} is outside the list (size {self.size})")
        self.bits[index >> 3] |= 1 << (7 - (index & 7))

    def count(self) -> int:
        return sum(b.bit_count() for b in self.bits)

    def compress(self) -> bytes:
        return zlib.compress(bytes(self.bits), 9)

    @classmethod
    def decompress(cls, size: int, data: bytes) -> StatusBits:
        """Inflate at most size/8 bytes: a hostile list cannot expand beyond what it declares."""
        if size < MIN_STATUS_LIST_SIZE or size % 8 or size > _MAX_STATUS_LIST_SIZE:
            raise BundleMalformedError(f"status list size {size} is invalid")
        inflater = zlib.decompressobj()
        try:
            bits = inflater.decompress(data, size // 8)
        except zlib.error as exc:
            raise BundleMalformedError(f"status list is not valid zlib data: {exc}") from None
        if len(bits) != size // 8 or inflater.unconsumed_tail or not inflater.eof:
            raise BundleMalformedError("status list length does not match its declared size")
        return cls(size, bits)
