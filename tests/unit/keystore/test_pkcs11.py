"""Pkcs11Store against a real SoftHSM2 token (see conftest.py: skipped without SoftHSM, failed in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from citycredit.core import Algorithm, SigningKey, VerifyingKey, kid_for_spki
from citycredit.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError, UnavailableError
from citycredit.keystore import Pkcs11Store

from tests.unit.keystore.conftest import Token

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ON_TOKEN = [Algorithm.ED25519, Algorithm.P256]


@pytest.fixture
def raw_session(softhsm_token: Token, hsm_store: Pkcs11Store) -> Iterator[Any]:
    """A python-pkcs11 session of the test's own, to look at the token objects behind the store's back.

    It opens without a PIN: PKCS#11 logs in per process, so it shares the login of `hsm_store`.
    """
    import pkcs11

    # The store loads the module by its real path, and python-pkcs11 loads each path once per process.
    session = pkcs11.lib(os.path.realpath(softhsm_token.library)).get_token(token_label=softhsm_token.label).open()
    yield session
    session.close()


@pytest.mark.parametrize("algorithm", ON_TOKEN, ids=lambda a: a.slug)
def test_create_sign_verify(hsm_store: Pkcs11Store, algorithm: Algorithm) -> None:
    name = f"create-{algorithm.slug}"
    signer = hsm_store.create_key(name, algorithm)
    assert signer.algorithm is algorithm and signer.kid == kid_for_spki(signer.spki)
    public = VerifyingKey(algorithm=algorithm, spki=signer.spki)  # core parses the SPKI built from EC_POINT
    for data in (b"", b"data", bytes(range(256)) * 40):
        signature = signer.sign(data)
        assert len(signature) == 64
        assert public.verify(signature, data)
        assert not public.verify(signature, data + b"!")
    assert hsm_store.public_key(name).spki == signer.spki
    again = hsm_store.signer(name)
    assert (again.algorithm, again.spki) == (algorithm, signer.spki)
    assert public.verify(again.sign(b"later"), b"later")


def test_p256_signatures_are_low_s(hsm_store: Pkcs11Store) -> None:
    signer = hsm_store.create_key("low-s", Algorithm.P256)
    public = hsm_store.public_key("low-s")
    for i in range(300):  # SoftHSM's raw ECDSA gives s > n/2 about half the time
        data = i.to_bytes(2, "big")
        signature = signer.sign(data)
        assert int.from_bytes(signature[32:], "big") <= P256_N // 2
        assert public.verify(signature, data)


@pytest.mark.parametrize("algorithm", ON_TOKEN, ids=lambda a: a.slug)
def test_an_imported_key_signs_as_itself(hsm_store: Pkcs11Store, algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    signer = hsm_store.import_key(f"imported-{algorithm.slug}", key)
    assert signer.spki == key.spki and signer.kid == key.kid
    reloaded = hsm_store.signer(f"imported-{algorithm.slug}")
    assert reloaded.spki == key.spki  # the SPKI rebuilt from the token's EC_POINT is the key's own
    assert key.verifying_key().verify(reloaded.sign(b"data"), b"data")


def test_private_objects_are_sensitive_and_not_extractable(hsm_store: Pkcs11Store, raw_session: Any) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    hsm_store.create_key("locked-ed25519", Algorithm.ED25519)
    hsm_store.create_key("locked-p256", Algorithm.P256)
    hsm_store.import_key("locked-imported", SigningKey.generate(Algorithm.P256))
    hsm_store.create_secret("locked-secret")
    checked = 0
    for name, object_class in [("locked-ed25519", ObjectClass.PRIVATE_KEY), ("locked-p256", ObjectClass.PRIVATE_KEY),
                               ("locked-imported", ObjectClass.PRIVATE_KEY), ("locked-secret", ObjectClass.SECRET_KEY)]:
        (obj,) = raw_session.get_objects({Attribute.LABEL: name, Attribute.CLASS: object_class})
        assert obj[Attribute.SENSITIVE] is True and obj[Attribute.EXTRACTABLE] is False
        assert obj[Attribute.TOKEN] is True and obj[Attribute.PRIVATE] is True
        if name != "locked-imported":  # generated on the token, so never out of it
            assert obj[Attribute.ALWAYS_SENSITIVE] is True and obj[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            obj[Attribute.VALUE]
        checked += 1
    assert checked == 4


def test_hmac_is_stable_across_sessions(softhsm_token: Token) -> None:
    with softhsm_token.open() as first:
        tag = first.create_secret("holder").mac(b"330100|holder-42")
        assert len(tag) == 32
        assert first.mac("holder").mac(b"330100|holder-42") == tag
        with softhsm_token.open() as second:  # a second store while the first is open shares its login
            assert second.mac("holder").mac(b"330100|holder-42") == tag
    with softhsm_token.open() as third:  # every store closed, so this is a new session and a new login
        assert third.mac("holder").mac(b"330100|holder-42") == tag
        assert third.mac("holder").mac(b"330100|holder-43") != tag
        assert third.create_secret("holder-2").mac(b"330100|holder-42") != tag
    script = ("import sys\nfrom citycredit.keystore import Pkcs11Store\n"
              "with Pkcs11Store.open(*sys.argv[1:4]) as s:\n"
              "    print(s.mac('holder').mac(b'330100|holder-42').hex())\n")
    other_process = subprocess.run([sys.executable, "-c", script, softhsm_token.library, softhsm_token.label,
                                    softhsm_token.pin], check=True, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert other_process.stdout.strip() == tag.hex()


def test_stores_sharing_a_login_check_the_pin_and_outlive_each_other(softhsm_token: Token) -> None:
    first = softhsm_token.open()
    signer = first.create_key("shared-login", Algorithm.ED25519)
    with pytest.raises(UnauthenticatedError, match="wrong PIN"):
        Pkcs11Store.open(softhsm_token.library, softhsm_token.label, "0000")
    second = softhsm_token.open()
    first.close()  # must not log the second store out
    assert second.public_key("shared-login").verify(second.signer("shared-login").sign(b"x"), b"x")
    with pytest.raises(UnavailableError, match="is closed"):
        signer.sign(b"x")
    second.close()


def test_sm2_is_refused_clearly(hsm_store: Pkcs11Store) -> None:
    with pytest.raises(InvalidArgumentError, match="SM2 keys cannot be kept in a PKCS#11 key store"):
        hsm_store.create_key("sm2", Algorithm.SM2)
    with pytest.raises(InvalidArgumentError, match="SM2 keys cannot be kept in a PKCS#11 key store"):
        hsm_store.import_key("sm2", SigningKey.generate(Algorithm.SM2))
    assert "sm2" not in hsm_store.names()


def test_names_taken_missing_and_kinds(hsm_store: Pkcs11Store) -> None:
    hsm_store.create_key("names-key", Algorithm.ED25519)
    hsm_store.create_secret("names-secret")
    names = hsm_store.names()
    assert {"names-key", "names-secret"} <= set(names) and names == sorted(names) and len(set(names)) == len(names)
    with pytest.raises(InvalidArgumentError, match="already holds 'names-key'"):
        hsm_store.create_key("names-key", Algorithm.P256)
    with pytest.raises(InvalidArgumentError, match="already holds 'names-key'"):
        hsm_store.create_secret("names-key")
    with pytest.raises(NotFoundError, match="no key or secret named 'names-absent'"):
        hsm_store.signer("names-absent")
    with pytest.raises(NotFoundError):
        hsm_store.mac("names-absent")
    with pytest.raises(InvalidArgumentError, match="is not a signing key"):
        hsm_store.signer("names-secret")
    with pytest.raises(InvalidArgumentError, match="is not a secret"):
        hsm_store.mac("names-key")
    with pytest.raises(InvalidArgumentError, match="is not valid"):
        hsm_store.create_key("Bad Name", Algorithm.ED25519)


def test_a_wrong_pin_is_refused(softhsm_token: Token) -> None:
    with pytest.raises(UnauthenticatedError, match="wrong PIN for PKCS#11 token 'citycredit-test'"):
        Pkcs11Store.open(softhsm_token.library, softhsm_token.label, "0000")


def test_a_missing_token_is_not_found(softhsm_token: Token) -> None:
    with pytest.raises(NotFoundError, match="no PKCS#11 token labelled 'no-such-token'"):
        Pkcs11Store.open(softhsm_token.library, "no-such-token", softhsm_token.pin)


def test_a_missing_library_is_unavailable(tmp_path: Any) -> None:
    pytest.importorskip("pkcs11")
    with pytest.raises(UnavailableError, match="cannot load the PKCS#11 library"):
        Pkcs11Store.open(str(tmp_path / "libnothing.so"), "citycredit-test", "1234")


def test_a_closed_store_refuses_work(softhsm_token: Token) -> None:
    store = softhsm_token.open()
    signer = store.create_key("closed", Algorithm.ED25519)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(UnavailableError, match="is closed"):
        signer.sign(b"data")
    with pytest.raises(UnavailableError, match="is closed"):
        store.names()


def test_one_session_serves_many_threads(hsm_store: Pkcs11Store) -> None:
    signer = hsm_store.create_key("threads", Algorithm.P256)
    public = hsm_store.public_key("threads")
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                data = f"{worker}-{i}".encode()
                assert public.verify(signer.sign(data), data)
        except BaseException as exc:  # reported below: an assertion in a thread would be lost
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
