"""The conformance protocol on the SDK's pieces, with one switch per flaw, for the deliberately broken verifiers.

Not a test module. The scripts beside it run it as a command (`python skips_expiry.py verify --trust …`);
the tests call `serve(argv, flaws)` in this process, which is quicker. It is written apart from the
reference CLI on purpose: a second implementation of the same rules, so that each flaw is one switch
and everything else conforms.

    verify --trust DIR --at TIME [--state DIR] [--venue V] -- CODE
    check  --trust DIR --at TIME --offer ID [--state DIR] [--venue V] -- CODE
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from citycredit._sync import status_list_bytes
from citycredit._trustdir import read_status_lists, read_trust_dir, write_trust_dir
from citycredit.core import (
    PRESENTATION_WINDOW_S,
    SIGNING_CONTEXT,
    Algorithm,
    Presented,
    Repository,
    Tier,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    decision_for_error,
    decode_text,
    open_status_update,
    open_trust,
    parse_claims,
    parse_time_s,
    presentation_message,
    to_json,
    verification_to_json,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleStaleError,
    CityCreditError,
    CityMismatchError,
    CodeError,
    CodeExpiredError,
    CodeMalformedError,
    CodeNotYetValidError,
    CodeRevokedError,
    CodeSuspendedError,
    DeviceProofRequiredError,
    DeviceSignatureInvalidError,
    KeyNotValidError,
    KeyUnknownError,
    NotFoundError,
    PresentationReplayedError,
    PresentationStaleError,
    SignatureInvalidError,
)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

GRACE_S = 3 * 86400
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
FLAWS = frozenset({"skips_expiry", "ignores_status", "any_algorithm", "ignores_rollback", "accepts_high_s",
                   "skips_device_signature"})
# Trust sets opened without state, by (folder, clock): in-process runs open each once.
_OPENED: dict[tuple[str, int], TrustSnapshot] = {}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="broken")
    parser.add_argument("command", choices=["verify", "check"])
    parser.add_argument("--trust", required=True)
    parser.add_argument("--at", required=True)
    parser.add_argument("--offer")
    parser.add_argument("--state")
    parser.add_argument("--venue", default="")
    parser.add_argument("code")
    return parser.parse_args(argv)


# --- the trust set and the state --------------------------------------------------------------------


def _open(directory: Path, anchor: TrustAnchor, now_s: int, grace_s: int, previous: TrustSnapshot | None,
          ) -> TrustSnapshot:
    try:
        files = read_trust_dir(directory, trusted_root=anchor.data)
    except NotFoundError as exc:  # a file the trust set names is not there: the trust set cannot be verified
        raise BundleMalformedError(exc.message) from None
    snapshot = open_trust(files, now_s=now_s, grace_s=grace_s, anchor=anchor, previous=previous)
    for city, data in sorted(read_status_lists(directory).items()):
        if city not in snapshot.cities:
            continue
        try:
            snapshot = snapshot.with_status_list(open_status_update(
                data, city=city, status_keys=snapshot.cities[city].status_keys, previous=snapshot.statuses.get(city),
                now_s=now_s, grace_s=grace_s))
        except BundleStaleError:
            continue  # a stale list is not held: that city's codes cannot be judged, the others' can (rule 13)
    return snapshot


def open_trust_set(trust: Path, state: Path | None, now_s: int, flaws: Collection[str]) -> TrustSnapshot:
    """The trust set in `trust`, opened after what `state` holds (unless the flaw is to ignore it)."""
    anchor = TrustAnchor.from_json((trust / "anchor.json").read_bytes())
    if state is None:
        key = (str(trust), now_s)
        if key not in _OPENED:
            _OPENED[key] = _open(trust, anchor, now_s, GRACE_S, None)
        return _OPENED[key]
    previous = None
    if (state / "metadata" / "timestamp.json").is_file() and "ignores_rollback" not in flaws:
        previous = _open(state, anchor, now_s, 10**9, None)  # FLAW ignores_rollback: never read
    snapshot = _open(trust, anchor, now_s, GRACE_S, previous)
    write_trust_dir(state, Repository.from_files(snapshot.files),
                    {c: status_list_bytes(s) for c, s in snapshot.statuses.items()})
    return snapshot


def _first_sighting(state: Path | None, venue: str, message: bytes, *, until_s: int, now_s: int) -> bool:
    if state is None:
        return True  # one call, one process: nothing was seen before
    path = state / "replay.json"
    seen = {k: v for k, v in (json.loads(path.read_text()) if path.is_file() else {}).items() if v > now_s}
    key = f"{venue}\x00{message.hex()}"
    if key in seen:
        return False
    seen[key] = until_s
    path.write_text(json.dumps(seen))
    return True


# --- verification, rule by rule ---------------------------------------------------------------------


def _p256_ok(public: Any, signature: bytes, message: bytes, *, high_s: bool) -> bool:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if high_s and s > P256_N // 2:
        s = P256_N - s  # FLAW accepts_high_s: (r, n - s) taken for (r, s)
    if not (0 < r < P256_N and 0 < s <= P256_N // 2):
        return False
    try:
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


def _code_signature_ok(city_key: Any, signature: bytes, message: bytes, flaws: Collection[str]) -> bool:
    if city_key.algorithm is Algorithm.P256 and "accepts_high_s" in flaws:
        return _p256_ok(serialization.load_der_public_key(city_key.spki), signature, message, high_s=True)
    return bool(city_key.key.verify(signature, message))


def _device_signature_ok(algorithm: int, public: bytes, signature: bytes, message: bytes,
                         flaws: Collection[str]) -> bool:
    if algorithm == Algorithm.ED25519.value:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except Exception:
            return False
        return True
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    except ValueError:
        return False
    return _p256_ok(key, signature, message, high_s="accepts_high_s" in flaws)


def verify(snapshot: TrustSnapshot, text: str, now_s: int, flaws: Collection[str], *, venue: str = "",
           state: Path | None = None) -> VerifiedCode:
    """The 15 rules of the core's `verify_code`, in order, each flaw a switch."""
    if now_s > snapshot.expires_at_s + GRACE_S:
        raise BundleStaleError("the trust set is stale")
    decoded = decode_text(text)
    presented = decoded if isinstance(decoded, Presented) else None
    envelope = presented.envelope if presented is not None else decoded
    candidates = snapshot.keys_by_kid.get(envelope.kid)
    if not candidates:
        raise KeyUnknownError(f"no key {envelope.kid.hex()}")
    signed = SIGNING_CONTEXT + envelope.payload
    found = next((k for k in candidates if _code_signature_ok(k, envelope.signature, signed, flaws)), None)
    if found is None and "any_algorithm" in flaws:
        # FLAW any_algorithm: "maybe it was signed with another algorithm": try every key of the kid's city.
        city_keys = [k for keys in snapshot.keys_by_kid.values() for k in keys if k.city == candidates[0].city]
        found = next((k for k in city_keys if k.key.verify(envelope.signature, signed)), None)
    if found is None:
        raise SignatureInvalidError("bad signature")
    claims = parse_claims(envelope.payload)
    city = claims.city
    if city != found.city:
        raise CityMismatchError("city mismatch")
    if not found.valid_at_issue(claims.issued_at):
        raise KeyNotValidError("key not valid at issue")
    if now_s > snapshot.cities[city].expires_at_s + GRACE_S:
        raise BundleStaleError(f"the part of {city} is stale")
    bound = claims.HasField("device_key")
    message = b""
    if presented is None:
        if bound:
            raise DeviceProofRequiredError()
    else:
        if not bound:
            raise CodeMalformedError("a presentation of a code without a device key")
        message = presentation_message(envelope.raw, presented.presented_at_s)
        if "skips_device_signature" not in flaws and not _device_signature_ok(  # FLAW skips_device_signature
                claims.device_key.algorithm, claims.device_key.public_key, presented.signature, message, flaws):
            raise DeviceSignatureInvalidError()
        if abs(now_s - presented.presented_at_s) > PRESENTATION_WINDOW_S:
            raise PresentationStaleError()
    if now_s < claims.issued_at:
        raise CodeNotYetValidError("not yet valid")
    if now_s >= claims.expires_at and "skips_expiry" not in flaws:  # FLAW skips_expiry
        raise CodeExpiredError("expired")
    status_list = snapshot.statuses.get(city)
    if status_list is None or now_s > status_list.expires_at_s + GRACE_S:
        raise BundleStaleError(f"no fresh status list of {city}")
    status = status_list.status(claims.status_index)
    if status and "ignores_status" not in flaws:  # FLAW ignores_status
        raise (CodeSuspendedError if status == 2 else CodeRevokedError)(f"status {status}")
    if presented is not None and not _first_sighting(state, venue, message,
                                                     until_s=presented.presented_at_s + PRESENTATION_WINDOW_S + 1,
                                                     now_s=now_s):
        raise PresentationReplayedError()
    return VerifiedCode(city=city, tier=Tier(claims.tier), band=claims.band, issued_at_s=claims.issued_at,
                        expires_at_s=claims.expires_at, code_id=claims.code_id, holder=claims.holder,
                        status_index=claims.status_index, kid=envelope.kid, policy_version=claims.policy_version,
                        audience=claims.audience or city, device_bound=bound)


# --- the protocol ---------------------------------------------------------------------------------------


def serve(argv: Sequence[str], flaws: Collection[str] = ()) -> int:
    """Answer one protocol call: one JSON object on stdout and the exit code (2, and no JSON, on bad input)."""
    unknown = set(flaws) - FLAWS
    if unknown:
        raise ValueError(f"unknown flaws {unknown}")
    try:
        return _serve(parse_args(argv), flaws)
    except CityCreditError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace, flaws: Collection[str]) -> int:
    now_s = parse_time_s(args.at)
    state = Path(args.state) if args.state else None
    try:
        snapshot = open_trust_set(Path(args.trust), state, now_s, flaws)
        if args.command == "check":
            catalogue = snapshot.catalogue
        result = verify(snapshot, args.code.rstrip("\r\n"), now_s, flaws, venue=args.venue, state=state)
    except BundleError as exc:
        doc = verification_to_json(exc) if args.command == "verify" else {"eligible": False, "error": exc.code}
        print(json.dumps(doc, ensure_ascii=False))
        return 2
    except CodeError as exc:
        if args.command == "verify":
            print(json.dumps(verification_to_json(exc), ensure_ascii=False))
        else:
            print(json.dumps(to_json(decision_for_error(exc, args.offer)), ensure_ascii=False))
        return 1
    if args.command == "verify":
        print(json.dumps(verification_to_json(result), ensure_ascii=False))
        return 0
    decision = catalogue.decide(holder=result, offer_id=args.offer, now_s=now_s)
    print(json.dumps(to_json(decision), ensure_ascii=False))
    if decision.error_code:
        return 2
    return 0 if decision.eligible else 1


def main_with(*flaws: str) -> None:
    """A broken verifier's command line."""
    sys.exit(serve(sys.argv[1:], flaws))
