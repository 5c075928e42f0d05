"""`Pkcs11Store`: keys and secrets as objects on a PKCS#11 token (an HSM; SoftHSM2 in the tests).

Each name is the label of token objects: an Ed25519 (EC_EDWARDS) or P-256 (EC) key pair, or a
GENERIC_SECRET for HMAC-SHA256. Private keys and secrets are created sensitive and not extractable;
the SPKI is built from the public object's EC_POINT. P-256 signs a SHA-256 digest computed here
with CKM_ECDSA (SoftHSM has no CKM_ECDSA_SHA256), and the signature is made low-S.

python-pkcs11 is the optional `hsm` extra, imported when a store is opened; its objects are typed
`Any` here, at the boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from citycredit.core import Algorithm, SigningKey, kid_for_spki
from citycredit.errors import (
    CityCreditError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from citycredit.keystore._store import NAME_PATTERN, KeyStore, Mac, Signer, check_data, low_s

__all__ = ["Pkcs11Store"]

_T = TypeVar("_T")

# CKA_EC_PARAMS, DER: the named-curve OIDs, and the PrintableString form some tokens use for Ed25519.
_ED25519_PARAMS = bytes.fromhex("06032b6570")  # 1.3.101.112, id-Ed25519
_ED25519_NAMED = b"\x13\x0cedwards25519"
_P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # 1.2.840.10045.3.1.7, secp256r1
_SECRET_BITS = 256
_SM2_REFUSED = ("SM2 keys cannot be kept in a PKCS#11 key store: SoftHSM (and standard PKCS#11) has no SM2 "
                "mechanism; keep SM2 keys in an EncryptedFileStore")


def _import_pkcs11() -> Any:
    try:
        import pkcs11  # noqa: PLC0415 - optional: the hsm extra
    except ImportError:
        raise UnavailableError("PKCS#11 key stores need the hsm extra: pip install 'citycredit[hsm]'") from None
    return pkcs11


def _describe(exc: Exception) -> str:
    """python-pkcs11's messages are often empty; its class name says what the token answered."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _ec_point(value: bytes, size: int) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING holding the point; some tokens give the bare point."""
    if len(value) == size + 2 and value[0] == 0x04 and value[1] == size:
        return value[2:]
    if len(value) == size:
        return value
    raise InvalidArgumentError(f"the token's EC point has {len(value)} bytes; expected {size}")


def _spki(algorithm: Algorithm, ec_point: bytes) -> bytes:
    public: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
    if algorithm is Algorithm.ED25519:
        public = ed25519.Ed25519PublicKey.from_public_bytes(_ec_point(ec_point, 32))
    else:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _ec_point(ec_point, 65))
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class _Pkcs11Signer:
    """A private key object on the token; signing goes through the store's one session."""

    __slots__ = ("_key", "_store", "algorithm", "kid", "spki")

    def __init__(self, store: Pkcs11Store, key: Any, algorithm: Algorithm, spki: bytes) -> None:
        self._store = store
        self._key = key
        self.algorithm = algorithm
        self.spki = spki
        self.kid = kid_for_spki(spki)

    def sign(self, data: bytes) -> bytes:
        data = check_data(data)
        mechanism = self._store.p11.Mechanism
        if self.algorithm is Algorithm.ED25519:
            signature = self._store.run("sign", lambda _: self._key.sign(data, mechanism=mechanism.EDDSA))
        else:
            digest = hashlib.sha256(data).digest()
            signature = self._store.run("sign", lambda _: self._key.sign(digest, mechanism=mechanism.ECDSA))
        if len(signature) != 64:
            raise UnavailableError(f"{self._store} gave a {len(signature)}-byte signature; expected 64")
        return low_s(self.algorithm, bytes(signature))

    def __repr__(self) -> str:
        return f"Signer({self.algorithm.slug}, kid={self.kid.hex()}, on {self._store})"


class _Pkcs11Mac:
    """HMAC-SHA256 by the token under a secret that never leaves it."""

    __slots__ = ("_key", "_name", "_store")

    def __init__(self, store: Pkcs11Store, key: Any, name: str) -> None:
        self._store = store
        self._key = key
        self._name = name

    def mac(self, data: bytes) -> bytes:
        data = check_data(data)
        hmac = self._store.p11.Mechanism.SHA256_HMAC
        return bytes(self._store.run("MAC", lambda _: self._key.sign(data, mechanism=hmac)))

    def __repr__(self) -> str:
        return f"Mac({self._name!r}, on {self._store})"


@dataclass(eq=False, kw_only=True)
class _Login:
    """The logged-in session of one token, shared by the stores this process opens on it.

    PKCS#11 logs in an application, not a session: a second C_Login in the process is refused, and
    closing the logged-in session logs every session out. So the stores share one session and its
    lock, a later open must bring the same PIN, and the last store to close ends the session.
    """

    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    stores: int = 0


_LOGINS: dict[tuple[str, str], _Login] = {}
_LOGINS_LOCK = threading.Lock()
_PIN_KEY = secrets.token_bytes(32)  # a later open's PIN is compared with the one that logged in, as HMACs


def _pin_digest(pin: str) -> bytes:
    return hmac.digest(_PIN_KEY, pin.encode("utf-8"), "sha256")


class Pkcs11Store(KeyStore):
    """A key store on one PKCS#11 token, through one logged-in session guarded by a lock.

    Build it with `Pkcs11Store.open(library, token_label, pin)`; `close()` releases the session
    (stores of one process on one token share it: see `_Login`).
    """

    def __init__(self, *, p11: Any, login: _Login, key: tuple[str, str]) -> None:
        self.p11 = p11
        self._login: _Login | None = login
        self._key = key

    @classmethod
    def open(cls, library: str, token_label: str, pin: str) -> Pkcs11Store:
        """Log in to the token labelled `token_label` in the PKCS#11 module at `library`.

        The module is loaded by its real path: python-pkcs11 initialises each path once per process.
        """
        if not isinstance(pin, str) or not pin:
            raise InvalidArgumentError("a PKCS#11 key store needs a non-empty PIN (a str)")
        p11 = _import_pkcs11()
        errors = p11.exceptions
        key = (os.path.realpath(library), token_label)
        with _LOGINS_LOCK:
            login = _LOGINS.get(key)
            if login is not None:
                if not hmac.compare_digest(login.pin_digest, _pin_digest(pin)):
                    raise UnauthenticatedError(f"wrong PIN for PKCS#11 token {token_label!r}")
            else:
                try:
                    lib = p11.lib(key[0])
                except errors.PKCS11Error as exc:
                    raise UnavailableError(f"cannot load the PKCS#11 library {library}: {_describe(exc)}") from None
                try:
                    token = lib.get_token(token_label=token_label)
                except errors.NoSuchToken:
                    raise NotFoundError(f"no PKCS#11 token labelled {token_label!r} in {library}") from None
                except errors.MultipleTokensReturned:
                    raise InvalidArgumentError(f"more than one PKCS#11 token is labelled {token_label!r} in "
                                               f"{library}") from None
                except errors.PKCS11Error as exc:
                    raise UnavailableError(f"cannot list the tokens of {library}: {_describe(exc)}") from None
                try:
                    session = token.open(rw=True, user_pin=pin)
                except (errors.PinIncorrect, errors.PinInvalid, errors.PinLenRange):
                    raise UnauthenticatedError(f"wrong PIN for PKCS#11 token {token_label!r}") from None
                except errors.PinLocked:
                    raise UnauthenticatedError(f"the PIN of PKCS#11 token {token_label!r} is locked") from None
                except errors.UserPinNotInitialized:
                    raise UnauthenticatedError(f"PKCS#11 token {token_label!r} has no user PIN yet") from None
                except errors.UserAlreadyLoggedIn:
                    raise UnavailableError(f"PKCS#11 token {token_label!r} is already logged in by other code in "
                                           "this process; open it only through Pkcs11Store") from None
                except errors.PKCS11Error as exc:
                    raise UnavailableError(f"cannot log in to PKCS#11 token {token_label!r}: {_describe(exc)}") \
                        from None
                login = _LOGINS[key] = _Login(session=session, pin_digest=_pin_digest(pin))
            login.stores += 1
        return cls(p11=p11, login=login, key=key)

    def close(self) -> None:
        with _LOGINS_LOCK:
            login, self._login = self._login, None
            if login is None:
                return
            login.stores -= 1
            if login.stores == 0:
                del _LOGINS[self._key]
                # Logs out and closes; the session is gone either way.
                with login.lock, contextlib.suppress(self.p11.exceptions.PKCS11Error):
                    login.session.close()

    def __repr__(self) -> str:
        return f"Pkcs11Store(token={self._key[1]!r})"

    def __str__(self) -> str:
        return f"PKCS#11 token {self._key[1]!r}"

    def run(self, what: str, action: Callable[[Any], _T]) -> _T:
        """Run `action(session)` under the session's lock, turning PKCS#11 errors into catalogue errors."""
        login = self._login
        if login is None:
            raise UnavailableError(f"{self} is closed")
        with login.lock:
            if self._login is None:
                raise UnavailableError(f"{self} is closed")
            try:
                return action(login.session)
            except self.p11.exceptions.UserNotLoggedIn:
                raise UnauthenticatedError(f"{self}: could not {what}: the session is no longer logged in") \
                    from None
            except self.p11.exceptions.PKCS11Error as exc:
                raise UnavailableError(f"{self}: could not {what}: {_describe(exc)}") from None

    # --- hooks ---------------------------------------------------------------------------------

    def _create_key(self, name: str, algorithm: Algorithm) -> Signer:
        if algorithm is Algorithm.SM2:
            raise InvalidArgumentError(_SM2_REFUSED)
        p11 = self.p11
        key_type, params, generate = (
            (p11.KeyType.EC_EDWARDS, _ED25519_PARAMS, p11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN)
            if algorithm is Algorithm.ED25519 else (p11.KeyType.EC, _P256_PARAMS, p11.Mechanism.EC_KEY_PAIR_GEN))

        def create(session: Any) -> tuple[Any, bytes]:
            self._refuse_taken(session, name)
            domain = session.create_domain_parameters(key_type, {p11.Attribute.EC_PARAMS: params}, local=True)
            public, private = domain.generate_keypair(
                mechanism=generate, store=True, label=name, capabilities=self._signing_capabilities(),
                private_template=self._private_template())
            spki = _spki(algorithm, public[p11.Attribute.EC_POINT])
            public[p11.Attribute.ID] = private[p11.Attribute.ID] = kid_for_spki(spki)  # as pkcs11-tool pairs them
            return private, spki

        private, spki = self.run(f"create key {name!r}", create)
        return _Pkcs11Signer(self, private, algorithm, spki)

    def _import_key(self, name: str, key: SigningKey) -> Signer:
        if key.algorithm is Algorithm.SM2:
            raise InvalidArgumentError(_SM2_REFUSED)
        p11 = self.p11
        attribute, object_class = p11.Attribute, p11.ObjectClass
        loaded = serialization.load_pem_private_key(key.to_pem(), password=None)
        if isinstance(loaded, ed25519.Ed25519PrivateKey):
            key_type, params = p11.KeyType.EC_EDWARDS, _ED25519_PARAMS
            value = loaded.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
            point = loaded.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        elif isinstance(loaded, ec.EllipticCurvePrivateKey):
            key_type, params = p11.KeyType.EC, _P256_PARAMS
            value = loaded.private_numbers().private_value.to_bytes(32, "big")
            point = loaded.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
        else:  # pragma: no cover - SigningKey holds only the algorithms above or SM2
            raise InvalidArgumentError(f"cannot import a {key.algorithm.slug} key into {self}")
        common = {attribute.KEY_TYPE: key_type, attribute.EC_PARAMS: params, attribute.LABEL: name,
                  attribute.ID: key.kid, attribute.TOKEN: True}

        def create(session: Any) -> Any:
            self._refuse_taken(session, name)
            try:
                private = session.create_object({**common, **self._private_template(),
                                                 attribute.CLASS: object_class.PRIVATE_KEY,
                                                 attribute.VALUE: value, attribute.SIGN: True})
            except p11.exceptions.PKCS11Error as exc:
                raise InvalidArgumentError(
                    f"{self} refuses to import a {key.algorithm.slug} private key ({_describe(exc)}); "
                    "generate the key on the token with create_key instead") from None
            try:
                session.create_object({**common, attribute.CLASS: object_class.PUBLIC_KEY,
                                       attribute.EC_POINT: bytes([0x04, len(point)]) + point,
                                       attribute.VERIFY: True, attribute.PRIVATE: False})
            except BaseException:
                private.destroy()  # no half-imported key stays behind
                raise
            return private

        private = self.run(f"import key {name!r}", create)
        return _Pkcs11Signer(self, private, key.algorithm, key.spki)

    def _signer(self, name: str) -> Signer:
        p11 = self.p11
        attribute, object_class = p11.Attribute, p11.ObjectClass

        def load(session: Any) -> tuple[Any, Algorithm, bytes]:
            private = self._one(session, object_class.PRIVATE_KEY, name)
            if private is None:
                raise self._missing(session, name, "a signing key")
            key_type, params = private[attribute.KEY_TYPE], private[attribute.EC_PARAMS]
            if key_type == p11.KeyType.EC_EDWARDS and params in (_ED25519_PARAMS, _ED25519_NAMED):
                algorithm = Algorithm.ED25519
            elif key_type == p11.KeyType.EC and params == _P256_PARAMS:
                algorithm = Algorithm.P256
            else:
                raise InvalidArgumentError(f"{name!r} on {self} is a key this store does not use "
                                           "(only Ed25519 and P-256)")
            public = self._one(session, object_class.PUBLIC_KEY, name)
            if public is None:
                raise InvalidArgumentError(f"signing key {name!r} on {self} has no public key object beside it")
            return private, algorithm, _spki(algorithm, public[attribute.EC_POINT])

        private, algorithm, spki = self.run(f"load key {name!r}", load)
        return _Pkcs11Signer(self, private, algorithm, spki)

    def _create_secret(self, name: str) -> Mac:
        p11 = self.p11

        def create(session: Any) -> Any:
            self._refuse_taken(session, name)
            return session.generate_key(p11.KeyType.GENERIC_SECRET, _SECRET_BITS, store=True, label=name,
                                        capabilities=self._signing_capabilities(),
                                        template=self._private_template())

        return _Pkcs11Mac(self, self.run(f"create secret {name!r}", create), name)

    def _mac(self, name: str) -> Mac:
        p11 = self.p11

        def load(session: Any) -> Any:
            secret = self._one(session, p11.ObjectClass.SECRET_KEY, name)
            if secret is None:
                raise self._missing(session, name, "a secret")
            if secret[p11.Attribute.KEY_TYPE] != p11.KeyType.GENERIC_SECRET:
                raise InvalidArgumentError(f"{name!r} on {self} is not an HMAC secret")
            return secret

        return _Pkcs11Mac(self, self.run(f"load secret {name!r}", load), name)

    def _names(self) -> list[str]:
        p11 = self.p11

        def labels(session: Any) -> list[str]:
            found = []
            for object_class in (p11.ObjectClass.PRIVATE_KEY, p11.ObjectClass.SECRET_KEY):
                found += [o[p11.Attribute.LABEL] for o in session.get_objects({p11.Attribute.CLASS: object_class})]
            return [label for label in found if isinstance(label, str) and NAME_PATTERN.fullmatch(label)]

        return self.run("list names", labels)

    # --- token objects -------------------------------------------------------------------------

    def _signing_capabilities(self) -> Any:
        return self.p11.MechanismFlag.SIGN | self.p11.MechanismFlag.VERIFY

    def _private_template(self) -> dict[Any, Any]:
        attribute = self.p11.Attribute
        return {attribute.TOKEN: True, attribute.PRIVATE: True, attribute.SENSITIVE: True,
                attribute.EXTRACTABLE: False}

    def _refuse_taken(self, session: Any, name: str) -> None:
        if list(session.get_objects({self.p11.Attribute.LABEL: name})):
            raise InvalidArgumentError(f"{self} already holds {name!r}; choose another name")

    def _one(self, session: Any, object_class: Any, name: str) -> Any:
        """The one object of this class and label, or None."""
        attribute = self.p11.Attribute
        found = list(session.get_objects({attribute.CLASS: object_class, attribute.LABEL: name}))
        if len(found) > 1:
            raise InvalidArgumentError(f"{self} holds {len(found)} objects labelled {name!r}; expected one")
        return found[0] if found else None

    def _missing(self, session: Any, name: str, what: str) -> CityCreditError:
        if list(session.get_objects({self.p11.Attribute.LABEL: name})):
            return InvalidArgumentError(f"{name!r} on {self} is not {what}")
        return NotFoundError(f"no key or secret named {name!r} on {self}")
