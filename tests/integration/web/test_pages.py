"""The gateway's landing page, its list of the cities' offices and the API reference, in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.web.conftest import Tab, is_loopback, shoot
from tests.support.alliance import Alliance

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_landing_page_shows_the_alliance(tab: Tab, web_alliance: Alliance, screenshots: Path) -> None:
    page = tab.open("/")
    page.wait_for_selector("body[data-ready=true]")
    members = len(httpx.get(f"{web_alliance.gateway.http_url}/v1/alliance", timeout=30).json()["cities"])
    summary = page.locator("#alliance dl.facts")
    assert summary.get_attribute("data-members") == str(members)
    assert "衢州" in summary.inner_text() and "杭州" in summary.inner_text()
    for href in ("/merchant", "/office", "/docs"):
        assert page.locator(f'main a[href="{href}"]').count() == 1, href
    shoot(page, screenshots, "landing-zh")
    page.click("[data-lang-switch]")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1 [lang=en]").is_visible() and not page.locator("h1 [lang=zh-CN]").is_visible()
    assert "Quzhou" in summary.inner_text()
    shoot(page, screenshots, "landing-en")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("document.documentElement.lang") == "en", "the language choice is kept"


def test_office_list_links_each_city_to_its_own_issuer(tab: Tab, web_alliance: Alliance, screenshots: Path) -> None:
    cities = httpx.get(f"{web_alliance.gateway.http_url}/v1/alliance", timeout=30).json()["cities"]
    page = tab.open("/office")
    page.wait_for_selector("body[data-ready=true]")
    cards = page.locator("#members > li")
    assert cards.count() == len(cities)
    for city in cities:
        card = page.locator(f'#members > li[data-city="{city["city"]}"]')
        assert city["name_zh"] in card.inner_text()
        office = card.locator("a[data-link=office]").get_attribute("href")
        holder = card.locator("a[data-link=holder]").get_attribute("href")
        assert office == city["issuer_url"].rstrip("/") + "/office"
        assert holder == city["issuer_url"].rstrip("/") + "/holder"
    agreements = page.locator("#agreements [data-agreement]")
    assert agreements.count() >= 1
    shoot(page, screenshots, "offices-zh")


def test_docs_render_with_every_other_host_blocked(tab: Tab, screenshots: Path) -> None:
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    tab.context.route("**/*", only_loopback)
    page = tab.open("/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "citycredit gateway" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock-tag-section")
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert any(re.match(r"\s*redemption", t) for t in tags), tags
    shoot(page, screenshots, "docs", fits=False)  # Swagger UI lays itself out
    assert blocked == [], f"/docs asked other hosts: {blocked}"
