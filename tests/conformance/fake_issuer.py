#!/usr/bin/env python3
"""A city issuer for the issuer-conformance tests: a key and a pseudonym secret in files, the scheme registry,
and the core's one issuance pipeline (`Issuer.issue`). The reference issuer (`citycredit issue --home D`) opens
an encrypted key store per call, which is too slow to call for every band edge of several tests.

    fake_issuer.py KEY.pem SECRET.bin [--ttl-s N] --city C (--score N | --grade G | --colour C [--honours]
                   [--bad-record])
"""

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

from citycredit.adapters import load_registry
from citycredit.core import MIN_STATUS_LIST_SIZE, Algorithm, Issuer, SigningKey, hmac_sha256, iso
from citycredit.errors import CityCreditError


def issue(argv: list[str]) -> tuple[int, str, str]:
    """One call: (exit code, stdout, stderr), as the issuer check reads them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("key")
    parser.add_argument("secret")
    parser.add_argument("--ttl-s", type=int, default=300)
    parser.add_argument("--city", required=True)
    parser.add_argument("--score", type=int)
    parser.add_argument("--grade")
    parser.add_argument("--colour")
    parser.add_argument("--honours", action="store_true")
    parser.add_argument("--bad-record", action="store_true")
    args = parser.parse_args(argv)
    record = ({"score": args.score} if args.score is not None else {"grade": args.grade} if args.grade else
              {"colour": args.colour, **({"honours": True} if args.honours else {}),
               **({"bad_record": True} if args.bad_record else {})})
    try:
        scheme = load_registry().resolve_city(args.city)
        rating = scheme.map(record)
        issuer = Issuer(city=scheme.city, key=SigningKey.from_pem(Path(args.key).read_bytes(), Algorithm.ED25519),
                        pseudonym=hmac_sha256(Path(args.secret).read_bytes()), policy_version=1,
                        status_list_size=MIN_STATUS_LIST_SIZE)
        issued = issuer.issue(holder_ref=f"holder-{secrets.token_hex(4)}", tier=rating.tier, band=rating.band,
                              now_s=int(time.time()), ttl_s=args.ttl_s)
    except CityCreditError as exc:
        return 2, "", f"error {exc.code}: {exc.message}\n"
    return 0, json.dumps({"code": issued.code, "tier": issued.tier.name, "expires_at": iso(issued.expires_at_s)}), ""


if __name__ == "__main__":
    code, out, err = issue(sys.argv[1:])
    print(out, end="")
    print(err, end="", file=sys.stderr)
    sys.exit(code)
