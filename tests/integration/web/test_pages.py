"""The merchant and city-office pages in a real Chromium against a real gateway (no API is faked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit.core import b45encode
from citycredit.gateway import Gateway

from .conftest import HANGZHOU, JIAXING, QUZHOU, Tab, bearer, issue

pytestmark = [pytest.mark.browser]

PARKING = "quzhou-parking-discount-10"  # GOOD and up; Hangzhou residents by the hangzhou-quzhou agreement
HOSTILE = "<img src=x onerror=window.__pwned=1;alert(1)>"


def check(tab: Tab, code: str, offer_id: str, *, keyboard: bool = False) -> Any:
    page = tab.open("/merchant")
    page.select_option("#offer", offer_id)
    page.fill("#code", code)
    if keyboard:
        page.press("#code", "Enter")  # what a scanner that types the code ends with
    else:
        page.click("#check")
    page.wait_for_selector("#result:not([hidden]), #error:not([hidden])")
    return page


def test_landing_links_both_pages(tab: Tab, screenshots: Path) -> None:
    page = tab.open("/")
    assert page.title().startswith("citycredit")
    links = {a.get_attribute("href") for a in page.query_selector_all("main a")}
    assert {"/merchant", "/office"} <= links
    page.screenshot(path=screenshots / "landing-phone.png", full_page=True)


def test_eligible_visitor_gets_same_city_treatment(tab: Tab, web_gateway: Gateway, api: httpx.Client,
                                                   screenshots: Path) -> None:
    code = issue(api, web_gateway, HANGZHOU, {"score": 720})
    page = check(tab, code, PARKING)
    assert page.get_attribute("#verdict-badge", "data-verdict") == "VALID"
    verdict = page.inner_text("#verdict")
    assert "杭州" in verdict and "Hangzhou" in verdict and "330100" in verdict and "EXCELLENT" in verdict
    assert "钱江分" in verdict  # the local band, for display
    assert page.get_attribute("#decision-badge", "data-verdict") == "ELIGIBLE"
    assert page.get_attribute("#treatment", "data-local") == "true"
    treatment = page.inner_text("#treatment")
    assert "按本市居民对待" in treatment and "treated as a local resident" in treatment
    assert "hangzhou-quzhou" in treatment
    assert "九折" in page.inner_text("#decision") or "10%" in page.inner_text("#decision")
    assert page.is_hidden("#error")
    assert page.is_visible("#redeem")
    page.screenshot(path=screenshots / "merchant-eligible-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshots / "merchant-eligible-desktop.png", full_page=True)


def test_jiaxing_code_at_quzhou_parking_is_no_agreement(tab: Tab, web_gateway: Gateway, api: httpx.Client,
                                                         screenshots: Path) -> None:
    code = issue(api, web_gateway, JIAXING, {"score": 720})
    page = check(tab, code, PARKING, keyboard=True)
    assert page.get_attribute("#verdict-badge", "data-verdict") == "VALID"
    assert page.get_attribute("#decision-badge", "data-verdict") == "NOT_ELIGIBLE"
    assert page.inner_text("#reason .reason-code") == "NO_AGREEMENT"
    assert "互认协议" in page.inner_text("#reason .reason-zh")
    assert "No agreement in force" in page.inner_text("#reason .reason-en")
    assert page.get_attribute("#treatment", "data-local") == "false"
    assert page.is_hidden("#redeem")
    page.screenshot(path=screenshots / "merchant-no-agreement-phone.png", full_page=True)


@pytest.mark.parametrize(("code", "error"), [
    ("CC1:" + b45encode(b"\xff\xfe not a protobuf message"), "CC_MALFORMED"),
    ("hello", "CC_PREFIX"),
])
def test_a_broken_code_shows_its_error_line(tab: Tab, code: str, error: str, screenshots: Path) -> None:
    page = check(tab, code, PARKING)
    assert page.get_attribute("#verdict-badge", "data-verdict") == "INVALID"
    line = page.inner_text("#code-error")
    assert line.startswith(error) and len(line.splitlines()) == 1
    assert page.get_attribute("#decision-badge", "data-verdict") == "NOT_ELIGIBLE"
    assert page.inner_text("#reason .reason-code") == "CODE_INVALID"
    assert error in page.inner_text("#reason")
    if error == "CC_MALFORMED":
        page.screenshot(path=screenshots / "merchant-garbage-phone.png", full_page=True)


def test_hostile_text_is_shown_as_text(tab: Tab, web_gateway: Gateway, api: httpx.Client) -> None:
    # A city office can write any text into its offers; a visitor can type anything as a code.
    offer = {"id": "quzhou-web-hostile", "city": QUZHOU, "category": "dining", "min_tier": "GOOD",
             "title_zh": HOSTILE, "title_en": HOSTILE, "venue": HOSTILE,
             "benefit": {"kind": "waiver", "text_zh": HOSTILE, "text_en": HOSTILE}}
    published = api.post("/v1/offers", json=offer, headers=bearer(web_gateway.token(QUZHOU, "city_office")))
    assert published.status_code == 200, published.text

    page = check(tab, "CC1:" + HOSTILE, "quzhou-web-hostile")
    assert HOSTILE in page.inner_text("#offer-info")
    assert HOSTILE in page.inner_text("#decision")
    assert HOSTILE in page.eval_on_selector("#offer", "s => s.selectedOptions[0].textContent")
    assert page.query_selector_all("main img") == []
    assert page.evaluate("window.__pwned") is None

    page.fill("#code", HOSTILE)
    page.click("#check")
    page.wait_for_selector("#code-error")
    assert page.inner_text("#code-error").startswith("CC_PREFIX")
    assert page.query_selector_all("main img") == []
    assert page.evaluate("window.__pwned") is None


def test_unknown_api_problem_is_one_line(tab: Tab, web_gateway: Gateway, api: httpx.Client) -> None:
    code = issue(api, web_gateway, HANGZHOU, {"score": 720})
    page = check(tab, code, PARKING)
    page.fill("#api-key", "ccm_not-a-real-key")
    page.click("#redeem-btn")
    page.wait_for_selector("#redeem-error:not([hidden])")
    line = page.inner_text("#redeem-error")
    assert "CC_UNAUTHENTICATED" in line and len(line.splitlines()) == 1


def test_redeem_retry_reuses_the_idempotency_key(tab: Tab, web_gateway: Gateway, api: httpx.Client) -> None:
    code = issue(api, web_gateway, HANGZHOU, {"score": 720})
    page = check(tab, code, "quzhou-parking-free-3")
    assert page.get_attribute("#decision-badge", "data-verdict") == "ELIGIBLE"
    keys: list[str] = []

    def lose_the_answer(route: Any) -> None:
        # The gateway spends the offer, but the answer never reaches the page (a dropped connection).
        keys.append(json.loads(route.request.post_data)["idempotency_key"])
        route.fetch()
        route.abort("connectionreset")

    page.route("**/v1/redemptions", lose_the_answer)
    page.fill("#api-key", web_gateway.token(QUZHOU, "merchant"))
    page.click("#redeem-btn")
    page.wait_for_selector("#redeem-error:not([hidden])")
    assert "NETWORK" in page.inner_text("#redeem-error")
    assert "Retry" in page.inner_text("#redeem-btn")
    page.unroute("**/v1/redemptions")

    sent: list[str] = []
    page.on("request", lambda r: sent.append(json.loads(r.post_data)["idempotency_key"])
            if r.url.endswith("/v1/redemptions") else None)
    page.click("#redeem-btn")
    page.wait_for_selector("#redeem-badge")
    assert sent == keys and len(keys) == 1
    assert page.get_attribute("#redeem-badge", "data-verdict") == "REDEEMED"
    assert "重复请求" in page.inner_text("#redeem-result")  # the gateway replayed the first answer
    assert page.is_disabled("#redeem-btn")
    assert page.evaluate("sessionStorage.getItem('citycredit.merchantKey')") == web_gateway.token(QUZHOU, "merchant")
    assert page.evaluate("localStorage.getItem('citycredit.merchantKey')") is None

    again = api.post("/v1/eligibility:check", json={"code": code, "offer_id": "quzhou-parking-free-3"}).json()
    assert again["quota_remaining"] == 1  # one use spent of three, not two


def test_office_publishes_an_offer_and_revokes_a_code(tab: Tab, web_gateway: Gateway, api: httpx.Client,
                                                      screenshots: Path) -> None:
    before = api.get("/v1/trust-bundle", params={"format": "json"}).json()["version"]
    page = tab.open("/office")
    page.wait_for_selector("#members tbody tr")
    page.select_option("#city", str(QUZHOU))
    page.fill("#token", web_gateway.token(QUZHOU, "city_office"))
    assert "衢州" in page.inner_text("#members tr.mine")
    page.screenshot(path=screenshots / "office-phone.png", full_page=True)

    page.fill("#o-id", "quzhou-museum-free")
    page.fill("#o-title-zh", "博物馆免费参观")
    page.fill("#o-title-en", "Free museum entry")
    page.select_option("#o-category", "scenic_spot")
    page.select_option("#o-tier", "GOOD")
    page.select_option("#o-kind", "free_uses")
    page.fill("#o-count", "2")
    page.fill("#o-quota", "2")
    page.select_option("#o-period", "month")
    page.fill("#o-text-zh", "每月免费参观2次")
    page.click("#publish")
    page.wait_for_selector("#publish-done:not([hidden])")
    published = int(page.inner_text("#publish-done .version"))
    assert published > before
    offers = {o["id"]: o for o in api.get("/v1/offers", params={"city": "quzhou"}).json()["offers"]}
    assert offers["quzhou-museum-free"]["quota"] == {"uses": 2, "period": "month"}
    assert offers["quzhou-museum-free"]["benefit"]["count"] == 2
    page.wait_for_selector("#city-offers li:has-text('quzhou-museum-free')")

    code = issue(api, web_gateway, QUZHOU, {"score": 880})
    page.fill("#r-code", code)
    page.click("#r-lookup")
    page.wait_for_selector("#r-confirm:not([hidden])")
    assert "有效" in page.inner_text("#r-status")
    page.click("#r-revoke")
    page.wait_for_selector("#r-status:has-text('CC_REVOKED')")
    assert int(page.inner_text("#revoke-done .version")) > published
    assert page.is_hidden("#publish-done")
    assert api.post("/v1/codes:verify", json={"code": code}).json()["error"]["code"] == "CC_REVOKED"
    page.screenshot(path=screenshots / "office-revoked-phone.png", full_page=True)


def test_office_refuses_a_code_of_another_city_and_a_wrong_token(tab: Tab, web_gateway: Gateway,
                                                                  api: httpx.Client) -> None:
    page = tab.open("/office")
    page.wait_for_selector("#members tbody tr")
    page.select_option("#city", str(QUZHOU))
    page.fill("#token", "ccs_wrong")
    page.fill("#r-code", issue(api, web_gateway, HANGZHOU, {"score": 720}))
    page.click("#r-lookup")
    page.wait_for_selector("#revoke-error:not([hidden])")
    assert "CC_PERMISSION_DENIED" in page.inner_text("#revoke-error")
    assert page.is_hidden("#r-confirm")

    page.fill("#o-id", "quzhou-nope")
    page.fill("#o-title-zh", "标题")
    page.fill("#o-text-zh", "说明")
    page.click("#publish")
    page.wait_for_selector("#publish-error:has-text('CC_UNAUTHENTICATED')")
    assert len(page.inner_text("#publish-error").splitlines()) == 1
    assert page.is_hidden("#revoke-error")
