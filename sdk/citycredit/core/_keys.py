"""Signing and verifying keys behind one small abstraction.

The algorithm is a property of a key (recorded beside it in the trust bundle),
never of a code. Each algorithm is a `_Backend`; SM2 joins through Tongsuo
without callers changing.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from typing import Any, Protocol, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from securesystemslib.signer import Key, Signature, SSlibKey
from securesystemslib.signer import Signer as TufSignerBase

from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit.errors import InvalidArgumentError

__all__ = [
    "Algorithm",
    "Signer",
    "SigningKey",
    "TufSigner",
    "VerifyingKey",
    "kid_for_spki",
    "raw_key_verifier",
    "tuf_key",
    "tuf_key_spki",
]


class Algorithm(enum.Enum):
    """Signature algorithms; the value is the `KeyAlgorithm` proto number."""

    ED25519 = 1
    P256 = 2
    SM2 = 3

    @property
    def slug(self) -> str:
        return _SLUGS[self]

    @property
    def proto(self) -> bundle_pb2.KeyAlgorithm:
        return cast(bundle_pb2.KeyAlgorithm, self.value)

    @classmethod
    def from_slug(cls, slug: str) -> Algorithm:
        for alg, name in _SLUGS.items():
            if name == slug.lower():
                return alg
        raise InvalidArgumentError(f"unknown algorithm {slug!r}; use one of {', '.join(_SLUGS.values())}")


_SLUGS = {Algorithm.ED25519: "ed25519", Algorithm.P256: "p256", Algorithm.SM2: "sm2"}


def kid_for_spki(spki: bytes) -> bytes:
    """The 8-byte key id: SHA-256 over the SubjectPublicKeyInfo DER, truncated."""
    return hashlib.sha256(spki).digest()[:8]


# Group orders. An ECDSA P-256 signature (r, s) verifies as (r, n - s) too: it is canonical only with
# s <= n/2 (low S), so that one code has one valid encoding. SM2's verification equation involves r + s,
# so (r, n - s) is simply invalid there: SM2 needs only 0 < r, s < n.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def _der_integer(value: bytes) -> bytes:
    """A DER INTEGER holding the unsigned big-endian `value`: leading zeros dropped, one added when the
    high bit is set (it would read as negative)."""
    value = value.lstrip(b"\0") or b"\0"
    if value[0] > 0x7F:
        value = b"\0" + value
    return b"\x02" + len(value).to_bytes(1, "big") + value


# The DER heads around r and s when neither starts with a zero byte, by whether each has its high bit set
# (then a zero byte is prepended): the SEQUENCE tag and length with r's INTEGER tag and length, and s's.
_DER_HEADS = tuple(tuple((bytes((0x30, 68 + r_pad + s_pad, 0x02, 32 + r_pad)) + b"\0" * r_pad,
                          bytes((0x02, 32 + s_pad)) + b"\0" * s_pad) for s_pad in (0, 1)) for r_pad in (0, 1))


def _raw_to_der(signature: bytes) -> bytes:
    """The DER SEQUENCE of r and s from 64 bytes r||s (built from the bytes: converting through Python
    integers, as encode_dss_signature needs, costs twice as much on every P-256 code verified).

    Nearly every signature has no zero byte leading r or s: its DER is four concatenations."""
    r0, s0 = signature[0], signature[32]
    if r0 and s0:
        head_r, head_s = _DER_HEADS[r0 > 0x7F][s0 > 0x7F]
        return head_r + signature[:32] + head_s + signature[32:]
    body = _der_integer(signature[:32]) + _der_integer(signature[32:])
    return b"\x30" + len(body).to_bytes(1, "big") + body


def _der_to_raw(signature: bytes, low_s_order: int = 0) -> bytes:
    """Raw r||s from DER; with `low_s_order`, s is made low (for ECDSA, s and n - s are one signature)."""
    r, s = decode_dss_signature(signature)
    if low_s_order and s > low_s_order // 2:
        s = low_s_order - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _in_range_rs(signature: bytes, order: bytes, max_s: bytes) -> bool:
    """64 bytes of r||s with 0 < r < n and 0 < s <= max_s (n/2 where high S is a malleable twin, else n - 1).

    The bounds are 32 bytes big-endian: equal-length big-endian byte strings compare as their numbers do.
    """
    if len(signature) != 64:
        return False
    r, s = signature[:32], signature[32:]
    return _ZERO < r < order and _ZERO < s <= max_s


_ZERO = bytes(32)
_P256_N_BYTES, _P256_LOW_S = _P256_N.to_bytes(32, "big"), (_P256_N // 2).to_bytes(32, "big")
_SM2_N_BYTES, _SM2_MAX_S = _SM2_N.to_bytes(32, "big"), (_SM2_N - 1).to_bytes(32, "big")


class _Backend:
    """How one algorithm generates, loads, signs and verifies."""

    def generate(self) -> Any:
        raise NotImplementedError

    def load_private_pem(self, pem: bytes) -> Any:
        raise NotImplementedError

    def private_pem(self, key: Any) -> bytes:
        raise NotImplementedError

    def public_spki(self, key: Any) -> bytes:
        raise NotImplementedError

    def sign(self, key: Any, data: bytes) -> bytes:
        raise NotImplementedError

    def verifier(self, spki: bytes) -> Callable[[bytes, bytes], bool]:
        """Returns `verify(signature, data) -> bool` for a public key."""
        raise NotImplementedError

    def raw_verifier(self, raw: bytes) -> Callable[[bytes, bytes], bool]:
        """The same for a raw public key (a holder's device key: no SPKI around it); ValueError if invalid."""
        raise ValueError("not a device key algorithm")


class _PycaBackend(_Backend):
    """Serialization shared by the algorithms `cryptography` implements."""

    def private_pem(self, key: Any) -> bytes:
        return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    def public_spki(self, key: Any) -> bytes:
        return bytes(key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))


class _Ed25519(_PycaBackend):
    def generate(self) -> Any:
        return ed25519.Ed25519PrivateKey.generate()

    def load_private_pem(self, pem: bytes) -> Any:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InvalidArgumentError("the PEM file is not an Ed25519 private key")
        return key

    def sign(self, key: Any, data: bytes) -> bytes:
        return bytes(key.sign(data))

    def verifier(self, spki: bytes) -> Callable[[bytes, bytes], bool]:
        public = serialization.load_der_public_key(spki)
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise InvalidArgumentError("the SPKI is not an Ed25519 public key")
        return self._check(public)

    def raw_verifier(self, raw: bytes) -> Callable[[bytes, bytes], bool]:
        return self._check(ed25519.Ed25519PublicKey.from_public_bytes(raw))

    @staticmethod
    def _check(public: ed25519.Ed25519PublicKey) -> Callable[[bytes, bytes], bool]:
        verify = public.verify

        def check(signature: bytes, data: bytes) -> bool:
            try:
                verify(signature, data)
            except InvalidSignature:
                return False
            return True

        return check


class _P256(_PycaBackend):
    _ecdsa = ec.ECDSA(hashes.SHA256())
    _curve = ec.SECP256R1()

    def generate(self) -> Any:
        return ec.generate_private_key(self._curve)

    def load_private_pem(self, pem: bytes) -> Any:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise InvalidArgumentError("the PEM file is not a P-256 private key")
        return key

    def sign(self, key: Any, data: bytes) -> bytes:
        return _der_to_raw(key.sign(data, self._ecdsa), _P256_N)

    def verifier(self, spki: bytes) -> Callable[[bytes, bytes], bool]:
        public = serialization.load_der_public_key(spki)
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise InvalidArgumentError("the SPKI is not a P-256 public key")
        return self._check(public)

    def raw_verifier(self, raw: bytes) -> Callable[[bytes, bytes], bool]:
        # A compressed point costs a square root to load (benchmarks: limit.p256_device.key_load).
        return self._check(ec.EllipticCurvePublicKey.from_encoded_point(self._curve, raw))

    def _check(self, public: ec.EllipticCurvePublicKey) -> Callable[[bytes, bytes], bool]:
        verify, ecdsa = public.verify, self._ecdsa

        def check(signature: bytes, data: bytes) -> bool:
            if not _in_range_rs(signature, _P256_N_BYTES, _P256_LOW_S):
                return False
            try:
                verify(_raw_to_der(signature), data, ecdsa)
            except InvalidSignature:
                return False
            return True

        return check


class _SM2(_Backend):
    """SM2 with SM3 and the default user id, through Tongsuo (the `sm2` extra)."""

    @staticmethod
    def _lib() -> Any:
        try:
            from tongsuopy.crypto import hashes as sm_hashes  # noqa: PLC0415 - optional: the sm2 extra
            from tongsuopy.crypto import serialization as sm_ser  # noqa: PLC0415 - optional: the sm2 extra
            from tongsuopy.crypto.asymciphers import ec as sm_ec  # noqa: PLC0415 - optional: the sm2 extra
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise InvalidArgumentError("SM2 needs the sm2 extra: pip install 'citycredit[sm2]'") from exc
        return sm_ec, sm_hashes, sm_ser

    def generate(self) -> Any:
        sm_ec, _, _ = self._lib()
        return sm_ec.generate_private_key(sm_ec.SM2())

    def load_private_pem(self, pem: bytes) -> Any:
        sm_ec, _, sm_ser = self._lib()
        from tongsuopy.crypto.exceptions import UnsupportedAlgorithm as SmUnsupported  # noqa: PLC0415 - sm2 extra

        try:
            key = sm_ser.load_pem_private_key(pem, password=None)
        except SmUnsupported as exc:  # a P-256 or Ed25519 key: Tongsuo cannot load it at all
            raise InvalidArgumentError("the PEM file is not an SM2 private key") from exc
        if not isinstance(key, sm_ec.EllipticCurvePrivateKey) or key.curve.name.lower() != "sm2":
            raise InvalidArgumentError("the PEM file is not an SM2 private key")
        return key

    def private_pem(self, key: Any) -> bytes:
        _, _, sm_ser = self._lib()
        return bytes(key.private_bytes(sm_ser.Encoding.PEM, sm_ser.PrivateFormat.PKCS8, sm_ser.NoEncryption()))

    def public_spki(self, key: Any) -> bytes:
        _, _, sm_ser = self._lib()
        return bytes(key.public_key().public_bytes(sm_ser.Encoding.DER, sm_ser.PublicFormat.SubjectPublicKeyInfo))

    def sign(self, key: Any, data: bytes) -> bytes:
        sm_ec, sm_hashes, _ = self._lib()
        return _der_to_raw(key.sign(data, sm_ec.ECDSA(sm_hashes.SM3())))

    def verifier(self, spki: bytes) -> Callable[[bytes, bytes], bool]:
        sm_ec, sm_hashes, sm_ser = self._lib()
        from tongsuopy.crypto.exceptions import InvalidSignature as SmInvalidSignature  # noqa: PLC0415 - sm2 extra
        from tongsuopy.crypto.exceptions import UnsupportedAlgorithm as SmUnsupported  # noqa: PLC0415 - sm2 extra

        try:
            public = sm_ser.load_der_public_key(spki)
        except (ValueError, SmUnsupported) as exc:  # Tongsuo cannot load a P-256 or Ed25519 key at all
            raise InvalidArgumentError("the SPKI is not an SM2 public key") from exc
        if not isinstance(public, sm_ec.EllipticCurvePublicKey) or public.curve.name.lower() != "sm2":
            raise InvalidArgumentError("the SPKI is not an SM2 public key")
        algorithm = sm_ec.ECDSA(sm_hashes.SM3())

        def check(signature: bytes, data: bytes) -> bool:
            if not _in_range_rs(signature, _SM2_N_BYTES, _SM2_MAX_S):
                return False
            try:
                public.verify(_raw_to_der(signature), data, algorithm)
            except SmInvalidSignature:
                return False
            return True

        return check


_BACKENDS: dict[Algorithm, _Backend] = {Algorithm.ED25519: _Ed25519(), Algorithm.P256: _P256(),
                                        Algorithm.SM2: _SM2()}
_BY_NUMBER: dict[int, _Backend] = {algorithm.value: backend for algorithm, backend in _BACKENDS.items()}


def raw_key_verifier(algorithm: int, raw: bytes) -> Callable[[bytes, bytes], bool] | None:
    """`verify(signature, data) -> bool` for a raw public key of the `KeyAlgorithm` number `algorithm`
    (a holder's device key: Ed25519's 32 bytes, P-256's compressed point); None when it is not one."""
    backend = _BY_NUMBER.get(algorithm)  # a dict by number: calling the enum costs a third of an Ed25519 key load
    if backend is None:
        return None
    try:
        return backend.raw_verifier(raw)
    except ValueError:  # bytes that are not a point of the curve (or a key of an algorithm no device uses)
        return None


class Signer(Protocol):
    """Anything that signs for a key: a `SigningKey` in memory, or a key store's handle on a key it keeps."""

    @property
    def algorithm(self) -> Algorithm: ...

    @property
    def spki(self) -> bytes: ...

    @property
    def kid(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes:
        """The raw 64-byte signature (P-256: r||s with low S; SM2: r||s)."""
        ...


class VerifyingKey:
    """A public key with its algorithm and kid; `verify` never raises on a bad signature."""

    __slots__ = ("algorithm", "kid", "spki", "verify")

    def __init__(self, *, algorithm: Algorithm, spki: bytes) -> None:
        self.algorithm = algorithm
        self.spki = bytes(spki)
        self.kid = kid_for_spki(self.spki)
        try:
            self.verify: Callable[[bytes, bytes], bool] = _BACKENDS[algorithm].verifier(self.spki)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. an SM2 SPKI listed as P-256
            raise InvalidArgumentError(f"not a valid {algorithm.slug} public key: {exc}") from exc

    def __repr__(self) -> str:
        return f"VerifyingKey({self.algorithm.slug}, kid={self.kid.hex()})"


class SigningKey:
    """A private key. Signatures are raw: 64 bytes for every algorithm."""

    __slots__ = ("_key", "algorithm", "spki")

    def __init__(self, *, algorithm: Algorithm, key: Any) -> None:
        self.algorithm = algorithm
        self._key = key
        self.spki = _BACKENDS[algorithm].public_spki(key)

    @classmethod
    def generate(cls, algorithm: Algorithm = Algorithm.ED25519) -> SigningKey:
        return cls(algorithm=algorithm, key=_BACKENDS[algorithm].generate())

    @classmethod
    def from_pem(cls, pem: bytes, algorithm: Algorithm) -> SigningKey:
        try:
            key = _BACKENDS[algorithm].load_private_pem(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:  # e.g. an SM2 key read as P-256
            raise InvalidArgumentError(f"not a {algorithm.slug} private key: {exc}") from exc
        return cls(algorithm=algorithm, key=key)

    @property
    def kid(self) -> bytes:
        return kid_for_spki(self.spki)

    def to_pem(self) -> bytes:
        return _BACKENDS[self.algorithm].private_pem(self._key)

    def sign(self, data: bytes) -> bytes:
        return _BACKENDS[self.algorithm].sign(self._key, data)

    def verifying_key(self) -> VerifyingKey:
        return VerifyingKey(algorithm=self.algorithm, spki=self.spki)

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm.slug}, kid={self.kid.hex()})"


# --- TUF keys: the roles' keys as python-tuf (securesystemslib) sees them ------------------------------

_TUF_SCHEMES = {Algorithm.ED25519: "ed25519", Algorithm.P256: "ecdsa-sha2-nistp256"}


def tuf_key(key: VerifyingKey | Signer) -> SSlibKey:
    """The TUF key of an Ed25519 or P-256 public key (TUF roles have no SM2)."""
    scheme = _TUF_SCHEMES.get(key.algorithm)
    if scheme is None:
        raise InvalidArgumentError(f"a TUF role key is Ed25519 or P-256, not {key.algorithm.slug}")
    public = serialization.load_der_public_key(key.spki)
    return SSlibKey.from_crypto(public, scheme=scheme)


def tuf_key_spki(key: Key) -> bytes:
    """The SubjectPublicKeyInfo DER of a TUF key (Ed25519 or P-256)."""
    value = key.keyval.get("public", "")
    try:
        if key.keytype == "ed25519":
            public: Any = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
        elif key.keytype == "ecdsa" and key.scheme == "ecdsa-sha2-nistp256":
            public = serialization.load_pem_public_key(value.encode())
        else:
            raise InvalidArgumentError(f"TUF key {key.keyid[:16]}… is {key.keytype}/{key.scheme}, not Ed25519 or P-256")
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"TUF key {key.keyid[:16]}… is malformed: {exc}") from None
    return bytes(public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


class TufSigner(TufSignerBase):
    """Signs TUF metadata with any `Signer` (securesystemslib verifies ECDSA signatures in DER)."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self._public = tuf_key(signer)

    @property
    def public_key(self) -> Key:
        return self._public

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri: str, public_key: Key, secrets_handler: Any = None) -> TufSigner:
        raise InvalidArgumentError("citycredit signers come from its key stores, not from a URI")

    def sign(self, payload: bytes) -> Signature:
        raw = self._signer.sign(payload)
        data = raw if self._signer.algorithm is Algorithm.ED25519 else _raw_to_der(raw)
        return Signature(self._public.keyid, data.hex())
