"""The demo alliance for tests: one `citycredit demo init` per session, a fresh copy per test that changes it.

    home = demo_copy(tmp_path)                           # every party's store, the signed trust set
    with running_alliance(home, issuers=("hangzhou", "quzhou")) as alliance:
        alliance.gateway.http_url, alliance.issuer_url("quzhou")
        alliance.token(330100, "merchant"), alliance.token(330100, "city_office")

Each party runs as it does in production (its own key store, its own passphrase), the
gateway and issuers in threads of the test process on ephemeral loopback ports. The
passphrases come from the demo's passphrases.json, the way `citycredit up` hands them out.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citycredit._demo import init_demo

__all__ = [
    "HANGZHOU",
    "QUOTA_OFFER",
    "QUZHOU",
    "WENZHOU",
    "Alliance",
    "demo_copy",
    "demo_template",
    "gateway_config",
    "issuer_config",
    "passphrase",
    "running_alliance",
    "tokens",
]

HANGZHOU, NINGBO, WENZHOU, QUZHOU = 330100, 330200, 330300, 330800
# EXCELLENT and up, 3 uses a month; Hangzhou residents get it through the Hangzhou–Quzhou agreement.
QUOTA_OFFER = "quzhou-parking-free-3"
_TEMPLATE: Path | None = None


def demo_template() -> Path:
    """The session's demo alliance, created once (about 8 s: every party's keys); never change it in place."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Path(tempfile.mkdtemp(prefix="citycredit-demo-")) / "demo"
        init_demo(_TEMPLATE, now_s=int(time.time()))
    return _TEMPLATE


def demo_copy(directory: Path) -> Path:
    """A private copy of the session's demo alliance in `directory`/demo (stores keep their 0600 modes)."""
    target = directory / "demo"
    shutil.copytree(demo_template(), target)
    return target


def passphrase(home: Path, store: str) -> str:
    """A store's passphrase from the demo's passphrases.json ("gateway/keys", "cities/hangzhou/keys" …)."""
    return str(json.loads((home / "passphrases.json").read_text())[store])


def tokens(home: Path) -> dict[str, Any]:
    """The demo's credentials.json: per city, the city office's and one merchant's token."""
    return dict(json.loads((home / "credentials.json").read_text(encoding="utf-8")))


def gateway_config(home: Path, **overrides: Any) -> Any:
    """A gateway of the demo on ephemeral ports with test-friendly timers and generous rate limits."""
    from citycredit.gateway import GatewayConfig

    values: dict[str, Any] = {"home": home / "gateway", "grpc_port": 0, "http_port": 0, "workers": 1,
                              "keystore_passphrase": passphrase(home, "gateway/keys"), "rate_per_s": 10_000.0,
                              "rate_burst": 10_000, "client_rate_per_s": 100_000.0, "client_rate_burst": 100_000,
                              "rate_refusal_delay_s": 0.05,
                              "shutdown_grace_s": 2.0, "refresh_interval_s": 0.5, "log_interval_s": 0.2}
    values.update(overrides)
    return GatewayConfig(**values)


def issuer_config(home: Path, city: str, gateway_url: str | None, **overrides: Any) -> Any:
    """A city's issuer of the demo on an ephemeral port, following and uploading to `gateway_url`."""
    from citycredit.gateway.issuer import IssuerConfig

    values: dict[str, Any] = {"home": home, "city": city, "gateway": gateway_url, "http_port": 0,
                              "keystore_passphrase": passphrase(home, f"cities/{city}/keys"),
                              "refresh_interval_s": 1.0, "witness_interval_s": 0.5, "rate_per_s": 10_000.0,
                              "rate_burst": 10_000}
    values.update(overrides)
    return IssuerConfig(**values)


@dataclass
class Alliance:
    """A running demo alliance: the gateway and some cities' issuers."""

    home: Path
    gateway: Any
    issuers: dict[str, Any] = field(default_factory=dict)

    def token(self, city: int, kind: str = "merchant") -> str:
        """A demo token: `kind` is "merchant" or "city_office"."""
        return str(tokens(self.home)["cities"][f"{city:06d}"][kind]["token"])

    def issuer_url(self, slug: str) -> str:
        return str(self.issuers[slug].url)


@contextlib.contextmanager
def running_alliance(home: Path, *, issuers: Sequence[str] = (), clock: Callable[[], float] | None = None,
                     **gateway_overrides: Any) -> Iterator[Alliance]:
    """The demo's gateway (and the named cities' issuers) serving on loopback until the block ends."""
    from citycredit.gateway import gateway_in_thread
    from citycredit.gateway.issuer import issuer_in_thread

    extra = {"clock": clock} if clock is not None else {}
    with gateway_in_thread(gateway_config(home, **extra, **gateway_overrides)) as gateway, \
            contextlib.ExitStack() as stack:
        alliance = Alliance(home=home, gateway=gateway)
        for slug in issuers:
            alliance.issuers[slug] = stack.enter_context(issuer_in_thread(issuer_config(home, slug, gateway.http_url,
                                                                                        **extra)))
        yield alliance
