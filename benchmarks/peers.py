"""Peers carrying the same claims with the same key type: an EU-DCC-style pipeline and a JWT.

Both verify fully, as a merchant app would: the DCC-style code goes through
prefix strip, Base45 (the project's own decoder), zlib inflate, COSE_Sign1
(pycose) verification with the key its kid selects, CBOR decode and an expiry
check; the JWT through PyJWT with EdDSA, its kid selecting the key and PyJWT
checking `exp`. Each city has its own key, as in the CC1 batch.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from citycredit import Algorithm as CcAlgorithm
from citycredit.core import b45decode, b45encode, decode_envelope, parse_claims
from cryptography.hazmat.primitives.asymmetric import ed25519

from benchmarks.fixtures import Context, sdk_verify_batch
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure

try:  # the peer libraries are pinned in benchmarks/requirements.txt, not in the project's own dependencies
    import cbor2
    import jwt
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.keys.curves import Ed25519
    from pycose.keys.okp import OKPKey
    from pycose.messages.sign1message import Sign1Message
except ImportError as exc:
    PEERS_MISSING: str | None = (f"skipped: peer library {exc.name} is not installed "
                                 "(pip install -r benchmarks/requirements.txt)")
else:
    PEERS_MISSING = None

NAME = "peers"
DCC_PREFIX = "HC1:"
FIGURES = (
    Spec("sdk.ed25519.vs_dcc_style", "codes/s", AT_LEAST(1.5)),
    Spec("sdk.ed25519.vs_jwt", "codes/s", AT_LEAST(1.2)),
)


def unavailable() -> str | None:
    return PEERS_MISSING


class RefusedError(Exception):
    """A peer pipeline refused a code (never expected here: every code is valid)."""


@dataclass
class PeerCodes:
    """The same claims as a batch of CC1 codes, as DCC-style and JWT codes, and the verifier keys."""

    dcc: list[str]
    jwt: list[str]
    cose_keys: dict[bytes, Any]
    jwt_keys: dict[str, ed25519.Ed25519PublicKey]


def claims_of(code: str) -> dict[str, Any]:
    envelope = decode_envelope(code)
    claims = parse_claims(envelope.payload)
    return {"kid": envelope.kid, "code_id": claims.code_id, "city": claims.city, "holder": claims.holder,
            "tier": claims.tier, "band": claims.band, "iat": claims.issued_at, "exp": claims.expires_at,
            "status_index": claims.status_index, "policy_version": claims.policy_version}


def dcc_encode(claims: dict[str, Any], private: ed25519.Ed25519PrivateKey) -> str:
    """CWT claims (iss, iat, exp, and the credit claims under -260 like an HCERT) in COSE_Sign1, zlib, Base45."""
    cwt = {1: str(claims["city"]), 6: claims["iat"], 4: claims["exp"], -260: {1: {
        "id": claims["code_id"], "ci": claims["city"], "h": claims["holder"], "t": claims["tier"],
        "b": claims["band"], "s": claims["status_index"], "pv": claims["policy_version"]}}}
    message = Sign1Message(phdr={Algorithm: EdDSA, KID: claims["kid"]}, payload=cbor2.dumps(cwt))
    message.key = OKPKey(crv=Ed25519, d=private.private_bytes_raw(), x=private.public_key().public_bytes_raw())
    return DCC_PREFIX + b45encode(zlib.compress(message.encode(), 9))


def jwt_encode(claims: dict[str, Any], private: ed25519.Ed25519PrivateKey) -> str:
    payload = {"iss": str(claims["city"]), "jti": _b64(claims["code_id"]), "sub": _b64(claims["holder"]),
               "tier": claims["tier"], "band": claims["band"], "iat": claims["iat"], "exp": claims["exp"],
               "sidx": claims["status_index"], "pv": claims["policy_version"]}
    return jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": claims["kid"].hex()})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def build_peer_codes(codes: Sequence[str]) -> PeerCodes:
    """One fresh Ed25519 key per city (the peers' equivalent of the city keys), same claims per code."""
    privates: dict[bytes, ed25519.Ed25519PrivateKey] = {}
    dcc, tokens = [], []
    for code in codes:
        claims = claims_of(code)
        private = privates.setdefault(claims["kid"], ed25519.Ed25519PrivateKey.generate())
        dcc.append(dcc_encode(claims, private))
        tokens.append(jwt_encode(claims, private))
    cose_keys = {kid: OKPKey(crv=Ed25519, x=p.public_key().public_bytes_raw()) for kid, p in privates.items()}
    jwt_keys = {kid.hex(): p.public_key() for kid, p in privates.items()}
    return PeerCodes(dcc, tokens, cose_keys, jwt_keys)


def dcc_verify(text: str, keys: dict[bytes, Any], now_s: int) -> dict[Any, Any]:
    """The full DCC-style verifier pipeline."""
    if not text.startswith(DCC_PREFIX):
        raise RefusedError("prefix")
    message = Sign1Message.decode(zlib.decompress(b45decode(text[len(DCC_PREFIX):])))
    kid = message.get_attr(KID)
    key = keys.get(kid) if isinstance(kid, bytes) else None
    if key is None:
        raise RefusedError("unknown kid")
    message.key = key
    if not message.verify_signature() or message.payload is None:
        raise RefusedError("signature")
    claims: dict[Any, Any] = cbor2.loads(message.payload)
    if claims[4] <= now_s:
        raise RefusedError("expired")
    return claims


def jwt_verify(token: str, keys: dict[str, ed25519.Ed25519PublicKey]) -> dict[str, Any]:
    """PyJWT as its documentation shows it: pick the key by kid, decode with EdDSA only, `exp` checked."""
    kid = jwt.get_unverified_header(token).get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise RefusedError("unknown kid")
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["EdDSA"], options={"require": ["exp", "iat"]})
    return claims


def dcc_batch(peer: PeerCodes, now_s: int) -> Callable[[], None]:
    codes, keys = peer.dcc, peer.cose_keys

    def batch() -> None:
        now = now_s
        for text in codes:
            dcc_verify(text, keys, now)
    return batch


def jwt_batch(peer: PeerCodes) -> Callable[[], None]:
    tokens, keys = peer.jwt, peer.jwt_keys

    def batch() -> None:
        for token in tokens:
            jwt_verify(token, keys)
    return batch


def run(ctx: Context) -> list[Figure]:
    base = ctx.base()
    codes = base.codes[CcAlgorithm.ED25519][:ctx.settings.peer_codes]
    peer = build_peer_codes(codes)
    sdk = sdk_verify_batch(base.verifier, codes)
    note = f"{len(codes)} distinct codes, same claims, Ed25519 per city"
    rounds = ctx.settings.rounds
    return [
        throughput_figure("sdk.ed25519.vs_dcc_style", paired_rounds(sdk, dcc_batch(peer, ctx.now_s), rounds=rounds),
                          ops=len(codes), unit="codes/s", baseline_name="DCC-style", target=FIGURES[0].target,
                          note=note + "; HC1-like: Base45, zlib, COSE_Sign1 (pycose), CBOR"),
        throughput_figure("sdk.ed25519.vs_jwt", paired_rounds(sdk, jwt_batch(peer), rounds=rounds),
                          ops=len(codes), unit="codes/s", baseline_name="JWT", target=FIGURES[1].target,
                          note=note + "; PyJWT EdDSA"),
    ]
