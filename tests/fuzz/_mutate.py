"""Mutators that know the shape of an input: JSON documents, and REST frames around them.

libFuzzer's byte mutations rarely keep JSON valid, so the JSON targets also get structural
mutations: a value replaced by one from a list of hostile values (integers past 64 bits,
times past year 9999, lone surrogates, huge strings, deep nesting, wrong types), a key
added, removed or renamed, a string or number nudged. Half of the time the byte mutator
runs instead, so that broken syntax keeps being tried too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from tests.fuzz._rest import Frame

__all__ = ["HOSTILE", "mutate_frame", "mutate_json_text", "mutate_value"]

ByteMutator = Callable[[bytes, int], bytes]

HOSTILE: tuple[Any, ...] = (
    0, -1, 1, 2, 255, 256, 65535, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
    -(2**63), -(2**63) - 1, 10**30, -(10**30), 10**400, 1.5, -0.0, 0.0, 1.0, 20.0, 1e308, 1e-308, 0.1, True, False,
    None, "", " ",
    "\u3000", "\x00", "\ud800", "\udfff", "\U0001d54f", "é" * 100, "x" * 1025, "A" * 70_000, "0", "-1", "1e9",
    "330100", "330800", "000000", "999999", "250000", "hangzhou", "HANGZHOU", " 330100 ", "CC1:", "CP1:", "CC1:0",
    "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "2026-13-45T25:61:61Z", "1970-01-01",
    "-9223372036854775809", "18446744073709551616", "99999999999999999999999", "NaN", "Infinity", "../../etc/passwd",
    "%00", "a/b", "a\nb", "<script>", "ed25519", "p256", "sm2", "rsa", "revoked", "suspended", "valid", "reserved",
    "scenic_spot", "parking", "EXCELLENT", "RESTRICTED", "OUTSTANDING", "month", "day", "year", "forever",
    [], {}, [None], [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], {"": {}}, ["x"] * 2000,
)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value[:50]):
            out.extend(_paths(child, (*prefix, index)))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def mutate_value(root: Any, rng: random.Random, mutate_bytes: ByteMutator, keys: tuple[str, ...]) -> Any:
    """One structural change somewhere in a parsed JSON document."""
    path = rng.choice(_paths(root))
    node = _get(root, path)
    choice = rng.randrange(10)
    if choice <= 2:
        new: Any = rng.choice(HOSTILE)
        if choice == 2:  # deeper than a parser's default recursion limit, once serialized
            return _set(root, path, _nested(rng.choice((64, 400, 900))))
        return _set(root, path, json.loads(json.dumps(new)) if isinstance(new, list | dict) else new)
    if choice == 3 and isinstance(node, dict):
        if node and rng.random() < 0.5:
            node.pop(rng.choice(list(node)))
        else:
            node[rng.choice(keys) if keys and rng.random() < 0.8 else "x"] = rng.choice(HOSTILE)
        return root
    if choice == 4 and isinstance(node, str):
        raw = mutate_bytes(node.encode("utf-8", "surrogatepass"), max(16, 2 * len(node)))
        return _set(root, path, raw.decode("utf-8", "replace"))
    if choice == 5 and isinstance(node, bool | None):
        return _set(root, path, rng.choice((0, 1, "true", "", [], not node)))
    if choice == 5 and isinstance(node, int | float):
        delta = rng.choice((1, -1, 2**32, -(2**32), 2**63, 2**64))
        return _set(root, path, node + delta if rng.random() < 0.7 else -node * 1000)
    if choice == 6 and isinstance(node, list):
        if node and rng.random() < 0.5:
            node.pop(rng.randrange(len(node)))
        elif node:
            node.append(json.loads(json.dumps(rng.choice(node))))
        else:
            node.append(rng.choice(HOSTILE))
        return root
    if choice == 7 and path:  # the value wrapped, or turned into another type
        return _set(root, path, rng.choice(([node], {"value": node}, str(node)[:200], None)))
    if choice == 8 and isinstance(node, dict) and node:  # a key renamed (case, whitespace, a neighbour's)
        key = rng.choice(list(node))
        node[rng.choice((key.upper(), key + " ", key[:-1] or "_", rng.choice(keys) if keys else "y"))] = node.pop(key)
        return root
    return _set(root, path, rng.choice(HOSTILE))


def mutate_json_text(data: bytes, max_size: int, rng: random.Random, mutate_bytes: ByteMutator,
                     keys: tuple[str, ...] = ()) -> bytes:
    """A structural change when `data` is JSON (half of the time), else libFuzzer's byte mutation."""
    if rng.random() < 0.5:
        try:
            doc = json.loads(data)
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                doc = mutate_value(doc, rng, mutate_bytes, keys)
            text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, separators=(",", ":")).encode(
                "utf-8", "surrogatepass")
        except (ValueError, RecursionError):  # not JSON, or nested past what the encoder can write
            text = b""
        if text and len(text) <= max_size:
            return text
    return mutate_bytes(data, max_size)


def mutate_frame(data: bytes, max_size: int, seed: int, mutate_bytes: ByteMutator, *, operations: int,
                 keys: tuple[str, ...] = ()) -> bytes:
    """A REST frame changed in one of its parts (or as bytes, a quarter of the time)."""
    rng = random.Random(seed)
    frame = Frame.parse(data)
    roll = rng.random()
    if roll < 0.25:
        return mutate_bytes(data, max_size)
    if roll < 0.35:
        frame = Frame(rng.randrange(operations), frame.auth, frame.content_type, frame.param, frame.body)
    elif roll < 0.45:
        frame = Frame(frame.op, rng.randrange(5), rng.randrange(4), frame.param, frame.body)
    elif roll < 0.6:
        param = mutate_bytes(frame.param, max(32, 2 * len(frame.param)))
        if rng.random() < 0.3:
            param = str(rng.choice(HOSTILE)).encode("utf-8", "surrogatepass")
        frame = Frame(frame.op, frame.auth, frame.content_type, param, frame.body)
    else:
        room = max(64, max_size - 5 - len(frame.param))
        frame = Frame(frame.op, frame.auth, frame.content_type, frame.param,
                      mutate_json_text(frame.body, room, rng, mutate_bytes, keys))
    out = frame.encode()
    return out if len(out) <= max_size else out[:max_size]
