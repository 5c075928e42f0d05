"""`Verifier.from_gateway`: TUF parts through ngclient into a cache, status lists by delta, offline grace, rollback,
and a governance rotation that persists (SPEC 6.9: `metadata/root_history/`). The gateway is `FakeGateway`,
static files over httpx's MockTransport: no server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from citycredit import GatewayClient, GatewayVerifier, SigningKey, Tier, Verifier, VerifierConfig
from citycredit.core import Status, renew_timestamp
from citycredit.errors import (
    BundleError,
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
    CodeRevokedError,
    CodeSuspendedError,
    UnavailableError,
)
from citycredit.testing import InMemoryAlliance

from tests.unit.core.trust_ops import republish, rotated_root, targets
from tests.unit.sdk.fake_gateway import BASE_URL, FakeGateway

HANGZHOU, QUZHOU = 330100, 330800
DAY = 86400
# ngclient judges the expiry of what it downloads by the wall clock (the verifier's own clock is for verdicts),
# so the alliance here signs at the real time.
NOW_S = int(time.time())


class Clock:
    def __init__(self, now_s: float = NOW_S) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def world() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S)


@pytest.fixture
def gateway(world: InMemoryAlliance) -> FakeGateway:
    return FakeGateway(world)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def follow(gateway: FakeGateway, world: InMemoryAlliance, clock: Clock, cache: Path | None,
           grace_s: int = DAY) -> GatewayVerifier:
    return Verifier.from_gateway(gateway.client(), anchor=world.anchor, cache_dir=cache,
                                 config=VerifierConfig(grace_s=grace_s), clock=clock)


# --- following the trust set ---------------------------------------------------------------------------


def test_from_gateway_verifies_and_keeps_everything_in_the_cache(world: InMemoryAlliance, gateway: FakeGateway,
                                                                clock: Clock, tmp_path: Path) -> None:
    verifier = follow(gateway, world, clock, tmp_path)
    assert isinstance(verifier, GatewayVerifier) and not verifier.offline and verifier.version == 1
    assert verifier.verify(world.issue(QUZHOU, Tier.GOOD).code).tier is Tier.GOOD
    assert sorted(verifier.snapshot.statuses) == sorted(world.members)
    metadata = tmp_path / "metadata"
    assert {"timestamp.json", "snapshot.json", "targets.json", f"city-{HANGZHOU}.json"} <= {
        p.name for p in metadata.iterdir()}
    assert (metadata / "root_history" / "1.root.json").read_bytes() == world.anchor.data
    assert sorted(p.name for p in (tmp_path / "status").iterdir()) == [f"{c}.pb" for c in sorted(world.members)]
    state = json.loads((tmp_path / "status.json").read_text())
    assert {c: s["version"] for c, s in state["cities"].items()} == {f"{c}": 1 for c in sorted(world.members)}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left


def test_a_refresh_fetches_only_what_changed(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                             tmp_path: Path) -> None:
    verifier = follow(gateway, world, clock, tmp_path)
    assert verifier.refresh() is False
    gateway.requests.clear()
    world.publish_city(HANGZHOU)
    gateway.serve()
    assert verifier.refresh() is True and verifier.version == 2 and verifier.snapshot.versions[f"city-{HANGZHOU}"] == 2
    fetched = gateway.paths()
    assert "/v1/trust/2.snapshot.json" in fetched and f"/v1/trust/2.city-{HANGZHOU}.json" in fetched
    assert not [p for p in fetched if f"city-{QUZHOU}" in p or "/cities/330800/" in p]  # unchanged: not fetched
    assert not [p for p in fetched if p.endswith("/status-list")]  # the lists' ttl has not passed


def test_a_status_change_travels_as_a_delta_and_leaves_the_trust_set_alone(world: InMemoryAlliance,
                                                                           gateway: FakeGateway, clock: Clock,
                                                                           tmp_path: Path) -> None:
    code = world.issue(QUZHOU, status_index=42).code
    verifier = follow(gateway, world, clock, tmp_path)
    assert verifier.verify(code).status_index == 42
    gateway.serve_status(QUZHOU, world.set_status(QUZHOU, 42, Status.SUSPENDED))
    gateway.requests.clear()
    assert verifier.refresh(force_status=True) is True
    with pytest.raises(CodeSuspendedError):
        verifier.verify(code)
    assert verifier.version == 1  # the TUF parts did not change
    quzhou = [r for r in gateway.requests if r.url.path == f"/v1/cities/{QUZHOU}/status-list"]
    assert quzhou[0].url.params["since"] == "1"
    assert quzhou[0].headers["if-none-match"] == f'"{QUZHOU}-1"'
    unchanged = [r for r in gateway.requests if r.url.path == f"/v1/cities/{HANGZHOU}/status-list"]
    assert unchanged and verifier.snapshot.statuses[HANGZHOU].version == 1  # answered 304
    gateway.serve_status(QUZHOU, world.set_status(QUZHOU, 42, Status.VALID))
    assert verifier.refresh(force_status=True) is True
    assert verifier.verify(code).status_index == 42  # reinstated


def test_status_lists_are_asked_for_once_their_ttl_passed(world: InMemoryAlliance, gateway: FakeGateway,
                                                          clock: Clock, tmp_path: Path) -> None:
    verifier = follow(gateway, world, clock, tmp_path)
    gateway.requests.clear()
    clock.now_s = NOW_S + 899
    verifier.refresh()
    assert not [p for p in gateway.paths() if p.endswith("/status-list")]
    clock.now_s = NOW_S + 900
    verifier.refresh()
    assert len([p for p in gateway.paths() if p.endswith("/status-list")]) == len(world.members)


def test_a_refused_status_list_keeps_the_held_one(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                  tmp_path: Path) -> None:
    code = world.issue(QUZHOU, status_index=7).code
    verifier = follow(gateway, world, clock, tmp_path)
    world.bitmaps[QUZHOU].set(7, Status.REVOKED)
    world.status_keys[QUZHOU] = SigningKey.generate()  # signed by a key Quzhou never published
    gateway.serve_status(QUZHOU, world.sign_status(QUZHOU))
    verifier.sync_status_lists(force=True)
    assert [p.code for p in verifier.problems] == ["CC_BUNDLE_MALFORMED"]
    assert verifier.verify(code).status_index == 7  # the last good list stays
    assert verifier.snapshot.statuses[QUZHOU].version == 1


def test_a_replayed_older_status_list_cannot_un_revoke(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                       tmp_path: Path) -> None:
    code = world.issue(QUZHOU, status_index=8).code
    verifier = follow(gateway, world, clock, tmp_path)
    old = world.status_lists[QUZHOU]
    gateway.serve_status(QUZHOU, world.set_status(QUZHOU, 8, Status.REVOKED))
    verifier.sync_status_lists(force=True)
    gateway.lists[QUZHOU] = {}
    gateway.serve_status(QUZHOU, old)  # a compromised gateway goes back to version 1
    verifier.sync_status_lists(force=True)
    assert [p.code for p in verifier.problems] == ["CC_BUNDLE_ROLLBACK"]
    with pytest.raises(CodeRevokedError):
        verifier.verify(code)
    restarted = follow(gateway, world, clock, tmp_path)  # the cache remembers version 2
    with pytest.raises(CodeRevokedError):
        restarted.verify(code)


def test_could_not_fetch_is_never_revoked(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                          tmp_path: Path) -> None:
    code = world.issue(QUZHOU).code
    verifier = follow(gateway, world, clock, tmp_path)
    gateway.reachable = False
    with pytest.raises(UnavailableError):
        verifier.refresh(force_status=True)
    assert verifier.verify(code).city == QUZHOU


# --- offline ----------------------------------------------------------------------------------------------


def test_offline_from_the_cache_inside_the_grace_then_refused(world: InMemoryAlliance, gateway: FakeGateway,
                                                              clock: Clock, tmp_path: Path) -> None:
    follow(gateway, world, clock, tmp_path, grace_s=DAY)
    gateway.reachable = False
    expires = NOW_S + 6 * 3600  # the timestamp's
    clock.now_s = expires + 3600
    offline = follow(gateway, world, clock, tmp_path, grace_s=DAY)
    assert offline.offline and offline.version == 1
    assert offline.verify(world.issue(QUZHOU, now_s=int(clock.now_s)).code).city == QUZHOU
    clock.now_s = expires + DAY + 1
    with pytest.raises(BundleStaleError):
        offline.verify(world.issue(QUZHOU, now_s=int(clock.now_s)).code)
    with pytest.raises(BundleStaleError, match="cannot be reached"):
        follow(gateway, world, clock, tmp_path, grace_s=DAY)


def test_a_stale_cached_status_list_stops_only_its_city(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                        tmp_path: Path) -> None:
    """Offline for longer than one city's list lives: that city cannot be judged, every other city can."""
    follow(gateway, world, clock, tmp_path, grace_s=3 * DAY)
    world.now_s = NOW_S + 3 * DAY
    for city in (HANGZHOU, 330400):  # two cities signed newer lists the merchant got before going offline
        gateway.serve_status(city, world.sign_status(city))
    gateway.serve(renew_timestamp(world.repository, signer=world.timestamp_key, now_s=NOW_S + 3 * DAY))  # type: ignore[arg-type]
    world.now_s = NOW_S
    clock.now_s = NOW_S + 3 * DAY
    follow(gateway, world, clock, tmp_path, grace_s=3 * DAY).sync_status_lists(force=True)
    gateway.reachable = False
    clock.now_s = NOW_S + 4 * DAY + 1  # Quzhou's list (expired at NOW + 1 day) is past its grace
    offline = follow(gateway, world, clock, tmp_path, grace_s=3 * DAY)
    assert offline.offline
    with pytest.raises(BundleStaleError, match=str(QUZHOU)):
        offline.verify(world.issue(QUZHOU, now_s=int(clock.now_s)).code)
    assert offline.verify(world.issue(HANGZHOU, now_s=int(clock.now_s)).code).city == HANGZHOU


def test_unreachable_without_a_cache_is_unavailable(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                    tmp_path: Path) -> None:
    gateway.reachable = False
    with pytest.raises(UnavailableError):
        follow(gateway, world, clock, tmp_path)
    with pytest.raises(UnavailableError):
        follow(gateway, world, clock, None)


# --- what the gateway cannot do ----------------------------------------------------------------------------


def test_rollback_is_refused_and_the_floor_survives_a_restart(world: InMemoryAlliance, gateway: FakeGateway,
                                                              clock: Clock, tmp_path: Path) -> None:
    old = world.repository
    world.publish_city(HANGZHOU)
    gateway.serve()
    verifier = follow(gateway, world, clock, tmp_path)
    assert verifier.version == 2
    gateway.serve(old)  # a compromised or misconfigured gateway serves an older version
    with pytest.raises(BundleRollbackError):
        verifier.refresh()
    with pytest.raises(BundleRollbackError):
        follow(gateway, world, clock, tmp_path)
    assert verifier.version == 2
    assert follow(gateway, world, clock, None).version == 1  # a fresh install has only its anchor (SPEC 11.2)


def test_a_trust_set_under_another_anchor_is_refused(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                     tmp_path: Path) -> None:
    stranger = InMemoryAlliance(now_s=NOW_S)
    with pytest.raises(BundleError):
        Verifier.from_gateway(gateway.client(), anchor=stranger.anchor, cache_dir=tmp_path, clock=clock)


def test_a_damaged_cache_is_replaced_from_the_gateway(world: InMemoryAlliance, gateway: FakeGateway, clock: Clock,
                                                      tmp_path: Path) -> None:
    follow(gateway, world, clock, tmp_path)
    (tmp_path / "metadata" / "timestamp.json").write_bytes(b"\x00garbage")
    (tmp_path / "status.json").write_text("{not json")
    verifier = follow(gateway, world, clock, tmp_path)
    assert verifier.version == 1 and verifier.verify(world.issue(QUZHOU).code).city == QUZHOU


def test_an_accepted_governance_rotation_persists_in_the_cache(world: InMemoryAlliance, gateway: FakeGateway,
                                                               clock: Clock, tmp_path: Path) -> None:
    verifier = follow(gateway, world, clock, tmp_path)
    new = [SigningKey.generate() for _ in range(3)]
    root = rotated_root(world, new, threshold=2, signers=[*world.governance[:2], *new[:2]])
    data, files = targets(world, new[:2])
    before = world.repository
    gateway.serve(republish(world, root=root, targets=data, files=files))
    assert verifier.refresh() is True and verifier.snapshot.root.version == 2
    assert (tmp_path / "metadata" / "root_history" / "2.root.json").read_bytes() == root
    assert verifier.snapshot.anchor.version == 1  # the pin itself is never rewritten
    # Restarted offline, the verifier starts from the anchor and re-verifies the chain through the stored roots.
    gateway.reachable = False
    restarted = follow(gateway, world, clock, tmp_path)
    assert restarted.offline and restarted.snapshot.root.version == 2
    # Back online, a gateway serving the trust set from before the rotation is refused.
    gateway.reachable = True
    gateway.serve(before)
    with pytest.raises(BundleError):
        follow(gateway, world, clock, tmp_path)


def test_a_rotation_signed_by_the_new_keys_only_is_refused_and_not_kept(world: InMemoryAlliance,
                                                                        gateway: FakeGateway, clock: Clock,
                                                                        tmp_path: Path) -> None:
    verifier = follow(gateway, world, clock, tmp_path)
    new = [SigningKey.generate() for _ in range(3)]
    root = rotated_root(world, new, threshold=2, signers=new[:2])
    data, files = targets(world, new[:2])
    gateway.serve(republish(world, root=root, targets=data, files=files))
    with pytest.raises(BundleThresholdError):
        verifier.refresh()
    assert not (tmp_path / "metadata" / "root_history" / "2.root.json").exists()
    assert verifier.snapshot.root.version == 1


# --- building ------------------------------------------------------------------------------------------


def test_a_url_builds_a_rest_client(world: InMemoryAlliance, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch,
                                    clock: Clock) -> None:
    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(gateway._handle),
                                                                  **kw))
    verifier = Verifier.from_gateway(BASE_URL + "/", anchor=world.anchor, clock=clock)
    assert isinstance(verifier, GatewayVerifier) and verifier.version == 1
    assert gateway.requests[0].url.host == "gateway.test"


def test_following_a_gateway_needs_its_rest_api(world: InMemoryAlliance, clock: Clock) -> None:
    class NotRest:
        def close(self) -> None:
            pass

    with pytest.raises(UnavailableError, match="REST"):
        Verifier.from_gateway(GatewayClient(NotRest()), anchor=world.anchor, clock=clock)  # type: ignore[arg-type]
