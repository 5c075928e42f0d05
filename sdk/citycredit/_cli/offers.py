"""`citycredit offers` (list, publish, withdraw), `check` and `redeem`: offers, decisions and redemptions."""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._cli.party import add_office_args, open_office, publish_role, report
from citycredit._cli.resolve import resolve_city
from citycredit._cli.trust import add_json_flag, add_trust_args, load_verifier
from citycredit._client import GatewayClient
from citycredit.core import Decision, Offer, Reason, from_json, to_json
from citycredit.errors import BundleError, InvalidArgumentError, UnavailableError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    offers = subparsers.add_parser("offers", help="the same-city offers: list them, or publish and withdraw a "
                                                  "city's own")
    sub = offers.add_subparsers(dest="offers_command", metavar="ACTION")
    listing = sub.add_parser("list", help="list the offers of the trust set (the default action)")
    for parser in (offers, listing):
        add_trust_args(parser)
        parser.add_argument("--city", dest="host", help="only this host city (six-digit code or pinyin name)")
        add_json_flag(parser)
        parser.set_defaults(handler=_offers)
    publish = sub.add_parser("publish", help="add or replace one of the city's offers (a JSON file) and publish "
                                             "the city's signed part")
    publish.add_argument("file", help="the offer as JSON (the shape `offers --json` prints)")
    add_office_args(publish)
    add_json_flag(publish)
    publish.set_defaults(handler=_publish)
    withdraw = sub.add_parser("withdraw", help="withdraw one of the city's offers and publish its signed part")
    withdraw.add_argument("offer_id")
    add_office_args(withdraw)
    add_json_flag(withdraw)
    withdraw.set_defaults(handler=_withdraw)

    check = subparsers.add_parser("check", help="may the holder have this offer? (exit 0 yes, 1 no, 2 cannot judge)")
    check.add_argument("code", help="the CC1: or CP1: string")
    check.add_argument("--offer", required=True, help="offer id (see `citycredit offers`)")
    add_trust_args(check)
    add_json_flag(check)
    check.set_defaults(handler=_check)

    redeem = subparsers.add_parser("redeem", help="spend an offer for the code's holder at a gateway "
                                                  "(exit 0 redeemed, 1 not eligible, 2 bad input)")
    redeem.add_argument("code", help="the CC1: or CP1: string")
    redeem.add_argument("--offer", required=True, help="offer id")
    redeem.add_argument("--gateway", required=True, help="gateway REST URL, e.g. http://127.0.0.1:8080")
    redeem.add_argument("--api-key", help="merchant API key (default: $CITYCREDIT_API_KEY)")
    redeem.add_argument("--idempotency-key", help="reuse to retry a redemption safely (default: a new one)")
    redeem.add_argument("--retries", type=int, default=3, help="retries with the same key if the gateway is "
                                                               "unreachable (default 3)")
    add_json_flag(redeem)
    redeem.set_defaults(handler=_redeem)


def _offers(args: argparse.Namespace, out: Output) -> int:
    catalogue = load_verifier(args).snapshot.catalogue
    city = resolve_city(args.host, args.home) if args.host else None
    found = catalogue.find(city=city)
    if args.json:
        out.json([to_json(o) for o in found])
        return 0
    for offer in found:
        flags = [f for f, on in (("local only", offer.local_only), ("assumed threshold", offer.assumed)) if on]
        quota = f", {offer.quota.uses} per {offer.quota.period.value}" if offer.quota else ""
        out.line(f"{out.paint(offer.id, 'bold')}  {offer.city:06d} {offer.category.value}  "
                 f"≥ {offer.min_tier.name}{quota}" + (f"  [{', '.join(flags)}]" if flags else ""))
        out.line(f"    {offer.title_zh} — {offer.benefit.text_zh}")
    out.line(out.paint(f"{len(found)} offer(s)", "dim"))
    return 0


def _publish(args: argparse.Namespace, out: Output) -> int:
    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read the offer {args.file}: {exc}") from None
    offer = from_json(Offer, doc)
    with open_office(args) as (office, home):
        office.publish_offer(offer)
        published = publish_role(args, office, home, int(time.time()))
    return report(out, args, f"offer {offer.id} published", published)


def _withdraw(args: argparse.Namespace, out: Output) -> int:
    with open_office(args) as (office, home):
        office.withdraw_offer(args.offer_id)
        published = publish_role(args, office, home, int(time.time()))
    return report(out, args, f"offer {args.offer_id} withdrawn", published)


def _check(args: argparse.Namespace, out: Output) -> int:
    try:
        verifier = load_verifier(args)
        decision = verifier.check(args.code.rstrip("\r\n"), args.offer)
    except BundleError as exc:
        if args.json:
            out.json({"eligible": False, "reason": None, "offer": args.offer, "tier": None,
                      "treated_as_local": False, "benefit": None, "error": exc.code})
        out.error(exc.code, exc.message)
        return 2
    if args.json:
        out.json(to_json(decision))
    else:
        _print_decision(decision, out)
    if decision.reason is Reason.OFFER_UNKNOWN:
        return 2  # a mistyped offer id is bad input, not a verdict on the holder
    return 0 if decision.eligible else 1


def _print_decision(decision: Decision, out: Output) -> None:
    tier = decision.tier.name if decision.tier is not None else "unknown"
    if decision.eligible:
        how = "as a local" if decision.agreement_id is None else f"same-city treatment ({decision.agreement_id})"
        out.ok(f"{out.paint('ELIGIBLE', 'green', 'bold')}  {decision.offer_id}: {decision.benefit}")
        out.field("treated", how)
    else:
        assert decision.reason is not None
        out.fail(f"{out.paint('NOT ELIGIBLE', 'red', 'bold')}  {decision.offer_id}: {decision.reason.value}")
    out.field("tier", tier)
    if decision.quota_remaining is not None:
        out.field("quota left", decision.quota_remaining)
    out.field("why", decision.detail)


def _redeem(args: argparse.Namespace, out: Output) -> int:
    key = args.api_key or os.environ.get("CITYCREDIT_API_KEY")
    idempotency_key = args.idempotency_key or f"cli-{uuid.uuid4()}"
    client = GatewayClient.rest(args.gateway, api_key=key)
    for attempt in range(max(args.retries, 0) + 1):
        try:
            redemption = client.redeem(args.code, args.offer, idempotency_key)
            break
        except UnavailableError:
            if attempt == max(args.retries, 0):
                out.error(UnavailableError.code, f"the gateway did not answer; retry with --idempotency-key "
                                                 f"{idempotency_key} so that nothing is spent twice")
                return 2
    decision = redemption.decision
    if args.json:
        out.json({"redeemed": redemption.redeemed, "redemption_id": redemption.redemption_id,
                  "replayed": redemption.replayed, "idempotency_key": idempotency_key,
                  "decision": to_json(decision)})
    else:
        _print_decision(decision, out)
        if redemption.redeemed:
            again = " (replayed: this key was already redeemed)" if redemption.replayed else ""
            out.field("redemption", f"{redemption.redemption_id}{again}")
    return 0 if redemption.redeemed else 1
