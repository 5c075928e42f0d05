"""Base45 (RFC 9285), decoded a whole string at a time.

Decoding maps characters to digit values with one `bytes.translate`, then treats
the digits as one big little-endian integer in which group i occupies the 24-bit
lane i (c0, c1, c2). Masking out each digit position and adding c0 + 45·c1 +
2025·c2 computes every group's value in three big-integer operations; no lane
can overflow into the next because 44 + 45·44 + 2025·44 < 2^24, and a group above
65535 is the one whose lane has its third byte set. All work stays in
C, so a 240-character code costs a few microseconds, and any invalid character,
length or group value is refused before anything else looks at the bytes.
"""

from __future__ import annotations

from citycredit.errors import CodeBase45Error

__all__ = ["ALPHABET", "b45decode", "b45encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
_DIGITS = bytes(ALPHABET.find(chr(b)) if chr(b) in ALPHABET else _INVALID for b in range(256))
_LANE_MASKS: dict[int, tuple[int, int]] = {}


def b45encode(data: bytes) -> str:
    a = ALPHABET
    out = []
    for i in range(0, len(data) - 1, 2):
        v = data[i] << 8 | data[i + 1]
        out.append(a[v % 45] + a[v // 45 % 45] + a[v // 2025])
    if len(data) % 2:
        v = data[-1]
        out.append(a[v % 45] + a[v // 45])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode Base45; raises CodeBase45Error on a bad length, character or group value."""
    size = len(text)
    groups, rest = divmod(size, 3)
    if rest == 1:
        raise CodeBase45Error(f"Base45 text cannot be {size} characters long (length mod 3 is 1)")
    try:
        digits = text.encode("ascii").translate(_DIGITS)
    except UnicodeEncodeError:
        raise CodeBase45Error("Base45 text has a non-ASCII character") from None
    if _INVALID in digits:
        raise CodeBase45Error(f"{text[digits.index(_INVALID)]!r} is not a Base45 character")
    full = size - rest
    out = bytearray(2 * groups + rest // 2)
    if groups:
        low, high = _LANE_MASKS.get(groups) or _lane_masks(groups)
        x = int.from_bytes(digits[:full] if rest else digits, "little")
        values = (x & low) + 45 * (x >> 8 & low) + 2025 * (x >> 16 & low)
        if values & high:  # a lane's third byte is set: that group is above 65535
            raise CodeBase45Error("a Base45 group is larger than 65535")
        lanes = values.to_bytes(full, "little")
        out[0:2 * groups:2] = lanes[1::3]  # high byte of each group
        out[1:2 * groups:2] = lanes[0::3]  # low byte
    if rest:
        value = digits[full] + 45 * digits[full + 1]
        if value > 255:
            raise CodeBase45Error("the final Base45 pair is larger than 255")
        out[-1] = value
    return bytes(out)


def _lane_masks(groups: int) -> tuple[int, int]:
    """The low byte of every 24-bit lane, and the high byte (which a valid group leaves clear)."""
    low = int.from_bytes(b"\xff\x00\x00" * groups, "little")
    masks = _LANE_MASKS[groups] = (low, low << 16)
    return masks
