"""Keys and signatures (SPEC 4): kids, the three algorithms, and the malleability rules of each."""

from __future__ import annotations

import hashlib
import os

import pytest
from citycredit import Algorithm, SigningKey, Tier, VerifyingKey
from citycredit.core import TufSigner, _keys, device_key, kid_for_spki, raw_key_verifier, tuf_key, tuf_key_spki
from citycredit.errors import InvalidArgumentError, SignatureInvalidError
from citycredit.testing import InMemoryAlliance
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tuf.api.metadata import Metadata, Root

from tests.conftest import NOW_S
from tests.unit.core.codes import envelope, wrap

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def _rs(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.slug)
def test_sign_verify_pem_and_kid(algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    signature = key.sign(b"data")
    assert len(signature) == 64
    assert key.kid == hashlib.sha256(key.spki).digest()[:8] == kid_for_spki(key.spki)
    again = SigningKey.from_pem(key.to_pem(), algorithm)
    assert again.spki == key.spki
    public = VerifyingKey(algorithm=algorithm, spki=key.spki)
    assert public.kid == key.kid
    assert public.verify(signature, b"data")
    assert not public.verify(signature, b"Data")
    assert not public.verify(signature[:-1], b"data")
    assert not public.verify(signature + b"\x00", b"data")
    assert not public.verify(bytes(64), b"data")


def test_spki_of_the_wrong_algorithm_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.ED25519, spki=SigningKey.generate(Algorithm.P256).spki)
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.P256, spki=SigningKey.generate(Algorithm.ED25519).spki)
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.P256, spki=b"\x30\x03garbage")
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=Algorithm.SM2, spki=SigningKey.generate(Algorithm.P256).spki)


@pytest.mark.parametrize(("actual", "given_as"), [(a, b) for a in Algorithm for b in Algorithm if a is not b],
                         ids=lambda a: a.slug)
def test_keys_of_one_algorithm_read_as_another_are_refused_as_bad_arguments(actual: Algorithm,
                                                                            given_as: Algorithm) -> None:
    """Never a foreign exception (SM2 keys are unknown to `cryptography`, P-256 and Ed25519 ones to Tongsuo)."""
    key = SigningKey.generate(actual)
    with pytest.raises(InvalidArgumentError):
        VerifyingKey(algorithm=given_as, spki=key.spki)
    with pytest.raises(InvalidArgumentError):
        SigningKey.from_pem(key.to_pem(), given_as)


def test_pem_of_the_wrong_algorithm_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        SigningKey.from_pem(SigningKey.generate(Algorithm.ED25519).to_pem(), Algorithm.P256)
    with pytest.raises(InvalidArgumentError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", Algorithm.ED25519)


def test_algorithm_slugs() -> None:
    assert [Algorithm.from_slug(a.slug) for a in Algorithm] == list(Algorithm)
    assert Algorithm.from_slug("P256") is Algorithm.P256
    with pytest.raises(InvalidArgumentError):
        Algorithm.from_slug("rsa")


# --- Ed25519 (SPEC 4.4) ----------------------------------------------------------------------------------


def test_ed25519_refuses_s_plus_l() -> None:
    key = SigningKey.generate(Algorithm.ED25519)
    signature = key.sign(b"m")
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + ED25519_L).to_bytes(32, "little")
    assert key.verifying_key().verify(signature, b"m")
    assert not key.verifying_key().verify(malleated, b"m")


# --- ECDSA P-256: low S only (SPEC 4.5) ----------------------------------------------------------------


@settings(max_examples=60)
@given(st.binary(max_size=64))
def test_p256_signatures_are_made_low_s(data: bytes) -> None:
    key = _P256_KEY
    r, s = _rs(key.sign(data))
    assert 0 < r < P256_N and 0 < s <= P256_N // 2


_P256_KEY = SigningKey.generate(Algorithm.P256)


def test_p256_high_s_twin_is_refused() -> None:
    public = _P256_KEY.verifying_key()
    signature = _P256_KEY.sign(b"m")
    r, s = _rs(signature)
    assert public.verify(signature, b"m")
    assert not public.verify(_raw(r, P256_N - s), b"m")  # ECDSA's other valid encoding, refused


@pytest.mark.parametrize(("r", "s"), [(0, 1), (1, 0), (P256_N, 1), (1, P256_N), (P256_N // 2, P256_N // 2 + 1)])
def test_p256_out_of_range_values_are_refused(r: int, s: int) -> None:
    assert not _P256_KEY.verifying_key().verify(_raw(r, s), b"m")


def test_a_code_with_a_high_s_p256_signature_is_refused(alliance_session: InMemoryAlliance) -> None:
    code = alliance_session.issue(330100, algorithm=Algorithm.P256).code
    env = envelope(code)
    r, s = _rs(env.signature)
    env.signature = _raw(r, P256_N - s)
    verifier = alliance_session.verifier()
    assert verifier.verify(code).city == 330100
    with pytest.raises(SignatureInvalidError):
        verifier.verify(wrap(env.SerializeToString()))


# --- SM2: any s, and no twin (SPEC 4.6) ----------------------------------------------------------------


def test_sm2_accepts_high_and_low_s_and_has_no_twin() -> None:
    """SM2 signatures with s above n/2 are honest and verify; (r, n − s) is not a second valid encoding."""
    key = SigningKey.generate(Algorithm.SM2)
    public = key.verifying_key()
    seen = set()
    for i in range(64):  # each signature is high-S with probability 1/2: 2^-64 of missing one kind
        message = b"CC1\x00" + i.to_bytes(2, "big")
        signature = key.sign(message)
        r, s = _rs(signature)
        assert public.verify(signature, message)
        assert not public.verify(_raw(r, SM2_N - s), message)
        seen.add(s > SM2_N // 2)
        if seen == {True, False}:
            break
    assert seen == {True, False}


@pytest.mark.parametrize(("r", "s"), [(0, 1), (1, 0), (SM2_N, 1), (1, SM2_N)])
def test_sm2_out_of_range_values_are_refused(r: int, s: int) -> None:
    assert not SigningKey.generate(Algorithm.SM2).verifying_key().verify(_raw(r, s), b"m")


def test_sm2_matches_an_independent_implementation() -> None:
    """Tongsuo's SM2/SM3 with the default user id against gmssl, a separate pure-Python implementation."""
    from gmssl import sm2
    from tongsuopy.crypto import serialization

    while True:
        key = SigningKey.generate(Algorithm.SM2)
        point = key._key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint).hex()[2:]
        # gmssl takes x||y in hex and drops a leading "04" with str.lstrip("04"), which eats every leading 0
        # and 4: a key whose x begins with "04" (1 in 256) would reach it corrupted. Such keys are skipped.
        if not point.startswith("04"):
            break
    private = key._key.private_numbers().private_value
    reference = sm2.CryptSM2(private_key=f"{private:064x}", public_key=point)
    message = b"CC1\x00sm2 cross-check"
    ours = key.sign(message)
    assert reference.verify_with_sm3(ours.hex(), message)  # gmssl accepts our signature
    theirs = bytes.fromhex(reference.sign_with_sm3(message, os.urandom(32).hex()))
    assert key.verifying_key().verify(theirs, message)  # we accept gmssl's
    assert not key.verifying_key().verify(theirs, message + b"!")


def test_sm2_codes_verify() -> None:
    alliance = InMemoryAlliance(now_s=NOW_S, algorithms=[Algorithm.SM2])
    code = alliance.issue(330100, Tier.OUTSTANDING, algorithm=Algorithm.SM2).code
    assert alliance.verifier().verify(code).tier is Tier.OUTSTANDING


# --- TUF role keys (SPEC 6.2) --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256], ids=lambda a: a.slug)
def test_tuf_keys_round_trip_and_sign_metadata(algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    tuf = tuf_key(key)
    assert tuf_key_spki(tuf) == key.spki
    assert tuf.keytype == {Algorithm.ED25519: "ed25519", Algorithm.P256: "ecdsa"}[algorithm]
    metadata = Metadata(Root(version=1))
    signature = metadata.sign(TufSigner(key))
    tuf.verify_signature(signature, metadata.signed_bytes)  # securesystemslib accepts it (DER for ECDSA)


def test_sm2_is_not_a_tuf_role_key() -> None:
    with pytest.raises(InvalidArgumentError):
        tuf_key(SigningKey.generate(Algorithm.SM2))


_EDGES = [0, 1, P256_N // 2, P256_N // 2 + 1, P256_N - 1, P256_N, SM2_N // 2, SM2_N // 2 + 1, SM2_N - 1, SM2_N,
          2**256 - 1]
_SCALARS = st.one_of(st.sampled_from(_EDGES), st.integers(0, 2**256 - 1))


@settings(max_examples=300)
@given(_SCALARS, _SCALARS, st.booleans())
def test_the_range_check_on_raw_bytes_is_the_range_check_on_numbers(r: int, s: int, low_s: bool) -> None:
    # 32-byte big-endian strings compare as the numbers they encode: the check never converts them.
    for n in (P256_N, SM2_N):
        expected = 0 < r < n and 0 < s < n and (not low_s or s <= n // 2)
        max_s = n // 2 if low_s else n - 1
        assert _keys._in_range_rs(_raw(r, s), n.to_bytes(32, "big"), max_s.to_bytes(32, "big")) is expected


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256], ids=lambda a: a.slug)
def test_a_raw_device_key_verifies_its_signatures_only(algorithm: Algorithm) -> None:
    device = SigningKey.generate(algorithm)
    raw = device_key(device).public_key
    verify = raw_key_verifier(algorithm.value, raw)
    assert verify is not None
    signature = device.sign(b"presented")
    assert verify(signature, b"presented")
    assert not verify(signature, b"presented at another time")
    assert not verify(bytes(64), b"presented")


@pytest.mark.parametrize(("algorithm", "raw"), [
    (Algorithm.P256.value, b"\x02" + (1).to_bytes(32, "big")),  # no point of P-256 has x = 1
    (Algorithm.P256.value, b"\x04" + bytes(32)),  # not a compressed point's prefix
    (Algorithm.ED25519.value, bytes(31)),  # too short
    (Algorithm.SM2.value, b"\x02" + bytes(32)),  # SM2 is not a device key algorithm
    (99, bytes(32)),  # no such algorithm
], ids=["p256-off-curve", "p256-bad-prefix", "ed25519-short", "sm2", "unknown"])
def test_a_raw_key_that_is_not_one_gives_no_verifier(algorithm: int, raw: bytes) -> None:
    assert raw_key_verifier(algorithm, raw) is None


@settings(max_examples=300)
@given(_SCALARS, _SCALARS)
@example(2**255, 2**255)  # both high bits set: each INTEGER takes a zero byte
@example(2**255 - 1, 2**255)
@example(2**255, 2**255 - 1)
@example(2**255 - 1, 2**255 - 1)  # neither
@example(2**247, 2**255)  # r starts with a zero byte: the bytes are trimmed
def test_the_der_built_from_bytes_is_the_der_of_the_numbers(r: int, s: int) -> None:
    assert _keys._raw_to_der(_raw(r, s)) == encode_dss_signature(r, s)
