"""Codes and presentations for the vectors: issued through the core's own pipeline, or built byte by byte.

A well-formed code comes from `Issuer.issue` (the one issuance pipeline) with a
deterministic source of randomness named after the case; a presentation from
`encode_presentation`. The vectors that must be refused need bytes no correct issuer
makes (a field twice, a varint too long, a signature over the wrong bytes), so the
protobuf wire format is also written here by hand, field by field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import (
    CODE_PREFIX,
    PRESENTATION_PREFIX,
    SIGNING_CONTEXT,
    Issuer,
    Mac,
    SigningKey,
    Tier,
    b45decode,
    b45encode,
    decode_envelope,
    device_key,
    encode_code,
    encode_presentation,
    hmac_sha256,
    holder_pseudonym,
    presentation_message,
)

from ._deterministic import SignatureBook

__all__ = ["Built", "Minter", "field", "fields_of", "varint"]


# --- the protobuf wire format, by hand ------------------------------------------------------------------


def varint(n: int, *, pad: int = 0) -> bytes:
    """A base-128 varint; `pad` zero groups more than needed make it non-minimal (2 with pad 1: 82 00)."""
    groups = []
    while True:
        groups.append(n & 0x7F)
        n >>= 7
        if not n:
            break
    groups += [0] * pad
    return bytes(g | 0x80 for g in groups[:-1]) + bytes(groups[-1:])


def field(number: int, value: int | bytes, *, pad: int = 0) -> bytes:
    """One field: a varint (wire type 0) for an int, length-delimited (2) for bytes; `pad` lengthens the varint
    of the value (ints) or of the length (bytes)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value, pad=pad)
    return varint(number << 3 | 2) + varint(len(value), pad=pad) + value


def fields_of(message: Any) -> list[tuple[int, bytes]]:
    """The fields of a message as (number, encoded bytes), in number order, as deterministic serialization writes."""
    out = []
    for descriptor, _ in message.ListFields():
        one = type(message)()
        if descriptor.message_type is not None:
            getattr(one, descriptor.name).CopyFrom(getattr(message, descriptor.name))
        else:
            setattr(one, descriptor.name, getattr(message, descriptor.name))
        out.append((descriptor.number, one.SerializeToString(deterministic=True)))
    return out


# --- codes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """A code (or presentation) and the parts it was made of."""

    claims: code_pb2.CreditCode | None
    payload: bytes
    kid: bytes
    signature: bytes
    code: str
    presented_at_s: int | None = None
    device_signature: bytes = b""

    @property
    def envelope(self) -> bytes:
        return code_pb2.SignedCreditCode(payload=self.payload, kid=self.kid,
                                         signature=self.signature).SerializeToString(deterministic=True)

    def artefacts(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.claims is not None:
            c = self.claims
            doc["claims"] = {
                "code_id": c.code_id.hex(), "city": c.city, "holder": c.holder.hex(),
                "tier": Tier(c.tier).name if 1 <= c.tier <= 6 else c.tier, "band": c.band,
                "issued_at": c.issued_at, "expires_at": c.expires_at, "status_index": c.status_index,
                "policy_version": c.policy_version, "audience": c.audience}
            if c.HasField("device_key"):
                doc["claims"]["device_key"] = {"algorithm": c.device_key.algorithm,
                                               "public_key": c.device_key.public_key.hex()}
        doc.update(payload_hex=self.payload.hex(), kid_hex=self.kid.hex(), signature_hex=self.signature.hex())
        if self.presented_at_s is not None:
            doc.update(presented_at=self.presented_at_s, device_signature_hex=self.device_signature.hex())
        return doc


class _CaseRandom:
    """The randomness of one case's issuance: code ids and indexes are hashes of the case name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def token_bytes(self, nbytes: int | None = None) -> bytes:
        return hashlib.sha256(f"code-id\x00{self.name}".encode()).digest()[: nbytes or 32]

    def randbelow(self, exclusive_upper_bound: int) -> int:
        digest = hashlib.sha256(f"status-index\x00{self.name}".encode()).digest()
        return int.from_bytes(digest, "big") % exclusive_upper_bound


class Minter:
    """Issues and forges the vectors' codes with seeded keys; P-256 and SM2 signatures go through the book."""

    def __init__(self, book: SignatureBook, *, avoid_indexes: Sequence[int] = ()) -> None:
        self.book = book
        self.avoid = frozenset(avoid_indexes)

    def pseudonym_mac(self, city: int) -> Mac:
        return hmac_sha256(hashlib.sha256(f"citycredit-conformance/v2/pseudonym-secret/{city}".encode()).digest())

    def status_index(self, name: str) -> int:
        """An index for a case's code, from its name, clear of every index the vectors mark."""
        index = 1000 + _CaseRandom(name).randbelow(120_000)
        while index in self.avoid:
            index += 1
        return index

    def issue(self, name: str, key: SigningKey, city: int, *, tier: Tier = Tier.GOOD, band: str = "",
              issued: int, ttl: int = 300, status_index: int | None = None, holder_ref: str = "holder-1",
              audience: int | None = None, device: SigningKey | None = None) -> Built:
        """A code as the city's issuer makes it (`Issuer.issue`, the one issuance pipeline)."""
        issuer = Issuer(city=city, key=self.book.signer(key), pseudonym=self.pseudonym_mac(city), policy_version=1)
        issued_code = issuer.issue(
            holder_ref=holder_ref, tier=tier, band=band or f"测试分·{tier.label_zh}", now_s=issued, ttl_s=ttl,
            status_index=self.status_index(name) if status_index is None else status_index, audience=audience,
            device_key=None if device is None else device_key(device), rng=_CaseRandom(name))
        envelope = decode_envelope(issued_code.code)
        claims = code_pb2.CreditCode()
        claims.ParseFromString(envelope.payload)
        return Built(claims, envelope.payload, envelope.kid, envelope.signature, issued_code.code)

    def claims(self, name: str, city: int, *, tier: Tier = Tier.GOOD, issued: int, ttl: int = 300,
               status_index: int | None = None, holder_ref: str = "holder-1", audience: int | None = None,
               device: SigningKey | None = None) -> code_pb2.CreditCode:
        """The claims `issue` would sign, for the vectors that change them first."""
        audience = city if audience is None else audience
        claims = code_pb2.CreditCode(
            code_id=_CaseRandom(name).token_bytes(16), city=city,
            holder=holder_pseudonym(self.pseudonym_mac(city), audience, holder_ref), tier=tier.proto,
            band=f"测试分·{tier.label_zh}", issued_at=issued, expires_at=issued + ttl,
            status_index=self.status_index(name) if status_index is None else status_index, policy_version=1,
            audience=audience)
        if device is not None:
            claims.device_key.CopyFrom(device_key(device))
        return claims

    def sign(self, claims: code_pb2.CreditCode | None, key: SigningKey, *, payload: bytes | None = None,
             kid: bytes | None = None, context: bytes = SIGNING_CONTEXT, variant: str = "",
             envelope: bytes | None = None) -> Built:
        """Sign `payload` (default: the claims, serialized deterministically) over `context` + payload.

        `envelope` replaces the serialized SignedCreditCode (for the envelope encoding vectors).
        """
        if payload is None:
            assert claims is not None
            payload = claims.SerializeToString(deterministic=True)
        signature = self.book.sign(key, context + payload, variant=variant)
        kid = key.kid if kid is None else kid
        built = Built(claims, payload, kid, signature, "")
        code = CODE_PREFIX + b45encode(built.envelope if envelope is None else envelope)
        if (claims is not None and payload == claims.SerializeToString(deterministic=True) and kid == key.kid
                and context == SIGNING_CONTEXT and not variant and envelope is None):
            assert code == encode_code(claims, self.book.signer(key))  # the core's encoder gives the same bytes
        return Built(claims, payload, kid, signature, code)

    def wrap(self, built: Built, *, payload: bytes | None = None, kid: bytes | None = None,
             signature: bytes | None = None, extra: bytes = b"") -> str:
        """A code from a built one with parts replaced (after signing) and bytes appended to the envelope."""
        envelope = code_pb2.SignedCreditCode(payload=built.payload if payload is None else payload,
                                             kid=built.kid if kid is None else kid,
                                             signature=built.signature if signature is None else signature)
        return CODE_PREFIX + b45encode(envelope.SerializeToString(deterministic=True) + extra)

    def present(self, built: Built, device: SigningKey, *, at: int, sign_as: int | None = None) -> Built:
        """A `CP1:` presentation made by the device at `at` (`sign_as`: the time the device signed, if another)."""
        if sign_as is None:
            text = encode_presentation(built.code, self.book.signer(device), presented_at_s=at)
            message = code_pb2.Presentation()
            message.ParseFromString(_b45(text))
            signature = message.signature
        else:
            signature = self.book.sign(device, presentation_message(built.envelope, sign_as))
            text = self.presentation(built.envelope, at, signature)
        return Built(built.claims, built.payload, built.kid, built.signature, text, at, signature)

    @staticmethod
    def presentation(code: bytes, at: int, signature: bytes, *, raw: bytes | None = None) -> str:
        """A `CP1:` string from its parts (or from `raw`, the serialized Presentation as given)."""
        message = code_pb2.Presentation(code=code, presented_at=at, signature=signature)
        return PRESENTATION_PREFIX + b45encode(message.SerializeToString(deterministic=True) if raw is None else raw)

    def presentation_signature(self, built: Built, device: SigningKey, at: int) -> bytes:
        return self.book.sign(device, presentation_message(built.envelope, at))


def _b45(text: str) -> bytes:
    return b45decode(text[4:])
