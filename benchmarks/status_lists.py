"""Signed status lists and deltas for the benchmarks, encoded by the core as a city's issuer encodes them.

`whole_update` signs a list the way `CityOffice` does (a StatusListHead with the SHA-256 of the
uncompressed list, signed by a status key, the list zlib-compressed by `StatusBitmap.compress`);
`delta_update` is what the gateway serves a verifier holding an older version (the changed
entries from the core's `status_delta`, under the newer version's signed head).
"""

from __future__ import annotations

import random

from citycredit._gen.citycredit.v1 import status_pb2, trust_pb2
from citycredit.core import STATUS_CONTEXT, SigningKey, Status, StatusBitmap, sign_part, status_delta

__all__ = ["STATUS_EXPIRY_S", "STATUS_TTL_S", "delta_update", "flag_random", "signed_head", "whole_update"]

STATUS_TTL_S = 900
STATUS_EXPIRY_S = 86400


def signed_head(bitmap: StatusBitmap, *, city: int, version: int, key: SigningKey, now_s: int) -> trust_pb2.SignedPart:
    head = status_pb2.StatusListHead(city=city, version=version, bits=2, size=bitmap.size, list_sha256=bitmap.digest(),
                                     issued_at=now_s, expires_at=now_s + STATUS_EXPIRY_S, ttl_s=STATUS_TTL_S)
    return sign_part(head.SerializeToString(deterministic=True), key, STATUS_CONTEXT)


def whole_update(bitmap: StatusBitmap, *, city: int, version: int, key: SigningKey, now_s: int) -> bytes:
    head = signed_head(bitmap, city=city, version=version, key=key, now_s=now_s)
    return status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(
        head=head, list_zlib=bitmap.compress())).SerializeToString(deterministic=True)


def delta_update(old: StatusBitmap, new: StatusBitmap, *, city: int, from_version: int, version: int,
                 key: SigningKey, now_s: int) -> bytes:
    indexes, statuses = status_delta(bytes(old.data), bytes(new.data))
    update = status_pb2.StatusListUpdate()
    update.delta.head.CopyFrom(signed_head(new, city=city, version=version, key=key, now_s=now_s))
    update.delta.from_version = from_version
    update.delta.indexes.extend(indexes)
    update.delta.statuses = statuses
    return update.SerializeToString(deterministic=True)


def flag_random(bitmap: StatusBitmap, count: int, rng: random.Random, status: Status = Status.REVOKED) -> list[int]:
    """Set `count` distinct random VALID entries to `status` (issuers pick indexes at random); their indexes."""
    chosen: list[int] = []
    while len(chosen) < count:
        index = rng.randrange(bitmap.size)
        if bitmap.get(index) == Status.VALID:
            bitmap.set(index, status)
            chosen.append(index)
    return chosen
