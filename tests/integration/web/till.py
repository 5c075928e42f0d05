"""Driving the merchant's till in a test: sign in, check a code typed or pictured, read the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.integration.web.conftest import Tab
from tests.integration.web.minting import screenshot_png
from tests.support.alliance import QUZHOU, Alliance

QUOTA_OFFER = "quzhou-parking-free-3"  # EXCELLENT and up, 3 free a month; redeemed online only
OFFLINE_OFFER = "quzhou-parking-discount-10"  # GOOD and up, 10% off; may be redeemed offline


def open_till(tab: Tab, alliance: Alliance) -> Any:
    """The till, signed in as the demo's Quzhou merchant, with the trust set held."""
    page = tab.open("/merchant")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#merchant-key", alliance.token(QUZHOU))
    page.click("#signin-button")
    page.wait_for_selector("#till:not([hidden])")
    page.wait_for_selector("#trust-summary [data-trust=ready]")
    return page


def scan_count(page: Any) -> int:
    return int(page.get_attribute("#result", "data-scan") or 0)


def check_typed(page: Any, text: str) -> Any:
    """Type (paste) a code and check it; the new result."""
    before = scan_count(page)
    if page.get_attribute("#manual", "open") is None:
        page.click("#manual summary")
    page.fill("#code", text)
    page.click("#check")
    page.wait_for_selector(f'#result[data-scan="{before + 1}"]')
    return page.locator("#result")


def check_picture(page: Any, text: str, folder: Path) -> Any:
    """Pick a phone screenshot of the code's QR through the file input; the new result."""
    before = scan_count(page)
    picture = screenshot_png(text, folder / f"qr-{before + 1}.png")
    page.set_input_files("#picture", str(picture))
    page.wait_for_selector(f'#result[data-scan="{before + 1}"]')
    return page.locator("#result")


def verdict(result: Any) -> tuple[str, str | None]:
    block = result.locator("[data-verdict]")
    return block.get_attribute("data-verdict"), block.get_attribute("data-error")


def decision(result: Any) -> tuple[str, str | None]:
    block = result.locator("#decision .decision")
    return block.get_attribute("data-eligible"), block.get_attribute("data-reason")


def synced(page: Any, status_version: int) -> None:
    """Sync now, and wait until the till holds Quzhou's status list of `status_version`."""
    page.click("#sync")
    page.wait_for_selector(f'#trust-status tr[data-city="{QUZHOU}"][data-status-version="{status_version}"]',
                           state="attached")


def merchant_api(alliance: Alliance) -> httpx.Client:
    return httpx.Client(base_url=alliance.gateway.http_url, timeout=30,
                        headers={"Authorization": f"Bearer {alliance.token(QUZHOU)}"})


def offline_ready(page: Any) -> None:
    """Wait until the service worker controls the page (from then on the till opens without the network)."""
    page.wait_for_function("navigator.serviceWorker.controller !== null")
