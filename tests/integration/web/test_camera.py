"""The till's camera path: Chromium's fake camera plays a video of a real code's QR, the page reads it
(zxing-wasm behind the BarcodeDetector polyfill) and shows VALID and the decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.web.conftest import launch_chromium, open_tabs, shoot
from tests.integration.web.minting import Minter, qr_video_y4m
from tests.integration.web.till import OFFLINE_OFFER, decision, open_till, verdict
from tests.support.alliance import Alliance

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_camera_reads_a_code_and_the_till_decides(playwright_session: Any, web_alliance: Alliance,
                                                      minter: Minter, tmp_path: Path, screenshots: Path) -> None:
    code = minter.bare("quzhou", score=880)  # EXCELLENT: a Quzhou resident's printed code
    video = qr_video_y4m(code, tmp_path / "qr.y4m")
    camera = launch_chromium(playwright_session, ["--use-fake-device-for-media-stream",
                                                  "--use-fake-ui-for-media-stream",
                                                  f"--use-file-for-fake-video-capture={video}"])
    try:
        with open_tabs(camera) as tabs:
            tab = tabs(web_alliance.gateway.http_url, permissions=["camera"])
            page = open_till(tab, web_alliance)
            page.select_option("#offer", OFFLINE_OFFER)
            page.click("#scan")
            page.wait_for_selector('#result[data-scan="1"]')
            result = page.locator("#result")
            assert verdict(result) == ("valid", None)
            assert decision(result) == ("true", None)
            assert "衢州" in result.inner_text()
            assert page.locator("#scanner").is_hidden(), "the camera stops once a code is read"
            assert page.evaluate("document.getElementById('scan-video').srcObject") is None
            shoot(page, screenshots, "merchant-camera")
    finally:
        camera.close()
