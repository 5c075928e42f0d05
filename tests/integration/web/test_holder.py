"""The holder page (/holder on a city's issuer) in Chromium against a real gateway and issuers.

The page's clock is Playwright's (`page.clock`), the gateway's and issuers' a `ShiftedClock`: a test moves
both by the same amount, so "30 s later" and "60 s later" need no waiting. Every presentation checked at
the gateway is read back from a screenshot of the page's QR with zxing-cpp, as a till's camera would.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from citycredit import GatewayClient
from PIL import Image

from tests.integration.issuer.support import ShiftedClock
from tests.integration.web.conftest import Tab, TabFactory, shoot
from tests.support.alliance import QUOTA_OFFER, QUZHOU, Alliance, demo_copy, running_alliance

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory, web_build: Path, clock: ShiftedClock) -> Iterator[Alliance]:
    """An alliance of this module's own: its clock is the one the tests move."""
    home = demo_copy(tmp_path_factory.mktemp("holder-page"))
    with running_alliance(home, issuers=("hangzhou", "quzhou"), clock=clock) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(alliance: Alliance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alliance.gateway.http_url, timeout=30) as client:
        yield client


def holder_tab(tabs: TabFactory, alliance: Alliance, clock: ShiftedClock, city: str = "hangzhou") -> Tab:
    """A fresh browser context on a city's issuer, its clock Playwright's, set to the alliance's time."""
    tab = tabs(alliance.issuer_url(city))
    tab.page.clock.install(time=datetime.fromtimestamp(clock(), tz=UTC))
    return tab


def verify(gateway: httpx.Client, code: str, venue: str) -> dict[str, Any]:
    answer = gateway.post("/v1/codes:verify", json={"code": code, "venue": venue})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def refusal(verdict: dict[str, Any]) -> str:
    assert verdict["valid"] is False, verdict
    return str(verdict["error"]["code"])


def scanned(page: Any) -> str:
    """The QR on the page as a camera reads it: a screenshot of it, decoded by zxing-cpp."""
    import zxingcpp

    image = Image.open(io.BytesIO(page.locator("#h-qr").screenshot()))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, f"{len(found)} QR codes in the screenshot"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def presented_at(page: Any) -> int:
    return int(page.locator("#h-qr").get_attribute("data-presented-at"))


def countdown(page: Any) -> int:
    return int(page.inner_text("#h-count"))


def sign_in(tab: Tab, resident: str, path: str = "/holder") -> Any:
    page = tab.open(path)
    page.wait_for_selector("#h-signin:not([hidden])")
    page.select_option("#h-resident", resident)
    page.fill("#h-password", "demo")
    page.click("#h-signin-submit")
    page.wait_for_selector("#h-qr[data-presented-at]")
    return page


def next_presentation(page: Any, clock: ShiftedClock, after: int) -> int:
    """Move the page's and the alliance's clocks on by 30 s; the page re-signs: its new time."""
    clock.advance(30)
    page.clock.fast_forward(30_000)
    page.wait_for_selector(f"#h-qr:not([data-presented-at='{after}'])")
    return presented_at(page)


def test_the_code_rotates_every_30_s_and_verifies_at_the_gateway(tabs: TabFactory, alliance: Alliance,
                                                                  gateway: httpx.Client, clock: ShiftedClock,
                                                                  screenshots: Path) -> None:
    tab = holder_tab(tabs, alliance, clock)
    page = tab.open("/holder")
    page.wait_for_selector("#h-signin:not([hidden])")
    assert "虚构" in page.inner_text("#h-demo-note")  # the demo residents are labelled fictional
    shoot(page, screenshots, "holder-signin")
    page.fill("#h-password", "wrong")
    page.click("#h-signin-submit")
    page.wait_for_selector("#h-signin-error[data-error=CC_UNAUTHENTICATED]:not([hidden])")
    page.select_option("#h-resident", "hangzhou-4")
    page.fill("#h-password", "demo")
    page.click("#h-signin-submit")
    page.wait_for_selector("#h-qr[data-presented-at]")
    assert page.locator("#h-device").get_attribute("data-algorithm") == "ed25519"  # Chromium has Ed25519
    assert "优秀" in page.inner_text("#h-tier") and "钱江分·优秀" in page.inner_text("#h-band")
    assert page.locator("#h-assumed").is_hidden()  # Hangzhou's bands are published, not assumed

    first_at = presented_at(page)
    first = scanned(page)
    assert first.startswith("CP1:")
    assert segno.make(first, error="m", micro=False).version <= 12
    valid = verify(gateway, first, "gate-1")
    assert (valid["valid"], valid["device_bound"], valid["tier"], valid["audience"]) == \
        (True, True, "EXCELLENT", "330100")
    assert refusal(verify(gateway, first, "gate-1")) == "CC_PRESENTATION_REPLAYED"  # a second scan, same venue

    before = countdown(page)
    clock.advance(3)
    page.clock.run_for(3_000)
    assert 0 < countdown(page) < before  # the countdown runs
    assert int(page.locator("#h-progress").get_attribute("value") or 0) == countdown(page)

    second_at = next_presentation(page, clock, first_at)
    assert second_at >= first_at + 30
    second = scanned(page)
    assert second != first
    assert verify(gateway, second, "gate-1")["valid"] is True
    assert countdown(page) > 25  # a new presentation starts a new 30 s

    clock.advance(30)  # 60 s and more after the first screenshot was made
    assert refusal(verify(gateway, first, "gate-2")) == "CC_PRESENTATION_STALE"
    page.clock.fast_forward(30_000)  # the page keeps time with the alliance
    page.wait_for_selector(f"#h-qr:not([data-presented-at='{second_at}'])")
    shoot(page, screenshots, "holder-code")

    # With the network cut the page goes on: the code and the device key are on the phone.
    tab.offline()
    page.wait_for_selector("#h-offline:not([hidden])")
    offline_at = next_presentation(page, clock, presented_at(page))
    offline = scanned(page)
    assert verify(gateway, offline, "gate-1")["valid"] is True
    again = next_presentation(page, clock, offline_at)
    assert again > offline_at and verify(gateway, scanned(page), "gate-1")["valid"] is True
    tab.offline(False)


def test_a_p256_device_key_is_non_extractable_and_presents_low_s(tabs: TabFactory, alliance: Alliance,
                                                                 gateway: httpx.Client, clock: ShiftedClock) -> None:
    tab = holder_tab(tabs, alliance, clock)
    page = sign_in(tab, "hangzhou-3", "/holder?key=p256")
    assert page.locator("#h-device").get_attribute("data-algorithm") == "p256"
    kept = page.evaluate("""async () => {
        const db = await new Promise((ok, no) => { const r = indexedDB.open("citycredit-holder", 1);
          r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        const key = await new Promise((ok, no) => { const r = db.transaction("kv").objectStore("kv")
          .get("device/330100/hangzhou-3"); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
        const exported = await crypto.subtle.exportKey("pkcs8", key.privateKey).then(() => "exported", (e) => e.name);
        return { algorithm: key.algorithm, extractable: key.privateKey.extractable,
                 curve: key.privateKey.algorithm.namedCurve, exported, publicLength: key.publicRaw.length };
    }""")
    assert kept == {"algorithm": "p256", "extractable": False, "curve": "P-256", "exported": "InvalidAccessError",
                    "publicLength": 33}
    # Several presentations: WebCrypto gives high S about half the time; the page must always send low S.
    at = presented_at(page)
    for round_ in range(4):
        text = scanned(page)
        assert segno.make(text, error="m", micro=False).version <= 12
        assert verify(gateway, text, f"p256-{round_}")["valid"] is True
        at = next_presentation(page, clock, at)


def test_the_city_chosen_gives_its_code_offers_and_reasons(tabs: TabFactory, alliance: Alliance,
                                                           gateway: httpx.Client, clock: ShiftedClock,
                                                           screenshots: Path) -> None:
    page = sign_in(holder_tab(tabs, alliance, clock), "hangzhou-5")
    assert page.locator("#h-audience").input_value() == "330100"  # home by default
    page.wait_for_selector("#h-qr[data-audience='330100']")
    page.select_option("#h-audience", "330800")
    page.wait_for_selector("#h-qr[data-audience='330800']")
    page.wait_for_selector("#h-offers[data-audience='330800'] #h-open li[data-offer='quzhou-hospital-deposit-waived']")
    presentation = scanned(page)
    claims = verify(gateway, presentation, "quzhou-gate")
    assert (claims["valid"], claims["audience"], claims["city"]) == (True, "330800", "330100")
    assert "衢州" in page.inner_text("#h-offers-title")
    assert "hangzhou-quzhou" in page.inner_text("#h-open li[data-offer='quzhou-hospital-deposit-waived']")
    closed = page.locator("#h-closed li[data-offer='quzhou-housing-fund-loan']")
    assert "OFFER_LOCAL_ONLY" in closed.inner_text() and "仅限本地居民" in closed.inner_text()

    # A redemption at a Quzhou till (of the presentation on the screen) shows in the holder's list.
    till = GatewayClient.rest(alliance.gateway.http_url, api_key=alliance.token(QUZHOU))
    assert till.redeem(scanned(page), QUOTA_OFFER, idempotency_key="holder-page-1").redeemed is True
    page.reload()
    page.wait_for_selector("#h-redemption-list li")
    assert page.locator("#h-audience").input_value() == "330800"  # the chosen city is remembered
    assert "衢州" in page.inner_text("#h-redemption-list")
    shoot(page, screenshots, "holder-quzhou")

    page.select_option("#h-audience", "330300")
    page.wait_for_selector("#h-qr[data-audience='330300']")
    page.wait_for_selector("#h-offers[data-audience='330300'] #h-closed li")  # Wenzhou's, not Quzhou's still
    reasons = set(page.locator("#h-closed li .why code").all_inner_texts())
    assert reasons == {"NO_AGREEMENT"} and page.locator("#h-open li").count() == 0


def test_an_assumed_threshold_is_labelled_in_either_language(tabs: TabFactory, alliance: Alliance,
                                                             clock: ShiftedClock, screenshots: Path) -> None:
    page = sign_in(holder_tab(tabs, alliance, clock, "quzhou"), "quzhou-3")
    page.wait_for_selector("#h-offers[data-audience='330800']")  # the offers load after the QR shows
    assert page.locator("#h-assumed").is_visible()
    assert "假设" in page.inner_text("#h-assumed")
    assert re.search(r"信安分", page.inner_text("#h-band"))
    page.click("[data-lang-switch]")  # one language at a time, chosen here and remembered
    page.wait_for_selector("html[data-lang=en]")
    assert "threshold assumed" in page.inner_text("#h-assumed")
    assert "Credit offers in Quzhou" in page.inner_text("#h-offers-title")
    shoot(page, screenshots, "holder-english")
    page.reload()
    page.wait_for_selector("html[data-lang=en] #h-qr[data-presented-at]")


def test_the_page_reopens_offline_and_goes_on_presenting(tabs: TabFactory, alliance: Alliance,
                                                          gateway: httpx.Client, clock: ShiftedClock) -> None:
    tab = holder_tab(tabs, alliance, clock)
    page = sign_in(tab, "hangzhou-2")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now the service worker controls the page and has kept it
    page.wait_for_selector("#h-qr[data-presented-at]")
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    tab.offline()
    page.reload()
    page.wait_for_selector("#h-qr[data-presented-at]")
    assert page.locator("#h-offline").is_visible()
    assert page.locator("#h-offers-stale").is_visible()  # the offers shown are the kept ones, and it says so
    assert verify(gateway, scanned(page), "reopened")["valid"] is True
    tab.offline(False)
