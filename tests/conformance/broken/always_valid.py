#!/usr/bin/env python3
"""A "verifier" that answers valid (and eligible) to everything, echoing what claims it can read."""

import json
import sys

from _protocol import _args
from citycredit.core import Tier, decode_envelope, iso, parse_claims

if __name__ == "__main__":
    args = _args(sys.argv[1:])
    answer = {"valid": True, "city": None, "tier": None, "band": None, "expires_at": None, "error": None}
    try:
        claims = parse_claims(decode_envelope(args.code).payload)
        answer.update(city=f"{claims.city:06d}", tier=Tier(claims.tier).name, band=claims.band,
                      expires_at=iso(claims.expires_at))
    except Exception:
        pass
    if args.command == "check":
        answer = {"eligible": True, "reason": None, "offer": args.offer, "tier": answer["tier"],
                  "treated_as_local": True, "benefit": "", "error": None}
    print(json.dumps(answer, ensure_ascii=False))
    sys.exit(0)
