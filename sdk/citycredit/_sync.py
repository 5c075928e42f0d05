"""Following a gateway's trust set: TUF parts through python-tuf's ngclient, status lists by delta.

The TUF parts (roles, membership, city parts, agreements) are fetched by ngclient's
`Updater`, the reference client workflow: root rotation, timestamp, snapshot, and only
the roles and files whose versions or hashes changed, each checked against what signed
it and kept in the cache directory. ngclient keeps every root it accepted in
`metadata/root_history/`, which is where an accepted governance rotation persists.

ngclient refuses a timestamp that expired, with no grace; an offline merchant needs
one. So the files it keeps are opened by the core (`open_trust`, with the grace), both
after a fetch and when the gateway cannot be reached, and status lists, which change too
often for the timestamp to cover them, are synced here per city: a conditional request
once the held list's `ttl_s` passed, a delta from the held version when the gateway has
one, the last good list kept when a fetch fails or is refused. Could-not-fetch is never
revoked.

    D/metadata/            ngclient's metadata (root.json, root_history/, timestamp.json …)
    D/targets/             ngclient's part files
    D/status/<city>.pb     the last accepted status list of each city (a StatusListUpdate)
    D/status.json          per city: the held version, its ETag and when it was last fetched
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib import parse

import httpx
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Snapshot, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from citycredit._client import GatewayClient, RestTransport
from citycredit._files import write_public
from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.core import (
    CITY_PARTS,
    MEMBERSHIP_PATH,
    StatusList,
    TrustAnchor,
    TrustFiles,
    TrustSnapshot,
    agreement_path,
    city_part_path,
    open_status_update,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleThresholdError,
    CityCreditError,
    NotFoundError,
    UnavailableError,
)

__all__ = ["StatusState", "TrustCache", "fetch_parts", "status_list_bytes", "sync_status_lists"]

log = logging.getLogger("citycredit.sync")
_STATE_FORMAT = "citycredit-status-cache/1"


class _HttpxFetcher(FetcherInterface):
    """ngclient's downloads through the client's own httpx connection pool."""

    def __init__(self, http: httpx.Client, timeout_s: float) -> None:
        self._http = http
        self._timeout_s = timeout_s

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", url, timeout=self._timeout_s) as response:
                if response.status_code != 200:
                    raise tuf_errors.DownloadHTTPError(f"GET {url} answered {response.status_code}",
                                                       response.status_code)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:  # refused, reset, timed out: ngclient's own fetchers say DownloadError
            raise tuf_errors.DownloadError(f"GET {url}: {exc or type(exc).__name__}") from exc


@dataclass
class StatusState:
    """What the cache remembers of one city's list beyond the list itself."""

    version: int = 0
    etag: str | None = None
    fetched_at_s: int = 0


@dataclass
class TrustCache:
    """One directory of trust files for one alliance (see the module docstring)."""

    directory: Path
    statuses: dict[int, StatusState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            doc = json.loads((self.directory / "status.json").read_bytes())
            if doc["format"] == _STATE_FORMAT:
                self.statuses = {int(c): StatusState(int(s["version"]), s.get("etag"), int(s["fetched_at_s"]))
                                 for c, s in doc["cities"].items()}

    @property
    def metadata_dir(self) -> Path:
        return self.directory / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.directory / "targets"

    def files(self, anchor: TrustAnchor) -> TrustFiles:
        """The TUF files kept here, for a client that pins `anchor` (newer roots are the rotation chain)."""
        metadata = self.metadata_dir

        def read(name: str) -> bytes:
            try:
                return (metadata / name).read_bytes()
            except OSError:
                raise UnavailableError(f"no {name} in the trust cache {self.directory}") from None

        newer = []
        version = anchor.version + 1
        while (metadata / "root_history" / f"{version}.root.json").is_file():
            newer.append((metadata / "root_history" / f"{version}.root.json").read_bytes())
            version += 1
        reserved = {"root.json", "timestamp.json", "snapshot.json", "targets.json"}
        roles = {parse.unquote(p.stem): p.read_bytes() for p in metadata.glob("*.json") if p.name not in reserved}
        targets_files = {parse.unquote(p.name): p.read_bytes() for p in self.targets_dir.glob("*") if p.is_file()}
        return TrustFiles(root=anchor.data, newer_roots=newer, timestamp=read("timestamp.json"),
                          snapshot=read("snapshot.json"), targets=read("targets.json"), roles=roles,
                          targets_files=targets_files)

    def status_lists(self) -> dict[int, bytes]:
        found = {}
        for path in (self.directory / "status").glob("*.pb"):
            if path.stem.isdigit():
                found[int(path.stem)] = path.read_bytes()
        return found

    def save_status(self, status: StatusList, state: StatusState) -> None:
        write_public(self.directory / "status" / f"{status.city:06d}.pb", status_list_bytes(status))
        self.statuses[status.city] = state
        self.save_state()

    def save_state(self) -> None:
        doc = {"format": _STATE_FORMAT, "cities": {
            f"{c:06d}": {"version": s.version, "etag": s.etag, "fetched_at_s": s.fetched_at_s}
            for c, s in sorted(self.statuses.items())}}
        write_public(self.directory / "status.json", (json.dumps(doc, indent=2) + "\n").encode())


def status_list_bytes(status: StatusList) -> bytes:
    """A held list as a whole-list StatusListUpdate (what the cache keeps, re-opened like any other)."""
    head = status_pb2.StatusListUpdate()
    head.list.head.ParseFromString(status.head)
    head.list.list_zlib = status.bitmap().compress()
    return head.SerializeToString(deterministic=True)


def fetch_parts(client: GatewayClient, anchor: TrustAnchor, cache: TrustCache, *, timeout_s: float) -> TrustFiles:
    """Bring the cache up to the gateway's trust set with ngclient; raise UnavailableError when unreachable."""
    transport = client.transport
    if not isinstance(transport, RestTransport):
        raise UnavailableError("following a gateway's trust set needs its REST API (GatewayClient.rest)")
    for folder in (cache.metadata_dir, cache.targets_dir):
        folder.mkdir(parents=True, exist_ok=True)
    base = transport.base_url + "/v1/trust/"
    try:
        updater = Updater(str(cache.metadata_dir), base, str(cache.targets_dir), base + "targets/",
                          fetcher=_HttpxFetcher(transport.http, timeout_s),
                          config=UpdaterConfig(max_delegations=4), bootstrap=anchor.data)
        updater.refresh()
        _download(updater, MEMBERSHIP_PATH)
        targets = Metadata[Targets].from_bytes((cache.metadata_dir / "targets.json").read_bytes()).signed
        listed = Metadata[Snapshot].from_bytes((cache.metadata_dir / "snapshot.json").read_bytes()).signed.meta
        for name in (targets.delegations.roles or {}) if targets.delegations is not None else ():
            if f"{name}.json" not in listed:
                continue  # delegated, but its parties have not published it yet (open_trust leaves it out too)
            if name.startswith("city-"):
                for part in CITY_PARTS:
                    _download(updater, city_part_path(int(name[5:]), part))
            elif name.startswith("agreement-"):
                _download(updater, agreement_path(name.removeprefix("agreement-")))
    except tuf_errors.DownloadError as exc:
        raise UnavailableError(f"cannot fetch the trust set from {transport.base_url}: {exc}") from None
    except tuf_errors.ExpiredMetadataError as exc:
        raise UnavailableError(f"the gateway serves expired metadata ({exc}); kept the cached trust set") from None
    except tuf_errors.RepositoryError as exc:
        refused: type[BundleError] = BundleMalformedError
        if isinstance(exc, tuf_errors.BadVersionNumberError):
            refused = BundleRollbackError
        elif isinstance(exc, tuf_errors.UnsignedMetadataError):
            refused = BundleThresholdError
        raise refused(f"the gateway's trust set is refused: {exc}") from None
    except (OSError, ValueError) as exc:
        raise BundleMalformedError(f"the trust set could not be read or stored: {exc}") from None
    return cache.files(anchor)


def _download(updater: Updater, path: str) -> None:
    info = updater.get_targetinfo(path)
    if info is None:
        raise BundleMalformedError(f"no role of the gateway's trust set lists {path}")
    if updater.find_cached_target(info) is None:
        updater.download_target(info)


def sync_status_lists(client: GatewayClient, snapshot: TrustSnapshot, cache: TrustCache | None, *, now_s: int,
                      grace_s: int, force: bool = False) -> tuple[TrustSnapshot, list[CityCreditError]]:
    """Fetch the status lists whose `ttl_s` passed (all with `force`); the snapshot with what was accepted.

    Returns the refusals too (a list failing verification is refused and the one held kept).
    Raises UnavailableError when the gateway cannot be reached, having kept what it got so far.
    """
    problems: list[CityCreditError] = []
    for city, trust in sorted(snapshot.cities.items()):
        if not trust.status_keys:
            continue
        held = snapshot.statuses.get(city)
        state = (cache.statuses.get(city) if cache is not None else None) or StatusState()
        if held is not None and not force and now_s < state.fetched_at_s + held.ttl_s:
            continue
        try:
            fetched = client.status_list(city, known_version=held.version if held else 0,
                                         etag=state.etag if held is not None and state.version == held.version
                                         else None)
        except NotFoundError as exc:  # the city has published no list yet: its codes cannot be judged, others can
            problems.append(exc)
            continue
        state = StatusState(held.version if held else 0, fetched.etag, now_s)
        if fetched.data is not None:
            try:
                accepted = open_status_update(fetched.data, city=city, status_keys=trust.status_keys,
                                              previous=held, now_s=now_s, grace_s=grace_s)
            except BundleError as exc:
                log.warning("status list refused", extra={"fields": {"city": city, "error": exc.code}})
                problems.append(exc)
                continue
            snapshot = snapshot.with_status_list(accepted)
            state.version = accepted.version
            if cache is not None:
                cache.save_status(accepted, state)
                continue
        if cache is not None:
            cache.statuses[city] = state
            cache.save_state()
    return snapshot, problems
