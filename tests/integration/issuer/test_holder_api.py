"""The issuer's holder API against a real gateway: sign-in, device keys, device-bound codes, offers, redemptions."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from citycredit import GatewayClient
from citycredit.core import Algorithm, SigningKey, device_key

from tests.integration.issuer.support import (
    ShiftedClock,
    bearer,
    new_device,
    present,
    problem,
    register_device,
    sign_in,
)
from tests.support.alliance import HANGZHOU, QUOTA_OFFER, QUZHOU, demo_copy, issuer_config

pytestmark = pytest.mark.slow


def verify(gateway: httpx.Client, code: str, venue: str = "") -> dict[str, Any]:
    answer = gateway.post("/v1/codes:verify", json={"code": code, "venue": venue})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def error_code(verdict: dict[str, Any]) -> str:
    assert verdict["valid"] is False, verdict
    return str(verdict["error"]["code"])


def holder_code(issuer: httpx.Client, session: dict[str, str], audience: str | None) -> dict[str, Any]:
    answer = issuer.post("/v1/holder/codes", headers=session, json={"audience": audience})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# --- signing in ------------------------------------------------------------------------------------------


def test_the_demo_identity_provider_lists_fictional_residents(hangzhou: httpx.Client) -> None:
    identity = hangzhou.get("/v1/holder/identity").json()
    assert identity["provider"] == "demo"
    assert identity["fictional"] is True
    assert "fictional" in identity["note_en"] and "虚构" in identity["note_zh"]
    assert [r["id"] for r in identity["residents"]][:2] == ["hangzhou-1", "hangzhou-2"]


def test_a_wrong_password_or_resident_is_refused(hangzhou: httpx.Client) -> None:
    problem(hangzhou.post("/v1/holder/session", json={"resident": "hangzhou-4", "password": "nope"}),
            401, "CC_UNAUTHENTICATED")
    problem(hangzhou.post("/v1/holder/session", json={"resident": "nobody", "password": "demo"}),
            401, "CC_UNAUTHENTICATED")
    problem(hangzhou.post("/v1/holder/session", json={"resident": 4, "password": "demo"}), 400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post("/v1/holder/session", json={"resident": "hangzhou-4", "password": "demo", "admin": True}),
            400, "CC_INVALID_ARGUMENT")


def test_holder_endpoints_need_a_live_session(hangzhou: httpx.Client) -> None:
    problem(hangzhou.get("/v1/holder/me"), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.get("/v1/holder/me", headers=bearer("cch_made-up")), 401, "CC_UNAUTHENTICATED")
    session = sign_in(hangzhou, "hangzhou-2")
    assert hangzhou.delete("/v1/holder/session", headers=session).status_code == 200
    problem(hangzhou.get("/v1/holder/me", headers=session), 401, "CC_UNAUTHENTICATED")


def test_me_shows_the_tier_band_and_whether_the_threshold_is_assumed(hangzhou: httpx.Client,
                                                                     quzhou: httpx.Client) -> None:
    me = hangzhou.get("/v1/holder/me", headers=sign_in(hangzhou, "hangzhou-4")).json()
    assert (me["resident"], me["city"], me["tier"], me["band"], me["assumed"]) == \
        ("hangzhou-4", "330100", "EXCELLENT", "钱江分·优秀", False)  # Hangzhou's bands are published
    assert me["fictional"] is True
    assert me["cities"][0]["city"] == "330100"  # home first: the page's default audience
    assert {"330800", "330300"} <= {c["city"] for c in me["cities"]}
    visitor = quzhou.get("/v1/holder/me", headers=sign_in(quzhou, "quzhou-3")).json()
    assert visitor["assumed"] is True  # Quzhou's colour cut-offs are assumed (DESIGN 5)


# --- device keys and codes ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"algorithm": "rsa", "public_key": base64.b64encode(bytes(32)).decode()},
    {"algorithm": "ed25519", "public_key": "not base64!"},
    {"algorithm": "ed25519", "public_key": base64.b64encode(bytes(31)).decode()},
    # P-256 as WebCrypto exports it (65 bytes, uncompressed): the API wants the 33-byte compressed point.
    {"algorithm": "p256", "public_key": base64.b64encode(b"\x04" + bytes(64)).decode()},
    {"algorithm": "p256", "public_key": base64.b64encode(b"\x05" + bytes(32)).decode()},
    {"algorithm": "ed25519", "public_key": base64.b64encode(bytes(32)).decode(), "extra": 1},
    {"algorithm": "ed25519"},
], ids=["algorithm", "base64", "ed25519-length", "p256-uncompressed", "p256-prefix", "extra-field", "missing"])
def test_a_malformed_device_key_is_refused(hangzhou: httpx.Client, body: dict[str, Any]) -> None:
    detail = problem(hangzhou.put("/v1/holder/device", headers=sign_in(hangzhou, "hangzhou-3"), json=body),
                     400, "CC_INVALID_ARGUMENT")["detail"]
    assert detail


def test_a_code_needs_a_registered_device(hangzhou: httpx.Client) -> None:
    session = sign_in(hangzhou, "hangzhou-1")  # nobody registers a device for hangzhou-1 in this module
    assert hangzhou.get("/v1/holder/me", headers=session).json()["device"] is None
    detail = problem(hangzhou.post("/v1/holder/codes", headers=session, json={}), 403, "CC_PERMISSION_DENIED")["detail"]
    assert "device" in detail


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256], ids=["ed25519", "p256"])
def test_a_device_bound_code_works_only_as_a_fresh_presentation(hangzhou: httpx.Client, gateway: httpx.Client,
                                                                clock: ShiftedClock, algorithm: Algorithm) -> None:
    session = sign_in(hangzhou, "hangzhou-4")
    device = new_device(algorithm)
    assert register_device(hangzhou, session, device)["algorithm"] == algorithm.slug
    me = hangzhou.get("/v1/holder/me", headers=session).json()
    assert me["device"] == {"algorithm": algorithm.slug,
                            "public_key": base64.b64encode(device_key(device).public_key).decode()}
    issued = holder_code(hangzhou, session, None)
    assert (issued["audience"], issued["tier"], issued["window_s"]) == ("330100", "EXCELLENT", 30)

    assert error_code(verify(gateway, issued["code"])) == "CC_DEVICE_PROOF_REQUIRED"
    presentation = present(issued["code"], device, clock.now_s())
    venue = f"till-{algorithm.slug}"
    first = verify(gateway, presentation, venue)
    assert (first["valid"], first["device_bound"], first["tier"], first["audience"]) == \
        (True, True, "EXCELLENT", "330100")
    assert error_code(verify(gateway, presentation, venue)) == "CC_PRESENTATION_REPLAYED"
    assert verify(gateway, presentation, f"{venue}-other")["valid"] is True  # the replay cache is per venue
    clock.advance(31)
    assert error_code(verify(gateway, presentation, f"{venue}-late")) == "CC_PRESENTATION_STALE"
    assert verify(gateway, present(issued["code"], device, clock.now_s()), venue)["valid"] is True
    stranger = new_device(algorithm)
    assert error_code(verify(gateway, present(issued["code"], stranger, clock.now_s()), venue)) == \
        "CC_DEVICE_SIGNATURE_INVALID"


def test_a_new_device_key_replaces_the_old_one(hangzhou: httpx.Client, gateway: httpx.Client,
                                               clock: ShiftedClock) -> None:
    session = sign_in(hangzhou, "hangzhou-2")
    old, new = new_device(Algorithm.P256), new_device(Algorithm.ED25519)
    register_device(hangzhou, session, old)
    old_code = holder_code(hangzhou, session, None)["code"]
    register_device(hangzhou, session, new)
    new_code = holder_code(hangzhou, session, None)["code"]
    now = clock.now_s()
    assert error_code(verify(gateway, present(new_code, old, now), "swap")) == "CC_DEVICE_SIGNATURE_INVALID"
    assert verify(gateway, present(new_code, new, now), "swap")["valid"] is True
    # A code issued before stays bound to the key it carries (it expires on its own).
    assert verify(gateway, present(old_code, old, now), "swap")["valid"] is True


def test_codes_for_two_audiences_share_no_identifier(hangzhou: httpx.Client, gateway: httpx.Client,
                                                     clock: ShiftedClock) -> None:
    session = sign_in(hangzhou, "hangzhou-3")
    device = new_device(Algorithm.ED25519)
    register_device(hangzhou, session, device)
    seen: dict[str, set[str]] = {}
    for audience in ("hangzhou", "330800", "wenzhou", "330800"):
        code = holder_code(hangzhou, session, audience)["code"]
        claims = verify(gateway, present(code, device, clock.now_s()), f"pairwise-{len(seen)}")
        assert claims["valid"] is True, claims
        seen.setdefault(claims["audience"], set()).add(claims["holder"])
    assert set(seen) == {"330100", "330800", "330300"}
    assert all(len(holders) == 1 for holders in seen.values())  # one pseudonym per audience, stable
    pseudonyms = [next(iter(h)) for h in seen.values()]
    assert len(set(pseudonyms)) == 3  # and no two audiences share one


def test_an_unknown_audience_is_refused(hangzhou: httpx.Client) -> None:
    session = sign_in(hangzhou, "hangzhou-3")
    register_device(hangzhou, session, new_device(Algorithm.ED25519))
    problem(hangzhou.post("/v1/holder/codes", headers=session, json={"audience": "atlantis"}), 404, "CC_CITY_UNKNOWN")
    problem(hangzhou.post("/v1/holder/codes", headers=session, json={"audience": "hangzhou", "ttl_s": 9}),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.get("/v1/holder/offers", headers=session, params={"audience": "999999"}), 404, "CC_CITY_UNKNOWN")


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256], ids=["ed25519", "p256"])
def test_presentations_fit_qr_version_12_and_bare_codes_version_9(hangzhou: httpx.Client, quzhou: httpx.Client,
                                                                  hangzhou_office: dict[str, str],
                                                                  quzhou_office: dict[str, str],
                                                                  clock: ShiftedClock, algorithm: Algorithm) -> None:
    for issuer, resident in ((hangzhou, "hangzhou-5"), (quzhou, "quzhou-3")):
        session = sign_in(issuer, resident)
        device = new_device(algorithm)
        register_device(issuer, session, device)
        for audience in ("hangzhou", "quzhou", "rongcheng"):
            issued = holder_code(issuer, session, audience)
            presentation = present(issued["code"], device, clock.now_s())
            assert presentation.startswith("CP1:")
            assert segno.make(presentation, error="m", micro=False).version <= 12, len(presentation)
            assert issued["code_band"] == issued["band"], "every demo label fits a presentation whole"
    bare_cases = ((hangzhou, hangzhou_office, {"score": 760}), (quzhou, quzhou_office, {"score": 880}))
    for issuer, office, record in bare_cases:
        bare = issuer.post("/v1/codes", headers=office, json={"holder_ref": "qr-size", "local_record": record,
                                                              "audience": "441300"}).json()["code"]
        assert bare.startswith("CC1:")
        assert segno.make(bare, error="m", micro=False).version <= 9, len(bare)


# --- offers and redemptions ------------------------------------------------------------------------------


def decisions(issuer: httpx.Client, session: dict[str, str], audience: str) -> dict[str, dict[str, Any]]:
    answer = issuer.get("/v1/holder/offers", headers=session, params={"audience": audience})
    assert answer.status_code == 200, answer.text
    return {row["offer"]["id"]: row["decision"] for row in answer.json()["offers"]}


def test_offers_of_the_chosen_city_say_which_are_open_and_why_not(hangzhou: httpx.Client) -> None:
    excellent = sign_in(hangzhou, "hangzhou-4")
    in_quzhou = decisions(hangzhou, excellent, "quzhou")
    assert in_quzhou["quzhou-hospital-deposit-waived"]["eligible"] is True
    assert in_quzhou["quzhou-hospital-deposit-waived"]["agreement"] == "hangzhou-quzhou"
    assert in_quzhou["quzhou-housing-fund-loan"]["reason"] == "OFFER_LOCAL_ONLY"
    in_wenzhou = decisions(hangzhou, excellent, "wenzhou")
    assert in_wenzhou and {d["reason"] for d in in_wenzhou.values()} == {"NO_AGREEMENT"}
    at_home = decisions(hangzhou, sign_in(hangzhou, "hangzhou-1"), "hangzhou")
    assert {d["reason"] for d in at_home.values()} == {"TIER_TOO_LOW"}


def test_a_holder_sees_their_redemptions_across_the_alliance(alliance: Any, hangzhou: httpx.Client,
                                                             clock: ShiftedClock) -> None:
    session = sign_in(hangzhou, "hangzhou-5")
    device = new_device(Algorithm.ED25519)
    register_device(hangzhou, session, device)
    code = holder_code(hangzhou, session, "quzhou")["code"]
    till = GatewayClient.rest(alliance.gateway.http_url, api_key=alliance.token(QUZHOU))
    redeemed = till.redeem(present(code, device, clock.now_s()), QUOTA_OFFER, idempotency_key="holder-history-1")
    assert redeemed.redeemed is True
    rows = hangzhou.get("/v1/holder/redemptions", headers=session).json()["redemptions"]
    mine = [r for r in rows if r["offer_id"] == QUOTA_OFFER]
    assert len(mine) == 1
    assert (mine[0]["city"], mine[0]["home_city"], mine[0]["voided_at"]) == ("330800", "330100", None)
    assert mine[0]["title_zh"] and mine[0]["title_en"]
    assert hangzhou.get("/v1/holder/redemptions", headers=sign_in(hangzhou, "hangzhou-1")).json()["redemptions"] == []
    in_quzhou = decisions(hangzhou, session, "quzhou")
    assert in_quzhou[QUOTA_OFFER]["eligible"] is True


def test_holder_requests_are_rate_limited(alliance: Any) -> None:
    from citycredit.gateway.issuer import issuer_in_thread

    config = issuer_config(alliance.home, "wenzhou", alliance.gateway.http_url, rate_per_s=0.5, rate_burst=3)
    with issuer_in_thread(config) as wenzhou, httpx.Client(base_url=wenzhou.url, timeout=30) as client:
        answers = [client.get("/v1/holder/identity") for _ in range(6)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    problem(answers[-1], 429, "CC_RATE_LIMITED")


def test_the_pages_are_served_by_the_issuer_only(hangzhou: httpx.Client, gateway: httpx.Client) -> None:
    for path in ("/holder", "/office"):
        page = hangzhou.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'id="h-qr"' in hangzhou.get("/holder").text
    assert 'id="o-dashboard"' in hangzhou.get("/office").text
    worker = hangzhou.get("/holder-sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    script = hangzhou.get("/web/holder.js")
    assert script.status_code == 200 and "CP1" in script.text
    assert gateway.get("/holder").status_code == 404  # the gateway has no holders: the cities have


def test_the_issuance_api_needs_the_office_token_and_a_strict_body(hangzhou: httpx.Client,
                                                                   hangzhou_office: dict[str, str],
                                                                   quzhou_office: dict[str, str]) -> None:
    body = {"holder_ref": "issuance-1", "local_record": {"score": 640}}
    problem(hangzhou.post("/v1/codes", json=body), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.post("/v1/codes", json=body, headers=quzhou_office), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.post("/v1/codes", json=body | {"tier": "OUTSTANDING"}, headers=hangzhou_office),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post("/v1/codes", json=body | {"local_record": {"score": 5000}}, headers=hangzhou_office),
            422, "CC_LOCAL_RECORD")
    issued = hangzhou.post("/v1/codes", json=body, headers=hangzhou_office).json()
    assert (issued["tier"], issued["device_bound"], issued["audience"]) == ("GOOD", False, f"{HANGZHOU:06d}")
    key = SigningKey.generate(Algorithm.P256)
    bound = hangzhou.post("/v1/codes", headers=hangzhou_office, json=body | {
        "device_key": base64.b64encode(device_key(key).public_key).decode(), "device_algorithm": "p256"}).json()
    assert bound["device_bound"] is True


def test_an_issuer_without_an_identity_provider_says_so_and_signs_nobody_in(tmp_path: Path) -> None:
    from citycredit.gateway.issuer import issuer_in_thread

    home = demo_copy(tmp_path)
    (home / "cities" / "quzhou" / "residents.json").unlink()
    with issuer_in_thread(issuer_config(home, "quzhou", None)) as issuer, \
            httpx.Client(base_url=issuer.url, timeout=30) as client:
        identity = client.get("/v1/holder/identity").json()
        assert (identity["provider"], identity["fictional"], identity["residents"]) == ("none", False, [])
        refused = client.post("/v1/holder/session", json={"resident": "r1", "password": "demo"})
        assert refused.status_code == 503
        assert refused.json()["code"] == "CC_UNAVAILABLE"
