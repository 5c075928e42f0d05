"""`citycredit governance` (the ceremony), `agreement` (co-signing) and `city init` (a new office's store).

    citycredit governance propose add-city --city 330900 --slug zhoushan … --authority-key K.pub --out P.json
    citycredit governance show P.json --home D            # anyone: what would change, who signed so far
    citycredit governance sign P.json --member D/governance/member-1      # each member, on their own machine
    citycredit governance publish P.json --gateway URL    # once the threshold of signatures is there
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._cli.party import add_office_args, open_office, publish_role, report
from citycredit._cli.trust import add_json_flag, add_trust_args, load_verifier
from citycredit._demo import GOVERNANCE_KEY, DemoHome
from citycredit._files import write_private, write_public
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.adapters import load_scheme_file
from citycredit.city import CityOffice, Uploader
from citycredit.core import (
    AGREEMENT_MAX_TTL_S,
    Agreement,
    Algorithm,
    Category,
    TrustSnapshot,
    VerifyingKey,
    agreement_metadata,
    agreement_role,
    parse_time_s,
    sign_metadata,
    to_proto,
)
from citycredit.errors import InvalidArgumentError
from citycredit.governance import Proposal, describe, propose_governance, propose_membership, sign
from citycredit.keystore import EncryptedFileStore, open_store, passphrase_from_env

__all__ = ["register"]
AGREEMENT_FORMAT = "citycredit-agreement-proposal/1"


def register(subparsers: Any) -> None:
    gov = subparsers.add_parser("governance", help="the governance ceremony: propose, show, sign, publish")
    sub = gov.add_subparsers(dest="governance_command", metavar="ACTION", required=True)
    propose = sub.add_parser("propose", help="write a proposal (nobody has signed it yet)")
    kinds = propose.add_subparsers(dest="change", metavar="CHANGE", required=True)
    add = kinds.add_parser("add-city", help="a new member city and its authority key")
    add.add_argument("--city", required=True, type=int)
    add.add_argument("--slug", required=True)
    add.add_argument("--name-zh", required=True)
    add.add_argument("--name-en", required=True)
    add.add_argument("--authority-key", required=True, help="the city's authority public key (city init prints it)")
    remove = kinds.add_parser("remove-city", help="a city leaves the alliance (its agreements go too)")
    remove.add_argument("--city", required=True, type=int)
    rotate = kinds.add_parser("rotate-city-key", help="a member's new authority key")
    rotate.add_argument("--city", required=True, type=int)
    rotate.add_argument("--authority-key", required=True)
    pact = kinds.add_parser("agreement", help="delegate an agreement's role to the cities it binds")
    pact.add_argument("--id", required=True)
    pact.add_argument("--cities", required=True, help="comma-separated six-digit codes")
    keys = kinds.add_parser("keys", help="new governance keys or threshold (signed by the old and the new)")
    keys.add_argument("--key", action="append", required=True, help="a governance public key file (repeat)")
    keys.add_argument("--threshold", type=int, required=True)
    for parser in (add, remove, rotate, pact, keys):
        add_trust_args(parser)
        parser.add_argument("--out", required=True, help="the proposal file to write")
        parser.set_defaults(handler=_propose)

    show = sub.add_parser("show", help="what a proposal changes and who signed it so far")
    show.add_argument("proposal")
    add_trust_args(show)
    add_json_flag(show)
    show.set_defaults(handler=_show)
    signing = sub.add_parser("sign", help="add your signature (your key store stays on your machine)")
    signing.add_argument("proposal")
    signing.add_argument("--member", required=True, help="your member store, e.g. D/governance/member-1")
    signing.add_argument("--home", help="a demo home holding the member's passphrase")
    signing.set_defaults(handler=_sign)
    publish = sub.add_parser("publish", help="send a signed proposal to the gateway (it refuses too few signatures)")
    publish.add_argument("proposal")
    publish.add_argument("--gateway", help="the gateway's REST URL")
    publish.add_argument("--home", help="a demo home: publish into its repository/ instead")
    add_json_flag(publish)
    publish.set_defaults(handler=_publish)
    member = sub.add_parser("member-key", help="a new governance member's key store; prints its public key file")
    member.add_argument("--store", required=True)
    member.add_argument("--out", required=True, help="the public key file to write")
    member.set_defaults(handler=_member_key)

    agreement = subparsers.add_parser("agreement", help="an inter-city agreement: propose, co-sign, publish, leave")
    asub = agreement.add_subparsers(dest="agreement_command", metavar="ACTION", required=True)
    apropose = asub.add_parser("propose", help="write an agreement for the cities it binds to sign")
    apropose.add_argument("--id", required=True)
    apropose.add_argument("--cities", required=True, help="comma-separated six-digit codes")
    apropose.add_argument("--categories", default="", help="comma-separated (empty: every non-local category)")
    apropose.add_argument("--from", dest="not_before", required=True, help="ISO 8601 date or time")
    apropose.add_argument("--until", dest="not_after", help="ISO 8601 date or time (default: open-ended)")
    apropose.add_argument("--title", default="")
    apropose.add_argument("--out", required=True)
    apropose.set_defaults(handler=_agreement_propose)
    asign = asub.add_parser("sign", help="add this city's authority signature")
    asign.add_argument("file")
    add_office_args(asign)
    asign.set_defaults(handler=_agreement_sign)
    apublish = asub.add_parser("publish", help="send the co-signed agreement (refused until every city signed)")
    apublish.add_argument("file")
    apublish.add_argument("--gateway")
    apublish.add_argument("--token", help="any bound city office's gateway token")
    apublish.add_argument("--home")
    apublish.set_defaults(handler=_agreement_publish)
    leave = asub.add_parser("withdraw", help="leave an agreement (one city may always leave)")
    leave.add_argument("agreement_id")
    leave.add_argument("--at", help="from when, ISO 8601 (default: now)")
    add_office_args(leave)
    add_json_flag(leave)
    leave.set_defaults(handler=_agreement_withdraw)

    city = subparsers.add_parser("city", help="a city office's own store")
    csub = city.add_subparsers(dest="city_command", metavar="ACTION", required=True)
    init = csub.add_parser("init", help="create a city office's store: its keys, register and first parts")
    init.add_argument("--store", required=True)
    init.add_argument("--scheme", required=True, help="the city's scheme data file (see city_adapters/schemes)")
    init.add_argument("--issuer-url", default="")
    init.set_defaults(handler=_city_init)
    credential = csub.add_parser("credential", help="this office's own gateway credential: a grant signed by the "
                                                    "city's authority key, its token kept in the store")
    add_office_args(credential)
    credential.add_argument("--office-id", required=True, help="the office's unified social credit code (18 "
                                                               "characters, GB 32100)")
    add_json_flag(credential)
    credential.set_defaults(handler=_city_credential)


# --- governance ---------------------------------------------------------------------------------------


def _public_key(path: str) -> VerifyingKey:
    try:
        doc = json.loads(Path(path).read_text())
        return VerifyingKey(algorithm=Algorithm.from_slug(doc["algorithm"]), spki=bytes.fromhex(doc["spki"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{path} is not a public key file: {exc}") from None


def _write_public_key(path: Path, key: VerifyingKey) -> None:
    write_public(path, (json.dumps({"format": "citycredit-public-key/1", "algorithm": key.algorithm.slug,
                                    "spki": key.spki.hex(), "kid": key.kid.hex()}, indent=2) + "\n").encode())


def _current(args: argparse.Namespace) -> TrustSnapshot:
    return load_verifier(args).snapshot


def _propose(args: argparse.Namespace, out: Output) -> int:
    current = _current(args)
    now = int(time.time())
    if args.change == "add-city":
        member = trust_pb2.Member(city=args.city, slug=args.slug, name_zh=args.name_zh, name_en=args.name_en)
        proposal = propose_membership(current, now_s=now, add=[member],
                                      authorities={args.city: _public_key(args.authority_key)})
    elif args.change == "remove-city":
        proposal = propose_membership(current, now_s=now, remove=[args.city])
    elif args.change == "rotate-city-key":
        proposal = propose_membership(current, now_s=now, authorities={args.city: _public_key(args.authority_key)})
    elif args.change == "agreement":
        cities = [int(c) for c in args.cities.split(",") if c.strip()]
        proposal = propose_membership(current, now_s=now, agreements={args.id: cities})
    else:
        proposal = propose_governance(current, keys=[_public_key(k) for k in args.key], threshold=args.threshold,
                                      now_s=now)
    write_public(Path(args.out), proposal.to_json().encode())
    for line in describe(proposal, current):
        out.line(line)
    out.ok(f"proposal written to {args.out}; each member signs it with: citycredit governance sign {args.out} "
           "--member DIR")
    return 0


def _load(path: str) -> Proposal:
    try:
        return Proposal.from_json(Path(path).read_bytes())
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}") from None


def _show(args: argparse.Namespace, out: Output) -> int:
    proposal = _load(args.proposal)
    current = _current(args) if (args.home or args.trust or args.trust_gateway) else None
    lines = describe(proposal, current)
    if args.json:
        out.json({"summary": list(proposal.summary), "lines": lines, "signers": proposal.signers()})
        return 0
    for line in lines:
        out.line(line)
    return 0


def _member_store(args: argparse.Namespace) -> Any:
    folder = Path(args.member) / "keys"
    if args.home:
        return DemoHome(args.home).store(folder.relative_to(Path(args.home)) if folder.is_relative_to(args.home)
                                         else folder)
    return open_store(f"file:{folder}", passphrase=passphrase_from_env(
        "CITYCREDIT_KEYSTORE_PASSPHRASE", prompt=f"passphrase of {folder}: "))


def _sign(args: argparse.Namespace, out: Output) -> int:
    proposal = _load(args.proposal)
    with _member_store(args) as store:
        signed = sign(proposal, store.signer(GOVERNANCE_KEY))
    write_public(Path(args.proposal), signed.to_json().encode())
    out.ok(f"signed {args.proposal}: " + "; ".join(f"{role} {len(ids)} signature(s)"
                                                   for role, ids in signed.signers().items()))
    return 0


def _publish(args: argparse.Namespace, out: Output) -> int:
    proposal = _load(args.proposal)
    if bool(args.gateway) == bool(args.home):
        raise InvalidArgumentError("give --gateway URL or --home DIR")
    if args.gateway:
        answer = Uploader(args.gateway).governance(targets=proposal.targets, files=proposal.files, root=proposal.root)
    else:
        home = DemoHome(args.home).require()
        now = int(time.time())
        repository = home.publish_local(now_s=now, root=proposal.root, targets=proposal.targets,
                                        files=proposal.files, status_lists=home.status_lists())
        home.snapshot(now_s=now)  # opened as a verifier would: too few signatures are refused here
        answer = {"repository": str(home.repository_dir), "roots": len(repository.roots)}
    return report(out, args, "proposal published", answer)


def _member_key(args: argparse.Namespace, out: Output) -> int:
    store = EncryptedFileStore.create(Path(args.store) / "keys", passphrase_from_env(
        "CITYCREDIT_KEYSTORE_PASSPHRASE", prompt="passphrase for the new store: "))
    signer = store.create_key(GOVERNANCE_KEY, Algorithm.ED25519)
    _write_public_key(Path(args.out), VerifyingKey(algorithm=signer.algorithm, spki=signer.spki))
    store.close()
    out.ok(f"governance key in {args.store}; public key in {args.out}")
    return 0


# --- agreements ----------------------------------------------------------------------------------------


def _agreement_propose(args: argparse.Namespace, out: Output) -> int:
    agreement = Agreement(id=args.id, cities=frozenset(int(c) for c in args.cities.split(",") if c.strip()),
                          categories=frozenset(Category.parse(c) for c in args.categories.split(",") if c.strip()),
                          not_before_s=parse_time_s(args.not_before, "--from"),
                          not_after_s=parse_time_s(args.not_after, "--until") if args.not_after else 0,
                          title=args.title)
    now = int(time.time())
    ttl = agreement.not_after_s - now if agreement.not_after_s else AGREEMENT_MAX_TTL_S
    metadata, files = agreement_metadata(to_proto(agreement).SerializeToString(deterministic=True), agreement.id,
                                         version=1, now_s=now, ttl_s=max(ttl, 86400))
    doc = {"format": AGREEMENT_FORMAT, "id": agreement.id, "role": sign_metadata(metadata, []).decode(),
           "files": {p: d.hex() for p, d in files.items()}}
    write_public(Path(args.out), (json.dumps(doc, indent=2) + "\n").encode())
    out.ok(f"agreement {agreement.id} written to {args.out}; each of {sorted(agreement.cities)} signs it with: "
           f"citycredit agreement sign {args.out} --home D --city CITY")
    return 0


def _agreement_doc(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
        if doc["format"] != AGREEMENT_FORMAT:
            raise ValueError("not an agreement proposal")
        return dict(doc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{path}: {exc}") from None


def _agreement_sign(args: argparse.Namespace, out: Output) -> int:
    doc = _agreement_doc(args.file)
    with open_office(args) as (office, _home):
        doc["role"] = office.cosign(doc["role"].encode()).decode()
        city = office.city
    write_public(Path(args.file), (json.dumps(doc, indent=2) + "\n").encode())
    out.ok(f"{city:06d} signed agreement {doc['id']}")
    return 0


def _agreement_publish(args: argparse.Namespace, out: Output) -> int:
    doc = _agreement_doc(args.file)
    role, files = doc["role"].encode(), {p: bytes.fromhex(d) for p, d in doc["files"].items()}
    if args.gateway:
        answer = Uploader(args.gateway, token=args.token).agreement(doc["id"], role, files)
    elif args.home:
        home = DemoHome(args.home).require()
        now = int(time.time())
        home.publish_local(now_s=now, roles={agreement_role(doc["id"]): role}, files=files,
                           status_lists=home.status_lists())
        home.snapshot(now_s=now)
        answer = {"repository": str(home.repository_dir)}
    else:
        raise InvalidArgumentError("give --gateway URL or --home DIR")
    return report(out, args, f"agreement {doc['id']} published", answer)


def _agreement_withdraw(args: argparse.Namespace, out: Output) -> int:
    now = int(time.time())
    with open_office(args) as (office, home):
        office.withdraw_agreement(args.agreement_id, at_s=parse_time_s(args.at, "--at") if args.at else now)
        published = publish_role(args, office, home, now)
    return report(out, args, f"{office.city:06d} withdrew from {args.agreement_id}", published)


def _city_credential(args: argparse.Namespace, out: Output) -> int:
    token = "ccs_" + secrets.token_urlsafe(32)
    with open_office(args) as (office, _home):
        credential, grant = office.grant_office(office_id=args.office_id.strip().upper(), token=token,
                                                now_s=int(time.time()))
        write_private(office.directory / "gateway-token", token.encode())
        answer: dict[str, Any] = {"credential": credential, "token_file": str(office.directory / "gateway-token")}
        if args.gateway:
            answer["gateway"] = Uploader(args.gateway).merchant_grant(office.city, grant)
    return report(out, args, f"office credential {credential} for {office.city:06d}", answer)


def _city_init(args: argparse.Namespace, out: Output) -> int:
    scheme = load_scheme_file(Path(args.scheme))
    folder = Path(args.store)
    store = EncryptedFileStore.create(folder / "keys", passphrase_from_env(
        "CITYCREDIT_KEYSTORE_PASSPHRASE", prompt="passphrase for the new store: "))
    office = CityOffice.create(folder, keystore=store, city=scheme.city, slug=scheme.slug, name_zh=scheme.name_zh,
                               name_en=scheme.name_en, tier_policy=scheme.tier_policy(), now_s=int(time.time()),
                               issuer_url=args.issuer_url)
    _write_public_key(folder / "authority.pub", office.authority_key())
    write_public(folder / "schemes" / f"{scheme.slug}.json", Path(args.scheme).read_bytes())
    office.close()
    store.close()
    out.ok(f"city office {scheme.slug} ({scheme.city:06d}) in {folder}; its authority key: {folder / 'authority.pub'}")
    return 0
