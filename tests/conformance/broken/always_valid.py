#!/usr/bin/env python3
"""A "verifier" that answers valid (and eligible) to everything, echoing what claims it can read."""

import json
import sys
from collections.abc import Sequence

from _protocol import parse_args
from citycredit.core import Tier, decode_envelope, iso, parse_claims


def serve(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    answer = {"valid": True, "city": None, "tier": None, "band": None, "issued_at": None, "expires_at": None,
              "code_id": None, "holder": None, "error": None}
    try:
        claims = parse_claims(decode_envelope(args.code).payload)
        answer.update(city=f"{claims.city:06d}", tier=Tier(claims.tier).name, band=claims.band,
                      issued_at=iso(claims.issued_at), expires_at=iso(claims.expires_at),
                      code_id=claims.code_id.hex(), holder=claims.holder.hex())
    except Exception:
        pass
    if args.command == "check":
        answer = {"eligible": True, "reason": None, "offer": args.offer, "tier": answer["tier"],
                  "treated_as_local": True, "agreement": None, "quota_remaining": None, "benefit": "",
                  "error": None}
    print(json.dumps(answer, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
