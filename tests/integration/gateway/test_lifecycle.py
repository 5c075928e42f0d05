"""Revocation, suspension and reinstatement at the gateway (issue 11): each changes only its city's status
list, never the TUF parts (governance, snapshot, timestamp and their ETag stay as they were), over REST and
gRPC alike; and no public part names a holder.

The revocation goes through Hangzhou's issuer (its office API); the suspension and the reinstatement through
the CLI (`citycredit suspend|reinstate --gateway`) acting as Quzhou's office, as separate processes.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from citycredit._demo import DemoHome
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
from tuf.api.metadata import Metadata

from tests.support.alliance import Alliance, demo_copy, running_alliance

from .conftest import HANGZHOU, QUZHOU, bearer

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Seen:
    """What a merchant device sees of the trust set: the TUF files' versions and ETag, each city's list version."""

    timestamp: bytes
    etag: str
    versions: dict[str, int]  # root, targets (the governance's membership), snapshot, timestamp
    status: dict[int, int]  # city -> status list version


def _tuf_versions(timestamp: bytes, fetch: Any) -> dict[str, int]:
    stamp = Metadata.from_bytes(timestamp).signed
    snapshot = Metadata.from_bytes(fetch(f"{stamp.snapshot_meta.version}.snapshot.json")).signed
    root_version = 1
    while True:
        try:
            fetch(f"{root_version + 1}.root.json")
        except LookupError:
            break
        root_version += 1
    return {"root": root_version, "targets": snapshot.meta["targets.json"].version, "snapshot": snapshot.version,
            "timestamp": stamp.version}


def _rest(http: httpx.Client, cities: list[int]) -> Seen:
    def fetch(path: str) -> bytes:
        answer = http.get(f"/v1/trust/{path}")
        if answer.status_code == 404:
            raise LookupError(path)
        return answer.content

    stamp = http.get("/v1/trust/timestamp.json")
    status = {city: int(http.get(f"/v1/cities/{city}/status-list").headers["x-status-list-version"])
              for city in cities}
    return Seen(stamp.content, stamp.headers["etag"], _tuf_versions(stamp.content, fetch), status)


def _grpc(channel: grpc.Channel, cities: list[int]) -> Seen:
    trust = service_pb2_grpc.TrustServiceStub(channel)

    def fetch(path: str) -> bytes:
        try:
            return bytes(trust.GetTrustFile(service_pb2.GetTrustFileRequest(path=path), timeout=30).data)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise LookupError(path) from None
            raise

    stamp = fetch("timestamp.json")
    status = {city: trust.GetStatusList(service_pb2.GetStatusListRequest(city=city), timeout=30).version
              for city in cities}
    return Seen(stamp, "", _tuf_versions(stamp, fetch), status)


@dataclass
class Lifecycle:
    alliance: Alliance
    http: httpx.Client
    channel: grpc.Channel
    cities: list[int]

    def seen(self) -> tuple[Seen, Seen]:
        return _rest(self.http, self.cities), _grpc(self.channel, self.cities)

    def verify(self, code: str) -> tuple[str | None, str | None]:
        """The error code of `code` at the gateway over REST and over gRPC (None: valid)."""
        rest = self.http.post("/v1/codes:verify", json={"code": code}).json()
        rpc = service_pb2_grpc.VerificationServiceStub(self.channel).VerifyCode(
            service_pb2.VerifyCodeRequest(code=code), timeout=30).verification
        return (rest["error"] or {}).get("code"), rpc.error.code or None

    def cli(self, *args: str) -> dict[str, Any]:
        """`citycredit … --json` as a separate process acting as a city office of the demo home."""
        done = subprocess.run([sys.executable, "-m", "citycredit", *args, "--home", str(self.alliance.home),
                               "--json"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "NO_COLOR": "1"})
        assert done.returncode == 0, done.stderr
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc


@pytest.fixture
def lifecycle(tmp_path: Path) -> Iterator[Lifecycle]:
    home = demo_copy(tmp_path)
    with running_alliance(home, issuers=("hangzhou",)) as alliance, \
            httpx.Client(base_url=alliance.gateway.http_url, timeout=60) as http, \
            grpc.insecure_channel(alliance.gateway.grpc_target) as channel:
        cities = sorted(alliance.gateway.replica.snapshot.cities)
        yield Lifecycle(alliance, http, channel, cities)


def _assert_only(before: tuple[Seen, Seen], after: tuple[Seen, Seen], city: int, step: int) -> None:
    """After a status change: the same TUF files (bytes, versions, ETag), `city`'s list `step` newer, the rest
    as they were; REST and gRPC tell the same."""
    for old, new in zip(before, after, strict=True):
        assert new.timestamp == old.timestamp and new.etag == old.etag and new.versions == old.versions
        assert new.status == {c: v + (step if c == city else 0) for c, v in old.status.items()}
    assert after[0].status == after[1].status and after[0].versions == after[1].versions


def test_revoke_suspend_and_reinstate_change_only_that_citys_status_list(lifecycle: Lifecycle) -> None:
    issuer = httpx.Client(base_url=lifecycle.alliance.issuer_url("hangzhou"), timeout=60)
    office = bearer(lifecycle.alliance.token(HANGZHOU, "city_office"))
    issued = [issuer.post("/v1/codes", headers=office, json={
        "holder_ref": f"lifecycle-{n}", "local_record": {"score": 720}, "audience": "quzhou", "ttl_s": 3600}).json()
        for n in range(2)]
    quzhou_code = lifecycle.cli("issue", "--city", "quzhou", "--score", "900", "--holder", "lifecycle-q",
                                "--ttl-s", "3600")["code"]
    start = lifecycle.seen()
    assert {lifecycle.verify(c["code"]) for c in issued} == {(None, None)}
    assert lifecycle.verify(quzhou_code) == (None, None)

    # A revocation through the city's issuer.
    revoked = issuer.post("/v1/office/status", headers=office, json={"code": issued[0]["code"], "status": "revoked"})
    assert revoked.status_code == 200, revoked.text
    after_revoke = lifecycle.seen()
    _assert_only(start, after_revoke, HANGZHOU, 1)
    assert lifecycle.verify(issued[0]["code"]) == ("CC_REVOKED", "CC_REVOKED")
    assert lifecycle.verify(issued[1]["code"]) == (None, None)
    # Repeating it changes nothing and publishes nothing.
    again = issuer.post("/v1/office/status", headers=office, json={"code": issued[0]["code"], "status": "revoked"})
    assert again.json()["changed"] == [] and again.json()["note"]
    assert lifecycle.seen() == after_revoke

    # A suspension and a reinstatement through the CLI, as another city's office.
    suspended = lifecycle.cli("suspend", quzhou_code, "--city", "quzhou",
                              "--gateway", lifecycle.alliance.gateway.http_url)
    assert suspended["changed"] == 1 and suspended["gateway"]["version"] == start[0].status[QUZHOU] + 1
    after_suspend = lifecycle.seen()
    _assert_only(after_revoke, after_suspend, QUZHOU, 1)
    assert lifecycle.verify(quzhou_code) == ("CC_SUSPENDED", "CC_SUSPENDED")
    lifecycle.cli("reinstate", quzhou_code, "--city", "quzhou", "--gateway", lifecycle.alliance.gateway.http_url)
    _assert_only(after_suspend, lifecycle.seen(), QUZHOU, 1)
    assert lifecycle.verify(quzhou_code) == (None, None)

    # Health and the trust set the gateway reports are unchanged as well.
    health = lifecycle.http.get("/healthz").json()
    assert (health["snapshot_version"], health["timestamp_version"]) == (start[0].versions["snapshot"],
                                                                         start[0].versions["timestamp"])


def _served(lifecycle: Lifecycle) -> dict[str, bytes]:
    """Every public file the gateway serves, fetched as anyone would: the TUF files and each city's list."""
    paths = sorted(lifecycle.alliance.gateway.replica.published.served)
    out = {f"/v1/trust/{p}": lifecycle.http.get(f"/v1/trust/{p}").content for p in paths}
    for city in lifecycle.cities:
        path = f"/v1/cities/{city}/status-list"
        out[path] = lifecycle.http.get(path).content
        rpc = service_pb2_grpc.TrustServiceStub(lifecycle.channel).GetStatusList(
            service_pb2.GetStatusListRequest(city=city), timeout=30)
        out[f"grpc:{path}"] = rpc.update.SerializeToString()
    out["/v1/alliance"] = lifecycle.http.get("/v1/alliance").content
    out["/v1/offers"] = lifecycle.http.get("/v1/offers").content
    return out


def _forms(pseudonym: bytes) -> list[bytes]:
    return [pseudonym, pseudonym.hex().encode(), pseudonym.hex().upper().encode(), base64.b64encode(pseudonym),
            base64.urlsafe_b64encode(pseudonym).rstrip(b"="), base64.b64encode(pseudonym).rstrip(b"=")]


def test_no_public_part_names_a_holder_even_after_a_holder_is_suspended(lifecycle: Lifecycle) -> None:
    issuer = httpx.Client(base_url=lifecycle.alliance.issuer_url("hangzhou"), timeout=60)
    office = bearer(lifecycle.alliance.token(HANGZHOU, "city_office"))
    refs = [f"scan-{n}" for n in range(3)]
    issued = [issuer.post("/v1/codes", headers=office, json={
        "holder_ref": ref, "local_record": {"score": 720}, "audience": audience, "ttl_s": 3600}).json()
        for ref in refs for audience in ("quzhou", "hangzhou")]
    # Every live code of one holder suspended at once (a downgrade), another holder's one code revoked.
    holder_wide = issuer.post("/v1/office/status", headers=office,
                              json={"code": issued[0]["code"], "status": "suspended", "holder": True}).json()
    assert len(holder_wide["changed"]) == 2
    issuer.post("/v1/office/status", headers=office, json={"code": issued[2]["code"], "status": "revoked"})
    assert lifecycle.verify(issued[1]["code"]) == ("CC_SUSPENDED", "CC_SUSPENDED")

    pseudonyms = {bytes.fromhex(c["holder"]) for c in issued}  # each code's pairwise pseudonym
    with DemoHome(lifecycle.alliance.home).city("hangzhou") as city:  # and each holder's home pseudonym
        pseudonyms |= {bytes.fromhex(city.holder_key(ref)) for ref in refs}
    assert len(pseudonyms) == 3 * 2
    served = _served(lifecycle)
    assert len(served) > 2 * len(lifecycle.cities)
    found = [(path, form) for path, data in served.items() for p in pseudonyms for form in _forms(p) if form in data]
    assert not found, found
