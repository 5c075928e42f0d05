"""The city office's page (/office on a city's issuer) in Chromium against a real gateway and issuers:
every action is signed by the issuer with the city's keys and uploaded, so each test checks what the
gateway serves afterwards. The module runs its own alliance, so the dashboard counts only its redemptions."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit import GatewayClient
from citycredit.core import uscc_check_character
from playwright.sync_api import expect

from tests.integration.issuer.support import bearer, poll
from tests.integration.web.conftest import Tab, TabFactory, shoot
from tests.support.alliance import HANGZHOU, QUZHOU, Alliance, demo_copy, running_alliance

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST17 = "91330106MA2KX8L3Q"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory, web_build: Path) -> Iterator[Alliance]:
    home = demo_copy(tmp_path_factory.mktemp("office-page"))
    with running_alliance(home, issuers=("hangzhou", "quzhou")) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(alliance: Alliance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alliance.gateway.http_url, timeout=30) as client:
        yield client


def office(tabs: TabFactory, alliance: Alliance, section: str = "dashboard", **options: Any) -> Tab:
    """The Hangzhou office page, signed in, showing `section`."""
    tab = tabs(alliance.issuer_url("hangzhou"), **options)
    page = tab.open("/office")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#o-token", alliance.token(HANGZHOU, "city_office"))
    page.click("#o-signin-submit")
    page.wait_for_selector("#o-main:not([hidden])")
    page.click(f"a[href='#{section}']")
    page.wait_for_selector(f"#o-{section}:not([hidden])")
    return tab


def served_offers(gateway: httpx.Client) -> set[str]:
    return {o["id"] for o in gateway.get("/v1/offers", params={"city": "330100"}).json()["offers"]}


def issue(alliance: Alliance, city: str, holder: str, score: int, audience: str | None = None) -> str:
    code = {"hangzhou": HANGZHOU, "quzhou": QUZHOU}[city]
    body: dict[str, Any] = {"holder_ref": holder, "local_record": {"score": score}, "ttl_s": 3600}
    if audience:
        body["audience"] = audience
    answer = httpx.post(f"{alliance.issuer_url(city)}/v1/codes", json=body, timeout=30,
                        headers=bearer(alliance.token(code, "city_office")))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["code"])


def test_signing_in_needs_the_office_token(tabs: TabFactory, alliance: Alliance, screenshots: Path) -> None:
    tab = tabs(alliance.issuer_url("hangzhou"))
    page = tab.open("/office")
    page.wait_for_selector("#o-signin:not([hidden])")
    shoot(page, screenshots, "office-signin")
    page.fill("#o-token", alliance.token(QUZHOU, "city_office"))  # another city's office: not this one
    page.click("#o-signin-submit")
    page.wait_for_selector("#o-signin-error[data-error=CC_UNAUTHENTICATED]:not([hidden])")
    page.fill("#o-token", alliance.token(HANGZHOU, "city_office"))
    page.click("#o-signin-submit")
    page.wait_for_selector("#o-main:not([hidden])")
    assert "杭州" in page.inner_text("#o-city")
    page.reload()
    page.wait_for_selector("#o-main:not([hidden])")  # the token lasts for the tab
    page.click("[data-lang-switch]")
    page.wait_for_selector("html[data-lang=en]")
    assert "Hangzhou credit office" in page.inner_text("#o-city")
    page.click("a[href='#keys']")
    page.wait_for_selector("#o-keys:not([hidden])")
    shoot(page, screenshots, "office-keys-english")


def test_an_offer_is_published_only_after_a_preview_and_then_withdrawn(tabs: TabFactory, alliance: Alliance,
                                                                       gateway: httpx.Client,
                                                                       screenshots: Path) -> None:
    page = office(tabs, alliance, "offers").page
    page.fill("#o-offer-id", "hangzhou-museum-free")
    page.select_option("#o-offer-category", "scenic_spot")
    page.fill("#o-offer-title-zh", "钱江分600分以上 博物馆免费参观")
    page.fill("#o-offer-title-en", "Free museum visits, Qianjiang score 600+")
    page.select_option("#o-offer-tier", "GOOD")
    page.select_option("#o-offer-kind", "free_uses")
    page.fill("#o-offer-count", "2")
    page.fill("#o-offer-text-zh", "每月免费参观两次")
    page.fill("#o-offer-text-en", "Two free visits a month")
    page.check("#o-offer-quota")
    page.fill("#o-offer-uses", "2")
    page.select_option("#o-offer-period", "month")
    assert page.locator("#o-offer-publish").is_disabled()  # nothing is published unseen

    page.click("#o-offer-preview")
    page.wait_for_selector("#o-preview:not([hidden])")
    assert page.locator("#o-preview-who tr[data-home='330100'] td.yes").count() == 3  # GOOD, EXCELLENT, OUTSTANDING
    assert page.locator("#o-preview-who tr[data-home='330800'] td.yes").count() == 3  # Quzhou, by agreement
    assert page.locator("#o-preview-who tr[data-home='330300'] td.yes").count() == 0  # Wenzhou: no agreement
    assert "每月免费参观两次" in page.inner_text("#o-preview-offer")
    assert "hangzhou-museum-free" not in served_offers(gateway)  # a preview publishes nothing
    shoot(page, screenshots, "office-offer-preview")

    page.fill("#o-offer-count", "3")  # changed after the preview: it must be previewed again
    assert page.locator("#o-offer-publish").is_disabled()
    assert page.locator("#o-preview").is_hidden()
    page.fill("#o-offer-count", "2")
    page.click("#o-offer-preview")
    page.wait_for_selector("#o-preview:not([hidden])")
    page.click("#o-offer-publish")
    page.wait_for_selector("#o-offer-rows tr[data-offer='hangzhou-museum-free']")
    assert "已发布" in page.inner_text("#o-offers-message")
    poll(lambda: "hangzhou-museum-free" in served_offers(gateway), what="the gateway serving the offer")

    withdraw = page.locator("#o-offer-rows tr[data-offer='hangzhou-museum-free'] button", has_text="撤回")
    withdraw.click()
    assert "确认" in withdraw.inner_text()  # the first press only asks (no dialog)
    withdraw.click()
    page.wait_for_selector("#o-offer-rows tr[data-offer='hangzhou-museum-free']", state="detached")
    poll(lambda: "hangzhou-museum-free" not in served_offers(gateway), what="the offer gone from the gateway")


def test_a_merchant_with_a_valid_code_is_onboarded_and_a_bad_check_digit_refused(
        tabs: TabFactory, alliance: Alliance, gateway: httpx.Client, screenshots: Path) -> None:
    page = office(tabs, alliance, "merchants").page
    right = uscc_check_character(FIRST17)
    wrong = "0" if right != "0" else "1"
    before = page.locator("#o-merchant-rows tr").count()
    page.fill("#o-uscc", FIRST17 + wrong)
    page.fill("#o-merchant-name", "西湖茶室 (test)")
    assert f"应为 {right}" in page.inner_text("#o-uscc-check")
    assert page.locator("#o-uscc").get_attribute("aria-invalid") == "true"
    page.click("#o-merchant-add")
    page.wait_for_selector("#o-merchants-message.error-line:not([hidden])")
    assert "未提交" in page.inner_text("#o-merchants-message")
    assert page.locator("#o-merchant-rows tr").count() == before and page.locator("#o-merchant-token-box").is_hidden()

    page.fill("#o-uscc", (FIRST17 + right).lower())  # typed in lower case: it is the same code
    assert "正确" in page.inner_text("#o-uscc-check")
    page.fill("#o-merchant-venues", "xihu-1, xihu-2")
    page.click("#o-merchant-add")
    page.wait_for_selector("#o-merchant-token-box:not([hidden])")
    token = page.inner_text("#o-merchant-token")
    assert token.startswith("ccm_")
    row = page.locator(f"#o-merchant-rows tr[data-merchant='{FIRST17 + right}']")
    assert "xihu-1" in row.inner_text()
    shoot(page, screenshots, "office-merchant-onboarded")
    poll(lambda: gateway.get("/v1/merchant", headers=bearer(token)).status_code == 200,
         what="the new merchant key working at the gateway")

    revoke = row.locator("button", has_text="收回")
    revoke.click()
    revoke.click()
    page.wait_for_selector(f"#o-merchant-rows tr.gone[data-merchant='{FIRST17 + right}']")
    poll(lambda: gateway.get("/v1/merchant", headers=bearer(token)).status_code == 401,
         what="the revoked key refused")


def test_keys_are_added_and_retired(tabs: TabFactory, alliance: Alliance) -> None:
    page = office(tabs, alliance, "keys").page
    before = page.locator("#o-key-rows tr").count()
    page.select_option("#o-key-algorithm", "p256")
    page.click("#o-key-add")
    page.wait_for_selector("#o-keys-message.ok-line:not([hidden])")
    assert page.locator("#o-key-rows tr").count() == before + 1
    kid = page.inner_text("#o-keys-message").split()[1]  # "新密钥 <kid> 已生成并发布…"
    row = page.locator(f"#o-key-rows tr[data-kid='{kid}']")
    assert "P-256" in row.inner_text() and "使用中" in row.inner_text()
    retire = row.locator("button", has_text="停用")
    retire.click()
    retire.click()
    page.wait_for_selector(f"#o-key-rows tr[data-kid='{kid}'] >> text=已停用")


def test_codes_are_revoked_and_reinstated_from_the_page(tabs: TabFactory, alliance: Alliance,
                                                        gateway: httpx.Client) -> None:
    code = issue(alliance, "hangzhou", "page-status", 700)

    def verdict() -> str:
        body = gateway.post("/v1/codes:verify", json={"code": code}).json()
        return "VALID" if body["valid"] else str(body["error"]["code"])

    page = office(tabs, alliance, "status").page
    page.fill("#o-status-code", code)
    page.check("input[name=o-status-action][value=revoked]")
    page.click("#o-status-submit")
    page.wait_for_selector("#o-status-message.ok-line:not([hidden])")
    poll(lambda: verdict() == "CC_REVOKED", what="the revocation served")
    page.check("input[name=o-status-action][value=valid]")
    page.click("#o-status-submit")
    page.wait_for_selector("#o-status-message.ok-line >> text=已恢复")
    poll(lambda: verdict() == "VALID", what="the reinstatement served")
    page.fill("#o-status-code", "CC1:NOT-A-CODE")
    page.click("#o-status-submit")
    page.wait_for_selector("#o-status-message.error-line:not([hidden])")


def test_agreements_and_the_log_head_are_shown(tabs: TabFactory, alliance: Alliance, screenshots: Path) -> None:
    tab = office(tabs, alliance, "agreements")
    page = tab.page
    row = page.locator("#o-agreement-rows tr[data-agreement='hangzhou-quzhou']")
    assert "衢州" in row.inner_text()
    assert "没有等待本市签署的提案" in page.inner_text("#o-proposals")
    page.click("a[href='#log']")
    page.wait_for_selector("#o-log:not([hidden])")

    def witnessed() -> bool:
        page.click("#o-refresh")  # the issuer countersigns the gateway's head every round
        return page.locator("#o-log-size").count() == 1

    poll(witnessed, what="a witnessed log head on the page")
    assert int(page.inner_text("#o-log-size")) > 0
    assert "是" in page.inner_text("#o-log-head")


def test_a_proposal_passed_on_is_added_signed_and_downloaded(tabs: TabFactory, alliance: Alliance,
                                                             tmp_path: Path) -> None:
    proposal = tmp_path / "hangzhou-quzhou-2026.json"
    done = subprocess.run([sys.executable, "-m", "citycredit", "agreement", "propose", "--id", "hangzhou-quzhou-2026",
                           "--cities", "330100,330800", "--categories", "hotel", "--from", "2026-06-01",
                           "--title", "杭州·衢州 酒店互认 (test)", "--out", str(proposal)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    page = office(tabs, alliance, "agreements").page
    page.set_input_files("#o-proposal-file", str(proposal))
    item = page.locator("#o-proposals li[data-proposal='hangzhou-quzhou-2026']")
    item.wait_for()
    assert "尚无" in item.inner_text()  # nobody signed yet
    item.locator("button", has_text="签署").click()
    page.wait_for_selector("#o-agreements-message.ok-line:not([hidden])")
    assert "杭州" in item.inner_text() and item.locator("button", has_text="签署").count() == 0
    with page.expect_download() as download:
        item.locator("button", has_text="下载").click()
    signed = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert signed["id"] == "hangzhou-quzhou-2026" and len(json.loads(signed["role"])["signatures"]) == 1
    page.set_input_files("#o-proposal-file", {"name": "junk.json", "mimeType": "application/json", "buffer": b"{no"})
    page.wait_for_selector("#o-agreements-message.error-line:not([hidden])")


def test_the_dashboard_shows_the_redemptions_with_small_counts_suppressed(tabs: TabFactory, alliance: Alliance,
                                                                          screenshots: Path) -> None:
    till = GatewayClient.rest(alliance.gateway.http_url, api_key=alliance.token(HANGZHOU))
    for i in range(6):  # six residents borrow books at home
        code = issue(alliance, "hangzhou", f"page-reader-{i}", 720)
        assert till.redeem(code, "hangzhou-library-deposit-free", idempotency_key=f"page-lib-{i}").redeemed
    for i in range(2):  # two visitors from Quzhou see a doctor
        code = issue(alliance, "quzhou", f"page-visitor-{i}", 880, audience="hangzhou")
        assert till.redeem(code, "hangzhou-hospital-pay-later", idempotency_key=f"page-hosp-{i}").redeemed
    tab = office(tabs, alliance, "dashboard", viewport={"width": 1280, "height": 900})
    page = tab.page
    loaded = page.locator("#o-total", has_text="8")
    loaded.or_(page.locator("#o-dashboard-error:not([hidden])")).wait_for()
    assert page.locator("#o-dashboard-error").is_hidden(), \
        f"the dashboard could not load its figures: {page.inner_text('#o-dashboard-error')}"
    expect(loaded).to_be_visible()
    offers = dict(zip(page.locator("#o-table-offer tr td:first-child").all_inner_texts(),
                      page.locator("#o-table-offer tr td.num").all_inner_texts(), strict=True))
    assert offers == {"钱江分550分以上 图书馆免押金借阅": "6", "钱江分600分以上 就医先诊疗后付费": "<5"}
    homes = dict(zip(page.locator("#o-table-home tr td:first-child").all_inner_texts(),
                     page.locator("#o-table-home tr td.num").all_inner_texts(), strict=True))
    assert homes == {"杭州": "6", "衢州": "<5"}
    assert "<5" in page.inner_text("#o-suppressed")
    for chart in ("day", "offer", "tier", "home"):
        box = page.locator(f"#o-chart-{chart}").bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    shoot(page, screenshots, "office-dashboard")
