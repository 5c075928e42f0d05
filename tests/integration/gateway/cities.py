"""The demo cities' offices in the test process: real codes signed with each city's own keys."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from citycredit._demo import DemoHome
from citycredit.city import CityOffice
from citycredit.core import (
    Algorithm,
    IssuedCode,
    Issuer,
    SigningKey,
    Tier,
    device_key,
    encode_presentation,
    hmac_sha256,
)

from tests.support.alliance import QUZHOU

__all__ = ["BANDS", "CityDesk", "new_holder"]

_holders = itertools.count(1)
BANDS = {Tier.RESTRICTED: "示范·失信", Tier.NEEDS_IMPROVEMENT: "示范·待提高", Tier.FAIR: "示范·一般",
         Tier.GOOD: "示范·良好", Tier.EXCELLENT: "示范·优秀", Tier.OUTSTANDING: "示范·极好"}


def new_holder(prefix: str = "resident") -> str:
    """A holder identity never used before in this process (so that quotas start empty)."""
    return f"{prefix}-{os.getpid()}-{next(_holders)}"


@dataclass
class CityDesk:
    """The demo cities' offices, open in the test process: they sign codes and status lists with their keys.

    Use it only where no issuer of the same city runs on the same home (both would write its register).
    """

    home: Path
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _offices: dict[str, CityOffice] = field(default_factory=dict)

    def office(self, slug: str = "hangzhou") -> CityOffice:
        if slug not in self._offices:
            self._offices[slug] = self._stack.enter_context(DemoHome(self.home).city(slug))
        return self._offices[slug]

    def code(self, slug: str = "hangzhou", *, tier: Tier = Tier.EXCELLENT, audience: int | None = QUZHOU,
             holder: str | None = None, ttl_s: int = 3600, device: SigningKey | None = None,
             now_s: int | None = None) -> IssuedCode:
        """A registered code of the city (for Quzhou by default, where the quota offer is)."""
        return self.office(slug).issue(holder_ref=holder or new_holder(slug), tier=tier, band=BANDS[tier],
                                       now_s=int(time.time()) if now_s is None else now_s, ttl_s=ttl_s,
                                       audience=audience, device_key=None if device is None else device_key(device))

    def expired(self, slug: str = "hangzhou", *, tier: Tier = Tier.EXCELLENT,
                audience: int | None = QUZHOU) -> tuple[IssuedCode, int]:
        """A code that has expired by now, and a past moment when it was valid.

        The city's keys are valid from when the demo alliance was made, so the code is issued then.
        """
        office = self.office(slug)
        born = max(k.not_before_s for k in office.code_keys if k.status == "active")
        now = int(time.time())
        if now - born < 4:  # the demo is made in seconds; let its first seconds pass
            time.sleep(4 - (now - born))
            now = int(time.time())
        return self.code(slug, tier=tier, audience=audience, now_s=born, ttl_s=now - born - 2), born + 1

    def presentation(self, issued: IssuedCode, device: SigningKey, *, at_s: int | None = None) -> str:
        return encode_presentation(issued.code, device, presented_at_s=int(time.time()) if at_s is None else at_s)

    def many(self, slug: str, count: int, *, audience: int = QUZHOU, device: SigningKey | None = None,
             ttl_s: int = 3600) -> list[str]:
        """`count` codes signed by the city's code key without registering them (fast: no register
        transaction each); with `device`, device-bound codes shown as presentations."""
        office = self.office(slug)
        key = next(k for k in office.code_keys if k.status == "active" and k.algorithm is Algorithm.ED25519)
        issuer = Issuer(city=office.city, key=office.keystore.signer(key.name),
                        pseudonym=hmac_sha256(os.urandom(32)))
        now = int(time.time())
        out = []
        for n in range(count):
            issued = issuer.issue(holder_ref=f"batch-{n}", tier=Tier.GOOD, band=BANDS[Tier.GOOD], now_s=now,
                                  ttl_s=ttl_s, audience=audience,
                                  device_key=None if device is None else device_key(device))
            out.append(issued.code if device is None else encode_presentation(issued.code, device,
                                                                                presented_at_s=now))
        return out

    def close(self) -> None:
        self._stack.close()
