"""What the targets judge inputs against: a real demo alliance, opened the way a verifier and its cities would.

The trust set comes from the demo's published repository (`D/repository`, as a merchant's
verifier reads it), at one fixed moment (`now_s`, from `clock.json` in the work folder),
so that a target's verdict on an input never depends on when it ran. The cities' own keys
(code, status, authority) and the gateway's snapshot and timestamp keys are opened from
their stores, so that a target can re-sign what the fuzzer changed and reach the checks
that come after a signature.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from citycredit._demo import GOVERNANCE_KEY, DemoHome
from citycredit._trustdir import read_status_lists, read_trust_dir
from citycredit.city import AUTHORITY_KEY, CityOffice
from citycredit.core import (
    Algorithm,
    Signer,
    SigningKey,
    StatusList,
    TrustAnchor,
    TrustFiles,
    TrustSnapshot,
    open_status_update,
    open_trust,
)

__all__ = ["CITIES", "DEVICE_FILE", "CodeSigner", "Context"]

# The cities whose keys the targets hold: a home city, a host city with the quota offer, a third.
CITIES = {"hangzhou": 330100, "quzhou": 330800, "wenzhou": 330300}
DEVICE_FILE = "device.pem"
CLOCK_FILE = "clock.json"


@dataclass(frozen=True)
class CodeSigner:
    city: int
    algorithm: Algorithm
    kid: bytes
    signer: Signer


@dataclass
class Context:
    """The demo alliance in `home`, judged at `now_s`."""

    home: Path
    now_s: int
    anchor: TrustAnchor
    files: TrustFiles
    snapshot: TrustSnapshot
    status_updates: dict[int, bytes]
    status_lists: dict[int, StatusList]
    device: SigningKey
    code_signers: list[CodeSigner] = field(default_factory=list)
    status_signers: dict[int, Signer] = field(default_factory=dict)
    authority_signers: dict[int, Signer] = field(default_factory=dict)
    gateway_signers: tuple[Signer, Signer] | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @classmethod
    def load(cls, workdir: Path, *, home: Path | None = None, keys: bool = True) -> Context:
        """The context of a work folder made by `_seeds.prepare` (its `demo/`, clock and device key)."""
        home = home or workdir / "demo"
        now_s = int(json.loads((workdir / CLOCK_FILE).read_text())["now_s"])
        demo = DemoHome(home)
        anchor = demo.anchor()
        files = read_trust_dir(demo.repository_dir, trusted_root=anchor.data)
        snapshot = open_trust(files, now_s=now_s, grace_s=0, anchor=anchor)
        updates = read_status_lists(demo.repository_dir)
        lists = {}
        for city, update in updates.items():
            lists[city] = open_status_update(update, city=city, status_keys=snapshot.cities[city].status_keys,
                                             previous=None, now_s=now_s, grace_s=0)
        snapshot = _with_lists(snapshot, lists)
        device = SigningKey.from_pem((workdir / DEVICE_FILE).read_bytes(), Algorithm.P256)
        context = cls(home=home, now_s=now_s, anchor=anchor, files=files, snapshot=snapshot, status_updates=updates,
                      status_lists=lists, device=device)
        if keys:
            context._open_keys(demo)
        return context

    def _open_keys(self, demo: DemoHome) -> None:
        for slug, city in CITIES.items():
            office: CityOffice = self._stack.enter_context(demo.city(slug))
            for entry in office.code_keys:
                if entry.status == "active":
                    self.code_signers.append(CodeSigner(city, entry.algorithm, entry.kid,
                                                        office.keystore.signer(entry.name)))
            self.status_signers[city] = office.status_signer()
            self.authority_signers[city] = office.keystore.signer(AUTHORITY_KEY)
        keys = self._stack.enter_context(demo.gateway_keys())
        self.gateway_signers = (keys.signer("snapshot"), keys.signer("timestamp"))
        self._demo = demo

    def governance_signers(self, count: int = 2) -> list[Signer]:
        """The first `count` governance members' keys (the demo's threshold is 2 of 3)."""
        signers = []
        for folder in DemoHome(self.home).member_dirs()[:count]:
            store = self._stack.enter_context(contextlib.closing(DemoHome(self.home).store(
                folder.relative_to(self.home) / "keys")))
            signers.append(store.signer(GOVERNANCE_KEY))
        return signers

    def code_signer(self, city: int, selector: int = 0) -> CodeSigner:
        """A code key of `city` when the context holds one (else of the first city), picked by `selector`."""
        mine = [s for s in self.code_signers if s.city == city] or self.code_signers
        return mine[selector % len(mine)]

    def close(self) -> None:
        self._stack.close()


def _with_lists(snapshot: TrustSnapshot, lists: dict[int, StatusList]) -> TrustSnapshot:
    for status in lists.values():
        snapshot = snapshot.with_status_list(status)
    return snapshot
