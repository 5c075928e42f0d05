"""citycredit: verify city credit codes (信用码) offline and apply same-city treatment.

Merchants need one import::

    from citycredit import Verifier

    verifier = Verifier.from_bundle_file("bundle.ccb")   # anchor.json beside it is the pinned root
    code = verifier.verify("CC1:...")                    # raises a CodeError saying why, or returns claims
    print(code.city, code.tier.name, code.band, code.expires_at)
"""

from citycredit._internal.bundle import AcceptedBundle, TrustAnchor, TrustSnapshot
from citycredit._internal.client import BundleFetch, GatewayClient, GatewayVerifier, Redemption
from citycredit._internal.eligibility import Agreement, Category, Decision, Offer, Reason
from citycredit._internal.issue import IssuedCode, Issuer, holder_pseudonym
from citycredit._internal.keys import Algorithm, SigningKey, VerifyingKey
from citycredit._internal.tiers import Tier
from citycredit._internal.verifier import Verifier, VerifierConfig
from citycredit._internal.verify import VerifiedCode
from citycredit.errors import CityCreditError, CodeError

__all__ = [
    "AcceptedBundle",
    "Agreement",
    "Algorithm",
    "BundleFetch",
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
    "Tier",
    "TrustAnchor",
    "TrustSnapshot",
    "VerifiedCode",
    "Verifier",
    "VerifierConfig",
    "VerifyingKey",
    "holder_pseudonym",
]

__version__ = "0.1.0"
