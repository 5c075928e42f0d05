"""The merchant's till (/merchant) in Chromium against the running demo alliance: signing in, checking
codes in the browser (pictures and typed text), every refusal a till meets, redeeming with the quota left,
the history and voiding, the offline app (service worker, kept trust set, revocations synced before the
network went) and the queue of offline redemptions sent when the network is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from citycredit.core import iso
from PIL import Image

from tests.integration.web.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, Tab, shoot
from tests.integration.web.minting import Minter
from tests.integration.web.till import (
    OFFLINE_OFFER,
    QUOTA_OFFER,
    check_picture,
    check_typed,
    decision,
    merchant_api,
    offline_ready,
    open_till,
    synced,
    verdict,
)
from tests.support.alliance import QUZHOU, Alliance

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_sign_in_shows_only_the_merchants_offers(tab: Tab, web_alliance: Alliance, screenshots: Path) -> None:
    page = tab.open("/merchant")
    page.wait_for_selector("body[data-ready=true]")
    shoot(page, screenshots, "merchant-signin")
    page.fill("#merchant-key", "not-a-key")
    page.click("#signin-button")
    page.wait_for_selector("#signin-error[data-error=CC_UNAUTHENTICATED]:not([hidden])")
    page.fill("#merchant-key", web_alliance.token(QUZHOU, "city_office"))
    page.click("#signin-button")
    page.wait_for_selector("#signin-error[data-error=CC_PERMISSION_DENIED]:not([hidden])")
    page.fill("#merchant-key", web_alliance.token(QUZHOU))
    page.click("#signin-button")
    page.wait_for_selector("#till:not([hidden])")
    with merchant_api(web_alliance) as api:
        mine = [o["id"] for o in api.get("/v1/merchant").json()["offers"]]
    shown = page.locator("#offer option").evaluate_all("(options) => options.map((o) => o.value)")
    assert shown == mine and mine, "the till lists exactly the merchant's offers"
    assert "衢州" in page.inner_text("#merchant-who")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#till").is_visible(), "signed in once: a reload keeps the merchant signed in"


def test_redeem_shows_quota_left_history_and_void_gives_it_back(tab: Tab, web_alliance: Alliance,
                                                                 minter: Minter, tmp_path: Path,
                                                                 screenshots: Path) -> None:
    page = open_till(tab, web_alliance)
    page.select_option("#offer", QUOTA_OFFER)
    visitor = minter.bound("hangzhou", score=760, audience="quzhou")  # OUTSTANDING, a Hangzhou resident
    result = check_picture(page, visitor.present(), tmp_path)
    assert verdict(result) == ("valid", None)
    assert decision(result) == ("true", None)
    assert "杭州" in result.locator("[data-verdict]").inner_text()
    shoot(page, screenshots, "merchant-valid")
    page.click("[data-lang-switch]")
    assert "VALID" in result.locator("[data-verdict]").inner_text() and "Hangzhou" in result.inner_text()
    shoot(page, screenshots, "merchant-valid-en")
    page.click("[data-lang-switch]")
    page.click("#redeem")
    redeemed = page.wait_for_selector("#redeem-result [data-redeemed=true]")
    redemption = redeemed.get_attribute("data-redemption")
    assert page.get_attribute("#redeem-result [data-quota-remaining]", "data-quota-remaining") == "2"
    row = page.wait_for_selector(f'#history-list [data-redemption="{redemption}"]')
    assert "UTC+8" in row.inner_text()
    shoot(page, screenshots, "merchant-redeemed")
    page.click(f'#history-list [data-void="{redemption}"]')
    page.wait_for_selector(f'#history-note [data-voided="{redemption}"]')
    page.wait_for_selector(f'#history-list .voided[data-redemption="{redemption}"]')
    with merchant_api(web_alliance) as api:
        rows = {r["id"]: r for r in api.get("/v1/redemptions").json()["redemptions"]}
    assert rows[redemption]["voided_at"] is not None
    # The void gave the use back: the same holder redeems again and still has 2 left.
    result = check_typed(page, visitor.present())
    assert decision(result) == ("true", None)
    page.click("#redeem")
    page.wait_for_selector("#redeem-result [data-redeemed=true]")
    assert page.get_attribute("#redeem-result [data-quota-remaining]", "data-quota-remaining") == "2"


def test_every_refusal_is_named(tab: Tab, web_alliance: Alliance, minter: Minter, tmp_path: Path,
                                screenshots: Path) -> None:
    page = open_till(tab, web_alliance)
    page.select_option("#offer", QUOTA_OFFER)
    bound = minter.bound("quzhou", score=880)
    assert verdict(check_typed(page, bound.code)) == ("invalid", "CC_DEVICE_PROOF_REQUIRED")
    assert verdict(check_typed(page, bound.present(int(time.time()) - 120))) == ("invalid", "CC_PRESENTATION_STALE")
    once = bound.present()
    assert verdict(check_typed(page, once)) == ("valid", None)
    result = check_picture(page, once, tmp_path)
    assert verdict(result) == ("invalid", "CC_PRESENTATION_REPLAYED")
    assert decision(result) == ("false", "CODE_INVALID")
    shoot(page, screenshots, "merchant-replayed")
    elsewhere = minter.bound("quzhou", score=880, audience="hangzhou")
    result = check_typed(page, elsewhere.present())
    assert verdict(result) == ("valid", None) and decision(result) == ("false", "WRONG_AUDIENCE")
    result = check_typed(page, minter.bare("quzhou", score=865))  # GOOD: below this offer's EXCELLENT
    assert decision(result) == ("false", "TIER_TOO_LOW")
    page.select_option("#offer", OFFLINE_OFFER)  # the same scan, decided again for another offer
    page.wait_for_selector("#decision .decision[data-eligible=true]")
    assert verdict(check_typed(page, "hello")) == ("invalid", "CC_PREFIX")
    assert verdict(check_typed(page, "CC1:" + "A" * 1100)) == ("invalid", "CC_TOO_LONG")
    suspended = minter.bare("quzhou", score=880)
    minter.set_status("quzhou", suspended, "suspended")
    wanted = minter.status_version("quzhou")
    synced(page, wanted)
    result = check_typed(page, suspended)
    assert verdict(result) == ("invalid", "CC_SUSPENDED") and decision(result) == ("false", "CODE_SUSPENDED")
    shoot(page, screenshots, "merchant-suspended")
    # Pictures that hold no code are refused plainly, and so is a file that is no picture at all.
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 800), "white").save(blank)
    page.set_input_files("#picture", str(blank))
    page.wait_for_selector("#till-error[data-error=NO_QR]:not([hidden])")
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    page.set_input_files("#picture", str(text))
    page.wait_for_selector("#till-error[data-error=NOT_AN_IMAGE]:not([hidden])")


def test_offline_the_till_checks_fresh_codes_and_refuses_revoked_ones(tab: Tab, web_alliance: Alliance,
                                                                       minter: Minter, tmp_path: Path,
                                                                       screenshots: Path) -> None:
    page = open_till(tab, web_alliance)
    offline_ready(page)
    revoked = minter.bare("quzhou", score=880)
    minter.set_status("quzhou", revoked, "revoked")
    wanted = minter.status_version("quzhou")
    synced(page, wanted)

    tab.offline()
    reloaded = page.reload()
    assert reloaded is not None and reloaded.from_service_worker, "offline, the page comes from the service worker"
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#net[data-online=false]")
    assert page.locator("#till").is_visible()
    page.select_option("#offer", OFFLINE_OFFER)
    fresh = minter.bound("hangzhou", score=760, audience="quzhou")  # made after the network went
    result = check_picture(page, fresh.present(), tmp_path)
    assert verdict(result) == ("valid", None) and decision(result) == ("true", None)
    result = check_typed(page, revoked)
    assert verdict(result) == ("invalid", "CC_REVOKED") and decision(result) == ("false", "CODE_REVOKED")
    shoot(page, screenshots, "merchant-offline-revoked")
    # An offer that may not be redeemed offline says so instead of queueing.
    page.select_option("#offer", QUOTA_OFFER)
    result = check_typed(page, fresh.present())
    assert decision(result) == ("true", None)
    page.click("#redeem")
    page.wait_for_selector("#redeem-result [data-error=NEEDS_NETWORK]")
    assert page.locator("#queue-list li").count() == 0
    tab.offline(False)


def test_offline_redemptions_are_queued_and_sent_with_their_time(tab: Tab, web_alliance: Alliance,
                                                                  minter: Minter, tmp_path: Path,
                                                                  screenshots: Path) -> None:
    page = open_till(tab, web_alliance)
    page.select_option("#offer", OFFLINE_OFFER)
    offline_ready(page)
    tab.offline()
    holder = minter.bound("quzhou", score=880)
    result = check_picture(page, holder.present(), tmp_path)
    assert decision(result) == ("true", None)
    page.click("#redeem")
    queued = page.wait_for_selector("#redeem-result [data-queued]")
    key = queued.get_attribute("data-queued")
    item = page.wait_for_selector(f'#queue-list [data-queued="{key}"][data-state=pending]')
    made_at = int(item.query_selector("time").get_attribute("data-at"))
    shoot(page, screenshots, "merchant-queued")
    with merchant_api(web_alliance) as api:
        before = {r["id"] for r in api.get("/v1/redemptions").json()["redemptions"]}

    tab.offline(False)  # the page hears the network come back and sends the queue by itself
    page.wait_for_selector(f'#queue-sent [data-sent="{key}"][data-redeemed=true]')
    assert page.locator("#queue-list li").count() == 0
    with merchant_api(web_alliance) as api:
        rows = api.get("/v1/redemptions").json()["redemptions"]
    new = [r for r in rows if r["id"] not in before]
    assert [(r["offer_id"], r["at"]) for r in new] == [(OFFLINE_OFFER, iso(made_at))]
    page.wait_for_selector(f'#history-list [data-redemption="{new[0]["id"]}"]')


def test_the_till_is_an_installable_app(playwright_session: Any, web_alliance: Alliance, tmp_path: Path) -> None:
    # Installing needs a browser profile of one's own (an incognito context can install nothing).
    context = playwright_session.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=PHONE,
        locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        tab = Tab(page=context.new_page(), context=context, base_url=web_alliance.gateway.http_url)
        tab.watch(tab.page)
        page = open_till(tab, web_alliance)
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == web_alliance.gateway.http_url + "/merchant"
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [] and manifest["url"].endswith("/web/merchant.webmanifest")
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        assert tab.errors == [] and tab.dialogs == []
    finally:
        context.close()


def test_a_trust_set_past_its_offline_grace_is_refused_plainly(tab: Tab, web_alliance: Alliance,
                                                                minter: Minter) -> None:
    tab.context.clock.install(time=time.time())
    page = open_till(tab, web_alliance)
    tab.offline()
    page.clock.set_system_time(time.time() + 10 * 86400)  # ten days on, the network still away
    page.click("#manual summary")
    page.fill("#code", minter.bare("quzhou", score=880))
    page.click("#check")
    page.wait_for_selector("#till-error[data-error=CC_BUNDLE_STALE]:not([hidden])")
    assert page.locator("#result").is_hidden(), "no verdict is given on a stale trust set"
    tab.offline(False)
