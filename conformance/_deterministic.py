"""Deterministic material for the vector generator: keys from seeds, recorded P-256 signatures.

Ed25519 signatures are deterministic, so Ed25519 vectors regenerate byte for byte.
ECDSA P-256 signatures are randomised (and `cryptography` has no RFC 6979), so a
P-256 signature is made once and recorded in `keys/p256-signatures.json` by the
hash of what it signs; later runs reuse the recorded signature after verifying
it under the regenerated key. The check mode therefore proves that every P-256
payload and kid regenerates byte for byte and that every recorded signature
verifies; a recorded signature that does not verify stops the generator.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

from citycredit.core import Algorithm, SigningKey
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = ["SignatureBook", "seeded_key", "zlib_stored"]

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
BOOK_FORMAT = "citycredit-p256-signatures/1"


def seeded_key(seed: str, algorithm: Algorithm) -> SigningKey:
    """A fixed test key: Ed25519 from SHA-256(seed), P-256 from SHA-256(seed) reduced into [1, n-1]."""
    digest = hashlib.sha256(seed.encode()).digest()
    if algorithm is Algorithm.ED25519:
        return SigningKey(algorithm=algorithm, key=ed25519.Ed25519PrivateKey.from_private_bytes(digest))
    if algorithm is Algorithm.P256:
        scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
        return SigningKey(algorithm=algorithm, key=ec.derive_private_key(scalar, ec.SECP256R1()))
    raise ValueError(f"no seeded keys for {algorithm.slug}")


class SignatureBook:
    """Signs with a key; P-256 signatures are taken from (and added to) a record."""

    def __init__(self, recorded: dict[tuple[str, str], bytes] | None = None) -> None:
        self._recorded = dict(recorded or {})
        self._used: dict[tuple[str, str], bytes] = {}

    @classmethod
    def load(cls, path: Path) -> SignatureBook:
        if not path.is_file():
            return cls()
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != BOOK_FORMAT:
            raise ValueError(f"{path}: not a {BOOK_FORMAT} file")
        return cls({(e["kid"], e["message_sha256"]): bytes.fromhex(e["signature"]) for e in doc["signatures"]})

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        if key.algorithm is Algorithm.ED25519:
            return key.sign(message)
        entry = (key.kid.hex(), hashlib.sha256(message).hexdigest())
        signature = self._recorded.get(entry)
        if signature is not None and not key.verifying_key().verify(signature, message):
            raise ValueError(f"the recorded P-256 signature {entry} does not verify; delete it to sign anew")
        if signature is None:
            signature = key.sign(message)
        self._used[entry] = signature
        return signature

    def dump(self) -> bytes:
        """The signatures this run used (unused records are dropped), in a stable order."""
        entries = [{"kid": kid, "message_sha256": digest, "signature": sig.hex()}
                   for (kid, digest), sig in sorted(self._used.items())]
        doc = {"format": BOOK_FORMAT,
               "note": "ECDSA is randomised: these P-256 signatures were made once and are reused after "
                       "verification, so the vectors regenerate byte for byte.",
               "signatures": entries}
        return (json.dumps(doc, indent=2) + "\n").encode()


def zlib_stored(data: bytes) -> bytes:
    """A zlib stream of stored (uncompressed) deflate blocks: the same bytes on every zlib build.

    Compressed output differs between zlib and zlib-ng; stored blocks do not, and every
    inflater reads them.
    """
    out = bytearray(b"\x78\x01")
    chunks = [data[i:i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, chunk in enumerate(chunks):
        out.append(1 if i == len(chunks) - 1 else 0)
        out += len(chunk).to_bytes(2, "little") + (len(chunk) ^ 0xFFFF).to_bytes(2, "little") + chunk
    out += zlib.adler32(data).to_bytes(4, "big")
    return bytes(out)
