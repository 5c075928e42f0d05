"""Deterministic material for the vector generator: keys from seeds, a book of recorded signatures, zlib streams.

Ed25519 signatures are deterministic, so everything signed with Ed25519 (codes, TUF
metadata, status list heads) regenerates byte for byte. ECDSA P-256 and SM2 signatures
are randomised, so each is made once and recorded in `keys/signatures.json` by the key,
the variant and the hash of what it signs; later runs reuse a recorded signature only
after verifying it under the regenerated key. `--check` therefore proves that every
payload and kid regenerates byte for byte and that every recorded signature verifies;
a recorded signature that does not verify stops the generator.

SM2 vectors also need signatures a correct signer never makes (another user id, no Z
value at all). The SDK cannot make those, so `sm2_sign`/`sm2_verify` implement SM2
(GB/T 32918.2) over the curve's integers for the generator alone; the SDK's own
verifier is the judge of every vector.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citycredit.core import Algorithm, SigningKey, VerifyingKey
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = [
    "BOOK_FORMAT",
    "SM2_DEFAULT_ID",
    "BookSigner",
    "SignatureBook",
    "deflate_fixed",
    "seeded_key",
    "sm2_sign",
    "sm2_verify",
]

BOOK_FORMAT = "citycredit-signature-book/2"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# SM2 (GB/T 32918.5): the recommended curve and the default user id.
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
         0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
SM2_DEFAULT_ID = b"1234567812345678"


def _scalar(seed: str, order: int) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big") % (order - 1) + 1


def seeded_key(seed: str, algorithm: Algorithm) -> SigningKey:
    """A fixed test key: Ed25519 from SHA-256(seed); P-256 and SM2 as SHA-256(seed) mod (n-1) + 1."""
    if algorithm is Algorithm.ED25519:
        digest = hashlib.sha256(seed.encode()).digest()
        return SigningKey(algorithm=algorithm, key=ed25519.Ed25519PrivateKey.from_private_bytes(digest))
    if algorithm is Algorithm.P256:
        return SigningKey(algorithm=algorithm, key=ec.derive_private_key(_scalar(seed, P256_N), ec.SECP256R1()))
    from tongsuopy.crypto.asymciphers import ec as sm_ec  # noqa: PLC0415 - optional: the sm2 extra (generator only)

    return SigningKey(algorithm=algorithm, key=sm_ec.derive_private_key(_scalar(seed, SM2_N), sm_ec.SM2()))


# --- SM2 over integers (GB/T 32918.2), for the signatures a correct signer never makes -----------------


def _sm3(data: bytes) -> bytes:
    from tongsuopy.crypto import hashes  # noqa: PLC0415 - optional: the sm2 extra (generator only)

    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return bytes(digest.finalize())


Point = tuple[int, int] | None


def _add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % SM2_P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] + SM2_A) * pow(2 * p[1], -1, SM2_P) % SM2_P
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, SM2_P) % SM2_P
    x = (slope * slope - p[0] - q[0]) % SM2_P
    return x, (slope * (p[0] - x) - p[1]) % SM2_P


def _mul(k: int, p: Point) -> Point:
    out: Point = None
    while k:
        if k & 1:
            out = _add(out, p)
        p = _add(p, p)
        k >>= 1
    return out


def _sm2_public(spki: bytes) -> tuple[int, int]:
    """The public point of an uncompressed SM2 SubjectPublicKeyInfo (the last 64 bytes are x || y)."""
    return int.from_bytes(spki[-64:-32], "big"), int.from_bytes(spki[-32:], "big")


def _sm2_digest(public: tuple[int, int], message: bytes, user_id: bytes | None) -> int:
    """e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || G || P); with `user_id` None, e = SM3(M) (no Z)."""
    if user_id is None:
        return int.from_bytes(_sm3(message), "big")
    z = _sm3(
        (8 * len(user_id)).to_bytes(2, "big") + user_id
        + b"".join(v.to_bytes(32, "big") for v in (SM2_A, SM2_B, *SM2_G, *public)))
    return int.from_bytes(_sm3(z + message), "big")


def sm2_sign(private: int, spki: bytes, message: bytes, *, user_id: bytes | None) -> bytes:
    """A raw r||s SM2 signature with a random nonce, under `user_id` (None: over the message without Z)."""
    e = _sm2_digest(_sm2_public(spki), message, user_id)
    while True:
        k = secrets.randbelow(SM2_N - 1) + 1
        point = _mul(k, SM2_G)
        assert point is not None
        r = (e + point[0]) % SM2_N
        if r == 0 or r + k == SM2_N:
            continue
        s = pow(1 + private, -1, SM2_N) * (k - r * private) % SM2_N
        if s:
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sm2_verify(spki: bytes, signature: bytes, message: bytes, *, user_id: bytes | None) -> bool:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < SM2_N and 0 < s < SM2_N and (r + s) % SM2_N):
        return False
    public = _sm2_public(spki)
    point = _add(_mul(s, SM2_G), _mul((r + s) % SM2_N, public))
    return point is not None and (_sm2_digest(public, message, user_id) + point[0]) % SM2_N == r


# --- the signature book --------------------------------------------------------------------------------

# Variants: "" the algorithm as the SDK signs; "sm2-id:<hex>" SM2 under another user id; "sm2-no-z" SM2
# over the message without the Z value.
_Entry = tuple[str, str, str]  # (kid hex, variant, SHA-256 of the message, hex)


class SignatureBook:
    """Signs with seeded keys; P-256 and SM2 signatures are taken from (and added to) a record."""

    def __init__(self, recorded: dict[_Entry, bytes] | None = None) -> None:
        self._recorded = dict(recorded or {})
        self._used: dict[_Entry, tuple[str, bytes]] = {}
        self._private: dict[bytes, int] = {}

    @classmethod
    def load(cls, path: Path) -> SignatureBook:
        if not path.is_file():
            return cls()
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != BOOK_FORMAT:
            raise ValueError(f"{path}: not a {BOOK_FORMAT} file")
        return cls({(e["kid"], e["variant"], e["message_sha256"]): bytes.fromhex(e["signature"])
                    for e in doc["signatures"]})

    def sign(self, key: SigningKey, message: bytes, *, variant: str = "") -> bytes:
        if key.algorithm is Algorithm.ED25519 and not variant:
            return key.sign(message)
        entry = (key.kid.hex(), variant, hashlib.sha256(message).hexdigest())
        if entry in self._used:  # the same message again in this run: the same signature
            return self._used[entry][1]
        signature = self._recorded.get(entry)
        if signature is not None and not self._verifies(key, signature, message, variant):
            raise ValueError(f"the recorded {key.algorithm.slug} signature {entry} does not verify; "
                             "delete it from the signature book to sign anew")
        if signature is None:
            signature = self._make(key, message, variant)
        self._used[entry] = (key.algorithm.slug, signature)
        return signature

    def signer(self, key: SigningKey) -> BookSigner:
        """A `Signer` for core functions (the issuer, presentations) that signs through this book."""
        return BookSigner(key, self)

    def _make(self, key: SigningKey, message: bytes, variant: str) -> bytes:
        if not variant:
            return key.sign(message)
        return sm2_sign(self._sm2_private(key), key.spki, message, user_id=_user_id(variant))

    def _verifies(self, key: SigningKey, signature: bytes, message: bytes, variant: str) -> bool:
        if not variant:
            return key.verifying_key().verify(signature, message)
        return sm2_verify(key.spki, signature, message, user_id=_user_id(variant))

    def _sm2_private(self, key: SigningKey) -> int:
        if key.algorithm is not Algorithm.SM2:
            raise ValueError(f"signature variants are SM2's, not {key.algorithm.slug}'s")
        private: Any = key._key  # the generator's own seeded key: its scalar is known
        return int(private.private_numbers().private_value)

    def dump(self) -> bytes:
        """The signatures this run used (unused records are dropped), in a stable order."""
        entries = [{"kid": kid, "algorithm": algorithm, "variant": variant, "message_sha256": digest,
                    "signature": signature.hex()}
                   for (kid, variant, digest), (algorithm, signature) in sorted(self._used.items())]
        doc = {"format": BOOK_FORMAT,
               "note": "ECDSA P-256 and SM2 are randomised: these signatures were made once and are reused after "
                       "verification under the regenerated key, so the vectors regenerate byte for byte.",
               "signatures": entries}
        return (json.dumps(doc, indent=2) + "\n").encode()


def _user_id(variant: str) -> bytes | None:
    if variant == "sm2-no-z":
        return None
    if variant.startswith("sm2-id:"):
        return bytes.fromhex(variant.removeprefix("sm2-id:"))
    raise ValueError(f"unknown signature variant {variant!r}")


@dataclass(frozen=True)
class BookSigner:
    """A seeded key that signs through the book (the `Signer` protocol of the core)."""

    key: SigningKey
    book: SignatureBook

    @property
    def algorithm(self) -> Algorithm:
        return self.key.algorithm

    @property
    def spki(self) -> bytes:
        return self.key.spki

    @property
    def kid(self) -> bytes:
        return self.key.kid

    def sign(self, data: bytes) -> bytes:
        return self.book.sign(self.key, data)

    def verifying_key(self) -> VerifyingKey:
        return self.key.verifying_key()


# --- zlib -------------------------------------------------------------------------------------------

_LENGTH_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
                163, 195, 227, 258)
_LENGTH_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0)


class _Bits:
    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, bits: int) -> None:
        self.value |= value << self.count
        self.count += bits

    def huffman(self, code: int, bits: int) -> None:
        """Huffman codes are packed most significant bit first."""
        self.put(int(f"{code:0{bits}b}"[::-1], 2), bits)

    def symbol(self, symbol: int) -> None:
        if symbol < 144:
            self.huffman(0x30 + symbol, 8)
        elif symbol < 256:
            self.huffman(0x190 + symbol - 144, 9)
        elif symbol < 280:
            self.huffman(symbol - 256, 7)
        else:
            self.huffman(0xC0 + symbol - 280, 8)

    def to_bytes(self) -> bytes:
        return self.value.to_bytes((self.count + 7) // 8, "little")


def deflate_fixed(data: bytes) -> bytes:
    """A zlib stream of one fixed-Huffman deflate block: literals, and runs as matches at distance 1.

    The generator's own encoder, so the bytes are the same on every platform (zlib and
    zlib-ng compress differently), and a status list of mostly VALID entries takes a
    few hundred bytes instead of the 32 KiB of stored blocks. Every inflater reads it.
    """
    bits = _Bits()
    bits.put(1, 1)  # BFINAL
    bits.put(1, 2)  # BTYPE 01: fixed Huffman codes
    for run in _RUNS.finditer(data):
        byte, rest = run.group()[0], len(run.group()) - 1
        bits.symbol(byte)  # a run's first byte is a literal; the rest repeat the byte before (distance 1)
        while rest >= 3:
            length = min(rest, 258)
            index = max(k for k, base in enumerate(_LENGTH_BASE) if base <= length)
            bits.symbol(257 + index)
            bits.put(length - _LENGTH_BASE[index], _LENGTH_EXTRA[index])
            bits.huffman(0, 5)  # distance code 0: distance 1
            rest -= length
        for _ in range(rest):
            bits.symbol(byte)
    bits.symbol(256)
    stream = b"\x78\x01" + bits.to_bytes() + zlib.adler32(data).to_bytes(4, "big")
    assert zlib.decompress(stream) == data
    return stream


_RUNS = re.compile(rb"(.)\1*", re.DOTALL)
