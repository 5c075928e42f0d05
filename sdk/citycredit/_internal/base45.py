"""Base45 (RFC 9285) with table-driven decoding.

Decoding maps every valid 3-character group straight to its two bytes through
one dictionary built on first use (65,536 + 256 entries, about 8 MB), so the
per-code cost is two C-level `map` passes; any invalid group is simply absent
from the table and fails the lookup.
"""

from __future__ import annotations

from citycredit.errors import CodeBase45Error

__all__ = ["ALPHABET", "b45decode", "b45encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_table: dict[str, bytes] | None = None
_slices: dict[int, tuple[slice, ...]] = {}


def _build_table() -> dict[str, bytes]:
    a = ALPHABET
    table = {a[v % 45] + a[v // 45 % 45] + a[v // 2025]: v.to_bytes(2, "big") for v in range(65536)}
    table.update({a[v % 45] + a[v // 45]: bytes((v,)) for v in range(256)})
    return table


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
    global _table
    table = _table or _build_table()
    _table = table
    n = len(text)
    if n % 3 == 1:
        raise CodeBase45Error(f"Base45 text cannot be {n} characters long (length mod 3 is 1)")
    cuts = _slices.get(n)
    if cuts is None:
        cuts = _slices[n] = tuple(slice(i, i + 3) for i in range(0, n, 3))
    try:
        return b"".join(map(table.__getitem__, map(text.__getitem__, cuts)))
    except KeyError as exc:
        raise CodeBase45Error(f"invalid Base45 group {exc.args[0]!r}") from None
