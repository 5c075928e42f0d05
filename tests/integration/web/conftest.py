"""The pages in a real Chromium against a real demo alliance (the gateway and two cities' issuers).

    web_alliance      the demo alliance running on loopback for the session (hangzhou and quzhou issuers)
    browser           the system Chromium (/usr/bin/chromium or $CITYCREDIT_CHROMIUM), headless
    tabs(base_url)    a new page in a fresh browser context (its own storage, service workers, offline switch)
    tab               tabs(the gateway) for the common case
    minter            real codes: bare, device-bound, presentations, revocations (see minting.py)
    screenshots       where screenshots go: $CITYCREDIT_WEB_SCREENSHOTS, else .artifacts/screenshots/

Every page opened through `tabs` records script errors, console errors and dialogs, and the test fails
if any happened. The pages' scripts are built (gateway/web/build.mjs) once per session before anything
is served. Playwright's own browser download is never used. Without Chromium, Node or Playwright these
tests fail with a clear message under CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from tests.integration.web.minting import Minter
from tests.support.alliance import Alliance, demo_copy, running_alliance

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CITYCREDIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 20_000


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def web_build() -> Path:
    """gateway/web/dist, built from the sources as they are (once per session; xdist workers take turns)."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / ".bin" / "esbuild").exists():
        unavailable("Node and the npm packages are needed to build the pages (./dev setup installs them)")
    lock = ROOT / "node_modules" / ".citycredit-web-build.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = subprocess.run([str(node), "gateway/web/build.mjs"], cwd=ROOT, capture_output=True, text=True,
                              check=False)
    assert done.returncode == 0, f"gateway/web/build.mjs failed:\n{done.stdout}\n{done.stderr}"
    return ROOT / "gateway" / "web" / "dist"


@pytest.fixture(scope="session")
def web_alliance(tmp_path_factory: pytest.TempPathFactory, web_build: Path) -> Iterator[Alliance]:
    home = demo_copy(tmp_path_factory.mktemp("web-alliance"))
    with running_alliance(home, issuers=("hangzhou", "quzhou")) as alliance:
        yield alliance


@pytest.fixture(scope="session")
def minter(web_alliance: Alliance) -> Iterator[Minter]:
    with Minter.of(web_alliance) as m:
        yield m


def launch_chromium(playwright: Any, extra_args: list[str] | None = None) -> Any:
    """The system Chromium, headless, with `extra_args` (a fake camera, for one)."""
    if not Path(CHROMIUM).is_file():
        unavailable(f"{CHROMIUM} does not exist (Debian: apt-get install chromium)")
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS + (extra_args or []))
    except Exception as exc:
        unavailable(f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}")


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"the playwright package is missing ({exc})")
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture(scope="session")
def browser(playwright_session: Any) -> Iterator[Any]:
    launched = launch_chromium(playwright_session)
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class Tab:
    """One page in its own browser context, with what must never happen recorded."""

    page: Any
    context: Any
    base_url: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    # Requests to anything but this machine: a page must never make one (no CDN, no fonts, no trackers).
    foreign: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == 200, f"GET {path}: {response and response.status}"
        return self.page

    def offline(self, offline: bool = True) -> None:
        self.context.set_offline(offline)

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))

        def console(msg: Any) -> None:
            # A refused or missing request logs "Failed to load resource"; the pages show those themselves.
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                self.errors.append(f"{page.url}: {msg.text}")

        page.on("console", console)

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)


TabFactory = Callable[..., Tab]


@contextlib.contextmanager
def open_tabs(browser: Any) -> Iterator[TabFactory]:
    opened: list[Tab] = []

    def make(base_url: str, *, viewport: dict[str, int] | None = None, **options: Any) -> Tab:
        context = browser.new_context(viewport=viewport or PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      **options)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        tab = Tab(page=page, context=context, base_url=base_url.rstrip("/"))
        tab.watch(page)
        context.on("request", lambda request: None if is_loopback(request.url) else tab.foreign.append(request.url))
        opened.append(tab)
        return tab

    try:
        yield make
    finally:
        for tab in opened:
            tab.context.close()
    for tab in opened:
        assert tab.dialogs == [], f"a dialog opened: {tab.dialogs}"
        assert tab.errors == [], f"the page logged errors: {tab.errors}"
        assert tab.foreign == [], f"the page asked another host: {tab.foreign}"


def is_loopback(url: str) -> bool:
    """Whether a URL stays on this machine (or inside the browser: data:, blob:, about:)."""
    parsed = urlsplit(url)
    if parsed.scheme in ("data", "blob", "about", "chrome-error", "chrome"):
        return True
    host = parsed.hostname or ""
    return host == "localhost" or host == "::1" or host.startswith("127.")


@pytest.fixture
def tabs(browser: Any) -> Iterator[TabFactory]:
    with open_tabs(browser) as make:
        yield make


@pytest.fixture
def tab(tabs: TabFactory, web_alliance: Alliance) -> Tab:
    return tabs(web_alliance.gateway.http_url)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = os.environ.get("CITYCREDIT_WEB_SCREENSHOTS")
    path = Path(folder) if folder else ROOT / ".artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page: Any, folder: Path, name: str, *, fits: bool = True) -> list[Path]:
    """Screenshots of the page at phone and desktop size, whole pages; the viewport is put back after.

    With `fits`, nothing may stick out sideways (a page that scrolls horizontally on a phone is broken).
    """
    before = page.viewport_size
    taken = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.evaluate("document.fonts.ready")
        if fits:
            wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)""")
            assert wide == [], f"{name} at {label} size: these stick out sideways: {wide}"
        path = folder / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    if before:
        page.set_viewport_size(before)
    return taken
