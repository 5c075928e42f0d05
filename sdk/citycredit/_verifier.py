"""`Verifier`: the merchant's offline verifier, a thin shell around the pure core."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from citycredit._client import GatewayClient
from citycredit._home import write_public
from citycredit.core import (
    AcceptedBundle,
    Decision,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    decision_for_error,
    open_bundle,
    to_epoch_s,
    verify_code,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleStaleError,
    BundleThresholdError,
    CodeError,
    InvalidArgumentError,
    UnavailableError,
)

__all__ = ["BundleCache", "GatewayVerifier", "Verifier", "VerifierConfig", "verifier_from_gateway"]


@dataclass(frozen=True, kw_only=True)
class VerifierConfig:
    """How strict an offline verifier is."""

    # How long after the bundle's expiry an offline merchant may keep using it, in seconds.
    grace_s: int = 3 * 86400

    def __post_init__(self) -> None:
        if self.grace_s < 0:
            raise InvalidArgumentError("grace_s must not be negative")


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
        return verifier_from_gateway(url, anchor=anchor, cache_dir=cache_dir, config=config, clock=clock,
                                     timeout_s=timeout_s)

    @property
    def snapshot(self) -> TrustSnapshot:
        return self._snapshot

    @property
    def version(self) -> int:
        return self._snapshot.version

    def now_s(self, at: int | float | datetime | None = None) -> int:
        return int(self._clock()) if at is None else to_epoch_s(at, "a validation time")

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


# --- a verifier that follows a gateway -------------------------------------------------------------

_CACHE_FORMAT = "citycredit-bundle-cache/1"
_CACHE_BUNDLE = "bundle.ccb"
_CACHE_STATE = "state.json"


@dataclass(frozen=True, slots=True)
class _CacheState:
    accepted: AcceptedBundle
    etag: str | None
    # The governance anchor the accepted bundle established (it differs from the pinned one after a rotation).
    anchor: TrustAnchor | None


class BundleCache:
    """The last accepted bundle and what the client remembers of it, in one directory.

    `bundle.ccb` holds the signed bytes, `state.json` the accepted version and body
    digest (the rollback floor), the ETag and the governance anchor that bundle
    established. Both are written atomically, bundle first, so a crash leaves
    either the old pair or a newer bundle whose own version and digest then serve
    as the floor. Use one directory per alliance.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def load(self) -> tuple[bytes | None, _CacheState | None]:
        data = state = None
        with contextlib.suppress(OSError):
            data = (self.directory / _CACHE_BUNDLE).read_bytes()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, BundleError):
            doc = json.loads((self.directory / _CACHE_STATE).read_bytes())
            if doc["format"] == _CACHE_FORMAT:
                anchor = doc.get("anchor")
                state = _CacheState(AcceptedBundle(int(doc["version"]), bytes.fromhex(doc["digest"])),
                                    doc.get("etag"), TrustAnchor.from_json(json.dumps(anchor)) if anchor else None)
        return data, state

    def save(self, data: bytes, snapshot: TrustSnapshot, etag: str | None) -> None:
        write_public(self.directory / _CACHE_BUNDLE, data)
        doc = {"format": _CACHE_FORMAT, "version": snapshot.version, "digest": snapshot.digest.hex(), "etag": etag,
               "anchor": json.loads(snapshot.anchor.to_json())}
        write_public(self.directory / _CACHE_STATE, (json.dumps(doc, indent=2) + "\n").encode())


class GatewayVerifier(Verifier):
    """A `Verifier` whose bundle comes from a gateway; `refresh()` pulls a newer one."""

    def __init__(self, snapshot: TrustSnapshot, *, client: GatewayClient, cache: BundleCache | None,
                 etag: str | None, offline: bool, config: VerifierConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(snapshot, config=config, clock=clock)
        self.client = client
        self.cache = cache
        self._etag = etag
        # True when the bundle came from the cache because the gateway could not be reached.
        self.offline = offline

    def refresh(self) -> bool:
        """Fetch and adopt a newer bundle; False when the gateway still serves this one.

        Raises `UnavailableError` when the gateway cannot be reached (the current
        bundle stays in use until its grace runs out) and a `BundleError` when the
        served bundle is refused (rollback, too few signatures, stale).
        """
        fetched = self.client.trust_bundle(self.version, etag=self._etag)
        self.offline = False
        if fetched.data is None:
            return False
        snapshot = _open(fetched.data, self.snapshot.anchor, self.snapshot.accepted, self._config, self._clock)
        if snapshot.version == self.version:
            return False
        if self.cache is not None:
            self.cache.save(fetched.data, snapshot, fetched.etag)
        self._snapshot, self._etag = snapshot, fetched.etag
        return True

    def update(self, data: bytes) -> bool:
        """Adopt a newer bundle obtained elsewhere; it is cached like a fetched one."""
        adopted = super().update(data)
        if adopted and self.cache is not None:
            self.cache.save(data, self.snapshot, None)
            self._etag = None
        return adopted


def _open(data: bytes, anchor: TrustAnchor, accepted: AcceptedBundle | None, config: VerifierConfig,
          clock: Callable[[], float]) -> TrustSnapshot:
    return open_bundle(data, anchor=anchor, now_s=int(clock()), grace_s=config.grace_s, accepted=accepted)


def _open_cached(data: bytes, anchor: TrustAnchor, state: _CacheState | None, config: VerifierConfig,
                 clock: Callable[[], float]) -> TrustSnapshot:
    """The cached bundle, opened against the pinned anchor or, after a rotation, the one it established."""
    floor = state.accepted if state is not None else None
    try:
        return _open(data, anchor, floor, config, clock)
    except BundleThresholdError:
        if state is None or state.anchor is None or state.anchor.same_keys(anchor):
            raise
        return _open(data, state.anchor, floor, config, clock)


def verifier_from_gateway(source: str | GatewayClient, *, anchor: TrustAnchor, cache_dir: str | Path | None = None,
                          config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                          timeout_s: float = 5.0) -> GatewayVerifier:
    """A verifier over the gateway's current bundle, opened against the pinned `anchor`.

    `source` is the gateway's base URL (REST) or a `GatewayClient`. With `cache_dir`,
    the accepted bundle is kept there: later starts send its version and ETag (the
    gateway answers "not modified" when nothing changed), refuse any bundle older
    than it (rollback), and, when the gateway cannot be reached, verify with the
    cached bundle until its expiry plus `config.grace_s`; past that they raise
    `BundleStaleError`. Without a usable cache an unreachable gateway is `UnavailableError`.
    """
    config = config or VerifierConfig()
    client = GatewayClient.rest(source, timeout_s=timeout_s) if isinstance(source, str) else source
    cache = BundleCache(cache_dir) if cache_dir is not None else None
    cached: TrustSnapshot | None = None
    cache_problem: BundleError | None = None
    floor: AcceptedBundle | None = None
    etag: str | None = None
    if cache is not None:
        data, state = cache.load()
        floor = state.accepted if state is not None else None
        if data is not None:
            try:
                cached = _open_cached(data, anchor, state, config, clock)
            except BundleError as exc:  # stale, damaged or foreign: the gateway's copy decides
                cache_problem = exc
            if cached is not None:
                floor = cached.accepted
                etag = state.etag if state is not None and state.accepted == cached.accepted else None
    try:
        fetched = client.trust_bundle(cached.version if cached else 0, etag=etag)
    except UnavailableError as exc:
        if cached is not None:
            return GatewayVerifier(cached, client=client, cache=cache, etag=etag, offline=True, config=config,
                                   clock=clock)
        if isinstance(cache_problem, BundleStaleError):
            raise BundleStaleError(f"the gateway cannot be reached ({exc.message}) and the cached bundle is "
                                   f"past its offline grace: {cache_problem.message}") from None
        raise
    if fetched.data is None:
        if cached is None:
            raise UnavailableError("the gateway answered 'not modified' to a client that holds no bundle")
        return GatewayVerifier(cached, client=client, cache=cache, etag=fetched.etag or etag, offline=False,
                               config=config, clock=clock)
    snapshot = _open(fetched.data, cached.anchor if cached else anchor, floor, config, clock)
    if cache is not None and (cached is None or snapshot.version != cached.version or fetched.etag != etag):
        cache.save(fetched.data, snapshot, fetched.etag)
    return GatewayVerifier(snapshot, client=client, cache=cache, etag=fetched.etag, offline=False, config=config,
                           clock=clock)
