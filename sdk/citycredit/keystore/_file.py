"""`EncryptedFileStore`: keys and secrets in a directory, each file sealed with ChaCha20-Poly1305.

Layout::

    D/                 0700
    D/store.json       0600  the scrypt parameters and salt, and a check value for the passphrase
    D/<name>.key       0600  one key or secret: kind, algorithm, public SPKI in clear, private part sealed

One passphrase, one scrypt derivation at open. Each file's private part is sealed under the derived
key with a random nonce; the file's name, kind, algorithm and SPKI are the associated data, so a file
that is renamed, copied from another store or edited anywhere is refused when it is read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from citycredit._files import write_private
from citycredit.core import Algorithm, SigningKey, kid_for_spki
from citycredit.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError, UnavailableError
from citycredit.keystore._store import NAME_PATTERN, KeyStore, Mac, Signer, check_data, low_s

__all__ = ["EncryptedFileStore"]

_STORE_FILE = "store.json"
_STORE_FORMAT = "citycredit-keystore/1"
_KEY_FORMAT = "citycredit-key/1"
_KEY_SUFFIX = ".key"
_CHECK_PLAINTEXT = b"citycredit key store: the passphrase is right"
_SECRET_ALGORITHM = "hmac-sha256"
_SECRET_BYTES = 32
_NONCE_BYTES = 12
_KINDS = {"signing": "a signing key", "secret": "a secret"}
_MAX_FILE_BYTES = 64 * 1024  # a key file is under 1 KiB; anything far larger is not one of ours


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{field} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{field} is not valid base64") from None


def _int(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field} is not an integer")
    return value


def _load_json(path: Path) -> dict[str, Any]:
    """A small JSON object from `path`; `ValueError` for anything else."""
    with path.open("rb") as f:
        data = f.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError("the file is too large")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise ValueError("the file is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("the file is not a JSON object")
    return value


@dataclass(frozen=True, kw_only=True)
class _Scrypt:
    """The store's KDF. The bounds refuse a store.json that would make opening cost gigabytes."""

    salt: bytes
    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if len(self.salt) != 16:
            raise ValueError("the scrypt salt is not 16 bytes")
        if not (2**10 <= self.n <= 2**20 and self.n & (self.n - 1) == 0):
            raise ValueError("scrypt n must be a power of two from 2**10 to 2**20")
        if not (1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise ValueError("scrypt r or p is out of range")

    def derive(self, passphrase: str) -> ChaCha20Poly1305:
        key = Scrypt(salt=self.salt, length=32, n=self.n, r=self.r, p=self.p).derive(passphrase.encode("utf-8"))
        return ChaCha20Poly1305(key)

    def to_json(self) -> dict[str, object]:
        return {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p, "salt": _b64(self.salt)}

    @classmethod
    def from_json(cls, value: object) -> _Scrypt:
        if not isinstance(value, dict) or value.get("name") != "scrypt":
            raise ValueError("the KDF is not scrypt")
        return cls(salt=_unb64(value.get("salt"), "salt"), n=_int(value.get("n"), "n"), r=_int(value.get("r"), "r"),
                   p=_int(value.get("p"), "p"))


@dataclass(frozen=True, kw_only=True)
class _Sealed:
    """One key file: what is in clear, and the sealed private part."""

    name: str
    kind: str  # "signing" or "secret"
    algorithm: str  # an Algorithm slug, or "hmac-sha256" for a secret
    spki: bytes  # empty for a secret
    nonce: bytes
    ciphertext: bytes

    @property
    def associated_data(self) -> bytes:
        return json.dumps([_KEY_FORMAT, self.name, self.kind, self.algorithm, _b64(self.spki)],
                          separators=(",", ":")).encode("ascii")

    def to_json(self) -> bytes:
        fields: dict[str, object] = {"format": _KEY_FORMAT, "kind": self.kind, "algorithm": self.algorithm}
        if self.kind == "signing":
            fields["spki"] = _b64(self.spki)
        fields |= {"nonce": _b64(self.nonce), "ciphertext": _b64(self.ciphertext)}
        return (json.dumps(fields, indent=2) + "\n").encode("ascii")

    @classmethod
    def from_json(cls, name: str, value: dict[str, Any]) -> _Sealed:
        if value.get("format") != _KEY_FORMAT:
            raise ValueError(f"the format is not {_KEY_FORMAT}")
        kind, algorithm = value.get("kind"), value.get("algorithm")
        if kind == "signing":
            if not isinstance(algorithm, str):
                raise ValueError("the algorithm is missing")
            Algorithm.from_slug(algorithm)
            spki = _unb64(value.get("spki"), "spki")
        elif kind == "secret":
            if algorithm != _SECRET_ALGORITHM:
                raise ValueError(f"a secret's algorithm must be {_SECRET_ALGORITHM}")
            spki = b""
        else:
            raise ValueError("the kind is neither signing nor secret")
        nonce = _unb64(value.get("nonce"), "nonce")
        if len(nonce) != _NONCE_BYTES:
            raise ValueError(f"the nonce is not {_NONCE_BYTES} bytes")
        return cls(name=name, kind=kind, algorithm=algorithm, spki=spki, nonce=nonce,
                   ciphertext=_unb64(value.get("ciphertext"), "ciphertext"))


class _FileSigner:
    """A key from the file store: core's signature, made low-S for P-256."""

    __slots__ = ("_key", "algorithm", "kid", "spki")

    def __init__(self, key: Signer) -> None:
        self._key = key
        self.algorithm = key.algorithm
        self.spki = key.spki
        self.kid = kid_for_spki(key.spki)

    def sign(self, data: bytes) -> bytes:
        return low_s(self.algorithm, self._key.sign(check_data(data)))

    def __repr__(self) -> str:
        return f"Signer({self.algorithm.slug}, kid={self.kid.hex()})"


class _FileMac:
    """HMAC-SHA256 under a secret read from the store; there is no way to read the secret back."""

    __slots__ = ("_name", "_secret")

    def __init__(self, name: str, secret: bytes) -> None:
        self._name = name
        self._secret = secret

    def mac(self, data: bytes) -> bytes:
        return hmac.digest(self._secret, check_data(data), "sha256")

    def __repr__(self) -> str:
        return f"Mac({self._name!r})"


class EncryptedFileStore(KeyStore):
    """A key store in a directory, sealed under one passphrase. Build it with `create` or `open`."""

    def __init__(self, *, path: Path, aead: ChaCha20Poly1305) -> None:
        self._path = path
        self._aead = aead

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def create(cls, path: str | os.PathLike[str], passphrase: str) -> EncryptedFileStore:
        """Make a new store in `path`, which must be missing or an empty directory."""
        directory = Path(path)
        _check_passphrase(passphrase)
        if (directory / _STORE_FILE).exists():
            raise InvalidArgumentError(f"{directory} is already a key store; open it instead")
        try:
            if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
                raise InvalidArgumentError(f"{directory} exists and is not an empty directory; "
                                           "a key store needs a directory of its own")
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)  # mkdir's mode is reduced by the umask, and an empty folder may be wider
            kdf = _Scrypt(salt=secrets.token_bytes(16))
            aead = kdf.derive(passphrase)
            nonce = secrets.token_bytes(_NONCE_BYTES)
            check = aead.encrypt(nonce, _CHECK_PLAINTEXT, _STORE_FORMAT.encode())
            document = {"format": _STORE_FORMAT, "kdf": kdf.to_json(),
                        "check": {"nonce": _b64(nonce), "ciphertext": _b64(check)}}
            write_private(directory / _STORE_FILE, (json.dumps(document, indent=2) + "\n").encode("ascii"))
        except OSError as exc:
            raise UnavailableError(f"cannot create a key store in {directory}: {exc.strerror or exc}") from None
        return cls(path=directory, aead=aead)

    @classmethod
    def open(cls, path: str | os.PathLike[str], passphrase: str) -> EncryptedFileStore:
        """Open an existing store; a wrong passphrase is refused here, before any key is read."""
        directory = Path(path)
        _check_passphrase(passphrase)
        store_file = directory / _STORE_FILE
        if not store_file.is_file():
            raise NotFoundError(f"{directory} is not a key store (it has no {_STORE_FILE})")
        try:
            document = _load_json(store_file)
            if document.get("format") != _STORE_FORMAT:
                raise ValueError(f"the format is not {_STORE_FORMAT}")
            kdf = _Scrypt.from_json(document.get("kdf"))
            check = document.get("check")
            if not isinstance(check, dict):
                raise ValueError("the passphrase check is missing")
            nonce, sealed = _unb64(check.get("nonce"), "nonce"), _unb64(check.get("ciphertext"), "ciphertext")
            if len(nonce) != _NONCE_BYTES:
                raise ValueError(f"the nonce is not {_NONCE_BYTES} bytes")
        except OSError as exc:
            raise UnavailableError(f"cannot read {store_file}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidArgumentError(f"{store_file} is not a valid key store file: {exc}") from None
        aead = kdf.derive(passphrase)
        try:
            right = aead.decrypt(nonce, sealed, _STORE_FORMAT.encode()) == _CHECK_PLAINTEXT
        except InvalidTag:
            right = False
        if not right:
            raise UnauthenticatedError(f"wrong passphrase for key store {directory}")
        return cls(path=directory, aead=aead)

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self._path)!r})"

    def __str__(self) -> str:
        return f"key store {self._path}"

    # --- hooks ---------------------------------------------------------------------------------

    def _create_key(self, name: str, algorithm: Algorithm) -> Signer:
        return self._import_key(name, SigningKey.generate(algorithm))

    def _import_key(self, name: str, key: SigningKey) -> Signer:
        self._seal(name, "signing", key.algorithm.slug, key.spki, key.to_pem())
        return _FileSigner(key)

    def _signer(self, name: str) -> Signer:
        sealed, plaintext = self._unseal(name, "signing")
        key = SigningKey.from_pem(plaintext, Algorithm.from_slug(sealed.algorithm))
        if key.spki != sealed.spki:
            raise InvalidArgumentError(f"{self._file(name)}: the private key does not match its public key")
        return _FileSigner(key)

    def _create_secret(self, name: str) -> Mac:
        secret = secrets.token_bytes(_SECRET_BYTES)
        self._seal(name, "secret", _SECRET_ALGORITHM, b"", secret)
        return _FileMac(name, secret)

    def _mac(self, name: str) -> Mac:
        _, secret = self._unseal(name, "secret")
        if len(secret) != _SECRET_BYTES:
            raise InvalidArgumentError(f"{self._file(name)}: the secret is not {_SECRET_BYTES} bytes")
        return _FileMac(name, secret)

    def _names(self) -> list[str]:
        try:
            files = [p.name for p in self._path.iterdir()]
        except OSError as exc:
            raise UnavailableError(f"cannot list {self}: {exc.strerror or exc}") from None
        stems = (f.removesuffix(_KEY_SUFFIX) for f in files if f.endswith(_KEY_SUFFIX))
        return [s for s in stems if NAME_PATTERN.fullmatch(s)]

    # --- sealing -------------------------------------------------------------------------------

    def _file(self, name: str) -> Path:
        return self._path / f"{name}{_KEY_SUFFIX}"

    def _seal(self, name: str, kind: str, algorithm: str, spki: bytes, plaintext: bytes) -> None:
        """Write a new key file; a name already taken is refused, even against a concurrent writer."""
        target = self._file(name)
        if target.exists():
            raise InvalidArgumentError(f"{self} already holds {name!r}; choose another name")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        draft = _Sealed(name=name, kind=kind, algorithm=algorithm, spki=spki, nonce=nonce, ciphertext=b"")
        sealed = _Sealed(name=name, kind=kind, algorithm=algorithm, spki=spki, nonce=nonce,
                         ciphertext=self._aead.encrypt(nonce, plaintext, draft.associated_data))
        # write_private replaces its target, so stage the file and link it in: link refuses an existing name.
        staging = self._path / f".{name}{_KEY_SUFFIX}.{secrets.token_hex(4)}.staging"
        try:
            write_private(staging, sealed.to_json())
            try:
                os.link(staging, target)
            except FileExistsError:
                raise InvalidArgumentError(f"{self} already holds {name!r}; choose another name") from None
            finally:
                staging.unlink(missing_ok=True)
        except OSError as exc:
            raise UnavailableError(f"cannot write {target}: {exc.strerror or exc}") from None

    def _unseal(self, name: str, kind: str) -> tuple[_Sealed, bytes]:
        path = self._file(name)
        try:
            sealed = _Sealed.from_json(name, _load_json(path))
        except FileNotFoundError:
            raise NotFoundError(f"no key or secret named {name!r} in {self}") from None
        except OSError as exc:
            raise UnavailableError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (ValueError, InvalidArgumentError) as exc:
            detail = exc.message if isinstance(exc, InvalidArgumentError) else str(exc)
            raise InvalidArgumentError(f"{path} is not a valid key file: {detail}") from None
        if sealed.kind != kind:
            raise InvalidArgumentError(f"{name!r} in {self} is {_KINDS[sealed.kind]}, not {_KINDS[kind]}")
        try:
            plaintext = self._aead.decrypt(sealed.nonce, sealed.ciphertext, sealed.associated_data)
        except InvalidTag:
            raise InvalidArgumentError(f"{path} fails its integrity check: it was edited, renamed or copied "
                                       "from another key store") from None
        return sealed, plaintext


def _check_passphrase(passphrase: object) -> None:
    if not isinstance(passphrase, str) or not passphrase:
        raise InvalidArgumentError("a key store needs a non-empty passphrase (a str)")
