"""The conformance protocol on top of the SDK, with hooks for the deliberately broken verifiers.

Not a test module: the scripts beside it import it. Each script passes one flaw.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from citycredit.core import (
    SIGNING_CONTEXT,
    AcceptedBundle,
    Tier,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    decision_for_error,
    decode_envelope,
    iso,
    open_bundle,
    parse_claims,
    parse_time_s,
    to_json,
)
from citycredit.errors import (
    BundleError,
    CityCreditError,
    CodeError,
    CodeExpiredError,
    CodeNotYetValidError,
    CodeRevokedError,
    KeyNotValidError,
    KeyUnknownError,
    SignatureInvalidError,
)

GRACE_S = 3 * 86400


def verify(snapshot: TrustSnapshot, code: str, now_s: int, *, check_expiry: bool = True,
           check_revocation: bool = True, any_algorithm: bool = False) -> VerifiedCode:
    """The verification steps of the core, each flaw switchable."""
    envelope = decode_envelope(code)
    candidates = snapshot.keys_by_kid.get(envelope.kid)
    if not candidates:
        raise KeyUnknownError("unknown kid")
    signed = SIGNING_CONTEXT + envelope.payload
    found = next((k for k in candidates if k.key.verify(envelope.signature, signed)), None)
    if found is None and any_algorithm:
        # FLAW: "maybe it was signed with another algorithm": try every key of the kid's city.
        city_keys = [k for keys in snapshot.keys_by_kid.values() for k in keys if k.city == candidates[0].city]
        found = next((k for k in city_keys if k.key.verify(envelope.signature, signed)), None)
    if found is None:
        raise SignatureInvalidError("bad signature")
    claims = parse_claims(envelope.payload)
    if claims.city != found.city:
        from citycredit.errors import CityMismatchError

        raise CityMismatchError("city mismatch")
    if not found.valid_at_issue(claims.issued_at):
        raise KeyNotValidError("key not valid at issue")
    if now_s < claims.issued_at:
        raise CodeNotYetValidError("not yet valid")
    if check_expiry and now_s >= claims.expires_at:
        raise CodeExpiredError("expired")
    if check_revocation:
        bits = snapshot.status_bits(claims.city)
        if bits is not None and bits.is_revoked(claims.status_index):
            raise CodeRevokedError("revoked")
        cutoff = snapshot.holder_cutoffs(claims.city).get(claims.holder)
        if cutoff is not None and claims.issued_at < cutoff:
            raise CodeRevokedError("holder revoked")
    return VerifiedCode(city=claims.city, tier=Tier(claims.tier), band=claims.band, issued_at_s=claims.issued_at,
                        expires_at_s=claims.expires_at, code_id=claims.code_id, holder=claims.holder,
                        status_index=claims.status_index, kid=envelope.kid, policy_version=claims.policy_version)


def _args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["verify", "check"])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--at", required=True)
    parser.add_argument("--offer")
    parser.add_argument("--state")
    parser.add_argument("code")
    return parser.parse_args(argv)


def _verified_json(result: VerifiedCode) -> dict[str, Any]:
    return {"valid": True, "city": f"{result.city:06d}", "tier": result.tier.name, "band": result.band,
            "expires_at": iso(result.expires_at_s), "error": None}


def serve(verify_fn: Callable[[TrustSnapshot, str, int], VerifiedCode], argv: Sequence[str] | None = None) -> int:
    """Answer one protocol call with `verify_fn` as the verifier."""
    args = _args(sys.argv[1:] if argv is None else argv)
    now_s = parse_time_s(args.at)
    bundle = Path(args.bundle)
    try:
        anchor = TrustAnchor.from_json(bundle.with_name("anchor.json").read_bytes())
        accepted = None
        if args.state:
            doc = json.loads(Path(args.state).read_text())
            accepted = AcceptedBundle(version=int(doc["version"]), digest=bytes.fromhex(doc["digest"]))
        snapshot = open_bundle(bundle.read_bytes(), anchor=anchor, now_s=now_s, grace_s=GRACE_S, accepted=accepted)
        catalogue = snapshot.catalogue if args.command == "check" else None
    except BundleError as exc:
        print(json.dumps({"valid": False, "eligible": False, "error": exc.to_dict()}))
        return 2
    try:
        result = verify_fn(snapshot, args.code, now_s)
    except CodeError as exc:
        if args.command == "verify":
            print(json.dumps({"valid": False, "city": None, "tier": None, "band": None, "expires_at": None,
                              "error": exc.to_dict()}))
            return 1
        print(json.dumps(to_json(decision_for_error(exc, args.offer)), ensure_ascii=False))
        return 1
    if args.command == "verify":
        print(json.dumps(_verified_json(result), ensure_ascii=False))
        return 0
    assert catalogue is not None
    decision = catalogue.decide(holder=result, offer_id=args.offer, now_s=now_s)
    print(json.dumps(to_json(decision), ensure_ascii=False))
    if decision.error_code:
        return 2
    return 0 if decision.eligible else 1


def main_with(verify_fn: Callable[[TrustSnapshot, str, int], VerifiedCode]) -> None:
    try:
        sys.exit(serve(verify_fn))
    except CityCreditError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        sys.exit(2)
