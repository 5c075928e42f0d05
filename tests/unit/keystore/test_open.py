"""open_store and passphrase_from_env: URIs to stores, passphrases and PINs from the environment."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from citycredit.core import Algorithm
from citycredit.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError
from citycredit.keystore import EncryptedFileStore, Pkcs11Store, open_store, passphrase_from_env

from tests.unit.keystore.conftest import Token

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may wait on a prompt, and none inherits the developer's variables."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.delenv("CITYCREDIT_KEYSTORE_PASSPHRASE", raising=False)
    monkeypatch.delenv("CITYCREDIT_PKCS11_PIN", raising=False)


@pytest.fixture
def file_store(tmp_path: Path) -> EncryptedFileStore:
    store = EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
    store.create_key("k", Algorithm.ED25519)
    return store


@pytest.mark.parametrize("form", ["file:{}", "file://{}", "file://localhost{}", "{}"])
def test_file_uris_and_bare_paths_open_the_file_store(file_store: EncryptedFileStore, form: str) -> None:
    with open_store(form.format(file_store.path), passphrase=PASSPHRASE) as store:
        assert isinstance(store, EncryptedFileStore)
        assert store.signer("k").spki == file_store.signer("k").spki


def test_the_passphrase_comes_from_the_environment(file_store: EncryptedFileStore,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnauthenticatedError, match="CITYCREDIT_KEYSTORE_PASSPHRASE is not set"):
        open_store(f"file:{file_store.path}")
    monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", PASSPHRASE)
    assert open_store(f"file:{file_store.path}").names() == ["k"]
    monkeypatch.setenv("CITYCREDIT_KEYSTORE_PASSPHRASE", "wrong")
    with pytest.raises(UnauthenticatedError, match="wrong passphrase"):
        open_store(f"file:{file_store.path}")


def test_a_pkcs11_uri_opens_the_token(softhsm_token: Token, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"pkcs11:{softhsm_token.library}?token={softhsm_token.label}"
    with open_store(uri, pin=softhsm_token.pin) as store:
        assert isinstance(store, Pkcs11Store)
        signer = store.create_key("open-store", Algorithm.P256)
    with pytest.raises(UnauthenticatedError, match="CITYCREDIT_PKCS11_PIN is not set"):
        open_store(uri)
    monkeypatch.setenv("CITYCREDIT_PKCS11_PIN", softhsm_token.pin)
    with open_store(uri) as store:
        assert store.public_key("open-store").spki == signer.spki
    with pytest.raises(UnauthenticatedError, match="wrong PIN"):
        open_store(uri, pin="0000")
    with pytest.raises(NotFoundError, match="no PKCS#11 token labelled 'other'"):
        open_store(f"pkcs11:{softhsm_token.library}?token=other", pin=softhsm_token.pin)


@pytest.mark.parametrize("uri", [
    "", "s3://bucket/keys", "vault:secret/keys", "file://elsewhere/keys", "file:/keys?x=1", "file:",
    "pkcs11:/usr/lib/softhsm/libsofthsm2.so", "pkcs11:?token=x", "pkcs11:/lib.so?token=",
    "pkcs11:/lib.so?token=a&token=b", "pkcs11:/lib.so?token=a&slot=1", "pkcs11:/lib.so?garbage",
])
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidArgumentError):
        open_store(uri, passphrase=PASSPHRASE, pin="1234")


def test_passphrase_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PASSPHRASE", "from-env")
    assert passphrase_from_env("MY_PASSPHRASE", prompt="passphrase: ") == "from-env"
    monkeypatch.setenv("MY_PASSPHRASE", "")  # empty counts as unset
    with pytest.raises(UnauthenticatedError, match="MY_PASSPHRASE is not set, and stdin is not a terminal"):
        passphrase_from_env("MY_PASSPHRASE", prompt="passphrase: ")


def test_passphrase_from_env_asks_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "typed")
    assert passphrase_from_env("MY_PASSPHRASE", prompt="passphrase: ") == "typed"
    assert asked == ["passphrase: "]
    with pytest.raises(UnauthenticatedError, match=r"MY_PASSPHRASE is not set$"):  # no prompt: never asks
        passphrase_from_env("MY_PASSPHRASE", prompt=None)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "")
    with pytest.raises(UnauthenticatedError):
        passphrase_from_env("MY_PASSPHRASE", prompt="passphrase: ")
