"""Code verification: the pure core every surface wraps (no I/O; the clock and the replay cache are arguments).

`verify_code` applies the rules of proto/SPEC.md "Verification" in their order; the
first that fails names the error:

 1. the trust set is fresh (root, timestamp, snapshot, targets within the grace)  CC_BUNDLE_STALE
 2. the text decodes: length, prefix, Base45, canonical envelope    CC_TOO_LONG, CC_PREFIX, CC_BASE45, CC_MALFORMED
 3. a key of the trust set has the kid                                         CC_KEY_UNKNOWN
 4. its signature verifies over b"CC1\\0" + payload                            CC_SIGNATURE_INVALID
 5. the claims parse and are canonical                                         CC_MALFORMED
 6. the key belongs to the code's city                                         CC_CITY_MISMATCH
 7. the key was valid when the code was issued                                 CC_KEY_NOT_VALID
 8. the city's part is fresh                                                   CC_BUNDLE_STALE
 9. a device-bound code comes in a presentation                               CC_DEVICE_PROOF_REQUIRED
10. the presentation's device signature verifies                              CC_DEVICE_SIGNATURE_INVALID
11. the presentation is inside its window                                     CC_PRESENTATION_STALE
12. the code has started and not expired                                      CC_NOT_YET_VALID, CC_EXPIRED
13. the city's status list is held and fresh                                  CC_BUNDLE_STALE
14. the code's status entry is VALID                                          CC_REVOKED, CC_SUSPENDED
15. the presentation was not seen at this venue inside its window             CC_PRESENTATION_REPLAYED
"""

from __future__ import annotations

import collections
from typing import Protocol

from citycredit.core._claims import VerifiedCode, read_claims
from citycredit.core._envelope import SIGNING_CONTEXT, Presented, decode_text, presentation_message
from citycredit.core._keys import raw_key_verifier
from citycredit.core._trust import TrustSnapshot
from citycredit.errors import (
    BundleStaleError,
    CityMismatchError,
    CodeExpiredError,
    CodeMalformedError,
    CodeNotYetValidError,
    CodeRevokedError,
    CodeSuspendedError,
    DeviceProofRequiredError,
    DeviceSignatureInvalidError,
    KeyNotValidError,
    KeyUnknownError,
    PresentationReplayedError,
    PresentationStaleError,
    SignatureInvalidError,
)

__all__ = ["PRESENTATION_WINDOW_S", "MemoryReplayCache", "ReplayCache", "verify_code"]

# How far a presentation's time may be from the verifier's clock, either way.
PRESENTATION_WINDOW_S = 30


class ReplayCache(Protocol):
    """Remembers presentations seen at a venue until their window closes."""

    def first_sighting(self, venue: str, presentation: bytes, *, until_s: int, now_s: int) -> bool:
        """True, and remembered until `until_s`, when (venue, presentation) was not seen; False when it was.

        `presentation` is what the device signed (code hash and time), so a second signature over the
        same presentation is the same presentation.
        """
        ...


class MemoryReplayCache:
    """A bounded in-process replay cache (one verifier, one till). Entries go when their window closes;
    past `max_entries` live entries the oldest goes first, so size it to the presentations one venue
    sees in two windows."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: collections.OrderedDict[tuple[str, bytes], int] = collections.OrderedDict()

    def first_sighting(self, venue: str, presentation: bytes, *, until_s: int, now_s: int) -> bool:
        while self._seen:  # expired entries first (they were recorded roughly in the order they expire)
            key, until = next(iter(self._seen.items()))
            if until > now_s:
                break
            del self._seen[key]
        key = (venue, presentation)
        seen_until = self._seen.get(key)
        if seen_until is not None and seen_until > now_s:
            return False  # looked up before anything is evicted: a full cache still refuses what it holds
        self._seen.pop(key, None)
        while len(self._seen) >= self.max_entries > 0:  # room for the new entry: the oldest goes
            self._seen.popitem(last=False)
        self._seen[key] = until_s
        return True


def verify_code(snapshot: TrustSnapshot, code: str | bytes, *, now_s: int, grace_s: int, venue: str = "",
                replay: ReplayCache | None = None, window_s: int = PRESENTATION_WINDOW_S) -> VerifiedCode:
    """Decode, authenticate and check a `CC1:` code or `CP1:` presentation at `now_s`.

    Raises the CodeError of the first rule that fails (see the module docstring), or
    BundleStaleError when the trust set (or the city's part or status list) cannot judge.
    A presentation is remembered in `replay` (when given) once it passed every other rule.
    """
    if now_s > snapshot.expires_at_s + grace_s:
        raise BundleStaleError(f"the trust set (snapshot {snapshot.version}) expired and its offline grace is over; "
                               "refresh it")
    decoded = decode_text(code)
    if isinstance(decoded, Presented):
        presented: Presented | None = decoded
        envelope = decoded.envelope
    else:
        presented, envelope = None, decoded
    payload, kid = envelope.payload, envelope.kid
    candidates = snapshot.keys_by_kid.get(kid)
    if not candidates:
        raise KeyUnknownError(f"no key with kid {kid.hex()} in the trust set (snapshot {snapshot.version})")
    signed = SIGNING_CONTEXT + payload
    verifying = [k for k in candidates if k.key.verify(envelope.signature, signed)]  # kids may collide: try each
    if not verifying:
        raise SignatureInvalidError(f"the signature does not verify under key {kid.hex()}")
    verified, device_key = read_claims(payload, kid)
    city = verified.city
    city_key = verifying[0]
    if city_key.city != city:  # one key listed by two cities verifies for both: the code's own city counts
        city_key = next((k for k in verifying if k.city == city), city_key)
    if city != city_key.city:
        raise CityMismatchError(f"key {kid.hex()} belongs to {city_key.city}, not {city}")
    if not city_key.valid_at_issue(verified.issued_at_s):
        raise KeyNotValidError(f"key {kid.hex()} was not valid for codes issued at {verified.issued_at_s}")
    if now_s > snapshot.cities[city].expires_at_s + grace_s:
        raise BundleStaleError(f"the part of city {city:06d} expired and its offline grace is over; refresh it")
    message = b""
    if presented is None:
        if device_key is not None:
            raise DeviceProofRequiredError()
    else:
        if device_key is None:
            raise CodeMalformedError("a presentation carries a code that has no device key")
        message = presentation_message(envelope.raw, presented.presented_at_s)
        device = raw_key_verifier(*device_key)
        if device is None or not device(presented.signature, message):
            raise DeviceSignatureInvalidError()
        if abs(now_s - presented.presented_at_s) > window_s:
            raise PresentationStaleError(f"presented at {presented.presented_at_s}, it is now {now_s} "
                                         f"(window ±{window_s} s)")
    if now_s < verified.issued_at_s:
        raise CodeNotYetValidError(f"the code is valid from {verified.issued_at_s}, it is now {now_s}")
    if now_s >= verified.expires_at_s:
        raise CodeExpiredError(f"the code expired at {verified.expires_at_s}, it is now {now_s}")
    status_list = snapshot.statuses.get(city)
    if status_list is None:
        raise BundleStaleError(f"no status list of city {city:06d} is held; sync it")
    if now_s > status_list.expires_at_s + grace_s:
        raise BundleStaleError(f"the status list of city {city:06d} (version {status_list.version}) expired and "
                               "its offline grace is over; sync it")
    status = status_list.status(verified.status_index)
    if status:
        if status == 2:
            raise CodeSuspendedError(f"status index {verified.status_index} of city {city:06d} is suspended")
        raise CodeRevokedError(f"status index {verified.status_index} of city {city:06d} is revoked")
    if presented is not None and replay is not None and not replay.first_sighting(
            venue, message, until_s=presented.presented_at_s + window_s + 1, now_s=now_s):
        raise PresentationReplayedError()
    return verified
