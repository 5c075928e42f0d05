"""Looking for secrets where none may be: every stored blob tried as a key, and searched for every secret.

`alliance_secrets(home)` opens every party's key store of a demo alliance with its passphrase and reads
each private key and secret in clear (the file store's own unsealing), so the search knows what it looks
for; `findings(blobs, secrets)` then reports any blob that

- holds one of them (raw, hex, base64, PEM or DER), or a token or a passphrase of the demo;
- loads as a private key (PEM or DER), whoever's;
- is 32 bytes (raw, or hex or base64 in text) that work as an Ed25519 seed or a P-256 scalar of any
  party's key, or as an HMAC secret that reproduces a holder pseudonym of a code issued in the test.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from citycredit.core import hmac_sha256, holder_pseudonym
from citycredit.keystore import EncryptedFileStore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import create_engine, inspect, text

__all__ = ["Secrets", "alliance_secrets", "database_blobs", "directory_blobs", "findings"]

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_DER = serialization.Encoding.DER
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{40,}={0,2}")
_HEX = re.compile(rb"[0-9a-fA-F]{64,}")


@dataclass
class Secrets:
    """What must never be found in a gateway's state: byte patterns, keys' public halves, pseudonym samples."""

    patterns: dict[bytes, str] = field(default_factory=dict)
    public_keys: set[bytes] = field(default_factory=set)  # the SPKI of every party's key
    # (audience, holder identity, pseudonym) of codes the test issued: a secret that reproduces one is a city's.
    pseudonyms: list[tuple[int, str, bytes]] = field(default_factory=list)

    def add(self, secret: bytes, what: str) -> None:
        forms = [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
                 base64.b64encode(secret).rstrip(b"="), base64.urlsafe_b64encode(secret).rstrip(b"=")]
        for form in forms:
            if len(form) >= 16:
                self.patterns[form] = what


def _private_forms(pem: bytes) -> Iterator[bytes]:
    """A private key's PEM, its DER and its raw private value."""
    yield pem
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError, binascii.Error):  # an algorithm cryptography does not load (SM2): PEM only
        return
    yield key.private_bytes(_DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        yield key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        yield key.private_numbers().private_value.to_bytes(32, "big")


def alliance_secrets(home: Path, *, tokens: Iterable[str] = ()) -> Secrets:
    """Every private key and secret of every party of the demo home, its tokens and passphrases."""
    found = Secrets()
    passphrases = json.loads((home / "passphrases.json").read_text())
    for store_file in sorted(home.rglob("store.json")):
        folder = store_file.parent
        relative = str(folder.relative_to(home))
        store = EncryptedFileStore.open(folder, passphrases[relative])
        for name in store.names():
            for kind in ("signing", "secret"):
                try:
                    sealed, plaintext = store._unseal(name, kind)  # the ground truth: the key in clear
                except Exception:
                    continue
                if kind == "secret":
                    found.add(plaintext, f"the secret {name} of {relative}")
                else:
                    found.public_keys.add(sealed.spki)
                    for form in _private_forms(plaintext):
                        found.add(form, f"the private key {name} of {relative}")
    credentials = json.loads((home / "credentials.json").read_text())
    for city, parties in credentials["cities"].items():
        for kind in ("city_office", "merchant"):
            found.patterns[parties[kind]["token"].encode()] = f"the {kind} token of {city}"
    for token in tokens:
        found.patterns[token.encode()] = "a token issued in the test"
    for relative, value in passphrases.items():
        found.patterns[value.encode()] = f"the passphrase of {relative}"
    return found


def directory_blobs(directory: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `directory`, whole."""
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(directory)), path.read_bytes()


def database_blobs(url: str) -> Iterator[tuple[str, bytes]]:
    """Every text or binary value of every row of every table of the database at `url` (SQLAlchemy URL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for number, row in enumerate(conn.execute(text(f'SELECT * FROM "{table}"'))):
                    for column, value in row._mapping.items():
                        if isinstance(value, memoryview):
                            value = bytes(value)
                        if isinstance(value, str):
                            value = value.encode()
                        if isinstance(value, bytes) and value:
                            yield f"{table}[{number}].{column}", value
    finally:
        engine.dispose()


def _decoded(blob: bytes) -> Iterator[bytes]:
    """The blob, and whatever its base64 and hex runs decode to."""
    yield blob
    for match in _B64.finditer(blob):
        run = match.group().rstrip(b"=")
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            with contextlib.suppress(binascii.Error, ValueError):
                yield decode(run + b"=" * (-len(run) % 4))
    for match in _HEX.finditer(blob):
        run = match.group()
        yield bytes.fromhex(run[: len(run) // 2 * 2].decode())


def _as_key(candidate: bytes, secrets: Secrets) -> str | None:
    """What `candidate` unlocks, tried as a key or secret; None when nothing."""
    if b"PRIVATE KEY-----" in candidate:
        return "a PEM private key"
    if len(candidate) < 4096:
        for load in (serialization.load_der_private_key, serialization.load_pem_private_key):
            try:
                load(candidate, None)
            except Exception:
                continue
            return "a loadable private key"
    if len(candidate) != 32:
        return None
    seed = ed25519.Ed25519PrivateKey.from_private_bytes(candidate)
    if seed.public_key().public_bytes(_DER, _SPKI) in secrets.public_keys:
        return "the Ed25519 seed of a party's key"
    scalar = int.from_bytes(candidate, "big")
    if 0 < scalar < _P256_ORDER:
        public = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_bytes(_DER, _SPKI)
        if public in secrets.public_keys:
            return "the P-256 scalar of a party's key"
    mac = hmac_sha256(candidate)
    if any(holder_pseudonym(mac, audience, ref) == pseudonym for audience, ref, pseudonym in secrets.pseudonyms):
        return "a city's pseudonym secret"
    return None


def findings(blobs: Iterable[tuple[str, bytes]], secrets: Secrets) -> list[str]:
    """Every blob that holds or is a secret, as "where: what"."""
    out = []
    for where, blob in blobs:
        for pattern, what in secrets.patterns.items():
            if pattern in blob:
                out.append(f"{where}: holds {what}")
        for candidate in _decoded(blob):
            unlocked = _as_key(candidate, secrets)
            if unlocked:
                out.append(f"{where}: is {unlocked}")
                break
    return out
