"""Protobuf records written by hand, so that tests can build the encodings a serializer never makes."""

from __future__ import annotations

__all__ = ["field", "varint", "varint_field"]


def varint(value: int, *, pad: int = 0) -> bytes:
    """`value` as a base-128 varint; `pad` extra continuation bytes make it non-minimal (same value)."""
    out = bytearray()
    while True:
        out.append(value & 0x7F)
        value >>= 7
        if not value:
            break
    out.extend(bytes(pad))
    for i in range(len(out) - 1):
        out[i] |= 0x80
    return bytes(out)


def field(number: int, data: bytes, *, pad: int = 0) -> bytes:
    """A length-delimited record (wire type 2); `pad` makes its length varint non-minimal."""
    return varint(number << 3 | 2) + varint(len(data), pad=pad) + data


def varint_field(number: int, value: int, *, pad: int = 0, tag_pad: int = 0) -> bytes:
    """A varint record (wire type 0); `pad` and `tag_pad` make the value or the tag non-minimal."""
    return varint(number << 3, pad=tag_pad) + varint(value, pad=pad)
