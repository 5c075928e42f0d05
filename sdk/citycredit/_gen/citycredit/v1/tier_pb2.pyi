from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_RESTRICTED: _ClassVar[Tier]
    TIER_NEEDS_IMPROVEMENT: _ClassVar[Tier]
    TIER_FAIR: _ClassVar[Tier]
    TIER_GOOD: _ClassVar[Tier]
    TIER_EXCELLENT: _ClassVar[Tier]
    TIER_OUTSTANDING: _ClassVar[Tier]
TIER_UNSPECIFIED: Tier
TIER_RESTRICTED: Tier
TIER_NEEDS_IMPROVEMENT: Tier
TIER_FAIR: Tier
TIER_GOOD: Tier
TIER_EXCELLENT: Tier
TIER_OUTSTANDING: Tier
