"""What the issuer's API tests and the issuer's page tests share: a clock the test moves, sign-in, devices.

The gateway and the issuers of one test alliance read the same `ShiftedClock`: real time plus an
offset the test advances, so "60 s later" needs no sleeping and moves every party at once.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from citycredit.core import Algorithm, SigningKey, device_key, encode_presentation

__all__ = ["ShiftedClock", "bearer", "new_device", "poll", "present", "problem", "register_device", "sign_in"]


class ShiftedClock:
    """Real time plus `offset_s`, which only grows (`advance`)."""

    def __init__(self) -> None:
        self.offset_s = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset_s += seconds

    def now_s(self) -> int:
        return int(self())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(issuer: httpx.Client, resident: str, password: str = "demo") -> dict[str, str]:
    """A demo resident's session, as Authorization headers."""
    answer = issuer.post("/v1/holder/session", json={"resident": resident, "password": password})
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["token"])


def new_device(algorithm: Algorithm) -> SigningKey:
    return SigningKey.generate(algorithm)


def register_device(issuer: httpx.Client, session: dict[str, str], key: SigningKey) -> dict[str, Any]:
    """Register `key` as the holder's phone (raw public key in base64, as the page sends it)."""
    raw = device_key(key).public_key
    answer = issuer.put("/v1/holder/device", headers=session,
                        json={"algorithm": key.algorithm.slug, "public_key": base64.b64encode(raw).decode()})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def present(code: str, key: SigningKey, at_s: int) -> str:
    return encode_presentation(code, key, presented_at_s=at_s)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 body of a refusal, after checking its status, media type and catalogue code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = dict(response.json())
    assert body["code"] == code, body
    assert body["detail"], body
    return body


def poll(check: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "the condition") -> None:
    """Wait until `check()` holds (the gateway serves a new upload after its next refresh)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.2)
