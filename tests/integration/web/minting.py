"""Real codes for the browser tests, made by the cities' running issuers, and pictures of them.

    with Minter.of(alliance) as minter:
        code = minter.bare("quzhou", score=880)                  # CC1: (no device key), office issuance API
        bound = minter.bound("hangzhou", score=760, audience="quzhou")
        presentation = bound.present()                           # CP1: signed by the device key, now
        minter.set_status("quzhou", code, "revoked")             # uploads the new status list to the gateway
    qr_png(code, path)  /  screenshot_png(code, path)  /  qr_video_y4m(code, path)
"""

from __future__ import annotations

import base64
import io
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import segno
from citycredit.core import Algorithm, SigningKey, device_key, encode_presentation
from PIL import Image, ImageDraw

from tests.support.alliance import Alliance

__all__ = ["BoundCode", "Minter", "qr_image", "qr_video_y4m", "screenshot_png"]

_holders = itertools.count(1)
CITIES = {"hangzhou": 330100, "quzhou": 330800}


@dataclass
class BoundCode:
    """A device-bound code and the device key that presents it."""

    code: str
    device: SigningKey
    last_s: int = -1

    def present(self, at_s: int | None = None) -> str:
        """A presentation made at `at_s`, or now. Like the holder's device, two made "now" are never made in the
        same second: they would be the same bytes, and the till rightly refuses the second as a replay."""
        if at_s is None:
            while (at_s := int(time.time())) <= self.last_s:
                time.sleep(max(0.0, at_s + 1 - time.time()))
            self.last_s = at_s
        return encode_presentation(self.code, self.device, presented_at_s=at_s)


@dataclass
class Minter:
    alliance: Alliance
    http: httpx.Client

    @classmethod
    @contextmanager
    def of(cls, alliance: Alliance) -> Iterator[Minter]:
        with httpx.Client(timeout=30) as http:
            yield cls(alliance=alliance, http=http)

    def _office(self, city: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.alliance.token(CITIES[city], 'city_office')}"}

    def _issue(self, city: str, body: dict[str, Any]) -> str:
        body = {"holder_ref": f"web-holder-{next(_holders)}", **body}
        response = self.http.post(f"{self.alliance.issuer_url(city)}/v1/codes", json=body, headers=self._office(city))
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    def bare(self, city: str, *, score: int, audience: str | None = None, ttl_s: int = 900) -> str:
        """A code with no device key (a printed or long-lived kind), for `audience` (default: home)."""
        return self._issue(city, {"local_record": {"score": score}, "ttl_s": ttl_s,
                                  **({"audience": audience} if audience else {})})

    def bound(self, city: str, *, score: int, audience: str | None = None, ttl_s: int = 900) -> BoundCode:
        """A device-bound code (P-256 device key), shown only as CP1 presentations."""
        device = SigningKey.generate(Algorithm.P256)
        raw = base64.b64encode(device_key(device).public_key).decode()
        code = self._issue(city, {"local_record": {"score": score}, "ttl_s": ttl_s, "device_key": raw,
                                  "device_algorithm": "p256", **({"audience": audience} if audience else {})})
        return BoundCode(code=code, device=device)

    def set_status(self, city: str, code: str, status: str) -> None:
        """Revoke, suspend or reinstate a code at its city's issuer (which publishes the new status list)."""
        response = self.http.post(f"{self.alliance.issuer_url(city)}/v1/office/status",
                                  json={"code": code, "status": status}, headers=self._office(city))
        assert response.status_code == 200, response.text

    def status_version(self, city: str) -> int:
        """The version of the city's status list the gateway serves now."""
        response = self.http.get(f"{self.alliance.gateway.http_url}/v1/cities/{CITIES[city]}/status-list")
        return int(response.headers["X-Status-List-Version"])


def qr_image(text: str, *, scale: int = 6) -> Image.Image:
    """The QR of `text` (error correction M, alphanumeric for a credit code), black on white with a margin."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def screenshot_png(text: str, path: Path) -> Path:
    """A phone screenshot (390×844 at 2×) showing the QR of `text` under a title bar, as a PNG."""
    canvas = Image.new("RGB", (780, 1688), (243, 245, 248))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, 0, 780, 140], fill=(11, 79, 138))
    qr = qr_image(text, scale=8)
    qr.thumbnail((660, 660))
    canvas.paste(qr, ((780 - qr.width) // 2, 360))
    canvas.save(path, format="PNG")
    return path


def qr_video_y4m(text: str, path: Path, *, frames: int = 8, width: int = 640, height: int = 480) -> Path:
    """A Y4M video (what Chromium's fake camera plays, in a loop) of the QR of `text` held still."""
    frame = Image.new("RGB", (width, height), (255, 255, 255))
    qr = qr_image(text, scale=4)
    qr.thumbnail((height - 40, height - 40))
    frame.paste(qr, ((width - qr.width) // 2, (height - qr.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    chroma = [plane.resize(half, Image.Resampling.BOX).tobytes() for plane in (cb, cr)]
    planes = y.tobytes() + b"".join(chroma)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path
