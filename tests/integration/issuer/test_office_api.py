"""The office API of a city's issuer against a real gateway: everything it changes is signed with the city's
keys and uploaded, so each test checks what the gateway serves afterwards, not only the issuer's answer."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit import GatewayClient
from citycredit.core import uscc_check_character
from citycredit.gateway import gateway_in_thread
from citycredit.gateway.issuer import issuer_in_thread

from tests.integration.issuer.support import ShiftedClock, bearer, poll, problem, sign_in
from tests.support.alliance import HANGZHOU, demo_copy, gateway_config, issuer_config, running_alliance, tokens
from tests.support.net import free_port

pytestmark = pytest.mark.slow

USCC_FIRST17 = "91330100MA2H3K7X0"


def office_state(issuer: httpx.Client, office: dict[str, str]) -> dict[str, Any]:
    answer = issuer.get("/v1/office", headers=office)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def gateway_offers(gateway: httpx.Client, city: int = HANGZHOU) -> set[str]:
    return {o["id"] for o in gateway.get("/v1/offers", params={"city": f"{city:06d}"}).json()["offers"]}


def issue(issuer: httpx.Client, office: dict[str, str], holder: str, score: int,
          audience: str | None = None) -> str:
    body: dict[str, Any] = {"holder_ref": holder, "local_record": {"score": score}, "ttl_s": 3600}
    if audience:
        body["audience"] = audience
    answer = issuer.post("/v1/codes", headers=office, json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["code"])


def verdict(gateway: httpx.Client, code: str) -> str:
    body = gateway.post("/v1/codes:verify", json={"code": code}).json()
    return "VALID" if body["valid"] else str(body["error"]["code"])


NEW_OFFER: dict[str, Any] = {
    "id": "hangzhou-museum-free", "city": "330100", "category": "scenic_spot", "min_tier": "GOOD",
    "benefit": {"kind": "free_uses", "count": 2, "text_zh": "每月免费参观两次", "text_en": "Two free visits a month"},
    "title_zh": "钱江分600分以上 博物馆免费参观", "title_en": "Free museum visits, Qianjiang score 600+",
    "quota": {"uses": 2, "period": "month"},
}


# --- who may act ------------------------------------------------------------------------------------------


def test_the_office_api_needs_this_citys_office_token(hangzhou: httpx.Client, quzhou_office: dict[str, str]) -> None:
    problem(hangzhou.get("/v1/office"), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.get("/v1/office", headers=quzhou_office), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.get("/v1/office", headers=sign_in(hangzhou, "hangzhou-4")), 401, "CC_UNAUTHENTICATED")
    problem(hangzhou.post("/v1/office/keys", json={"algorithm": "ed25519"}), 401, "CC_UNAUTHENTICATED")


def test_the_state_names_the_city_its_parts_and_the_cities(hangzhou: httpx.Client,
                                                           hangzhou_office: dict[str, str]) -> None:
    state = office_state(hangzhou, hangzhou_office)
    assert (state["city"], state["slug"], state["name_en"]) == ("330100", "hangzhou", "Hangzhou")
    assert {k["algorithm"] for k in state["code_keys"]} >= {"ed25519"}
    assert all(k["spki"] is None for k in state["code_keys"])  # public, but nothing the page needs
    assert {o["id"] for o in state["offers"]} >= {"hangzhou-library-deposit-free"}
    assert [a["id"] for a in state["agreements"]] == ["hangzhou-quzhou"]
    assert {c["city"] for c in state["cities"]} >= {"330100", "330800", "441300"}
    assert state["published_role_version"] == state["role_version"]


def test_the_log_head_is_witnessed_and_countersigned(hangzhou: httpx.Client, hangzhou_office: dict[str, str]) -> None:
    poll(lambda: office_state(hangzhou, hangzhou_office)["log_head"] is not None, what="a witnessed log head")
    head = office_state(hangzhou, hangzhou_office)["log_head"]
    assert head["size"] > 0 and len(head["root"]) == 64
    assert head["countersignature"]


# --- keys --------------------------------------------------------------------------------------------------


def test_keys_are_added_and_retired_with_windows(hangzhou: httpx.Client, gateway: httpx.Client,
                                                 hangzhou_office: dict[str, str], clock: ShiftedClock) -> None:
    def served_keys() -> int:
        return next(c["keys"] for c in gateway.get("/v1/alliance").json()["cities"] if c["city"] == "330100")

    before = served_keys()
    made = hangzhou.post("/v1/office/keys", headers=hangzhou_office, json={"algorithm": "p256"})
    assert made.status_code == 200, made.text
    key = made.json()["key"]
    assert (key["algorithm"], key["status"], key["not_after_s"]) == ("p256", "active", 0)
    poll(lambda: served_keys() == before + 1, what="the gateway serving the new key")
    ends = clock.now_s() + 3600
    retired = hangzhou.post(f"/v1/office/keys/{key['kid']}:retire", headers=hangzhou_office, json={"not_after": ends})
    assert retired.status_code == 200, retired.text
    assert (retired.json()["key"]["status"], retired.json()["key"]["not_after_s"]) == ("retired", ends)
    listed = {k["kid"]: k for k in office_state(hangzhou, hangzhou_office)["code_keys"]}
    assert listed[key["kid"]]["not_after_s"] == ends
    problem(hangzhou.post("/v1/office/keys", headers=hangzhou_office, json={"algorithm": "rsa"}),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post("/v1/office/keys/zz:retire", headers=hangzhou_office, json={}), 400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post(f"/v1/office/keys/{'00' * 8}:retire", headers=hangzhou_office, json={}), 404, "CC_NOT_FOUND")


# --- merchants ---------------------------------------------------------------------------------------------


def test_a_merchant_is_onboarded_by_its_unified_social_credit_code(hangzhou: httpx.Client, gateway: httpx.Client,
                                                                   hangzhou_office: dict[str, str]) -> None:
    uscc = USCC_FIRST17 + uscc_check_character(USCC_FIRST17)
    made = hangzhou.post("/v1/office/merchants", headers=hangzhou_office,
                         json={"merchant_id": uscc.lower(), "name": "西湖茶室 (test)", "venues": ["xihu-1"]})
    assert made.status_code == 200, made.text
    merchant = made.json()
    assert (merchant["merchant_id"], merchant["venues"]) == (uscc, ["xihu-1"])
    assert merchant["token"].startswith("ccm_")
    listed = [m for m in office_state(hangzhou, hangzhou_office)["merchants"] if m["merchant_id"] == uscc]
    assert len(listed) == 1 and "token" not in listed[0]  # shown once, kept nowhere
    till = bearer(merchant["token"])
    poll(lambda: gateway.get("/v1/merchant", headers=till).status_code == 200, what="the merchant key working")
    revoked = hangzhou.post(f"/v1/office/merchants/{merchant['id']}:revoke", headers=hangzhou_office)
    assert revoked.status_code == 200, revoked.text
    poll(lambda: gateway.get("/v1/merchant", headers=till).status_code == 401, what="the revoked key refused")
    assert [m["revoked_at"] for m in office_state(hangzhou, hangzhou_office)["merchants"]
            if m["merchant_id"] == uscc] != [None]


@pytest.mark.parametrize(("merchant_id", "says"), [
    (USCC_FIRST17 + ("0" if uscc_check_character(USCC_FIRST17) != "0" else "1"), "check character"),
    (USCC_FIRST17, "18 characters"),
    (USCC_FIRST17[:-1] + "IO", "I, O"),
], ids=["check-character", "length", "alphabet"])
def test_a_bad_unified_social_credit_code_is_refused(hangzhou: httpx.Client, hangzhou_office: dict[str, str],
                                                     merchant_id: str, says: str) -> None:
    body = {"merchant_id": merchant_id, "name": "错误代码商户", "venues": []}
    detail = problem(hangzhou.post("/v1/office/merchants", headers=hangzhou_office, json=body),
                     400, "CC_INVALID_ARGUMENT")["detail"]
    assert says in detail
    if says == "check character":
        assert uscc_check_character(USCC_FIRST17) in detail  # it names the right one
    problem(hangzhou.post("/v1/office/merchants", headers=hangzhou_office, json=body | {"extra": True}),
            400, "CC_INVALID_ARGUMENT")


# JSON may spell a lone surrogate, which is no Unicode text: refused as not JSON wherever it sits in a body.
@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/office/merchants",
     '{"merchant_id": "%s", "name": "\\ud800", "venues": []}' % (USCC_FIRST17 + uscc_check_character(USCC_FIRST17))),
    ("POST", "/v1/codes", '{"holder_ref": "\\udfff", "local_record": {"score": 700}}'),
    ("POST", "/v1/codes", '{"holder_ref": "h-1", "local_record": {"score": 700, "note": ["\\ud83d"]}}'),
    ("PUT", "/v1/office/offers/x", '{"id": "x", "title_zh": "\\ud800"}'),
    ("POST", "/v1/holder/session", '{"resident": "hangzhou-4", "password": "\\udfff"}'),
], ids=["merchant-name", "holder-ref", "nested", "offer", "sign-in"])
def test_a_body_with_a_lone_surrogate_is_not_json(hangzhou: httpx.Client, hangzhou_office: dict[str, str],
                                                 method: str, path: str, body: str) -> None:
    before = office_state(hangzhou, hangzhou_office)
    answer = hangzhou.request(method, path, content=body.encode(),
                              headers=hangzhou_office | {"content-type": "application/json"})
    detail = problem(answer, 400, "CC_INVALID_ARGUMENT")["detail"]
    assert detail.startswith("body: not JSON (") and "surrogate" in detail, detail
    after = office_state(hangzhou, hangzhou_office)
    assert (after["merchants"], after["offers"], after["role_version"]) == (
        before["merchants"], before["offers"], before["role_version"])


# --- offers ------------------------------------------------------------------------------------------------


def test_an_offer_is_previewed_published_and_withdrawn(hangzhou: httpx.Client, gateway: httpx.Client,
                                                       hangzhou_office: dict[str, str]) -> None:
    preview = hangzhou.post("/v1/office/offers:preview", headers=hangzhou_office, json=NEW_OFFER)
    assert preview.status_code == 200, preview.text
    who = {(w["home"], w["tier"]): (w["eligible"], w["reason"]) for w in preview.json()["who"]}
    assert who[("330100", "GOOD")] == (True, None)
    assert who[("330100", "FAIR")] == (False, "TIER_TOO_LOW")
    assert who[("330800", "EXCELLENT")] == (True, None)  # Quzhou residents, under hangzhou-quzhou
    assert who[("330300", "OUTSTANDING")] == (False, "NO_AGREEMENT")
    assert NEW_OFFER["id"] not in gateway_offers(gateway)  # a preview publishes nothing

    published = hangzhou.put(f"/v1/office/offers/{NEW_OFFER['id']}", headers=hangzhou_office, json=NEW_OFFER)
    assert published.status_code == 200, published.text
    poll(lambda: NEW_OFFER["id"] in gateway_offers(gateway), what="the gateway serving the new offer")
    withdrawn = hangzhou.delete(f"/v1/office/offers/{NEW_OFFER['id']}", headers=hangzhou_office)
    assert withdrawn.status_code == 200, withdrawn.text
    poll(lambda: NEW_OFFER["id"] not in gateway_offers(gateway), what="the offer gone from the gateway")
    assert NEW_OFFER["id"] not in {o["id"] for o in office_state(hangzhou, hangzhou_office)["offers"]}


def test_bad_offers_are_refused_with_a_reason(hangzhou: httpx.Client, hangzhou_office: dict[str, str]) -> None:
    problem(hangzhou.post("/v1/office/offers:preview", headers=hangzhou_office, json={"id": "x"}),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post("/v1/office/offers:preview", headers=hangzhou_office, json=NEW_OFFER | {"city": "330800"}),
            403, "CC_PERMISSION_DENIED")
    problem(hangzhou.put("/v1/office/offers/another-id", headers=hangzhou_office, json=NEW_OFFER),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.post("/v1/office/offers:preview", headers=hangzhou_office,
                          json=NEW_OFFER | {"benefit": {"kind": "discount", "discount_percent": 0, "text_zh": "折"}}),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.delete("/v1/office/offers/no-such-offer", headers=hangzhou_office), 404, "CC_NOT_FOUND")
    # A float where an integer goes is refused before anything is kept: the office's next change still signs.
    waiver = NEW_OFFER | {"id": "hangzhou-float-zero", "quota": None,
                          "benefit": {"kind": "waiver", "discount_percent": -0.0, "text_zh": "免押金"}}
    problem(hangzhou.put("/v1/office/offers/hangzhou-float-zero", headers=hangzhou_office, json=waiver),
            400, "CC_INVALID_ARGUMENT")
    assert "hangzhou-float-zero" not in {o["id"] for o in office_state(hangzhou, hangzhou_office)["offers"]}
    fine = waiver | {"benefit": {"kind": "waiver", "discount_percent": 0, "text_zh": "免押金"}}
    assert hangzhou.put("/v1/office/offers/hangzhou-float-zero", headers=hangzhou_office, json=fine).status_code == 200
    assert hangzhou.delete("/v1/office/offers/hangzhou-float-zero", headers=hangzhou_office).status_code == 200


# --- statuses ------------------------------------------------------------------------------------------


def test_codes_are_revoked_suspended_and_reinstated_by_code_or_by_holder(
        hangzhou: httpx.Client, quzhou: httpx.Client, gateway: httpx.Client, hangzhou_office: dict[str, str],
        quzhou_office: dict[str, str]) -> None:
    first, second = (issue(hangzhou, hangzhou_office, "status-holder", 650) for _ in range(2))
    other = issue(hangzhou, hangzhou_office, "someone-else", 650)

    def set_status(code: str, status: str, holder: bool = False) -> dict[str, Any]:
        answer = hangzhou.post("/v1/office/status", headers=hangzhou_office,
                               json={"code": code, "status": status, "holder": holder})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    assert len(set_status(first, "revoked")["changed"]) == 1
    poll(lambda: verdict(gateway, first) == "CC_REVOKED", what="the revocation served")
    assert verdict(gateway, second) == "VALID"
    assert len(set_status(second, "suspended", holder=True)["changed"]) == 2  # both live codes of the holder
    poll(lambda: verdict(gateway, second) == "CC_SUSPENDED", what="the suspension served")
    assert verdict(gateway, other) == "VALID"
    set_status(second, "valid", holder=True)
    poll(lambda: verdict(gateway, first) == verdict(gateway, second) == "VALID", what="the reinstatement served")
    again = set_status(second, "valid")
    assert again["changed"] == [] and again["note"]

    foreign = issue(quzhou, quzhou_office, "quzhou-status", 880)
    problem(hangzhou.post("/v1/office/status", headers=hangzhou_office, json={"code": foreign, "status": "revoked"}),
            403, "CC_PERMISSION_DENIED")
    problem(hangzhou.post("/v1/office/status", headers=hangzhou_office, json={"code": first, "status": "deleted"}),
            400, "CC_INVALID_ARGUMENT")
    garbage = hangzhou.post("/v1/office/status", headers=hangzhou_office, json={"code": "hello", "status": "revoked"})
    problem(garbage, 422, "CC_PREFIX")


# --- figures -----------------------------------------------------------------------------------------------


def test_figures_count_the_citys_redemptions_and_suppress_small_counts(
        alliance: Any, hangzhou: httpx.Client, quzhou: httpx.Client, hangzhou_office: dict[str, str],
        quzhou_office: dict[str, str]) -> None:
    till = GatewayClient.rest(alliance.gateway.http_url, api_key=alliance.token(HANGZHOU))
    for i in range(6):  # six residents borrow books at home
        code = issue(hangzhou, hangzhou_office, f"reader-{i}", 720)
        assert till.redeem(code, "hangzhou-library-deposit-free", idempotency_key=f"figures-lib-{i}").redeemed
    for i in range(2):  # two visitors from Quzhou see a doctor
        code = issue(quzhou, quzhou_office, f"visitor-{i}", 880, audience="hangzhou")
        assert till.redeem(code, "hangzhou-hospital-pay-later", idempotency_key=f"figures-hosp-{i}").redeemed
    answer = hangzhou.get("/v1/office/figures", headers=hangzhou_office)
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["suppressed_below"] == 5
    assert figures["total"] == 8
    assert figures["by_offer"] == {"hangzhou-hospital-pay-later": "<5", "hangzhou-library-deposit-free": 6}
    assert figures["by_home_city"] == {"330100": 6, "330800": "<5"}
    assert sum(v for v in figures["by_day"].values() if isinstance(v, int)) + \
        5 * sum(1 for v in figures["by_day"].values() if v == "<5") >= 6
    problem(hangzhou.get("/v1/office/figures", headers=hangzhou_office,
                         params={"since": "2026-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}),
            400, "CC_INVALID_ARGUMENT")


# --- the gateway away --------------------------------------------------------------------------------------


@pytest.mark.parametrize("restarted", [False, True], ids=["same-issuer", "issuer-restarted"])
def test_changes_made_while_the_gateway_is_away_reach_it_once_it_is_back(tmp_path: Path, restarted: bool) -> None:
    # An office keeps working while the gateway is down: an offer or a status change is kept and signed, the
    # office is told the upload failed, and the issuer's rounds upload what the gateway missed once it answers
    # again, also when the issuer itself was restarted meanwhile. A merchant's grant is not kept until the gateway
    # took it, so the office never lists as revoked a key the gateway still accepts.
    home = demo_copy(tmp_path)
    office = bearer(tokens(home)["cities"][f"{HANGZHOU:06d}"]["city_office"]["token"])
    port = free_port()
    with contextlib.ExitStack() as away, contextlib.ExitStack() as issuers:
        gateway = away.enter_context(gateway_in_thread(gateway_config(home, http_port=port)))
        config = issuer_config(home, "hangzhou", gateway.http_url)
        issuer = issuers.enter_context(issuer_in_thread(config))
        hangzhou = issuers.enter_context(httpx.Client(base_url=issuer.url, timeout=30))
        code = issue(hangzhou, office, "away-holder", 650)
        uscc = USCC_FIRST17 + uscc_check_character(USCC_FIRST17)
        merchant = {"merchant_id": uscc, "name": "西湖茶室 (test)", "venues": []}
        made = hangzhou.post("/v1/office/merchants", headers=office, json=merchant)
        assert made.status_code == 200, made.text
        kept = made.json()
        merchants_before = office_state(hangzhou, office)["merchants"]
        away.close()  # the gateway stops
        # A merchant's grant goes to the gateway first: what it did not take, the office does not keep.
        problem(hangzhou.post("/v1/office/merchants", headers=office, json=merchant), 503, "CC_UNAVAILABLE")
        problem(hangzhou.post(f"/v1/office/merchants/{kept['id']}:revoke", headers=office), 503, "CC_UNAVAILABLE")
        assert office_state(hangzhou, office)["merchants"] == merchants_before
        problem(hangzhou.put(f"/v1/office/offers/{NEW_OFFER['id']}", headers=office, json=NEW_OFFER),
                503, "CC_UNAVAILABLE")
        assert NEW_OFFER["id"] in {o["id"] for o in office_state(hangzhou, office)["offers"]}
        problem(hangzhou.post("/v1/office/status", headers=office, json={"code": code, "status": "revoked"}),
                503, "CC_UNAVAILABLE")
        if restarted:
            issuers.close()
        back = away.enter_context(gateway_in_thread(gateway_config(home, http_port=port)))
        if restarted:
            issuer = issuers.enter_context(issuer_in_thread(config))
            hangzhou = issuers.enter_context(httpx.Client(base_url=issuer.url, timeout=30))
        client = away.enter_context(httpx.Client(base_url=back.http_url, timeout=30))
        poll(lambda: NEW_OFFER["id"] in gateway_offers(client), what="the offer made while away served")
        poll(lambda: verdict(client, code) == "CC_REVOKED", what="the revocation made while away served")
        till = bearer(kept["token"])
        poll(lambda: client.get("/v1/merchant", headers=till).status_code == 200, what="the kept merchant served")
        assert hangzhou.post(f"/v1/office/merchants/{kept['id']}:revoke", headers=office).status_code == 200
        poll(lambda: client.get("/v1/merchant", headers=till).status_code == 401, what="the revoked key refused")


# --- agreements and proposals (an alliance of their own: they change who may visit whom) -------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Any]:
    home = demo_copy(tmp_path)
    with running_alliance(home, issuers=("hangzhou", "wenzhou")) as running:
        yield running


def cli(home: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "citycredit", *args], capture_output=True, text=True, check=False,
                          env=os.environ | {"HOME": str(home)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_proposal_is_signed_by_each_city_passed_on_and_published(fresh: Any, tmp_path: Path) -> None:
    home, gateway_url = fresh.home, fresh.gateway.http_url
    hangzhou = httpx.Client(base_url=fresh.issuer_url("hangzhou"), timeout=30,
                            headers=bearer(fresh.token(HANGZHOU, "city_office")))
    wenzhou = httpx.Client(base_url=fresh.issuer_url("wenzhou"), timeout=30,
                           headers=bearer(fresh.token(330300, "city_office")))
    resident = sign_in(hangzhou, "hangzhou-4")
    before = hangzhou.get("/v1/holder/offers", headers=resident, params={"audience": "wenzhou"}).json()["offers"]
    assert {r["decision"]["reason"] for r in before} == {"NO_AGREEMENT"}

    # The governance delegates the new agreement's role to the two cities (a ceremony, with the CLI).
    ceremony = tmp_path / "delegate.json"
    cli(home, "governance", "propose", "agreement", "--id", "hangzhou-wenzhou", "--cities", "330100,330300",
        "--gateway", gateway_url, "--anchor", str(home / "anchor.json"), "--cache", str(tmp_path / "cache"),
        "--out", str(ceremony))
    for member in ("member-1", "member-2"):
        cli(home, "governance", "sign", str(ceremony), "--member", str(home / "governance" / member),
            "--home", str(home))
    cli(home, "governance", "publish", str(ceremony), "--gateway", gateway_url)

    # Hangzhou's office writes the agreement into its inbox (the CLI), signs it on the page's API …
    inbox = home / "cities" / "hangzhou" / "inbox"
    inbox.mkdir()
    cli(home, "agreement", "propose", "--id", "hangzhou-wenzhou", "--cities", "330100,330300",
        "--categories", "scenic_spot,library", "--from", "2026-01-01", "--title", "杭州·温州 互认 (test)",
        "--out", str(inbox / "hangzhou-wenzhou.json"))
    listed = hangzhou.get("/v1/office").json()["proposals"]
    assert [(p["name"], p["signed_by"], p["complete"]) for p in listed] == [("hangzhou-wenzhou", [], False)]
    signed = hangzhou.post("/v1/office/proposals/hangzhou-wenzhou:sign").json()
    assert (signed["signed_by"], signed["complete"]) == (["330100"], False)
    problem(hangzhou.post("/v1/office/proposals/hangzhou-wenzhou:publish"), 409, "CC_CONFLICT")

    # … passes it on to Wenzhou, which signs and publishes it.
    document = hangzhou.get("/v1/office/proposals/hangzhou-wenzhou").json()
    problem(wenzhou.put("/v1/office/proposals/Bad Name", json=document), 400, "CC_INVALID_ARGUMENT")
    assert wenzhou.put("/v1/office/proposals/hangzhou-wenzhou", json=document).json()["signed_by"] == ["330100"]
    assert wenzhou.post("/v1/office/proposals/hangzhou-wenzhou:sign").json()["complete"] is True
    published = wenzhou.post("/v1/office/proposals/hangzhou-wenzhou:publish")
    assert published.status_code == 200, published.text
    assert wenzhou.get("/v1/office").json()["proposals"] == []

    def open_in_wenzhou() -> bool:
        rows = hangzhou.get("/v1/holder/offers", headers=resident, params={"audience": "wenzhou"}).json()["offers"]
        return any(r["decision"]["eligible"] for r in rows)

    poll(open_in_wenzhou, timeout_s=60, what="the new agreement opening Wenzhou's offers to Hangzhou residents")
    assert "hangzhou-wenzhou" in {a["id"] for a in hangzhou.get("/v1/office").json()["agreements"]}

    # Either city may leave again at any time.
    left = hangzhou.post("/v1/office/agreements/hangzhou-wenzhou:withdraw")
    assert left.status_code == 200, left.text
    poll(lambda: not open_in_wenzhou(), timeout_s=60, what="leaving the agreement closing the offers again")
    hangzhou.close()
    wenzhou.close()


def test_a_proposal_must_bind_the_city_and_be_well_formed(hangzhou: httpx.Client,
                                                          hangzhou_office: dict[str, str]) -> None:
    problem(hangzhou.get("/v1/office/proposals/nothing-here", headers=hangzhou_office), 404, "CC_NOT_FOUND")
    problem(hangzhou.put("/v1/office/proposals/junk", headers=hangzhou_office, json={"format": "other"}),
            400, "CC_INVALID_ARGUMENT")
    problem(hangzhou.put("/v1/office/proposals/junk", headers=hangzhou_office,
                         json={"format": "citycredit-agreement-proposal/1", "id": "x", "role": "{}", "files": {}}),
            400, "CC_INVALID_ARGUMENT")
    assert json.dumps(office_state(hangzhou, hangzhou_office)["proposals"]) == "[]"
