"""A merchant's `Verifier.from_gateway` against the real gateway: the cache, conditional requests, a status
change arriving as one city's list, and offline verification from the cache until the grace runs out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit import GatewayClient, TrustAnchor, Verifier, VerifierConfig
from citycredit.errors import BundleStaleError, CodeSuspendedError, UnavailableError

from tests.support.alliance import QUZHOU, demo_copy, running_alliance

pytestmark = pytest.mark.slow


def _cli(home: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "citycredit", *args, "--home", str(home), "--json"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


class Recorder:
    """The requests a verifier's client makes: (path, status, body bytes) each."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []
        self.http = httpx.Client(event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        response.read()
        self.seen.append((response.request.url.path, response.status_code, len(response.content)))

    def take(self) -> list[tuple[str, int, int]]:
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return demo_copy(tmp_path)


@pytest.fixture
def anchor(home: Path) -> TrustAnchor:
    return TrustAnchor.from_json((home / "gateway" / "anchor.json").read_bytes())


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made = Recorder()
    yield made
    made.http.close()


def test_a_merchant_follows_the_gateway_and_then_verifies_offline(home: Path, anchor: TrustAnchor,
                                                                  recorder: Recorder, tmp_path: Path) -> None:
    cache = tmp_path / "merchant-cache"
    code = _cli(home, "issue", "--city", "quzhou", "--score", "900", "--holder", "sync-1", "--ttl-s", "3600")["code"]
    with running_alliance(home) as alliance:
        url = alliance.gateway.http_url
        client = GatewayClient.rest(url, http=recorder.http)
        verifier = Verifier.from_gateway(client, anchor=anchor, cache_dir=cache)
        assert verifier.verify(code).city == QUZHOU and not verifier.offline
        lists = [s for s in recorder.take() if s[0].endswith("/status-list")]
        assert lists and all(status == 200 for _, status, _ in lists)

        # Restarted from its cache inside the lists' ttl: no list is asked for; forced, each is revalidated
        # (304, no body) and none downloaded again.
        restarted = Verifier.from_gateway(client, anchor=anchor, cache_dir=cache)
        assert restarted.version == verifier.version
        assert [s for s in recorder.take() if s[0].endswith("/status-list")] == []
        assert restarted.sync_status_lists(force=True) is False
        again = [s for s in recorder.take() if s[0].endswith("/status-list")]
        assert len(again) == len(lists) and {(status, size) for _, status, size in again} == {(304, 0)}

        # Quzhou suspends the code: a refresh downloads Quzhou's list alone, and the code reads suspended.
        suspended = _cli(home, "suspend", code, "--gateway", url)
        assert suspended["changed"] == 1
        assert restarted.refresh(force_status=True) is True
        bodies = [path for path, status, _ in recorder.take() if path.endswith("/status-list") and status == 200]
        assert bodies == [f"/v1/cities/{QUZHOU:06d}/status-list"]
        with pytest.raises(CodeSuspendedError):
            restarted.verify(code)

    # The gateway is gone: the merchant keeps verifying from its cache (the suspension included), until
    # the trust set's expiries plus the grace have passed.
    down = GatewayClient.rest(url, timeout_s=2)
    offline = Verifier.from_gateway(down, anchor=anchor, cache_dir=cache)
    assert offline.offline
    with pytest.raises(CodeSuspendedError):
        offline.verify(code)
    expiry = offline.snapshot.expires_at_s
    with pytest.raises(BundleStaleError, match="cannot be reached"):
        Verifier.from_gateway(down, anchor=anchor, cache_dir=cache, config=VerifierConfig(grace_s=60),
                              clock=lambda: expiry + 61)
    with pytest.raises(UnavailableError):
        Verifier.from_gateway(down, anchor=anchor, cache_dir=tmp_path / "empty-cache")
