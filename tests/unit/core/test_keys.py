from __future__ import annotations

import hashlib
import os

import pytest
from citycredit import Algorithm, SigningKey, Tier, VerifyingKey
from citycredit.core import kid_for_spki
from citycredit.errors import InvalidArgumentError
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.slug)
def test_sign_verify_pem_and_kid(algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    signature = key.sign(b"data")
    assert len(signature) == 64
    assert key.kid == hashlib.sha256(key.spki).digest()[:8] == kid_for_spki(key.spki)
    again = SigningKey.from_pem(key.to_pem(), algorithm)
    assert again.spki == key.spki
    public = VerifyingKey(algorithm=algorithm, spki=key.spki)
    assert public.verify(signature, b"data")
    assert not public.verify(signature, b"Data")
    assert not public.verify(signature[:-1], b"data")
    assert not public.verify(bytes(64), b"data")


def test_spki_of_the_wrong_algorithm_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.ED25519, spki=SigningKey.generate(Algorithm.P256).spki)
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.P256, spki=b"\x30\x03garbage")


def test_pem_of_the_wrong_algorithm_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        SigningKey.from_pem(SigningKey.generate(Algorithm.ED25519).to_pem(), Algorithm.P256)


def test_sm2_matches_an_independent_implementation() -> None:
    """Tongsuo's SM2/SM3 (default user id) against gmssl, a separate pure-Python implementation."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: F401
    from gmssl import sm2
    from tongsuopy.crypto import serialization

    key = SigningKey.generate(Algorithm.SM2)
    private = key._key.private_numbers().private_value
    point = key._key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    reference = sm2.CryptSM2(private_key=f"{private:064x}", public_key=point.hex()[2:])
    message = b"CC1\x00sm2 cross-check"
    ours = key.sign(message)
    assert reference.verify_with_sm3(ours.hex(), message)  # gmssl accepts our signature
    theirs = bytes.fromhex(reference.sign_with_sm3(message, os.urandom(32).hex()))
    assert key.verifying_key().verify(theirs, message)  # we accept gmssl's
    assert not key.verifying_key().verify(theirs, message + b"!")


def test_sm2_codes_round_trip() -> None:
    alliance = InMemoryAlliance(now_s=NOW_S, algorithms=[Algorithm.SM2])
    code = alliance.issue(330100, Tier.OUTSTANDING, algorithm=Algorithm.SM2).code
    assert alliance.verifier().verify(code).tier is Tier.OUTSTANDING

