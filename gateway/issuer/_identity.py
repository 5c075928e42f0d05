"""Who a holder is: the city's identity hook, and the sessions of signed-in holders.

An `IdentityProvider` turns what a holder submitted at sign-in into a `Resident`: the
identity as the city knows it (`ref`, never leaving the issuer), a display name and the
local credit record the city's scheme rates. A real city plugs in its own (its OIDC
provider, its app's login); the demo ships `DemoResidents`, fictional people from the
home's `residents.json`, labelled as such everywhere they appear.

Sessions are random 256-bit tokens kept in memory (the SHA-256 only), each for one
resident and `ttl_s` seconds: restarting the issuer signs everyone out, which is all a
demo needs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from citycredit.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError, UnavailableError

__all__ = ["DemoResidents", "IdentityProvider", "NoIdentityProvider", "Resident", "Sessions"]

_RESIDENTS_FORMAT = "citycredit-demo-residents/1"
_MAX_SESSIONS = 100_000


@dataclass(frozen=True)
class Resident:
    id: str
    ref: str
    name_zh: str
    name_en: str
    record: Mapping[str, object]
    fictional: bool = False


class IdentityProvider(Protocol):
    """The city's identity hook."""

    def describe(self) -> dict[str, Any]:
        """What the sign-in page shows (the demo lists its fictional residents)."""
        ...

    def sign_in(self, form: Mapping[str, object]) -> Resident:
        """The resident the submitted form proves; UnauthenticatedError otherwise."""
        ...

    def resident(self, resident_id: str) -> Resident:
        ...


class DemoResidents:
    """DEMO ONLY: fictional residents from residents.json, signed in with the demo password."""

    def __init__(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotFoundError(f"no demo residents at {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != _RESIDENTS_FORMAT:
            raise InvalidArgumentError(f"{path} is not a {_RESIDENTS_FORMAT} file")
        self._password = str(doc["password"])
        self._residents = {r["id"]: Resident(id=r["id"], ref=r["ref"], name_zh=r["name_zh"], name_en=r["name_en"],
                                             record=r["record"], fictional=True) for r in doc["residents"]}

    def describe(self) -> dict[str, Any]:
        return {"provider": "demo", "fictional": True, "password_hint": self._password,
                "note_zh": "演示：以下均为虚构居民", "note_en": "Demonstration: these residents are fictional",
                "residents": [{"id": r.id, "name_zh": r.name_zh, "name_en": r.name_en}
                              for r in self._residents.values()]}

    def sign_in(self, form: Mapping[str, object]) -> Resident:
        unknown = sorted(set(form) - {"resident", "password"})
        if unknown:
            raise InvalidArgumentError(f"the demo sign-in takes resident and password only, not {', '.join(unknown)}")
        resident_id, password = form.get("resident"), form.get("password")
        found = self._residents.get(resident_id) if isinstance(resident_id, str) else None
        if found is None or not isinstance(password, str) or not hmac.compare_digest(
                password.encode("utf-8", "surrogatepass"), self._password.encode("utf-8", "surrogatepass")):
            raise UnauthenticatedError("unknown resident or wrong password")
        return found

    def resident(self, resident_id: str) -> Resident:
        found = self._residents.get(resident_id)
        if found is None:
            raise UnauthenticatedError("this session's resident is gone")
        return found


class NoIdentityProvider:
    """An issuer whose city has plugged in no sign-in yet: the holder API says so, nobody signs in."""

    def describe(self) -> dict[str, Any]:
        return {"provider": "none", "fictional": False, "residents": [],
                "note_zh": "本市尚未接入居民登录，请向本市信用办咨询",
                "note_en": "This city has not connected resident sign-in yet; ask its credit office"}

    def sign_in(self, form: Mapping[str, object]) -> Resident:
        raise UnavailableError("this issuer has no identity provider: resident sign-in is not set up")

    def resident(self, resident_id: str) -> Resident:
        raise UnauthenticatedError("this issuer has no identity provider")


class Sessions:
    """Signed-in holders by session token (kept hashed, in memory)."""

    def __init__(self, *, ttl_s: int, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def open(self, resident_id: str) -> tuple[str, int]:
        """A new session: (token, expiry in seconds)."""
        token = "cch_" + secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._sessions) >= _MAX_SESSIONS:
                self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            self._sessions[_digest(token)] = (resident_id, now + self.ttl_s)
        return token, int(now + self.ttl_s)

    def resident_id(self, token: str) -> str:
        with self._lock:
            found = self._sessions.get(_digest(token))
        if found is None or found[1] <= self._clock():
            raise UnauthenticatedError("sign in again: the session is unknown or over")
        return found[0]

    def close(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(token), None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
