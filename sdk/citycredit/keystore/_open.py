"""`open_store`: a key store named by a URI, and `passphrase_from_env` for its passphrase or PIN.

Kept apart from `_store`, which the backends import: this module imports the backends.
"""

from __future__ import annotations

import getpass
import os
import sys
from urllib.parse import parse_qs, unquote, urlsplit

from citycredit.errors import InvalidArgumentError, UnauthenticatedError
from citycredit.keystore._file import EncryptedFileStore
from citycredit.keystore._pkcs11 import Pkcs11Store
from citycredit.keystore._store import KeyStore

__all__ = ["PASSPHRASE_VARIABLE", "PIN_VARIABLE", "open_store", "passphrase_from_env"]

PASSPHRASE_VARIABLE = "CITYCREDIT_KEYSTORE_PASSPHRASE"
PIN_VARIABLE = "CITYCREDIT_PKCS11_PIN"


def passphrase_from_env(variable: str, *, prompt: str | None) -> str:
    """The value of `variable`; else, with a `prompt` and a terminal on stdin, what the user types.

    Without either, `UnauthenticatedError` names the variable to set. An empty value counts as unset.
    """
    value = os.environ.get(variable)
    if value:
        return value
    if prompt is not None and sys.stdin is not None and sys.stdin.isatty():
        try:
            typed = getpass.getpass(prompt)
        except EOFError:
            typed = ""
        if typed:
            return typed
    asked = ", and stdin is not a terminal to ask on" if prompt is not None else ""
    raise UnauthenticatedError(f"the environment variable {variable} is not set{asked}")


def open_store(uri: str, *, passphrase: str | None = None, pin: str | None = None) -> KeyStore:
    """Open the key store at `uri`.

    `file:/path/to/dir` or a bare path opens an `EncryptedFileStore` (passphrase from the argument,
    else `CITYCREDIT_KEYSTORE_PASSPHRASE`, else a prompt); `pkcs11:/path/to/module.so?token=LABEL`
    opens a `Pkcs11Store` (PIN from the argument, else `CITYCREDIT_PKCS11_PIN`, else a prompt).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidArgumentError("a key store URI must be a non-empty string")
    scheme, _, rest = uri.partition(":")
    if scheme == "pkcs11":
        return _open_pkcs11(uri, pin)
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidArgumentError(f"a file key store URI is file:/path/to/dir, not {uri!r}")
        path = unquote(parts.path)
    elif rest and "/" not in scheme:
        raise InvalidArgumentError(f"unknown key store URI scheme {scheme!r}: use file:/path or "
                                   "pkcs11:/path/to/module.so?token=LABEL")
    else:
        path = uri
    if not path:
        raise InvalidArgumentError(f"the key store URI {uri!r} names no directory")
    if passphrase is None:
        passphrase = passphrase_from_env(PASSPHRASE_VARIABLE, prompt=f"passphrase for key store {path}: ")
    return EncryptedFileStore.open(path, passphrase)


def _open_pkcs11(uri: str, pin: str | None) -> Pkcs11Store:
    parts = urlsplit(uri)
    library = unquote(parts.path)
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise InvalidArgumentError(f"the key store URI {uri!r} has a malformed query") from None
    if not library or set(query) != {"token"} or len(query["token"]) != 1 or not query["token"][0]:
        raise InvalidArgumentError(f"a PKCS#11 key store URI is pkcs11:/path/to/module.so?token=LABEL, not {uri!r}")
    label = query["token"][0]
    if pin is None:
        pin = passphrase_from_env(PIN_VARIABLE, prompt=f"PIN for PKCS#11 token {label!r}: ")
    return Pkcs11Store.open(library, label, pin)
