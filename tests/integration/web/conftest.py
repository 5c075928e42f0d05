"""A real gateway on loopback serving the web pages, and a real headless Chromium driving them.

Playwright's own browser download is not used: the tests start the system Chromium
(`/usr/bin/chromium`, or $CITYCREDIT_CHROMIUM). Without it they fail with a clear
message under CI=true and are skipped elsewhere. Screenshots land in
$CITYCREDIT_WEB_SCREENSHOTS when set, else in a temporary folder.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from citycredit.gateway import Gateway, GatewayConfig, gateway_in_thread

HANGZHOU, JIAXING, QUZHOU = 330100, 330400, 330800
CHROMIUM = os.environ.get("CITYCREDIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
_holders = itertools.count(1)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Chromium is required in CI and could not be started: {reason}", pytrace=False)
    pytest.skip(f"no usable Chromium: {reason}")


@pytest.fixture(scope="session")
def web_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = GatewayConfig(home=tmp_path_factory.mktemp("web-gateway") / "home", grpc_port=0, http_port=0,
                           rate_per_s=10_000.0, rate_burst=10_000, shutdown_grace_s=2.0)
    with gateway_in_thread(config) as gw:
        page = httpx.get(f"{gw.http_url}/merchant", timeout=10)
        assert page.status_code == 200, "the gateway does not serve citycredit.gateway.web (GET /merchant)"
        yield gw


@pytest.fixture(scope="session")
def api(web_gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_gateway.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One persistent Chromium context with a fresh profile for the whole session."""
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} does not exist (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is missing ({exc})")
    manager = sync_playwright().start()
    try:
        context = manager.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    except Exception as exc:
        manager.stop()
        _unavailable(f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}")
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()
        manager.stop()


@dataclass
class Tab:
    """A page of the browser that records what must never happen: script errors and dialogs."""

    page: Any
    base_url: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page


@pytest.fixture
def tab(chromium: Any, web_gateway: Gateway) -> Iterator[Tab]:
    page = chromium.new_page()
    opened = Tab(page=page, base_url=web_gateway.http_url)
    page.on("pageerror", lambda exc: opened.errors.append(str(exc)))

    def console(msg: Any) -> None:
        # A refused request logs "Failed to load resource"; the page shows those itself.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            opened.errors.append(msg.text)

    page.on("console", console)

    def dismiss(dialog: Any) -> None:
        opened.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    try:
        yield opened
    finally:
        page.close()
    assert opened.dialogs == [], f"a dialog opened: {opened.dialogs}"
    assert opened.errors == [], f"the page logged errors: {opened.errors}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("CITYCREDIT_WEB_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(api: httpx.Client, gw: Gateway, city: int, record: dict[str, Any], ttl_s: int = 600) -> str:
    """A fresh code of a new holder, through the gateway's issuance API."""
    body = {"holder_ref": f"web-holder-{next(_holders)}", "local_record": record, "ttl_s": ttl_s}
    response = api.post(f"/v1/cities/{city}/codes", json=body, headers=bearer(gw.token(city, "city_office")))
    assert response.status_code == 200, response.text
    return str(response.json()["code"])
