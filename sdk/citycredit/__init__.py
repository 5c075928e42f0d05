"""citycredit: verify city credit codes (信用码) offline and apply same-city treatment.

Merchants need one import::

    from citycredit import Verifier

    verifier = Verifier.from_directory("repository")     # anchor.json beside it is the pinned root
    code = verifier.verify("CP1:...")                    # raises a CodeError saying why, or returns claims
    print(code.city, code.tier.name, code.band, code.expires_at)
"""

from citycredit._client import GatewayClient, Redemption, StatusFetch
from citycredit._verifier import GatewayVerifier, Verifier, VerifierConfig
from citycredit.core import (
    Agreement,
    Algorithm,
    Category,
    Decision,
    IssuedCode,
    Issuer,
    Offer,
    Reason,
    SigningKey,
    Tier,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    VerifyingKey,
    holder_pseudonym,
)
from citycredit.errors import CityCreditError, CodeError

__all__ = [
    "Agreement",
    "Algorithm",
    "Category",
    "CityCreditError",
    "CodeError",
    "Decision",
    "GatewayClient",
    "GatewayVerifier",
    "IssuedCode",
    "Issuer",
    "Offer",
    "Reason",
    "Redemption",
    "SigningKey",
    "StatusFetch",
    "Tier",
    "TrustAnchor",
    "TrustSnapshot",
    "VerifiedCode",
    "Verifier",
    "VerifierConfig",
    "VerifyingKey",
    "holder_pseudonym",
]

__version__ = "0.2.0"
