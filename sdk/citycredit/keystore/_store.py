"""The key-store interface: `Mac` and the `KeyStore` base class the backends implement.

`Signer` is core's protocol (a `SigningKey` fits it), re-exported here: one definition for both.

The base class's public methods check names and arguments, call one hook per operation and turn
any foreign exception that escapes a hook into a catalogue error; the backends implement the hooks.
"""

from __future__ import annotations

import abc
import contextlib
import re
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self

from citycredit.core import Algorithm, Signer, SigningKey, VerifyingKey
from citycredit.errors import CityCreditError, InvalidArgumentError, UnavailableError

__all__ = ["NAME_PATTERN", "KeyStore", "Mac", "Signer", "check_data", "check_name", "low_s"]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# The order of the P-256 group: a signature (r, s) and (r, n - s) both verify, so we always give the low one.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Mac(Protocol):
    """HMAC-SHA256 under a secret that stays inside its store: `mac` returns 32 bytes."""

    def mac(self, data: bytes) -> bytes: ...


def check_name(name: object) -> str:
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise InvalidArgumentError(f"key name {name!r} is not valid: use 1-64 characters from a-z 0-9 . _ -, "
                                   "starting with a letter or digit")
    return name


def check_data(data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgumentError(f"data to sign or MAC must be bytes, not {type(data).__name__}")
    return bytes(data)


def low_s(algorithm: Algorithm, signature: bytes) -> bytes:
    """The P-256 signature with s replaced by n - s when s > n/2; other algorithms unchanged."""
    if algorithm is not Algorithm.P256:
        return signature
    s = int.from_bytes(signature[32:], "big")
    if s > _P256_ORDER // 2:
        return signature[:32] + (_P256_ORDER - s).to_bytes(32, "big")
    return signature


class KeyStore(abc.ABC):
    """Named private keys and secrets; the private halves never leave the store's objects.

    Names are `[a-z0-9][a-z0-9._-]{0,63}`. A store is a context manager; `close` releases it.
    """

    def create_key(self, name: str, algorithm: Algorithm) -> Signer:
        """Generate a signing key inside the store; an existing name is refused."""
        name = check_name(name)
        if not isinstance(algorithm, Algorithm):
            raise InvalidArgumentError(f"algorithm must be an Algorithm, not {type(algorithm).__name__}")
        with self._foreign_errors(f"create key {name!r}"):
            return self._create_key(name, algorithm)

    def import_key(self, name: str, key: SigningKey) -> Signer:
        """Move an existing key in (for example from a PEM file); an existing name is refused."""
        name = check_name(name)
        if not isinstance(key, SigningKey):
            raise InvalidArgumentError(f"import_key takes a SigningKey, not {type(key).__name__}")
        with self._foreign_errors(f"import key {name!r}"):
            return self._import_key(name, key)

    def signer(self, name: str) -> Signer:
        """The signing key called `name`; `NotFoundError` if there is none."""
        name = check_name(name)
        with self._foreign_errors(f"load key {name!r}"):
            return self._signer(name)

    def public_key(self, name: str) -> VerifyingKey:
        signer = self.signer(name)
        return VerifyingKey(algorithm=signer.algorithm, spki=signer.spki)

    def create_secret(self, name: str) -> Mac:
        """Generate a 32-byte HMAC-SHA256 secret inside the store; an existing name is refused."""
        name = check_name(name)
        with self._foreign_errors(f"create secret {name!r}"):
            return self._create_secret(name)

    def mac(self, name: str) -> Mac:
        """The secret called `name`; `NotFoundError` if there is none."""
        name = check_name(name)
        with self._foreign_errors(f"load secret {name!r}"):
            return self._mac(name)

    def names(self) -> list[str]:
        """Every key and secret name, sorted."""
        with self._foreign_errors("list names"):
            return sorted(set(self._names()))

    def close(self) -> None:  # noqa: B027 - not abstract on purpose: a store that holds nothing open needs no close
        """Release what the store holds open (a PKCS#11 session); the file store holds nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextlib.contextmanager
    def _foreign_errors(self, what: str) -> Iterator[None]:
        """The last line of defence: a hook's foreign exception leaves as a catalogue error."""
        try:
            yield
        except CityCreditError:
            raise
        except Exception as exc:
            raise UnavailableError(f"{self}: could not {what}: {type(exc).__name__}: {exc}") from None

    # --- the hooks a backend implements -------------------------------------------------------------

    @abc.abstractmethod
    def _create_key(self, name: str, algorithm: Algorithm) -> Signer: ...

    @abc.abstractmethod
    def _import_key(self, name: str, key: SigningKey) -> Signer: ...

    @abc.abstractmethod
    def _signer(self, name: str) -> Signer: ...

    @abc.abstractmethod
    def _create_secret(self, name: str) -> Mac: ...

    @abc.abstractmethod
    def _mac(self, name: str) -> Mac: ...

    @abc.abstractmethod
    def _names(self) -> list[str]: ...
