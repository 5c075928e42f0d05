"""The pure core of citycredit: decode, trust, verify, tier policy, eligibility, issuance, redemption.

It follows the data flow of the design (DESIGN 2), one module per step::

    _base45, _envelope     CC1 text  ->  envelope (payload, kid, signature)  ->  claims
    _keys, _trust, _status trust: anchor -> governance -> city -> kid -> key; status lists
    _verify                verified claims (`verify_code`)
    _tiers, _offers        the portable ladder; offers and agreements
    _eligibility           verified claims + offer + agreements + quota count -> decision
    _issuance              the city side: rating -> signed code (key and status-index pickers)
    _redemption            a decision that spends a quota slot, and its audit record
    _wire, _time           every JSON/protobuf shape and every time format, written once

Nothing here does I/O: no network, no files, no database, no clock and no randomness it
was not handed. Shells (the merchant SDK, the CLI, the gateway, the conformance kit)
import the names below, never the private modules.
"""

from citycredit.core._alliance import Alliance, CityRecord, KeyRecord
from citycredit.core._base45 import ALPHABET as BASE45_ALPHABET
from citycredit.core._base45 import b45decode, b45encode
from citycredit.core._claims import VerifiedCode, parse_claims
from citycredit.core._eligibility import Catalogue, Decision, Reason, Rules, decide, decision_for_error
from citycredit.core._envelope import (
    CODE_PREFIX,
    MAX_CODE_CHARS,
    SIGNING_CONTEXT,
    Envelope,
    decode_envelope,
    encode_code,
)
from citycredit.core._issuance import (
    HOLDER_BYTES,
    MAX_TTL_S,
    HeldKey,
    IssuedCode,
    Issuer,
    RandomSource,
    StatusIndexPicker,
    holder_pseudonym,
    pick_signing_key,
    pick_status_index,
)
from citycredit.core._keys import Algorithm, SigningKey, VerifyingKey, kid_for_spki
from citycredit.core._offers import (
    MAX_CITY,
    MIN_CITY,
    Agreement,
    Benefit,
    BenefitKind,
    Category,
    Offer,
    Period,
    Quota,
)
from citycredit.core._redemption import NO_PERIOD, Redeemed, decide_redemption, redemption_period
from citycredit.core._status import MIN_STATUS_LIST_SIZE, StatusBits
from citycredit.core._tiers import Tier
from citycredit.core._time import CHINA_TZ, MAX_TIME_S, iso, iso_local, parse_time_s, period_key, to_epoch_s
from citycredit.core._trust import (
    BUNDLE_CONTEXT,
    MAX_BUNDLE_BYTES,
    AcceptedBundle,
    CityKey,
    TrustAnchor,
    TrustSnapshot,
    describe,
    open_bundle,
    sign_bundle,
)
from citycredit.core._verify import verify_code
from citycredit.core._wire import (
    DECISION_KEYS,
    city_from_json,
    city_to_json,
    decision_from_json,
    enum_from_proto,
    enum_to_proto,
    from_json,
    from_proto,
    to_json,
    to_proto,
    verification_from_json,
    verification_from_proto,
    verification_to_json,
    verification_to_proto,
)

__all__ = [
    "BASE45_ALPHABET",
    "BUNDLE_CONTEXT",
    "CHINA_TZ",
    "CODE_PREFIX",
    "DECISION_KEYS",
    "HOLDER_BYTES",
    "MAX_BUNDLE_BYTES",
    "MAX_CITY",
    "MAX_CODE_CHARS",
    "MAX_TIME_S",
    "MAX_TTL_S",
    "MIN_CITY",
    "MIN_STATUS_LIST_SIZE",
    "NO_PERIOD",
    "SIGNING_CONTEXT",
    "AcceptedBundle",
    "Agreement",
    "Algorithm",
    "Alliance",
    "Benefit",
    "BenefitKind",
    "Catalogue",
    "Category",
    "CityKey",
    "CityRecord",
    "Decision",
    "Envelope",
    "HeldKey",
    "IssuedCode",
    "Issuer",
    "KeyRecord",
    "Offer",
    "Period",
    "Quota",
    "RandomSource",
    "Reason",
    "Redeemed",
    "Rules",
    "SigningKey",
    "StatusBits",
    "StatusIndexPicker",
    "Tier",
    "TrustAnchor",
    "TrustSnapshot",
    "VerifiedCode",
    "VerifyingKey",
    "b45decode",
    "b45encode",
    "city_from_json",
    "city_to_json",
    "decide",
    "decide_redemption",
    "decision_for_error",
    "decision_from_json",
    "decode_envelope",
    "describe",
    "encode_code",
    "enum_from_proto",
    "enum_to_proto",
    "from_json",
    "from_proto",
    "holder_pseudonym",
    "iso",
    "iso_local",
    "kid_for_spki",
    "open_bundle",
    "parse_claims",
    "parse_time_s",
    "period_key",
    "pick_signing_key",
    "pick_status_index",
    "redemption_period",
    "sign_bundle",
    "to_epoch_s",
    "to_json",
    "to_proto",
    "verification_from_json",
    "verification_from_proto",
    "verification_to_json",
    "verification_to_proto",
    "verify_code",
]
