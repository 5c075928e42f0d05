"""EncryptedFileStore: real scrypt, real ChaCha20-Poly1305, real files."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from citycredit.core import Algorithm, SigningKey, VerifyingKey, kid_for_spki
from citycredit.errors import (
    CityCreditError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from citycredit.keystore import EncryptedFileStore, KeyStore, Mac, Signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PASSPHRASE = "correct horse battery staple"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture
def store(tmp_path: Path) -> EncryptedFileStore:
    return EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> EncryptedFileStore:
    """One store for the tests that only read (a scrypt derivation costs about 0.15 s)."""
    shared = EncryptedFileStore.create(tmp_path_factory.mktemp("shared") / "keys", PASSPHRASE)
    for algorithm in Algorithm:
        shared.create_key(algorithm.slug, algorithm)
    shared.create_secret("holder")
    return shared


# --- the interface -------------------------------------------------------------------------------


def test_exported_names() -> None:
    import citycredit.keystore

    assert sorted(citycredit.keystore.__all__) == ["EncryptedFileStore", "KeyStore", "Mac", "Pkcs11Store", "Signer",
                                                   "open_store", "passphrase_from_env"]


def test_store_objects_fit_the_protocols(shared_store: EncryptedFileStore) -> None:
    import citycredit.core

    assert Signer is citycredit.core.Signer  # one protocol, which core's SigningKey fits (mypy checks _file.py)
    for signer in (SigningKey.generate(Algorithm.ED25519), shared_store.signer("ed25519")):
        assert {"algorithm", "spki", "kid", "sign"} <= set(dir(signer))
    mac: Mac = shared_store.mac("holder")
    assert [name for name in dir(mac) if not name.startswith("_")] == ["mac"]  # nothing hands the secret back
    assert isinstance(shared_store, KeyStore)


# --- create, open, sign, verify ----------------------------------------------------------------------


def test_create_then_open_gives_the_same_keys(tmp_path: Path) -> None:
    created = EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
    signers = {a.slug: created.create_key(f"{a.slug}-key", a) for a in Algorithm}
    created.create_secret("holder")
    opened = EncryptedFileStore.open(tmp_path / "keys", PASSPHRASE)
    assert opened.names() == ["ed25519-key", "holder", "p256-key", "sm2-key"]
    for slug, signer in signers.items():
        again = opened.signer(f"{slug}-key")
        assert (again.algorithm, again.spki, again.kid) == (signer.algorithm, signer.spki, signer.kid)
        assert again.kid == kid_for_spki(again.spki)
        assert opened.public_key(f"{slug}-key").spki == signer.spki


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.slug)
def test_signatures_verify_with_core(shared_store: EncryptedFileStore, algorithm: Algorithm) -> None:
    signer = shared_store.signer(algorithm.slug)
    public = VerifyingKey(algorithm=algorithm, spki=signer.spki)
    for data in (b"", b"data", bytes(range(256)) * 40):
        signature = signer.sign(data)
        assert len(signature) == 64
        assert public.verify(signature, data)
        assert not public.verify(signature, data + b"!")
    assert shared_store.public_key(algorithm.slug).verify(signer.sign(b"x"), b"x")


def test_an_imported_key_signs_as_itself(store: EncryptedFileStore) -> None:
    key = SigningKey.generate(Algorithm.P256)
    signer = store.import_key("imported", key)
    assert signer.spki == key.spki and signer.kid == key.kid
    assert key.verifying_key().verify(store.signer("imported").sign(b"data"), b"data")


def test_p256_signatures_are_low_s(store: EncryptedFileStore) -> None:
    signer = store.import_key("p256", SigningKey.generate(Algorithm.P256))
    public = store.public_key("p256")
    for i in range(300):  # a signer that did not normalise would give s > n/2 about half the time
        data = i.to_bytes(2, "big")
        signature = signer.sign(data)
        assert int.from_bytes(signature[32:], "big") <= P256_N // 2
        assert public.verify(signature, data)


# --- secrets -------------------------------------------------------------------------------------


def test_mac_is_stable_per_secret_and_differs_between_secrets(tmp_path: Path) -> None:
    one = EncryptedFileStore.create(tmp_path / "one", PASSPHRASE)
    other = EncryptedFileStore.create(tmp_path / "other", PASSPHRASE)
    created = one.create_secret("holder")
    tag = created.mac(b"330100|holder-42")
    assert len(tag) == 32
    assert one.mac("holder").mac(b"330100|holder-42") == tag  # the same name gives the same MAC
    assert EncryptedFileStore.open(tmp_path / "one", PASSPHRASE).mac("holder").mac(b"330100|holder-42") == tag
    assert EncryptedFileStore.open(tmp_path / "one", PASSPHRASE).mac("holder").mac(b"330100|holder-42") == tag
    assert created.mac(b"330100|holder-43") != tag
    assert one.create_secret("holder-2").mac(b"330100|holder-42") != tag  # another secret in the same store
    assert other.create_secret("holder").mac(b"330100|holder-42") != tag  # the same name in another store


def test_kinds_are_kept_apart(shared_store: EncryptedFileStore) -> None:
    with pytest.raises(InvalidArgumentError, match="is a secret, not a signing key"):
        shared_store.signer("holder")
    with pytest.raises(InvalidArgumentError, match="is a signing key, not a secret"):
        shared_store.mac("ed25519")
    with pytest.raises(InvalidArgumentError):
        shared_store.public_key("holder")


# --- the passphrase ------------------------------------------------------------------------------


def test_a_wrong_passphrase_is_refused_at_open(store: EncryptedFileStore) -> None:
    store.create_key("k", Algorithm.ED25519)
    with pytest.raises(UnauthenticatedError, match=re.escape(f"wrong passphrase for key store {store.path}")):
        EncryptedFileStore.open(store.path, PASSPHRASE + "!")
    with pytest.raises(InvalidArgumentError):
        EncryptedFileStore.open(store.path, "")


def test_store_json_keeps_the_scrypt_parameters(store: EncryptedFileStore) -> None:
    kdf = json.loads((store.path / "store.json").read_text())["kdf"]
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", 2**15, 8, 1)
    assert len(base64.b64decode(kdf["salt"])) == 16
    other = EncryptedFileStore.create(store.path.parent / "other", PASSPHRASE)
    assert json.loads((other.path / "store.json").read_text())["kdf"]["salt"] != kdf["salt"]


# --- what is on disk -----------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def test_modes_are_0700_and_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask, which would leave new files world-readable
    try:
        store = EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
        for algorithm in Algorithm:
            store.create_key(algorithm.slug, algorithm)
        store.import_key("imported", SigningKey.generate(Algorithm.ED25519))
        store.create_secret("holder")
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    files = sorted(p.name for p in _files(store.path))
    assert files == ["ed25519.key", "holder.key", "imported.key", "p256.key", "sm2.key", "store.json"]  # no leftovers
    for path in _files(store.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_create_tightens_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o755)
    store = EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700


def _views(path: Path) -> list[bytes]:
    """The file's bytes, and every JSON string in it decoded from base64 where it decodes."""
    data = path.read_bytes()
    views = [data]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, str):
            with contextlib.suppress(binascii.Error):
                views.append(base64.b64decode(value, validate=True))

    walk(json.loads(data))
    return views


def _private_needles(key: SigningKey) -> list[bytes]:
    pem = key.to_pem()
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    der = base64.b64decode(body)
    needles = [pem, body, der, *pem.splitlines()[1:-1]]
    loaded = serialization.load_pem_private_key(pem, None) if key.algorithm is not Algorithm.SM2 else None
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        needles.append(loaded.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption()))
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        needles.append(loaded.private_numbers().private_value.to_bytes(32, "big"))
    return needles


def test_no_file_holds_private_material_in_clear(store: EncryptedFileStore) -> None:
    keys = [SigningKey.generate(a) for a in Algorithm]
    for key in keys:
        store.import_key(key.algorithm.slug, key)
    holder = store.create_secret("holder")
    kdf = json.loads((store.path / "store.json").read_text())["kdf"]
    derived = Scrypt(salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        PASSPHRASE.encode())
    needles = [n for key in keys for n in _private_needles(key)]
    needles += [PASSPHRASE.encode(), derived, holder.mac(b""), holder.mac(b"probe")]
    needles += [n.hex().encode() for n in needles]
    assert all(len(n) >= 16 for n in needles)
    for path in _files(store.path):
        for view in _views(path):
            for needle in needles:
                assert needle not in view, f"{path.name} holds private material in clear"


# --- tampering and hostile files -------------------------------------------------------------------


def _edit(path: Path, **fields: Any) -> None:
    document = json.loads(path.read_text())
    document.update(fields)
    path.write_text(json.dumps(document))


def test_a_flipped_ciphertext_byte_is_refused(store: EncryptedFileStore) -> None:
    store.create_key("k", Algorithm.ED25519)
    path = store.path / "k.key"
    sealed = bytearray(base64.b64decode(json.loads(path.read_text())["ciphertext"]))
    sealed[len(sealed) // 2] ^= 0x01
    _edit(path, ciphertext=base64.b64encode(bytes(sealed)).decode())
    with pytest.raises(InvalidArgumentError, match="fails its integrity check"):
        store.signer("k")


def test_a_file_renamed_to_another_name_is_refused(store: EncryptedFileStore) -> None:
    store.create_key("a", Algorithm.ED25519)
    store.create_key("b", Algorithm.ED25519)
    store.create_secret("s")
    os.replace(store.path / "a.key", store.path / "b.key")  # b's file now holds a's key
    os.rename(store.path / "s.key", store.path / "t.key")
    with pytest.raises(InvalidArgumentError, match="fails its integrity check"):
        store.signer("b")
    with pytest.raises(InvalidArgumentError, match="fails its integrity check"):
        store.mac("t")
    with pytest.raises(NotFoundError):
        store.signer("a")


@pytest.mark.parametrize("field", ["spki", "algorithm", "nonce"])
def test_an_edited_clear_field_is_refused(store: EncryptedFileStore, field: str) -> None:
    store.create_key("k", Algorithm.P256)
    replacement = {"spki": base64.b64encode(SigningKey.generate(Algorithm.P256).spki).decode(),
                   "algorithm": "sm2", "nonce": base64.b64encode(bytes(12)).decode()}[field]
    _edit(store.path / "k.key", **{field: replacement})
    with pytest.raises(InvalidArgumentError, match="fails its integrity check"):
        store.public_key("k")  # the public key is read through the seal too: a swapped one is caught


def test_a_file_from_another_store_is_refused(tmp_path: Path) -> None:
    one = EncryptedFileStore.create(tmp_path / "one", PASSPHRASE)
    other = EncryptedFileStore.create(tmp_path / "other", PASSPHRASE)  # same passphrase, another salt
    one.create_key("k", Algorithm.ED25519)
    (other.path / "k.key").write_bytes((one.path / "k.key").read_bytes())
    with pytest.raises(InvalidArgumentError, match="fails its integrity check"):
        other.signer("k")


@pytest.mark.parametrize("content", [
    b"", b"not json", b"\xff\xfe\x00garbage", b"[]", b"null", b'{"format": "citycredit-key/1"}',
    b'{"format": "citycredit-key/1", "kind": "signing", "algorithm": "rsa"}',
    b'{"format": "citycredit-key/1", "kind": "signing", "algorithm": 7}',
    b'{"format": "citycredit-key/1", "kind": "secret", "algorithm": "hmac-sha256", "nonce": "!!", "ciphertext": ""}',
    b"[" * 50_000, b" " * 70_000,
], ids=lambda c: repr(c[:24]))
def test_a_hostile_key_file_gives_a_catalogue_error(store: EncryptedFileStore, content: bytes) -> None:
    (store.path / "k.key").write_bytes(content)
    assert store.names() == ["k"]  # listing reads no file
    with pytest.raises(InvalidArgumentError):
        store.signer("k")
    with pytest.raises(InvalidArgumentError):
        store.mac("k")


def test_a_truncated_key_file_gives_a_catalogue_error(store: EncryptedFileStore) -> None:
    store.create_key("k", Algorithm.SM2)
    data = (store.path / "k.key").read_bytes()
    for cut in range(0, len(data), 7):
        (store.path / "k.key").write_bytes(data[:cut])
        with pytest.raises(InvalidArgumentError):
            store.signer("k")


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=600) | st.text(max_size=600).map(str.encode))
def test_any_key_file_content_gives_a_catalogue_error(store: EncryptedFileStore, content: bytes) -> None:
    (store.path / "fuzz.key").write_bytes(content)
    for read in (store.signer, store.mac, store.public_key):
        with pytest.raises(CityCreditError):
            read("fuzz")


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b'{"format": "citycredit-keystore/1"}',
    b'{"format": "citycredit-keystore/1", "kdf": {"name": "scrypt", "n": 1073741824, "r": 8, "p": 1, '
    b'"salt": "AAAAAAAAAAAAAAAAAAAAAA=="}, "check": {"nonce": "AAAAAAAAAAAAAAAA", "ciphertext": ""}}',
    b'{"format": "citycredit-keystore/1", "kdf": {"name": "scrypt", "n": true, "r": 8, "p": 1, "salt": ""}}',
    b'{"format": "citycredit-keystore/1", "kdf": {"name": "argon2"}}',
], ids=lambda c: repr(c[:24]))
def test_a_hostile_store_json_gives_a_catalogue_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "store.json").write_bytes(content)
    with pytest.raises(InvalidArgumentError, match="not a valid key store file"):
        EncryptedFileStore.open(tmp_path / "keys", PASSPHRASE)


# --- names and refusals ----------------------------------------------------------------------------

BAD_NAMES = ["", "A", "Key", "-a", ".a", "_a", "a/b", "../a", "a b", "a\n", "é", "a" * 65, "a:b", 7, None]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_names_are_validated(shared_store: EncryptedFileStore, name: Any) -> None:
    key = SigningKey.generate(Algorithm.ED25519)
    calls = [lambda: shared_store.create_key(name, Algorithm.ED25519), lambda: shared_store.import_key(name, key),
             lambda: shared_store.signer(name), lambda: shared_store.public_key(name),
             lambda: shared_store.create_secret(name), lambda: shared_store.mac(name)]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="is not valid"):
            call()


def test_the_longest_name_and_odd_characters_are_accepted(store: EncryptedFileStore) -> None:
    names = ["a" * 64, "0", "city-330100.sign_2026"]
    for name in names:
        store.create_key(name, Algorithm.ED25519)
    assert store.names() == sorted(names)


def test_a_taken_name_is_refused_and_the_key_kept(store: EncryptedFileStore) -> None:
    first = store.create_key("k", Algorithm.ED25519)
    with pytest.raises(InvalidArgumentError, match="already holds 'k'"):
        store.create_key("k", Algorithm.P256)
    with pytest.raises(InvalidArgumentError, match="already holds 'k'"):
        store.create_secret("k")
    with pytest.raises(InvalidArgumentError, match="already holds 'k'"):
        store.import_key("k", SigningKey.generate(Algorithm.ED25519))
    assert store.signer("k").spki == first.spki


def test_wrong_arguments_are_refused(store: EncryptedFileStore) -> None:
    with pytest.raises(InvalidArgumentError):
        store.create_key("k", "ed25519")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        store.import_key("k", b"-----BEGIN PRIVATE KEY-----")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        store.create_key("k", Algorithm.ED25519).sign("text")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        store.create_secret("s").mac(None)  # type: ignore[arg-type]


def test_a_missing_key_is_not_found(shared_store: EncryptedFileStore) -> None:
    for read in (shared_store.signer, shared_store.mac, shared_store.public_key):
        with pytest.raises(NotFoundError, match="no key or secret named 'absent'"):
            read("absent")


def test_create_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="not an empty directory"):
        EncryptedFileStore.create(tmp_path / "busy", PASSPHRASE)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgumentError, match="not an empty directory"):
        EncryptedFileStore.create(tmp_path / "file", PASSPHRASE)
    EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
    with pytest.raises(InvalidArgumentError, match="already a key store"):
        EncryptedFileStore.create(tmp_path / "keys", PASSPHRASE)
    with pytest.raises(InvalidArgumentError):
        EncryptedFileStore.create(tmp_path / "new", "")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_open_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="is not a key store"):
        EncryptedFileStore.open(tmp_path / "absent", PASSPHRASE)
    with pytest.raises(NotFoundError, match="is not a key store"):
        EncryptedFileStore.open(tmp_path, PASSPHRASE)


# --- the property ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2048), bit=st.integers(min_value=0))
@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.slug)
def test_any_data_verifies_and_a_flipped_bit_does_not(shared_store: EncryptedFileStore, algorithm: Algorithm,
                                                      data: bytes, bit: int) -> None:
    signer = shared_store.signer(algorithm.slug)
    public = shared_store.public_key(algorithm.slug)
    signature = signer.sign(data)
    assert public.verify(signature, data)
    flipped_signature = bytearray(signature)
    flipped_signature[bit // 8 % 64] ^= 1 << bit % 8
    assert not public.verify(bytes(flipped_signature), data)
    if data:
        flipped_data = bytearray(data)
        flipped_data[bit // 8 % len(data)] ^= 1 << bit % 8
        assert not public.verify(signature, bytes(flipped_data))
