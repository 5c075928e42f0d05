"""A compromised gateway (issue 10): an attacker with read and write access to everything the gateway holds
(its home D/gateway with its key store and passphrase, hence its snapshot and timestamp keys, and its
database) cannot make anything the SDK accepts.

Each attack below is one test and each refusal names its catalogue code. The attacker signs with the
gateway's own online keys, writes the gateway's database and serves what they like in the gateway's place
(`Impostor`: their files where they forged one, the real gateway's otherwise). Verifiers pin the alliance's
anchor: a fresh one (`Verifier.from_files`, which never saw anything) and one that followed the honest
gateway (`Verifier.from_gateway`) before the attack.

Rewriting the transparency log is covered by tests/integration/gateway/test_transparency.py (every
rewrite, careless or consistent, against held heads: `test_a_consistent_rewrite_is_caught_by_a_citys_older_
head_and_only_by_it` and its neighbours); here one end-to-end case shows the same through the real gateway,
a real city witness and `citycredit audit verify`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit import GatewayClient, TrustAnchor, Verifier, VerifierConfig
from citycredit._gen.citycredit.v1 import bundle_pb2, code_pb2, offer_pb2, status_pb2, trust_pb2
from citycredit.city import Uploader
from citycredit.core import (
    STATUS_CONTEXT,
    Algorithm,
    Issuer,
    Repository,
    SigningKey,
    Status,
    Tier,
    agreement_metadata,
    b45encode,
    city_metadata,
    decode_envelope,
    hmac_sha256,
    membership_part,
    publish,
    renew_timestamp,
    sign_metadata,
    sign_part,
    tuf_key,
    uscc_check_character,
)
from citycredit.errors import BundleError, CityCreditError
from citycredit.gateway import gateway_in_thread
from citycredit.gateway.db import Database
from citycredit.gateway.transparency import latest_head, leaf_hash, load_heads, sign_head
from citycredit.keystore import open_store
from sqlalchemy import text
from tuf.api.metadata import DelegatedRole, Metadata, TargetFile, Targets

from tests.support.alliance import Alliance, demo_copy, gateway_config, passphrase, running_alliance

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, WENZHOU, CityDesk, bearer

pytestmark = pytest.mark.slow
PROTOBUF = "application/x-protobuf"


# --- the attacker -----------------------------------------------------------------------------------------


class Impostor:
    """What the attacker serves in the gateway's place: their files where they forged one, else the real ones."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.files: dict[str, bytes] = {}
        self.status: dict[int, bytes] = {}
        self._real = httpx.Client(timeout=30)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/trust/") and path.removeprefix("/v1/trust/") in self.files:
            return httpx.Response(200, content=self.files[path.removeprefix("/v1/trust/")])
        city = re.fullmatch(r"/v1/cities/(\d{6})/status-list", path)
        if city and int(city[1]) in self.status:
            data = self.status[int(city[1])]
            version = status_pb2.StatusListHead.FromString(status_pb2.StatusListUpdate.FromString(data).list.head.body)
            return httpx.Response(200, content=data, headers={"content-type": PROTOBUF,
                                                              "x-status-list-version": str(version.version)})
        real = self._real.request(request.method, self.target + path, params=request.url.params,
                                  headers={k: v for k, v in request.headers.items()
                                           if k in ("accept", "if-none-match")})
        kept = {k: v for k, v in real.headers.items() if k in ("content-type", "etag", "x-status-list-version")}
        return httpx.Response(real.status_code, content=real.content, headers=kept)

    def client(self) -> GatewayClient:
        return GatewayClient.rest("http://gateway.test", http=httpx.Client(transport=httpx.MockTransport(self._handle)))

    def serve(self, repository: Repository) -> None:
        self.files = dict(repository.served())

    def close(self) -> None:
        self._real.close()


@dataclass
class Compromised:
    """A running demo alliance whose gateway the attacker owns."""

    alliance: Alliance
    desk: CityDesk
    anchor: TrustAnchor
    impostor: Impostor
    cache: Path
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def home(self) -> Path:
        return self.alliance.home

    @property
    def url(self) -> str:
        return str(self.alliance.gateway.http_url)

    def gateway_keys(self) -> tuple[Any, Any]:
        """The gateway's snapshot and timestamp signers, from its own store with its own passphrase."""
        store = self.stack.enter_context(open_store(f"file:{self.home / 'gateway' / 'keys'}",
                                                    passphrase=passphrase(self.home, "gateway/keys")))
        return store.signer("snapshot"), store.signer("timestamp")

    def held(self) -> tuple[Repository, dict[int, bytes]]:
        """The trust set and status lists the gateway holds (its memory: the attacker runs its process)."""
        published = self.alliance.gateway.replica.published
        return published.repository, dict(published.status_updates)

    def forge(self, **changes: Any) -> Repository:
        """The gateway's trust set with the attacker's changes, snapshot and timestamp signed by the gateway."""
        snapshot, timestamp = self.gateway_keys()
        return publish(self.held()[0], snapshot_signer=snapshot, timestamp_signer=timestamp,
                       now_s=int(time.time()), **changes)

    def fresh_verifier(self, repository: Repository, lists: dict[int, bytes] | None = None) -> Verifier:
        return Verifier.from_files(repository.files(trusted_root_version=self.anchor.version), anchor=self.anchor,
                                   status_lists=self.held()[1] if lists is None else lists)

    def follower(self, name: str) -> Any:
        """A merchant's verifier that follows the gateway (through the impostor, honest until it forges)."""
        return Verifier.from_gateway(self.impostor.client(), anchor=self.anchor, cache_dir=self.cache / name)

    def sql(self, statement: str, *params: object) -> None:
        """Write the gateway's database directly."""
        with contextlib.closing(sqlite3.connect(self.home / "gateway" / "gateway.db", timeout=30)) as db:
            db.execute(statement, params)
            db.commit()


@contextlib.contextmanager
def _compromised(tmp_path: Path, **issuers: Any) -> Iterator[Compromised]:
    home = demo_copy(tmp_path)
    desk = CityDesk(home)
    with running_alliance(home, **issuers) as alliance:
        impostor = Impostor(alliance.gateway.http_url)
        state = Compromised(alliance=alliance, desk=desk, impostor=impostor, cache=tmp_path / "merchants",
                            anchor=TrustAnchor.from_json((home / "anchor.json").read_bytes()))
        try:
            yield state
        finally:
            state.stack.close()
            impostor.close()
            desk.close()


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compromised]:
    """One compromised gateway for the attacks that forge (they leave the gateway's state as it was)."""
    with _compromised(tmp_path_factory.mktemp("owned")) as state:
        yield state


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Compromised]:
    """A compromised gateway of its own, for the attacks that rewrite the gateway's database."""
    with _compromised(tmp_path) as state:
        yield state


def _refused(code: str, action: Any) -> CityCreditError:
    with pytest.raises(CityCreditError) as refused:
        action()
    assert refused.value.code == code, refused.value
    return refused.value


def _forged_code(signer: Any, *, city: int = HANGZHOU, tier: Tier = Tier.OUTSTANDING) -> str:
    issuer = Issuer(city=city, key=signer, pseudonym=hmac_sha256(os.urandom(32)))
    return issuer.issue(holder_ref="nobody", tier=tier, band="伪造", now_s=int(time.time()), ttl_s=3600,
                        audience=QUZHOU).code


# --- codes -------------------------------------------------------------------------------------------------


def test_a_code_signed_with_the_gateways_keys_or_any_key_but_the_citys_is_refused(owned: Compromised) -> None:
    snapshot_key, timestamp_key = owned.gateway_keys()
    verifier = owned.follower("codes")
    real = owned.desk.code(tier=Tier.FAIR)
    for signer in (snapshot_key, timestamp_key, SigningKey.generate(Algorithm.ED25519)):
        forged = _forged_code(signer)
        _refused("CC_KEY_UNKNOWN", lambda f=forged: verifier.verify(f))
        assert owned.alliance.gateway.replica.verify(forged).code == "CC_KEY_UNKNOWN"
    # Upgrading a real code's tier under the city's kid, signed by the gateway: the signature gives it away.
    envelope = decode_envelope(real.code)
    claims = code_pb2.CreditCode.FromString(envelope.payload)
    claims.tier = Tier.OUTSTANDING.proto
    payload = claims.SerializeToString(deterministic=True)
    upgraded = "CC1:" + b45encode(code_pb2.SignedCreditCode(
        payload=payload, kid=envelope.kid, signature=timestamp_key.sign(b"CC1\x00" + payload)).SerializeToString())
    _refused("CC_SIGNATURE_INVALID", lambda: verifier.verify(upgraded))
    assert owned.alliance.gateway.replica.verify(upgraded).code == "CC_SIGNATURE_INVALID"
    assert verifier.verify(real.code).tier is Tier.FAIR


# --- a city's parts: keys, offers, policy ----------------------------------------------------------------------


def _changed_part(owned: Compromised, part: str, attacker: SigningKey) -> dict[str, bytes]:
    """Hangzhou's `part` as the attacker wants it: their key added, a free-for-all offer, no tier policy."""
    office = owned.desk.office("hangzhou")
    keys, offers, policy = office.parts()
    if part == "keys":
        keys.code_keys.append(bundle_pb2.PublicKey(kid=attacker.kid, algorithm=attacker.algorithm.proto,
                                                  spki=attacker.spki, status=1, not_before=0))
    elif part == "offers":
        free = offer_pb2.Offer()
        free.CopyFrom(offers.offers[0])
        free.id, free.min_tier = "hangzhou-everything-free", Tier.RESTRICTED.proto
        offers.offers.append(free)
    else:
        policy.ClearField("tier_policy")
    _, files = city_metadata(keys=keys, offers=offers, policy=policy, version=1, now_s=int(time.time()))
    return {path: data for path, data in files.items() if path.endswith(f"/{part}.pb")}


@pytest.mark.parametrize("part", ["keys", "offers", "policy"])
def test_a_citys_part_swapped_under_its_signed_role_is_refused(owned: Compromised, part: str) -> None:
    attacker = SigningKey.generate(Algorithm.ED25519)
    forged = owned.forge(files=_changed_part(owned, part, attacker))
    _refused("CC_BUNDLE_MALFORMED", lambda: owned.fresh_verifier(forged))


@pytest.mark.parametrize("part", ["keys", "offers", "policy"])
def test_a_citys_role_re_signed_by_the_gateway_is_refused_and_adds_no_key(owned: Compromised, part: str) -> None:
    attacker = SigningKey.generate(Algorithm.ED25519)
    snapshot_key, _ = owned.gateway_keys()
    office = owned.desk.office("hangzhou")
    keys, offers, policy = office.parts()
    changed = _changed_part(owned, part, attacker)
    for message, name in ((keys, "keys"), (offers, "offers"), (policy, "policy")):
        path = f"cities/330100/{name}.pb"
        if path in changed:
            message.ParseFromString(changed[path])
    metadata, files = city_metadata(keys=keys, offers=offers, policy=policy, version=office.role_version() + 1,
                                    now_s=int(time.time()))
    role = sign_metadata(metadata, [snapshot_key])
    forged = owned.forge(roles={"city-330100": role}, files=files)
    _refused("CC_BUNDLE_THRESHOLD", lambda: owned.fresh_verifier(forged))

    merchant = owned.follower(f"role-{part}")
    before = merchant.version
    owned.impostor.serve(forged)
    try:
        with pytest.raises(BundleError):
            merchant.refresh()
    finally:
        owned.impostor.files.clear()
    assert merchant.version == before and "hangzhou-everything-free" not in {
        o.id for o in merchant.snapshot.catalogue.find(city=HANGZHOU)}
    _refused("CC_KEY_UNKNOWN", lambda: merchant.verify(_forged_code(attacker)))

    # Uploaded through the gateway's own API with Hangzhou's office token, it is refused as well.
    refused = Uploader(owned.url, token=owned.alliance.token(HANGZHOU, "city_office"))
    _refused("CC_BUNDLE_THRESHOLD", lambda: refused.city_parts(HANGZHOU, role, files))


# --- status lists ------------------------------------------------------------------------------------------


def _all_valid(update: bytes, signer: Any, *, version_step: int = 1) -> bytes:
    """The list of `update` with every entry VALID, one version newer, signed by `signer`."""
    signed = status_pb2.StatusListUpdate.FromString(update)
    head = status_pb2.StatusListHead.FromString(signed.list.head.body)
    clean = bytes(head.size // 4)
    head.version += version_step
    head.list_sha256 = hashlib.sha256(clean).digest()
    head.issued_at, head.expires_at = int(time.time()), int(time.time()) + 86400
    part = sign_part(head.SerializeToString(deterministic=True), signer, STATUS_CONTEXT)
    return status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(
        head=part, list_zlib=zlib.compress(clean))).SerializeToString(deterministic=True)


def _revoke(state: Compromised, slug: str = "hangzhou", city: int = HANGZHOU) -> tuple[str, bytes]:
    """A code of `city` its office revoked and published; the code and the new list."""
    issued = state.desk.code(slug, audience=QUZHOU if city != QUZHOU else None)
    change = state.desk.office(slug).set_status(issued.code, Status.REVOKED, now_s=int(time.time()))
    assert change.update is not None
    Uploader(state.url, token=state.alliance.token(city, "city_office")).status_list(city, change.update)
    return issued.code, change.update


def test_a_status_list_signed_by_the_gateway_cannot_un_revoke(owned: Compromised) -> None:
    merchant = owned.follower("unrevoke")
    code, update = _revoke(owned, "wenzhou", WENZHOU)
    assert merchant.sync_status_lists(force=True)
    _refused("CC_REVOKED", lambda: merchant.verify(code))
    _, timestamp_key = owned.gateway_keys()
    forged = _all_valid(update, timestamp_key)

    _refused("CC_BUNDLE_MALFORMED", lambda: merchant.update_status_list(WENZHOU, forged))
    owned.impostor.status[WENZHOU] = forged
    try:
        merchant.sync_status_lists(force=True)
    finally:
        owned.impostor.status.clear()
    assert [p.code for p in merchant.problems] == ["CC_BUNDLE_MALFORMED"]
    _refused("CC_REVOKED", lambda: merchant.verify(code))
    lists = owned.held()[1]
    _refused("CC_BUNDLE_MALFORMED", lambda: owned.fresh_verifier(owned.held()[0], {**lists, WENZHOU: forged}))
    # The gateway's upload API refuses it too, whoever's token comes with it.
    refused = Uploader(owned.url, token=owned.alliance.token(WENZHOU, "city_office"))
    _refused("CC_BUNDLE_MALFORMED", lambda: refused.status_list(WENZHOU, forged))


def test_withholding_a_revocation_lasts_only_until_the_held_list_expires(owned: Compromised) -> None:
    """The timestamp key can freeze what a merchant sees, never extend a city's list: however fresh the
    attacker keeps the timestamp, Hangzhou's withheld list expires and with it Hangzhou's codes, no one else's."""
    repository, lists = owned.held()
    grace = VerifierConfig().grace_s
    head = status_pb2.StatusListHead.FromString(status_pb2.StatusListUpdate.FromString(lists[HANGZHOU]).list.head.body)
    now = int(time.time())
    later = head.expires_at + grace + 1
    clock = [float(now)]
    merchant = Verifier.from_files(repository.files(trusted_root_version=owned.anchor.version), anchor=owned.anchor,
                                   status_lists=lists, clock=lambda: clock[0])
    hangzhou = owned.desk.code(ttl_s=later - now + 3600).code
    xiamen = owned.desk.code("xiamen", audience=None, ttl_s=later - now + 3600).code
    assert merchant.verify(hangzhou).city == HANGZHOU
    # Days later: the attacker renews the timestamp; Xiamen's office has signed a fresh list since.
    _, timestamp_key = owned.gateway_keys()
    clock[0] = float(later)
    assert merchant.update(renew_timestamp(repository, signer=timestamp_key, now_s=later).files(
        trusted_root_version=owned.anchor.version))  # the same parts, a newer timestamp
    fresh, _, signed = owned.desk.office("xiamen").status_update(now_s=later, renew_before_s=10 * 86400)
    assert signed and merchant.update_status_list(350200, fresh)
    _refused("CC_BUNDLE_STALE", lambda: merchant.verify(hangzhou))
    assert merchant.verify(xiamen).city == 350200


# --- agreements, membership, governance -------------------------------------------------------------------------


def test_an_agreement_cannot_be_widened_or_made_without_every_bound_city(owned: Compromised) -> None:
    snapshot_key, _ = owned.gateway_keys()
    repository, _ = owned.held()
    agreement = offer_pb2.Agreement.FromString(repository.targets_files["agreements/hangzhou-quzhou.pb"])
    agreement.not_after = 0
    del agreement.categories[:]
    agreement.cities.append(WENZHOU)  # and Wenzhou too, while at it
    body = agreement.SerializeToString(deterministic=True)
    _refused("CC_BUNDLE_MALFORMED", lambda: owned.fresh_verifier(owned.forge(
        files={"agreements/hangzhou-quzhou.pb": body})))
    metadata, files = agreement_metadata(body, "hangzhou-quzhou", version=2, now_s=int(time.time()), ttl_s=86400)
    forged = owned.forge(roles={"agreement-hangzhou-quzhou": sign_metadata(metadata, [snapshot_key])}, files=files)
    _refused("CC_BUNDLE_THRESHOLD", lambda: owned.fresh_verifier(forged))
    # A new agreement needs a delegation in the governance's targets, which only the governance signs.
    targets: Metadata[Targets] = Metadata.from_bytes(repository.targets)
    delegations = targets.signed.delegations
    assert delegations is not None and delegations.roles is not None
    bound = [delegations.roles[f"city-{c:06d}"].keyids[0] for c in (HANGZHOU, WENZHOU)]
    delegations.roles["agreement-hz-wz"] = DelegatedRole(name="agreement-hz-wz", keyids=bound, threshold=2,
                                                         terminating=True, paths=["agreements/hz-wz.pb"])
    targets.signed.version += 1
    _refused("CC_BUNDLE_THRESHOLD", lambda: owned.fresh_verifier(owned.forge(
        targets=sign_metadata(targets, [snapshot_key]))))
    refused = Uploader(owned.url, token=owned.alliance.token(HANGZHOU, "city_office"))
    _refused("CC_BUNDLE_THRESHOLD", lambda: refused.agreement(
        "hangzhou-quzhou", sign_metadata(metadata, [snapshot_key]), files))


def test_no_city_can_be_added_and_the_governance_cannot_be_rotated_by_the_gateway(owned: Compromised) -> None:
    snapshot_key, timestamp_key = owned.gateway_keys()
    repository, _ = owned.held()
    attacker = SigningKey.generate(Algorithm.ED25519)
    members = trust_pb2.Membership.FromString(repository.targets_files["alliance/members.pb"])
    membership = membership_part(members.alliance, [*members.members, trust_pb2.Member(
        city=330900, slug="zhoushan", name_zh="舟山", name_en="Zhoushan")])
    targets: Metadata[Targets] = Metadata.from_bytes(repository.targets)
    delegations = targets.signed.delegations
    assert delegations is not None and delegations.roles is not None
    key = tuf_key(attacker)
    delegations.keys[key.keyid] = key
    delegations.roles["city-330900"] = DelegatedRole(name="city-330900", keyids=[key.keyid], threshold=1,
                                                     terminating=True, paths=["cities/330900/*"])
    targets.signed.targets["alliance/members.pb"] = TargetFile.from_data("alliance/members.pb", membership,
                                                                          ["sha256"])
    targets.signed.version += 1
    forged_targets = sign_metadata(targets, [snapshot_key, timestamp_key])
    forged = owned.forge(targets=forged_targets, files={"alliance/members.pb": membership})
    _refused("CC_BUNDLE_THRESHOLD", lambda: owned.fresh_verifier(forged))
    # A root rotation that makes the gateway's keys the governance: the current threshold never signed it.
    root = Metadata.from_bytes(repository.roots[-1])
    for role in ("root", "targets"):
        for key in (snapshot_key, timestamp_key):
            root.signed.add_key(tuf_key(key), role)
    root.signed.version += 1
    rotated = sign_metadata(root, [snapshot_key, timestamp_key])
    _refused("CC_BUNDLE_THRESHOLD", lambda: owned.fresh_verifier(owned.forge(root=rotated)))
    # The governance upload refuses both, with no token at all and with a city office's.
    for token in (None, owned.alliance.token(HANGZHOU, "city_office")):
        uploader = Uploader(owned.url, token=token)
        _refused("CC_BUNDLE_THRESHOLD", lambda u=uploader: u.governance(targets=forged_targets, root=None,
                                                                        files={"alliance/members.pb": membership}))
        _refused("CC_BUNDLE_THRESHOLD", lambda u=uploader: u.governance(targets=repository.targets, root=rotated,
                                                                        files={}))
    assert 330900 not in owned.follower("members").snapshot.cities


# --- rollback: the database rewound --------------------------------------------------------------------------


def test_replaying_an_older_status_list_is_refused_by_a_verifier_that_saw_the_newer(victim: Compromised) -> None:
    merchant = victim.follower("status-rollback")
    before = status_pb2.StatusListUpdate.FromString(
        httpx.get(f"{victim.url}/v1/cities/{HANGZHOU}/status-list").content).list.list_zlib
    code, _update = _revoke(victim)
    assert merchant.sync_status_lists(force=True)
    revoked_version = merchant.snapshot.statuses[HANGZHOU].version
    _refused("CC_REVOKED", lambda: merchant.verify(code))
    # The attacker deletes the new list from the database and puts back the older one it had seen (the
    # gateway keeps only the newest list): the gateway falls back to serving the older version.
    victim.sql("DELETE FROM status_lists WHERE city = ? AND version = ?", HANGZHOU, revoked_version)
    victim.sql("UPDATE status_lists SET list_zlib = ? WHERE city = ? AND version = ?", before, HANGZHOU,
               revoked_version - 1)
    victim.alliance.gateway.replica.refresh_round()
    served = httpx.get(f"{victim.url}/v1/cities/{HANGZHOU}/status-list")
    assert int(served.headers["x-status-list-version"]) == revoked_version - 1

    merchant.sync_status_lists(force=True)
    assert [p.code for p in merchant.problems] == ["CC_BUNDLE_ROLLBACK"]
    assert merchant.snapshot.statuses[HANGZHOU].version == revoked_version
    _refused("CC_REVOKED", lambda: merchant.verify(code))
    _refused("CC_BUNDLE_ROLLBACK", lambda: merchant.update_status_list(HANGZHOU, served.content))


def _publish_new_key(state: Compromised) -> str:
    """Hangzhou adds a code key and publishes its role; a code signed by the new key."""
    office = state.desk.office("hangzhou")
    now = int(time.time())
    entry = office.new_code_key(Algorithm.P256, now_s=now)
    role, files, _ = office.signed_role(now_s=now)
    Uploader(state.url, token=state.alliance.token(HANGZHOU, "city_office")).city_parts(HANGZHOU, role, files)
    issuer = Issuer(city=HANGZHOU, key=office.keystore.signer(entry.name), pseudonym=hmac_sha256(os.urandom(32)))
    return issuer.issue(holder_ref="new-key", tier=Tier.GOOD, band="b", now_s=now, ttl_s=3600, audience=QUZHOU).code


def test_replaying_an_older_trust_set_is_refused_by_a_verifier_that_saw_the_newer(victim: Compromised) -> None:
    merchant = victim.follower("trust-rollback")
    old_repository, _ = victim.held()
    old_stamp = old_repository.timestamp
    code = _publish_new_key(victim)
    assert merchant.refresh() and merchant.version == _snapshot_version(old_repository) + 1
    assert merchant.verify(code).city == HANGZHOU
    # The attacker rewinds the database to the older timestamp and restarts the gateway, which then serves it.
    victim.sql("UPDATE trust_state SET timestamp = ?, timestamp_version = ?, snapshot_version = ? WHERE id = 1",
               old_stamp, Metadata.from_bytes(old_stamp).signed.version, _snapshot_version(old_repository))
    with gateway_in_thread(gateway_config(victim.home)) as restarted:
        assert httpx.get(f"{restarted.http_url}/v1/trust/timestamp.json").content == old_stamp
        victim.impostor.target = restarted.http_url
        with pytest.raises(BundleError):
            merchant.refresh()
    assert merchant.version == _snapshot_version(old_repository) + 1 and merchant.verify(code).city == HANGZHOU
    _refused("CC_BUNDLE_ROLLBACK", lambda: merchant.update(old_repository.files(
        trusted_root_version=victim.anchor.version)))


def _snapshot_version(repository: Repository) -> int:
    return int(Metadata.from_bytes(repository.snapshot).signed.version)


def test_a_trust_set_rollback_over_the_network_is_named_cc_bundle_rollback(owned: Compromised) -> None:
    merchant = owned.follower("rollback-code")
    repository, _ = owned.held()
    snapshot_key, timestamp_key = owned.gateway_keys()
    newer = publish(repository, snapshot_signer=snapshot_key, timestamp_signer=timestamp_key, now_s=int(time.time()))
    owned.impostor.serve(newer)
    try:
        assert merchant.refresh()
        owned.impostor.serve(repository)
        _refused("CC_BUNDLE_ROLLBACK", merchant.refresh)
    finally:
        owned.impostor.files.clear()


# --- the log -----------------------------------------------------------------------------------------------


def test_rewriting_the_log_is_detected_by_a_citys_witness(tmp_path: Path) -> None:
    """Delete a redemption and its entry, renumber, recompute every leaf and re-sign the head with the
    gateway's timestamp key: `citycredit audit verify` with Quzhou's held heads finds it; without them
    nothing in the database gives it away (the attack test_transparency.py shows in every variant)."""
    home = demo_copy(tmp_path)
    desk = CityDesk(home)
    heads = home / "cities" / "quzhou" / "witness" / "heads.jsonl"
    try:
        with running_alliance(home, issuers=("quzhou",)) as alliance:
            code = desk.code().code
            answer = GatewayClient.rest(alliance.gateway.http_url, api_key=alliance.token(QUZHOU)).redeem(
                code, QUOTA_OFFER, idempotency_key="witnessed")
            assert answer.redeemed
            index = _entry_index(alliance.gateway.http_url, str(answer.redemption_id))
            deadline = time.monotonic() + 120
            while not any(held.head.size > index for held in load_heads(heads)):  # Quzhou holds a head with it
                assert time.monotonic() < deadline, "the witness never countersigned a head with the redemption"
                time.sleep(0.2)
    finally:
        desk.close()
    db = Database(f"sqlite:///{home / 'gateway' / 'gateway.db'}")
    try:
        assert latest_head(db) is not None
        _rewrite_without(db, str(answer.redemption_id), home)
    finally:
        db.close()

    def audit(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "citycredit", "audit", "verify", "--home", str(home / "gateway"),
                               "--json", *extra], capture_output=True, text=True, timeout=120)

    blind = audit()
    assert blind.returncode == 0 and json.loads(blind.stdout)["ok"] is True, blind.stdout + blind.stderr
    caught = audit("--heads", str(heads))
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert json.loads(caught.stdout)["ok"] is False and json.loads(caught.stdout)["head_size"] is not None


def _entry_index(url: str, redemption_id: str) -> int:
    """The log index of the redemption's entry, once the gateway linked it."""
    deadline = time.monotonic() + 120
    while True:
        start = 0
        while True:
            page = httpx.get(f"{url}/v1/log/entries", params={"start": start}).json()
            for entry in page["entries"]:
                if entry["kind"] == "redemption" and redemption_id.encode() in base64.b64decode(
                        entry["data"]):
                    return int(entry["index"])
            if page["end"] >= page["size"]:
                break
            start = page["end"]
        assert time.monotonic() < deadline, "the redemption was never linked into the log"
        time.sleep(0.2)


def _rewrite_without(db: Database, redemption_id: str, home: Path) -> None:
    with db.read() as session:
        rows = session.execute(text('SELECT kind, data, created_at_s FROM log_entries ORDER BY "index"')).all()
    kept = [(kind, bytes(data), int(at)) for kind, data, at in rows
            if not (kind == "redemption" and json.loads(bytes(data))["redemption_id"] == redemption_id)]
    assert len(kept) == len(rows) - 1

    def wipe(session: Any) -> None:
        for table in ("log_witnesses", "log_heads", "log_entries"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(text("DELETE FROM redemptions WHERE id = :id"), {"id": redemption_id})
        session.execute(text('INSERT INTO log_entries ("index", kind, data, leaf_hash, created_at_s) '
                             "VALUES (:i, :kind, :data, :hash, :at)"),
                        [{"i": i, "kind": k, "data": d, "hash": leaf_hash(d), "at": at}
                         for i, (k, d, at) in enumerate(kept)])

    db.write(wipe)
    with open_store(f"file:{home / 'gateway' / 'keys'}", passphrase=passphrase(home, "gateway/keys")) as keys:
        sign_head(db, keys.signer("timestamp"), int(time.time()))


# --- credentials -------------------------------------------------------------------------------------------


def test_a_merchant_key_the_gateway_mints_itself_is_refused(owned: Compromised) -> None:
    """The gateway cannot mint a credential: every one needs a grant its city signed."""
    snapshot_key, _ = owned.gateway_keys()
    office = owned.desk.office("quzhou")
    _, genuine = office.grant_merchant(merchant_id="91330800MA0000000" + uscc_check_character("91330800MA0000000"),
                                       name="x", venues=(), token="ccm_attacker", now_s=int(time.time()))
    part = trust_pb2.SignedPart.FromString(genuine)
    forged = trust_pb2.SignedPart(body=part.body, kid=snapshot_key.kid,
                                  signature=snapshot_key.sign(b"x" + part.body)).SerializeToString()
    uploader = Uploader(owned.url, token=owned.alliance.token(QUZHOU, "city_office"))
    _refused("CC_PERMISSION_DENIED", lambda: uploader.merchant_grant(QUZHOU, forged))
    with httpx.Client(base_url=owned.url) as http:
        answer = http.post("/v1/redemptions", json={"code": owned.desk.code().code, "offer_id": QUOTA_OFFER},
                           headers={**bearer("ccm_attacker"), "Idempotency-Key": "minted"})
    assert answer.status_code == 401 and answer.json()["code"] == "CC_UNAUTHENTICATED"

