"""`Verifier`: the merchant's offline verifier, a thin shell around the pure core.

    verifier = Verifier.from_directory("demo/repository")        # anchor.json beside it is the pinned root
    verifier = Verifier.from_gateway("https://gw.example", anchor=anchor, cache_dir="~/.cache/citycredit")
    code = verifier.verify(scanned)          # CC1: or CP1:; raises the CodeError saying why not
    decision = verifier.check(scanned, "quzhou-parking-discount-10")

A verifier holds one `TrustSnapshot` (the TUF parts and the status lists it accepted)
and a replay cache for presentations. `update` and `update_status_list` swap in newer
parts; a `GatewayVerifier` fetches them itself (`refresh`) and keeps working from its
cache while the gateway cannot be reached, until the offline grace runs out.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from citycredit._client import GatewayClient
from citycredit._sync import TrustCache, fetch_parts, sync_status_lists
from citycredit._trustdir import read_status_lists, read_trust_dir
from citycredit.core import (
    PRESENTATION_WINDOW_S,
    Decision,
    MemoryReplayCache,
    ReplayCache,
    TrustAnchor,
    TrustFiles,
    TrustSnapshot,
    VerifiedCode,
    decision_for_error,
    open_status_update,
    open_trust,
    to_epoch_s,
    verify_code,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleStaleError,
    CodeError,
    InvalidArgumentError,
    UnavailableError,
)

__all__ = ["GatewayVerifier", "Verifier", "VerifierConfig"]

At = int | float | datetime | None


@dataclass(frozen=True, kw_only=True)
class VerifierConfig:
    """How strict an offline verifier is."""

    # How long past an expiry (timestamp, a city's part, a status list) an offline merchant may go on, seconds.
    grace_s: int = 3 * 86400
    # How far a presentation's time may be from the verifier's clock, seconds.
    window_s: int = PRESENTATION_WINDOW_S
    # Presentations remembered to refuse a replay at this venue (0: no replay check).
    replay_entries: int = 100_000

    def __post_init__(self) -> None:
        if self.grace_s < 0 or self.window_s < 1 or self.replay_entries < 0:
            raise InvalidArgumentError("grace_s must not be negative, window_s must be positive, replay_entries "
                                       "must not be negative")


def _open(files: TrustFiles, anchor: TrustAnchor, status_lists: Mapping[int, bytes], config: VerifierConfig,
          now_s: int, previous: TrustSnapshot | None = None) -> TrustSnapshot:
    snapshot = open_trust(files, now_s=now_s, grace_s=config.grace_s, anchor=anchor, previous=previous)
    for city, data in sorted(status_lists.items()):
        trust = snapshot.cities.get(city)
        if trust is None:
            continue
        held = snapshot.statuses.get(city)
        try:
            accepted = open_status_update(data, city=city, status_keys=trust.status_keys, previous=held,
                                          now_s=now_s, grace_s=config.grace_s)
        except BundleStaleError:
            # One city's list past its expiry and grace leaves that city without a list: its codes get
            # CC_BUNDLE_STALE (SPEC 7.7, V13), every other city's are judged as usual.
            continue
        snapshot = snapshot.with_status_list(accepted)
    return snapshot


def _anchor(anchor: TrustAnchor | str | Path | None, beside: Path) -> TrustAnchor:
    if isinstance(anchor, TrustAnchor):
        return anchor
    candidates = [Path(anchor)] if anchor is not None else [beside / "anchor.json", beside.parent / "anchor.json"]
    for path in candidates:
        if path.is_file():
            return TrustAnchor.from_json(path.read_bytes())
    raise BundleMalformedError(f"no trust anchor: looked for {', '.join(str(p) for p in candidates)}")


class Verifier:
    """Verifies credit codes and presentations offline against one trust snapshot.

    Build it with `Verifier.from_directory(...)`, `Verifier.from_files(...)` or
    `Verifier.from_gateway(...)`.
    """

    def __init__(self, snapshot: TrustSnapshot, *, config: VerifierConfig | None = None,
                 clock: Callable[[], float] = time.time, venue: str = "", replay: ReplayCache | None = None) -> None:
        self._snapshot = snapshot
        self._config = config or VerifierConfig()
        self._clock = clock
        # Where this verifier scans: presentations are refused as replayed per venue.
        self.venue = venue
        self._replay = replay if replay is not None else (
            MemoryReplayCache(self._config.replay_entries) if self._config.replay_entries else None)

    @classmethod
    def from_files(cls, files: TrustFiles, *, anchor: TrustAnchor, status_lists: Mapping[int, bytes] | None = None,
                   config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                   venue: str = "") -> Verifier:
        """A verifier over TUF files and status lists (each a serialized StatusListUpdate) held in memory."""
        config = config or VerifierConfig()
        snapshot = _open(files, anchor, status_lists or {}, config, int(clock()))
        return cls(snapshot, config=config, clock=clock, venue=venue)

    @classmethod
    def from_directory(cls, path: str | Path, *, anchor: TrustAnchor | str | Path | None = None,
                       config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                       venue: str = "") -> Verifier:
        """A verifier over a trust set on disk in the served layout; `anchor.json` beside it (or one folder up)
        is the pinned root unless `anchor` says otherwise."""
        path = Path(path)
        pinned = _anchor(anchor, path)
        files = read_trust_dir(path, trusted_root=pinned.data)
        return cls.from_files(files, anchor=pinned, status_lists=read_status_lists(path), config=config, clock=clock,
                              venue=venue)

    @classmethod
    def from_gateway(cls, source: str | GatewayClient, *, anchor: TrustAnchor, cache_dir: str | Path | None = None,
                     config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                     timeout_s: float = 5.0, venue: str = "") -> GatewayVerifier:
        """Follow a gateway's trust set, kept in `cache_dir` (a temporary folder without it).

        Fetches only what changed; refuses rollback of any part; when the gateway cannot be
        reached, verifies from the cache until its expiries plus `config.grace_s`, then raises
        `BundleStaleError`. Without a usable cache an unreachable gateway is `UnavailableError`.
        """
        config = config or VerifierConfig()
        client = GatewayClient.rest(source, timeout_s=timeout_s) if isinstance(source, str) else source
        scratch = None
        if cache_dir is None:
            scratch = tempfile.TemporaryDirectory(prefix="citycredit-trust-")
            cache_dir = scratch.name
        cache = TrustCache(Path(cache_dir).expanduser())
        now = int(clock())
        offline = False
        try:
            files = fetch_parts(client, anchor, cache, timeout_s=timeout_s)
        except UnavailableError as exc:
            try:
                files = cache.files(anchor)
            except UnavailableError:
                raise exc from None
            offline = True
        try:
            snapshot = _open(files, anchor, cache.status_lists(), config, now)
        except BundleStaleError as exc:
            if offline:
                raise BundleStaleError(f"the gateway cannot be reached and the cached trust set is past its "
                                       f"offline grace: {exc.message}") from None
            raise
        verifier = GatewayVerifier(snapshot, client=client, cache=cache, anchor=anchor, offline=offline,
                                   config=config, clock=clock, venue=venue)
        verifier._scratch = scratch
        if not offline:
            verifier.sync_status_lists()
        return verifier

    @property
    def snapshot(self) -> TrustSnapshot:
        return self._snapshot

    @property
    def version(self) -> int:
        """The snapshot version of the TUF parts (status lists have their own)."""
        return self._snapshot.version

    def now_s(self, at: At = None) -> int:
        return int(self._clock()) if at is None else to_epoch_s(at, "a validation time")

    def verify(self, code: str | bytes, *, at: At = None, venue: str | None = None) -> VerifiedCode:
        """Verify one code or presentation; raises a `CodeError` (or `BundleStaleError`) saying why it is refused."""
        return self._verify_at(code, self.now_s(at), venue)

    def _verify_at(self, code: str | bytes, now_s: int, venue: str | None) -> VerifiedCode:
        return verify_code(self._snapshot, code, now_s=now_s, grace_s=self._config.grace_s,
                           venue=self.venue if venue is None else venue, replay=self._replay,
                           window_s=self._config.window_s)

    def check(self, code: str | bytes, offer_id: str, *, at: At = None, used_in_period: int = 0,
              venue: str | None = None) -> Decision:
        """Same-city treatment for one code at one offer of the trust set.

        A refused code is a negative decision naming why (CODE_EXPIRED, CODE_REVOKED,
        CODE_INVALID); a stale trust set still raises, since it says nothing about the holder.
        `used_in_period` is the holder's redemptions of a quota offer in the current period,
        which only the party keeping redemptions (the gateway) knows.
        """
        now = self.now_s(at)
        try:
            holder = self._verify_at(code, now, venue)
        except CodeError as exc:
            return decision_for_error(exc, offer_id)
        return self._snapshot.catalogue.decide(holder=holder, offer_id=offer_id, now_s=now,
                                               used_in_period=used_in_period)

    def update(self, files: TrustFiles) -> bool:
        """Adopt newer TUF parts (checked against those held: no rollback); False when nothing changed."""
        snapshot = open_trust(files, now_s=int(self._clock()), grace_s=self._config.grace_s,
                              anchor=self._snapshot.anchor, previous=self._snapshot)
        changed = snapshot.versions != self._snapshot.versions
        self._snapshot = snapshot
        return changed

    def update_status_list(self, city: int, data: bytes) -> bool:
        """Adopt a city's newer status list or delta (a StatusListUpdate); False when it is the held version."""
        trust = self._snapshot.cities.get(city)
        if trust is None:
            raise InvalidArgumentError(f"{city} is not a member of the alliance")
        held = self._snapshot.statuses.get(city)
        accepted = open_status_update(data, city=city, status_keys=trust.status_keys, previous=held,
                                      now_s=int(self._clock()), grace_s=self._config.grace_s)
        if accepted is held:
            return False
        self._snapshot = self._snapshot.with_status_list(accepted)
        return True


class GatewayVerifier(Verifier):
    """A `Verifier` whose trust set comes from a gateway; `refresh()` pulls what changed."""

    def __init__(self, snapshot: TrustSnapshot, *, client: GatewayClient, cache: TrustCache, anchor: TrustAnchor,
                 offline: bool, config: VerifierConfig | None = None, clock: Callable[[], float] = time.time,
                 venue: str = "") -> None:
        super().__init__(snapshot, config=config, clock=clock, venue=venue)
        self.client = client
        self.cache = cache
        self.anchor = anchor
        # True while the trust set came from the cache because the gateway could not be reached.
        self.offline = offline
        # Status lists refused at the last sync (the ones held before were kept).
        self.problems: list[BundleError] = []
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def refresh(self, *, force_status: bool = False) -> bool:
        """Fetch what changed: TUF parts through ngclient, status lists whose ttl passed (all with `force_status`).

        Raises `UnavailableError` when the gateway cannot be reached (what is held stays in use
        until its grace runs out) and a `BundleError` when the served TUF parts are refused.
        Returns whether anything changed.
        """
        files = fetch_parts(self.client, self.anchor, self.cache, timeout_s=5.0)
        self.offline = False
        changed = self.update(files)
        return self.sync_status_lists(force=force_status) or changed

    def sync_status_lists(self, *, force: bool = False) -> bool:
        """Fetch the status lists due (all with `force`); a refused one keeps the held list."""
        before = self._snapshot.statuses
        self._snapshot, refused = sync_status_lists(self.client, self._snapshot, self.cache,
                                                    now_s=int(self._clock()), grace_s=self._config.grace_s,
                                                    force=force)
        self.problems = [p for p in refused if isinstance(p, BundleError)]
        return any(before.get(c) is not s for c, s in self._snapshot.statuses.items())
