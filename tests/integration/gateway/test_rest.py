"""The REST surface against a real gateway on loopback: the trust set as files, status lists with ETags and
deltas, verification, offers and checks, redemptions with the Idempotency-Key header, voids, history, and
the shape of every refusal (RFC 9457 problem+json with the catalogue code)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from citycredit import TrustAnchor, Verifier
from citycredit._gen.citycredit.v1 import code_pb2, status_pb2
from citycredit.city import Uploader
from citycredit.core import Algorithm, SigningKey, Status, Tier, decode_envelope, encode_code, open_status_update
from citycredit.gateway.redemption import OFFLINE_MAX_AGE_S
from tuf.api.metadata import Metadata, Snapshot, Targets, Timestamp

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, WENZHOU, Shared, assert_problem, bearer, new_holder

OFFLINE_OFFER = "quzhou-parking-discount-10"  # GOOD and up, no quota, may be redeemed offline


def _redeem(shared: Shared, code: str, key: str, *, offer: str = QUOTA_OFFER, token: str | None = None,
            **extra: Any) -> httpx.Response:
    headers = {**bearer(token or shared.token(QUZHOU)), "Idempotency-Key": key}
    return shared.http.post("/v1/redemptions", json={"code": code, "offer_id": offer, **extra}, headers=headers)


# --- the trust set --------------------------------------------------------------------------------------


def test_the_trust_set_is_served_as_tuf_files_with_etags_and_conditional_requests(shared: Shared) -> None:
    http = shared.http
    stamp = http.get("/v1/trust/timestamp.json")
    assert stamp.status_code == 200 and stamp.headers["content-type"] == "application/json"
    assert stamp.headers["cache-control"] == "no-cache"
    assert stamp.headers["etag"] == f'"{hashlib.sha256(stamp.content).hexdigest()[:32]}"'
    unchanged = http.get("/v1/trust/timestamp.json", headers={"If-None-Match": stamp.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == stamp.headers["etag"]

    timestamp: Metadata[Timestamp] = Metadata.from_bytes(stamp.content)
    snapshot_file = http.get(f"/v1/trust/{timestamp.signed.snapshot_meta.version}.snapshot.json")
    assert snapshot_file.status_code == 200
    assert snapshot_file.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(snapshot_file.content).hexdigest() == timestamp.signed.snapshot_meta.hashes["sha256"]
    snapshot: Metadata[Snapshot] = Metadata.from_bytes(snapshot_file.content)
    targets: Metadata[Targets] = Metadata.from_bytes(
        http.get(f"/v1/trust/{snapshot.signed.meta['targets.json'].version}.targets.json").content)
    assert set(targets.signed.delegations.roles) >= {"city-330100", "city-330800", "agreement-hangzhou-quzhou"}
    role: Metadata[Targets] = Metadata.from_bytes(
        http.get(f"/v1/trust/{snapshot.signed.meta['city-330100.json'].version}.city-330100.json").content)
    for path, info in role.signed.targets.items():
        directory, _, name = path.rpartition("/")
        part = http.get(f"/v1/trust/targets/{directory}/{info.hashes['sha256']}.{name}")
        assert part.status_code == 200 and part.headers["content-type"] == "application/octet-stream"
        assert hashlib.sha256(part.content).hexdigest() == info.hashes["sha256"] and len(part.content) == info.length

    # The first root is the pinned anchor itself; unknown files and escapes are 404 problems.
    assert http.get("/v1/trust/1.root.json").content == (shared.home / "anchor.json").read_bytes()
    for missing in ("99.root.json", "../gateway.db", "targets/cities/330100/00.keys.pb", "seed.json"):
        assert_problem(http.get(f"/v1/trust/{missing}"), 404, "CC_NOT_FOUND")

    # What is served is a whole trust set: the SDK follows it from the pinned anchor alone.
    anchor = TrustAnchor.from_json((shared.home / "anchor.json").read_bytes())
    verifier = Verifier.from_gateway(shared.url, anchor=anchor)
    assert verifier.version == snapshot.signed.version and HANGZHOU in verifier.snapshot.statuses


def _status(shared: Shared, city: int | str, **kwargs: Any) -> httpx.Response:
    return shared.http.get(f"/v1/cities/{city}/status-list", **kwargs)


def test_a_status_list_is_protobuf_with_its_own_etag_304_and_deltas_since_a_version(shared: Shared) -> None:
    office = shared.desk.office("wenzhou")
    keys = Verifier.from_gateway(shared.url, anchor=TrustAnchor.from_json(
        (shared.home / "anchor.json").read_bytes())).snapshot.cities[WENZHOU].status_keys

    whole = _status(shared, WENZHOU)
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/x-protobuf"
    version = int(whole.headers["x-status-list-version"])
    assert whole.headers["etag"] == f'"status-{version}"'
    held = open_status_update(whole.content, city=WENZHOU, status_keys=keys, previous=None, now_s=int(time.time()),
                              grace_s=0)
    assert held.version == version and held.size >= 131_072
    assert status_pb2.StatusListUpdate.FromString(whole.content).WhichOneof("update") == "list"
    assert _status(shared, "wenzhou").content == whole.content  # the slug names the city too
    assert _status(shared, WENZHOU, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
    assert _status(shared, WENZHOU, params={"since": version}).status_code == 304

    issued = shared.desk.code("wenzhou", audience=WENZHOU)
    change = office.set_status(issued.code, Status.REVOKED, now_s=int(time.time()))
    assert change.update is not None
    Uploader(shared.url, token=shared.token(WENZHOU, "city_office")).status_list(WENZHOU, change.update)

    stale = _status(shared, WENZHOU, headers={"If-None-Match": whole.headers["etag"]})
    assert stale.status_code == 200 and int(stale.headers["x-status-list-version"]) == version + 1
    assert stale.headers["etag"] == f'"status-{version + 1}"'
    delta = _status(shared, WENZHOU, params={"since": version})
    update = status_pb2.StatusListUpdate.FromString(delta.content)
    assert update.WhichOneof("update") == "delta" and update.delta.from_version == version
    assert list(update.delta.indexes) == [issued.status_index] and len(delta.content) < len(stale.content)
    newer = open_status_update(delta.content, city=WENZHOU, status_keys=keys, previous=held, now_s=int(time.time()),
                               grace_s=0)
    assert newer.version == version + 1 and newer.status(issued.status_index) == Status.REVOKED

    # A version the gateway does not know a delta from gets the whole list.
    assert status_pb2.StatusListUpdate.FromString(
        _status(shared, WENZHOU, params={"since": 10**9}).content).WhichOneof("update") == "list"
    for bad in ("-1", "x", str(2**64)):
        assert_problem(_status(shared, WENZHOU, params={"since": bad}), 400, "CC_INVALID_ARGUMENT")
    assert_problem(_status(shared, 999999), 404, "CC_CITY_UNKNOWN")
    assert_problem(_status(shared, "atlantis"), 404, "CC_CITY_UNKNOWN")


def test_a_verifier_many_versions_behind_still_gets_a_delta(shared: Shared) -> None:
    # A busy city publishes a version per change; a till that held one of them a while ago gets the union
    # of every change since (codes revoked and reinstated in between read valid), not the whole list.
    jinhua, office = 330700, shared.desk.office("jinhua")
    keys = Verifier.from_gateway(shared.url, anchor=TrustAnchor.from_json(
        (shared.home / "anchor.json").read_bytes())).snapshot.cities[jinhua].status_keys
    uploader = Uploader(shared.url, token=shared.token(jinhua, "city_office"))

    def publish(issued: Any, status: Status, *, holder: bool = False) -> None:
        change = office.set_status(issued.code, status, holder=holder, now_s=int(time.time()))
        assert change.update is not None
        uploader.status_list(jinhua, change.update)

    # A list with 300 revoked entries (one version: every code of one holder), so that its whole form is
    # clearly larger than a delta of a few entries.
    dense = [shared.desk.code("jinhua", audience=jinhua, holder="jinhua-dense") for _ in range(300)]
    publish(dense[0], Status.REVOKED, holder=True)
    held = open_status_update(_status(shared, jinhua).content, city=jinhua, status_keys=keys, previous=None,
                              now_s=int(time.time()), grace_s=0)
    # Then 37 versions over three codes: revoked, reinstated, revoked … ending valid, suspended, valid.
    codes = [shared.desk.code("jinhua", audience=jinhua) for _ in range(3)]
    steps = [(codes[n % 3], Status.REVOKED if n // 3 % 2 == 0 else Status.VALID) for n in range(36)]
    steps.append((codes[1], Status.SUSPENDED))
    for issued, status in steps:
        publish(issued, status)
    whole = _status(shared, jinhua)
    newest = int(whole.headers["x-status-list-version"])
    assert newest - held.version == len(steps)
    delta = _status(shared, jinhua, params={"since": held.version})
    update = status_pb2.StatusListUpdate.FromString(delta.content)
    assert update.WhichOneof("update") == "delta" and update.delta.from_version == held.version
    assert sorted(update.delta.indexes) == sorted(c.status_index for c in codes)
    assert len(delta.content) < len(whole.content)
    applied = open_status_update(delta.content, city=jinhua, status_keys=keys, previous=held, now_s=int(time.time()),
                                 grace_s=0)
    assert applied.version == newest
    assert [applied.status(c.status_index) for c in codes] == [Status.VALID, Status.SUSPENDED, Status.VALID]
    assert all(applied.status(c.status_index) == Status.REVOKED for c in dense)


def test_the_alliance_lists_every_member(shared: Shared) -> None:
    doc = shared.http.get("/v1/alliance").json()
    text = json.dumps(doc, ensure_ascii=False)
    for city in (HANGZHOU, QUZHOU, WENZHOU):
        assert f"{city:06d}" in text


# --- verification -----------------------------------------------------------------------------------------


def test_verify_answers_claims_or_a_verdict_and_unreadable_input_is_a_request_error(shared: Shared) -> None:
    http = shared.http
    issued = shared.desk.code(tier=Tier.EXCELLENT)
    doc = http.post("/v1/codes:verify", json={"code": issued.code}).json()
    assert doc["valid"] is True and doc["error"] is None
    assert (doc["city"], doc["audience"], doc["tier"]) == ("330100", "330800", "EXCELLENT")
    assert doc["holder"] == issued.holder.hex() and doc["code_id"] == issued.code_id.hex()

    early = http.post("/v1/codes:verify", json={"code": issued.code, "at": issued.issued_at_s - 3600}).json()
    assert early["valid"] is False and early["error"]["code"] == "CC_NOT_YET_VALID"
    expired, _ = shared.desk.expired()
    assert http.post("/v1/codes:verify", json={"code": expired.code}).json()["error"]["code"] == "CC_EXPIRED"
    later = http.post("/v1/codes:verify", json={"code": issued.code, "at": issued.expires_at_s}).json()
    assert later["error"]["code"] == "CC_EXPIRED"  # the expiry is exclusive
    foreign = SigningKey.generate(Algorithm.ED25519)
    forged = encode_code(code_pb2.CreditCode.FromString(decode_envelope(issued.code).payload), foreign)
    assert http.post("/v1/codes:verify", json={"code": forged}).json()["error"]["code"] == "CC_KEY_UNKNOWN"

    # Input that is not a code at all is the caller's mistake: a problem, not a verdict.
    assert_problem(http.post("/v1/codes:verify", json={"code": "HC1:NCFOXN%TS3DH"}), 422, "CC_PREFIX")
    assert_problem(http.post("/v1/codes:verify", json={"code": "CC1:AAAA"}), 422, "CC_BASE45")
    assert_problem(http.post("/v1/codes:verify", json={"code": "CC1:" + "A" * 1100}), 413, "CC_TOO_LONG")
    assert_problem(http.post("/v1/codes:verify", json={"code": issued.code, "at": "yesterday"}), 400,
                   "CC_INVALID_ARGUMENT")


def test_batch_verify_answers_in_order_with_every_refusal_a_verdict(shared: Shared) -> None:
    good = shared.desk.code()
    expired, _ = shared.desk.expired()
    answers = shared.http.post("/v1/codes:batchVerify",
                               json={"codes": [good.code, "XX1:nope", expired.code, good.code]}).json()["verifications"]
    assert [a["valid"] for a in answers] == [True, False, False, True]
    assert [a["error"]["code"] for a in answers[1:3]] == ["CC_PREFIX", "CC_EXPIRED"]
    assert shared.http.post("/v1/codes:batchVerify", json={"codes": []}).json() == {"verifications": []}


def test_a_presentation_is_verified_once_per_venue_and_a_bare_device_bound_code_is_refused(shared: Shared) -> None:
    device = SigningKey.generate(Algorithm.P256)
    issued = shared.desk.code(device=device)
    presentation = shared.desk.presentation(issued, device)
    first = shared.http.post("/v1/codes:verify", json={"code": presentation, "venue": "gate-1"}).json()
    assert first["valid"] is True and first["device_bound"] is True
    again = shared.http.post("/v1/codes:verify", json={"code": presentation, "venue": "gate-1"}).json()
    assert again["error"]["code"] == "CC_PRESENTATION_REPLAYED"
    assert shared.http.post("/v1/codes:verify", json={"code": presentation, "venue": "gate-2"}).json()["valid"]
    assert shared.http.post("/v1/codes:verify", json={"code": issued.code}).json()["error"]["code"] == \
        "CC_DEVICE_PROOF_REQUIRED"
    old = shared.desk.presentation(issued, device, at_s=int(time.time()) - 600)
    assert shared.http.post("/v1/codes:verify", json={"code": old}).json()["error"]["code"] == "CC_PRESENTATION_STALE"


def test_a_batch_of_1000_presentations_fits_the_body_limit_and_one_more_is_refused(shared: Shared) -> None:
    config = shared.alliance.gateway.config
    assert config.max_batch == 1000
    device = SigningKey.generate(Algorithm.P256)
    presentations = shared.desk.many("hangzhou", config.max_batch, device=device)
    body = json.dumps({"codes": presentations, "venue": "batch-till"}).encode()
    assert len(body) <= config.max_body_bytes
    answers = shared.http.post("/v1/codes:batchVerify", content=body,
                               headers={"content-type": "application/json"}).json()["verifications"]
    assert len(answers) == 1000 and all(a["valid"] and a["device_bound"] for a in answers)

    one_more = shared.http.post("/v1/codes:batchVerify", json={"codes": presentations + presentations[:1]})
    assert "at most 1000 codes" in assert_problem(one_more, 400, "CC_INVALID_ARGUMENT")["detail"]
    # Past the body limit the answer is 413 before the body is read, declared or streamed.
    big = b'{"codes": ["' + b"A" * config.max_body_bytes + b'"]}'
    assert_problem(shared.http.post("/v1/codes:batchVerify", content=big,
                                    headers={"content-type": "application/json"}), 413, "CC_PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:
        yield b'{"codes": ["'
        for _ in range(config.max_body_bytes // 65536 + 2):
            yield b"A" * 65536

    assert_problem(shared.http.post("/v1/codes:batchVerify", content=chunks(),
                                    headers={"content-type": "application/json"}), 413, "CC_PAYLOAD_TOO_LARGE")


# --- offers and eligibility ---------------------------------------------------------------------------------


def test_offers_of_the_alliance_and_of_one_host_city(shared: Shared) -> None:
    every = shared.http.get("/v1/offers").json()["offers"]
    quzhou = shared.http.get("/v1/offers", params={"city": "quzhou"}).json()["offers"]
    assert {o["id"] for o in quzhou} < {o["id"] for o in every}
    assert QUOTA_OFFER in {o["id"] for o in quzhou} and {o["city"] for o in quzhou} == {"330800"}
    assert shared.http.get("/v1/offers", params={"city": QUZHOU}).json()["offers"] == quzhou
    assert_problem(shared.http.get("/v1/offers", params={"city": "999999"}), 404, "CC_CITY_UNKNOWN")


def test_a_check_decides_without_spending_and_every_no_names_its_reason(shared: Shared) -> None:
    http = shared.http
    excellent = shared.desk.code(tier=Tier.EXCELLENT)
    for _ in range(2):  # a dry run: nothing is spent
        decision = http.post("/v1/eligibility:check", json={"code": excellent.code, "offer_id": QUOTA_OFFER}).json()[
            "decision"]
        assert decision["eligible"] is True and decision["quota_remaining"] == 2
        assert decision["treated_as_local"] is True and decision["agreement"] == "hangzhou-quzhou"

    def reason(code: str, offer: str = QUOTA_OFFER) -> str:
        found = http.post("/v1/eligibility:check", json={"code": code, "offer_id": offer}).json()["decision"]
        assert found["eligible"] is False
        return str(found["reason"])

    assert reason(shared.desk.code(tier=Tier.GOOD).code) == "TIER_TOO_LOW"
    assert reason(shared.desk.code(audience=HANGZHOU).code) == "WRONG_AUDIENCE"
    assert reason(excellent.code, "quzhou-housing-fund-loan") == "OFFER_LOCAL_ONLY"
    assert reason(shared.desk.expired()[0].code) == "CODE_EXPIRED"
    assert_problem(http.post("/v1/eligibility:check", json={"code": excellent.code, "offer_id": "no-such-offer"}),
                   404, "CC_OFFER_UNKNOWN")
    assert_problem(http.post("/v1/eligibility:check", json={"code": "XX1:", "offer_id": QUOTA_OFFER}), 422,
                   "CC_PREFIX")


# --- redemptions ---------------------------------------------------------------------------------------------


def test_redemptions_are_idempotent_under_the_header_and_a_reused_key_with_another_request_is_422(
        shared: Shared) -> None:
    issued = shared.desk.code()
    key = f"scan-{new_holder()}"
    first = _redeem(shared, issued.code, key)
    assert first.status_code == 200, first.text
    spent = first.json()
    assert spent["redemption_id"] and spent["replayed"] is False and spent["decision"]["quota_remaining"] == 2
    again = _redeem(shared, issued.code, key).json()
    assert again == {**spent, "replayed": True}
    mismatch = _redeem(shared, issued.code, key, offer="quzhou-hospital-deposit-waived")
    assert "different request" in assert_problem(mismatch, 422, "CC_IDEMPOTENCY_MISMATCH")["detail"]
    # The key travels in the header: a body member is refused, a missing or malformed header too.
    headers = bearer(shared.token(QUZHOU))
    assert_problem(shared.http.post("/v1/redemptions", headers=headers, json={
        "code": issued.code, "offer_id": QUOTA_OFFER, "idempotency_key": key}), 400, "CC_INVALID_ARGUMENT")
    assert_problem(shared.http.post("/v1/redemptions", headers=headers, json={
        "code": issued.code, "offer_id": QUOTA_OFFER}), 400, "CC_INVALID_ARGUMENT")
    for bad in ("two words", "x" * 129, "ключ"):
        response = shared.http.post("/v1/redemptions", json={"code": issued.code, "offer_id": QUOTA_OFFER},
                                    headers={**headers, "Idempotency-Key": bad.encode()})
        assert_problem(response, 400, "CC_INVALID_ARGUMENT")


def test_a_quota_is_spent_once_per_slot_a_void_frees_one_and_history_shows_both(shared: Shared) -> None:
    issued = shared.desk.code()
    ids = []
    for n in range(3):
        doc = _redeem(shared, issued.code, f"q-{issued.code_id.hex()}-{n}").json()
        assert doc["redemption_id"] and doc["decision"]["quota_remaining"] == 2 - n
        ids.append(doc["redemption_id"])
    refused = _redeem(shared, issued.code, f"q-{issued.code_id.hex()}-3").json()
    assert refused["redemption_id"] is None and refused["decision"]["reason"] == "QUOTA_EXHAUSTED"

    merchant = bearer(shared.token(QUZHOU))
    voided = shared.http.post(f"/v1/redemptions/{ids[1]}:void", headers=merchant).json()
    assert voided["id"] == ids[1] and voided["voided_at"] is not None
    assert shared.http.post(f"/v1/redemptions/{ids[1]}:void", headers=merchant).json() == voided  # once
    assert_problem(shared.http.post(f"/v1/redemptions/{ids[0]}:void", headers=bearer(shared.token(HANGZHOU))),
                   404, "CC_NOT_FOUND")  # another merchant's redemption is not theirs to void
    assert_problem(shared.http.post("/v1/redemptions/rdm-nothing:void", headers=merchant), 404, "CC_NOT_FOUND")
    assert_problem(shared.http.post(f"/v1/redemptions/{ids[0]}:void", headers=bearer(shared.token(QUZHOU,
                                                                                                  "city_office"))),
                   403, "CC_PERMISSION_DENIED")

    back = _redeem(shared, issued.code, f"q-{issued.code_id.hex()}-4").json()
    assert back["redemption_id"] and back["decision"]["quota_remaining"] == 0  # exactly one slot came back
    assert _redeem(shared, issued.code, f"q-{issued.code_id.hex()}-5").json()["decision"]["reason"] == \
        "QUOTA_EXHAUSTED"

    history = shared.http.get("/v1/redemptions", headers=merchant, params={"limit": 500}).json()["redemptions"]
    mine = {r["id"]: r for r in history if r["id"] in {*ids, back["redemption_id"]}}
    assert len(mine) == 4 and mine[ids[1]]["voided_at"] is not None
    assert all(r["offer_id"] == QUOTA_OFFER and r["home_city"] == "330100" and r["tier"] == "EXCELLENT"
               for r in mine.values())
    assert [r["at"] for r in history] == sorted((r["at"] for r in history), reverse=True)
    assert len(shared.http.get("/v1/redemptions", headers=merchant, params={"limit": 1}).json()["redemptions"]) == 1
    assert_problem(shared.http.get("/v1/redemptions", headers=merchant, params={"limit": 0}), 400,
                   "CC_INVALID_ARGUMENT")

    me = shared.http.get("/v1/merchant", headers=merchant).json()
    assert me["city"] == "330800" and me["void_window_s"] == shared.alliance.gateway.config.void_window_s
    assert QUOTA_OFFER in {o["id"] for o in me["offers"]} and {o["city"] for o in me["offers"]} == {"330800"}


def test_an_offline_redemption_is_judged_at_its_own_time_only_for_offers_that_allow_it(shared: Shared) -> None:
    # Expired now, valid a while ago: the till recorded it offline while it was valid.
    issued, at = shared.desk.expired(tier=Tier.GOOD)
    now = int(time.time())
    doc = _redeem(shared, issued.code, f"offline-{issued.code_id.hex()}", offer=OFFLINE_OFFER, at=at).json()
    assert doc["redemption_id"] and doc["decision"]["eligible"] is True
    assert doc["at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    online = _redeem(shared, issued.code, f"online-{issued.code_id.hex()}", offer=OFFLINE_OFFER).json()
    assert online["redemption_id"] is None and online["decision"]["reason"] == "CODE_EXPIRED"
    listed = next(r for r in shared.http.get("/v1/redemptions", headers=bearer(shared.token(QUZHOU)),
                                             params={"limit": 500}).json()["redemptions"]
                  if r["id"] == doc["redemption_id"])
    assert listed["at"] == doc["at"] and listed["recorded_at"] > listed["at"]

    fresh = shared.desk.code()
    for offer, when in ((QUOTA_OFFER, now - 600), (OFFLINE_OFFER, now - OFFLINE_MAX_AGE_S - 3600),
                        (OFFLINE_OFFER, now + 3600)):
        assert_problem(_redeem(shared, fresh.code, f"bad-offline-{offer}-{when}", offer=offer, at=when), 400,
                       "CC_INVALID_ARGUMENT")


def test_redeeming_needs_a_merchant_key_of_the_offers_city(shared: Shared) -> None:
    issued = shared.desk.code()
    body = {"code": issued.code, "offer_id": QUOTA_OFFER}
    key = {"Idempotency-Key": f"auth-{issued.code_id.hex()}"}
    assert_problem(shared.http.post("/v1/redemptions", json=body, headers=key), 401, "CC_UNAUTHENTICATED")
    assert_problem(shared.http.post("/v1/redemptions", json=body, headers={**key, **bearer("ccm_not-a-token")}),
                   401, "CC_UNAUTHENTICATED")
    assert_problem(shared.http.post("/v1/redemptions", json=body, headers={**key, "Authorization": "Basic eDp5"}),
                   401, "CC_UNAUTHENTICATED")
    assert_problem(shared.http.post("/v1/redemptions", json=body, headers={**key, **bearer(
        shared.token(QUZHOU, "city_office"))}), 403, "CC_PERMISSION_DENIED")
    assert_problem(shared.http.post("/v1/redemptions", json=body, headers={**key, **bearer(
        shared.token(HANGZHOU))}), 403, "CC_PERMISSION_DENIED")
    for path in ("/v1/redemptions", "/v1/merchant"):
        assert_problem(shared.http.get(path), 401, "CC_UNAUTHENTICATED")
        assert_problem(shared.http.get(path, headers=bearer(shared.token(QUZHOU, "city_office"))), 403,
                       "CC_PERMISSION_DENIED")


# --- the edges of the contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v1/offers", {"GET"}),
    ("HEAD", "/v1/offers", {"GET"}),
    ("PUT", "/v1/codes:verify", {"POST"}),
    ("GET", "/v1/codes:batchVerify", {"POST"}),
    ("DELETE", "/v1/cities/330100/status-list", {"GET", "PUT"}),
    ("GET", "/v1/redemptions/rdm-1:void", {"POST"}),
    ("POST", "/v1/trust/timestamp.json", {"GET"}),
    ("PATCH", "/v1/redemptions", {"GET", "POST"}),
])
def test_405_answers_carry_allow(shared: Shared, method: str, path: str, allowed: set[str]) -> None:
    response = shared.http.request(method, path)
    if method != "HEAD":  # a HEAD answer has no body
        assert_problem(response, 405, "CC_INVALID_ARGUMENT")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"code"', b"\xff\xfe", b"null",
                                  b'{"code": 5, "offer_id": []}', b'{"code": "CC1:", "surprise": true}',
                                  b'{"code": "CC1:\\ud800"}', b'{"codes": ["\\udfff"]}'])
@pytest.mark.parametrize("path", ["/v1/codes:verify", "/v1/codes:batchVerify", "/v1/eligibility:check"])
def test_malformed_bodies_are_400_problems(shared: Shared, path: str, body: bytes) -> None:
    assert_problem(shared.http.post(path, content=body, headers={"content-type": "application/json"}), 400,
                   "CC_INVALID_ARGUMENT")


def test_a_body_that_is_not_json_by_its_content_type_is_refused(shared: Shared) -> None:
    issued = shared.desk.code()
    assert_problem(shared.http.post("/v1/codes:verify", content=json.dumps({"code": issued.code}),
                                    headers={"content-type": "text/plain"}), 400, "CC_INVALID_ARGUMENT")


def test_unknown_routes_are_404_problems_and_operations_answer(shared: Shared) -> None:
    assert_problem(shared.http.get("/v1/nothing-here"), 404, "CC_NOT_FOUND")
    health = shared.http.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["db"] is True
    metrics = shared.http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "citycredit_requests_total" in metrics.text and "citycredit_verifications_total" in metrics.text
