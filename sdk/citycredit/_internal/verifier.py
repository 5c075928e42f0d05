"""`Verifier`: the merchant's offline verifier, a thin shell around the pure core."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from citycredit._internal.bundle import AcceptedBundle, TrustAnchor, TrustSnapshot, open_bundle
from citycredit._internal.eligibility import Decision, decision_for_error
from citycredit._internal.verify import VerifiedCode, verify_code
from citycredit.errors import BundleMalformedError, CodeError, InvalidArgumentError

if TYPE_CHECKING:
    from citycredit._internal.client import GatewayClient, GatewayVerifier

__all__ = ["Verifier", "VerifierConfig", "to_epoch_s"]


@dataclass(frozen=True, kw_only=True)
class VerifierConfig:
    """How strict an offline verifier is."""

    # How long after the bundle's expiry an offline merchant may keep using it, in seconds.
    grace_s: int = 3 * 86400

    def __post_init__(self) -> None:
        if self.grace_s < 0:
            raise InvalidArgumentError("grace_s must not be negative")


def to_epoch_s(at: int | float | datetime) -> int:
    """Seconds since the Unix epoch from a number or an aware datetime."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidArgumentError("a validation time needs a time zone (e.g. 2026-11-22T10:00:00+08:00)")
        return int(at.timestamp())
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise InvalidArgumentError(f"a validation time is a datetime or seconds, not {type(at).__name__}")
    return int(at)


class Verifier:
    """Verifies credit codes offline against one signed trust bundle.

    Build it with `Verifier.from_bundle_file(...)` or `Verifier.from_bundle_bytes(...)`;
    `update()` swaps in a newer bundle and refuses rollback.
    """

    def __init__(self, snapshot: TrustSnapshot, *, config: VerifierConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._snapshot = snapshot
        self._config = config or VerifierConfig()
        self._clock = clock

    @classmethod
    def from_bundle_bytes(cls, data: bytes, *, anchor: TrustAnchor, accepted: AcceptedBundle | None = None,
                          config: VerifierConfig | None = None, clock: Callable[[], float] = time.time) -> Verifier:
        config = config or VerifierConfig()
        snapshot = open_bundle(data, anchor=anchor, now_s=int(clock()), grace_s=config.grace_s, accepted=accepted)
        return cls(snapshot, config=config, clock=clock)

    @classmethod
    def from_bundle_file(cls, path: str | Path, *, anchor: TrustAnchor | str | Path | None = None,
                         accepted: AcceptedBundle | None = None, config: VerifierConfig | None = None,
                         clock: Callable[[], float] = time.time) -> Verifier:
        """Load a bundle file; without `anchor`, the pinned `anchor.json` beside it is used."""
        path = Path(path)
        if not isinstance(anchor, TrustAnchor):
            anchor_path = Path(anchor) if anchor is not None else path.with_name("anchor.json")
            try:
                anchor = TrustAnchor.from_json(anchor_path.read_bytes())
            except OSError as exc:
                raise BundleMalformedError(f"cannot read the trust anchor {anchor_path}: {exc.strerror}") from None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BundleMalformedError(f"cannot read the trust bundle {path}: {exc.strerror}") from None
        return cls.from_bundle_bytes(data, anchor=anchor, accepted=accepted, config=config, clock=clock)

    @classmethod
    def from_gateway(cls, url: str | GatewayClient, *, anchor: TrustAnchor, cache_dir: str | Path | None = None,
                     config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                     timeout_s: float = 5.0) -> GatewayVerifier:
        """Follow a gateway's bundle (by ETag), cached in `cache_dir`; `refresh()` pulls changes.

        Refuses rollback below the cached version and keeps working offline from the
        cache until the bundle's expiry plus `config.grace_s` (see `verifier_from_gateway`).
        """
        from citycredit._internal.client import verifier_from_gateway

        return verifier_from_gateway(url, anchor=anchor, cache_dir=cache_dir, config=config, clock=clock,
                                     timeout_s=timeout_s)

    @property
    def snapshot(self) -> TrustSnapshot:
        return self._snapshot

    @property
    def version(self) -> int:
        return self._snapshot.version

    def now_s(self, at: int | float | datetime | None = None) -> int:
        return int(self._clock()) if at is None else to_epoch_s(at)

    def verify(self, code: str | bytes, *, at: int | float | datetime | None = None) -> VerifiedCode:
        """Verify one code; raises a `CodeError` (or `BundleStaleError`) saying why it is refused."""
        return verify_code(self._snapshot, code, now_s=self.now_s(at), grace_s=self._config.grace_s)

    def check(self, code: str | bytes, offer_id: str, *, at: int | float | datetime | None = None,
              used_in_period: int = 0) -> Decision:
        """Same-city treatment for one code at one offer of the bundle.

        A refused code is a negative decision naming why (CODE_EXPIRED, CODE_REVOKED,
        CODE_INVALID); a stale bundle still raises, since it says nothing about the holder.
        `used_in_period` is the holder's redemptions of a quota offer in the current period,
        which only the party keeping redemptions (the gateway) knows.
        """
        now = self.now_s(at)
        try:
            holder = verify_code(self._snapshot, code, now_s=now, grace_s=self._config.grace_s)
        except CodeError as exc:
            return decision_for_error(exc, offer_id)
        return self._snapshot.catalogue.decide(holder=holder, offer_id=offer_id, now_s=now,
                                               used_in_period=used_in_period)

    def update(self, data: bytes) -> bool:
        """Adopt a newer bundle signed under the current anchor; False when it is the same version."""
        snapshot = open_bundle(data, anchor=self._snapshot.anchor, now_s=int(self._clock()),
                               grace_s=self._config.grace_s, accepted=self._snapshot.accepted)
        if snapshot.version == self._snapshot.version:
            return False
        self._snapshot = snapshot
        return True
