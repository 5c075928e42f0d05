"""Fixtures for the key stores: a fast-to-type passphrase, and a real SoftHSM2 token.

SoftHSM reads `SOFTHSM2_CONF` once, when python-pkcs11 first loads it in a process, so the token
directory is one per test session. Without SoftHSM the PKCS#11 tests skip, and fail under `CI=true`:
CI must never pass because a real part was quietly missing (`./dev test` installs `softhsm2`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from citycredit.keystore import Pkcs11Store

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "citycredit-test"
PIN = "1234"
SO_PIN = "5678"


@dataclass(frozen=True)
class Token:
    library: str
    label: str
    pin: str

    def open(self) -> Pkcs11Store:
        return Pkcs11Store.open(self.library, self.label, self.pin)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"SoftHSM2 is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no SoftHSM2: {reason}")


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """A freshly initialised SoftHSM2 token, its files in a temporary directory."""
    util = shutil.which("softhsm2-util")
    if util is None:
        _unavailable("softhsm2-util is not on PATH (Debian package softhsm2)")
    if not Path(SOFTHSM_LIBRARY).is_file():
        _unavailable(f"{SOFTHSM_LIBRARY} is missing (Debian package softhsm2)")
    if importlib.util.find_spec("pkcs11") is None:
        _unavailable("python-pkcs11 is not installed (the hsm extra)")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run([str(util), "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", PIN,
                        "--so-pin", SO_PIN], check=True, capture_output=True, timeout=60)
        yield Token(SOFTHSM_LIBRARY, TOKEN_LABEL, PIN)


@pytest.fixture
def hsm_store(softhsm_token: Token) -> Iterator[Pkcs11Store]:
    with softhsm_token.open() as store:
        assert isinstance(store, Pkcs11Store)
        yield store
