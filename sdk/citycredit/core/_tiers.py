"""The alliance's portable tier ladder (DESIGN 5)."""

from __future__ import annotations

import enum
from typing import cast

from citycredit._gen.citycredit.v1 import tier_pb2
from citycredit.errors import InvalidArgumentError

__all__ = ["Tier"]


class Tier(enum.IntEnum):
    """Portable tiers; the value is the proto number, so comparison is by standing."""

    RESTRICTED = 1
    NEEDS_IMPROVEMENT = 2
    FAIR = 3
    GOOD = 4
    EXCELLENT = 5
    OUTSTANDING = 6

    def __str__(self) -> str:
        return self.name  # an IntEnum would print its number; people read EXCELLENT, not 5

    @property
    def proto(self) -> tier_pb2.Tier:
        return cast(tier_pb2.Tier, self.value)

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]

    @classmethod
    def parse(cls, name: str) -> Tier:
        """Accepts `GOOD`, `good`, `TIER_GOOD` or the Chinese label `良好`."""
        key = name.strip().upper().removeprefix("TIER_")
        if key in cls.__members__:
            return cls[key]
        for tier, label in _LABELS_ZH.items():
            if label == name.strip():
                return tier
        raise InvalidArgumentError(f"unknown tier {name!r}; use one of {', '.join(cls.__members__)}")


_LABELS_ZH = {
    Tier.RESTRICTED: "失信",
    Tier.NEEDS_IMPROVEMENT: "待提高",
    Tier.FAIR: "一般",
    Tier.GOOD: "良好",
    Tier.EXCELLENT: "优秀",
    Tier.OUTSTANDING: "极好",
}
