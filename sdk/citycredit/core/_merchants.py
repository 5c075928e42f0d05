"""Credentials a city vouches for: the merchants it onboarded (by unified social credit code), and its office.

A city grants a merchant a gateway credential by signing a `MerchantGrant` with one of
its status keys, and its own office's credential with its authority key (`office`);
context b"CCM1\\0". The gateway stores grants it can verify and refuses the rest, so it
cannot invent a merchant or an office of a city, and every redemption and upload names a
credential some city signed for.

A merchant is identified by its 18-character unified social credit code (统一社会信用代码,
GB 32100-2015): 17 characters from a 31-character alphabet (no I, O, S, V or Z) and a check
character computed over them with fixed weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from google.protobuf.message import DecodeError

from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core._keys import Signer, VerifyingKey
from citycredit.core._offers import is_city
from citycredit.core._status import sign_part, verify_part
from citycredit.errors import BundleMalformedError, InvalidArgumentError

__all__ = ["MERCHANT_CONTEXT", "USCC_ALPHABET", "is_uscc", "open_merchant_grant", "sign_merchant_grant",
           "uscc_check_character"]

MERCHANT_CONTEXT = b"CCM1\x00"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code, from its first 17 (GB 32100-2015)."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise InvalidArgumentError("a unified social credit code has 17 characters of 0-9 and A-Y (no I, O, S, V, "
                                   "Z) before its check character")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_uscc(code: object) -> bool:
    """A well-formed unified social credit code whose check character is right."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_character(code[:17]) == code[17]


def sign_merchant_grant(*, city: int, merchant_id: str, name: str, venues: Iterable[str], credential_id: str,
                        token_sha256: bytes, issued_at_s: int, revoked_at_s: int, signer: Signer,
                        office: bool = False) -> bytes:
    """A signed grant (SignedPart bytes) for the gateway; refuses a bad unified social credit code.

    `signer` is a status key of the city for a merchant, its authority key for its `office`.
    """
    if not is_city(city):
        raise InvalidArgumentError(f"{city} is not a GB/T 2260 division code")
    if not is_uscc(merchant_id):
        raise InvalidArgumentError(f"{merchant_id!r} is not a unified social credit code (its check character "
                                   "is wrong, or it is not 18 characters of 0-9 and A-Y)")
    if len(token_sha256) != 32 or not credential_id:
        raise InvalidArgumentError("a grant names its credential and the SHA-256 of its token")
    grant = trust_pb2.MerchantGrant(city=city, merchant_id=merchant_id, name=name, venues=sorted(set(venues)),
                                    credential_id=credential_id, token_sha256=token_sha256, issued_at=issued_at_s,
                                    revoked_at=revoked_at_s, office=office)
    part = sign_part(grant.SerializeToString(deterministic=True), signer, MERCHANT_CONTEXT)
    return bytes(part.SerializeToString(deterministic=True))


def open_merchant_grant(data: bytes, *, status_keys: Mapping[int, Mapping[bytes, VerifyingKey]],
                        authorities: Mapping[int, VerifyingKey]) -> trust_pb2.MerchantGrant:
    """A grant its city signed: a merchant's with one of the city's status keys (`status_keys` by city), an
    office's with the city's authority key (`authorities` by city); refuses anything else."""
    part = trust_pb2.SignedPart()
    grant = trust_pb2.MerchantGrant()
    try:
        part.ParseFromString(data)
        grant.ParseFromString(part.body)
    except DecodeError:
        raise BundleMalformedError("not a signed merchant grant") from None
    if grant.office:
        authority = authorities.get(grant.city)
        keys: Mapping[bytes, VerifyingKey] | None = None if authority is None else {authority.kid: authority}
    else:
        keys = status_keys.get(grant.city)
    if keys is None:
        raise BundleMalformedError(f"a grant names {grant.city}, which is not a member")
    signer = "authority key" if grant.office else "status keys"
    try:
        verify_part(part, keys, MERCHANT_CONTEXT, f"the grant {grant.credential_id!r}")
    except BundleMalformedError as exc:
        raise BundleMalformedError(f"{exc.message} (a {'office' if grant.office else 'merchant'} grant is signed by "
                                   f"the city's {signer})") from None
    if not is_uscc(grant.merchant_id):
        raise BundleMalformedError(f"the grant's merchant id {grant.merchant_id!r} is not a unified social credit code")
    return grant
