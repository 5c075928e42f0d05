"""A work folder for a campaign: a demo alliance, its fixed clock, a device key, and seeds of real encodings.

    workdir/demo/            a `citycredit demo init` alliance (each target that writes copies it)
    workdir/clock.json       the moment the decoders judge at (the REST targets use the wall clock)
    workdir/device.pem       the holder device key the device-bound seed codes are bound to
    workdir/seeds/<target>/  the seed corpus: every input a real party would send there

Every seed is made the way its party makes it: codes and presentations by the cities'
offices (Ed25519 and P-256 keys, every tier, home and visitor audiences, device-bound ones),
a whole status list and a delta as a city and the gateway sign them, the published TUF files,
the merchant grants the cities signed, the offers and agreements as the trust set carries
them, and one valid request of every REST operation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from citycredit._demo import DemoHome
from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.core import (
    CITY_PARTS,
    MEMBERSHIP_PATH,
    Algorithm,
    SigningKey,
    Status,
    Tier,
    agreement_path,
    b45decode,
    city_part_path,
    decode_envelope,
    device_key,
    encode_presentation,
    open_status_update,
    sign_part,
    status_delta,
    to_json,
    uscc_check_character,
)

from tests.fuzz._context import CITIES, CLOCK_FILE, DEVICE_FILE, Context
from tests.fuzz._rest import GATEWAY_OPS, ISSUER_OPS, Frame

__all__ = ["prepare"]

QUOTA_OFFER = "quzhou-parking-free-3"
BANDS = {Tier.RESTRICTED: "示范·失信", Tier.NEEDS_IMPROVEMENT: "示范·待提高", Tier.FAIR: "示范·一般",
         Tier.GOOD: "示范·良好", Tier.EXCELLENT: "示范·优秀", Tier.OUTSTANDING: "示范·极好"}
WEEK_S = 7 * 86400


def prepare(workdir: Path, *, demo: Path) -> None:
    """Fill `workdir` from the demo alliance in `demo` (copied; never changed), once: a folder with seeds stays."""
    if (workdir / "seeds" / ".done").is_file():
        return
    shutil.rmtree(workdir / "demo", ignore_errors=True)
    shutil.rmtree(workdir / "seeds", ignore_errors=True)
    shutil.copytree(demo, workdir / "demo")
    now = int(time.time())
    (workdir / CLOCK_FILE).write_text(json.dumps({"now_s": now}))
    device = SigningKey.generate(Algorithm.P256)
    (workdir / DEVICE_FILE).write_bytes(device.to_pem())
    seeds = _make(workdir, now, device)
    for target, inputs in seeds.items():
        folder = workdir / "seeds" / target
        folder.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)
    (workdir / "seeds" / ".done").write_text(json.dumps({k: len(v) for k, v in seeds.items()}))


def _make(workdir: Path, now: int, device: SigningKey) -> dict[str, list[bytes]]:
    home = DemoHome(workdir / "demo")
    codes: list[str] = []
    presentations: list[str] = []
    bound: list[str] = []
    revoked_update = b""
    for slug, city in CITIES.items():
        with home.city(slug) as office:
            for n, (tier, algorithm) in enumerate((t, a) for t in Tier for a in (Algorithm.ED25519, Algorithm.P256)):
                audience = (city, CITIES["quzhou"], CITIES["hangzhou"])[n % 3]
                issued = office.issue(holder_ref=f"fuzz:{slug}:{n}", tier=tier, band=BANDS[tier], now_s=now,
                                      ttl_s=WEEK_S, audience=audience, algorithm=algorithm)
                codes.append(issued.code)
            for n, audience in enumerate((city, CITIES["quzhou"])):
                issued = office.issue(holder_ref=f"fuzz:{slug}:bound:{n}", tier=Tier.EXCELLENT,
                                      band=BANDS[Tier.EXCELLENT], now_s=now, ttl_s=WEEK_S, audience=audience,
                                      device_key=device_key(device))
                bound.append(issued.code)
                presentations.append(encode_presentation(issued.code, device, presented_at_s=now))
                presentations.append(encode_presentation(issued.code, device, presented_at_s=now - 120))
            if slug == "hangzhou":
                revoked_update = office.set_status(codes[0], Status.REVOKED, now_s=now).update or b""
    context = Context.load(workdir)
    try:
        seeds = {
            "text": [c.encode() for c in (*codes, *bound, *presentations)] + [
                b"CC1:", b"CP1:", b" " + codes[0].encode(), codes[1].lower().encode(), codes[2].encode() + b"\n"],
            "envelope": [b"\0" + b45decode(c[4:]) for c in (*codes, *bound)] + [
                b"\1" + b45decode(p[4:]) for p in presentations],
            "claims": [bytes([n % 4]) + decode_envelope(c).payload for n, c in enumerate(codes)] + [
                bytes([flag]) + decode_envelope(c).payload for c in bound for flag in (0, 0x80)],
            "status": _status_seeds(context, revoked_update),
            "trust": _trust_seeds(context),
            "grant": _grant_seeds(workdir),
            "offers": _offer_seeds(context),
            "rest": _gateway_seeds(workdir, context, codes, presentations),
            "issuer": _issuer_seeds(workdir, context, codes, device),
        }
    finally:
        context.close()
    return seeds


def _status_seeds(context: Context, revoked_update: bytes) -> list[bytes]:
    out = [bytes([mode]) + update for update in context.status_updates.values() for mode in (0, 1, 2, 3)][:24]
    hangzhou = CITIES["hangzhou"]
    held = context.status_lists[hangzhou]
    newer = open_status_update(revoked_update, city=hangzhou, status_keys=context.snapshot.cities[hangzhou].status_keys,
                               previous=held, now_s=context.now_s, grace_s=0)
    indexes, statuses = status_delta(held.data, newer.data)
    delta = status_pb2.StatusListUpdate()
    delta.delta.head.ParseFromString(newer.head)
    delta.delta.from_version = held.version
    delta.delta.indexes.extend(indexes)
    delta.delta.statuses = statuses
    for update in (revoked_update, delta.SerializeToString(deterministic=True)):
        out += [bytes([mode]) + update for mode in (0, 1, 2, 3)]
    return out


def _trust_seeds(context: Context) -> list[bytes]:
    files = context.files
    named = {"root": files.root, "timestamp": files.timestamp, "snapshot": files.snapshot, "targets": files.targets,
             **files.roles, **files.targets_files}
    names = ["root", "timestamp", "snapshot", "targets", *sorted(files.roles), *sorted(files.targets_files)]
    out = [bytes([mode, i]) + named[name] for i, name in enumerate(names) for mode in (0, 2)]
    out.append(bytes([3, 0]) + files.root)
    parts = [city_part_path(c, p) for c in CITIES.values() for p in CITY_PARTS]
    parts += [MEMBERSHIP_PATH, agreement_path("hangzhou-quzhou")]
    out += [bytes([1, i]) + files.targets_files[path] for i, path in enumerate(parts)]
    return out


def _grant_seeds(workdir: Path) -> list[bytes]:
    grants = [bytes.fromhex(g) for g in json.loads((workdir / "demo" / "gateway" / "seed.json").read_text())["grants"]]
    return [bytes([mode]) + grant for grant in grants for mode in (0, 1)]


def _offer_seeds(context: Context) -> list[bytes]:
    catalogue = context.snapshot.catalogue
    out = [b"\0" + _json(to_json(o)) for o in catalogue.offers]
    out += [b"\1" + _json(to_json(a)) for a in catalogue.agreements]
    out += [b"\3" + _json(to_json(o.benefit)) for o in catalogue.offers[:8]]
    return out


def _json(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def _frames(ops: Iterable[str], table: tuple[object, ...], items: Iterable[tuple[str, str, object]]) -> list[bytes]:
    index = {op.name: n for n, op in enumerate(table)}  # type: ignore[attr-defined]
    out = []
    for name, param, body in items:
        raw = body if isinstance(body, bytes) else (b"" if body is None else _json(body))
        out.append(Frame(index[name], 0, 0, param.encode(), raw).encode())
    missing = set(ops) - {name for name, _, _ in items}
    assert not missing, f"no seed for {sorted(missing)}"
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _gateway_seeds(workdir: Path, context: Context, codes: list[str], presentations: list[str]) -> list[bytes]:
    from citycredit.gateway.transparency import WITNESS_CONTEXT

    files = context.files
    hangzhou, quzhou = CITIES["hangzhou"], CITIES["quzhou"]
    role = f"city-{hangzhou}"
    part_files = {p: _b64(d) for p, d in files.targets_files.items() if p.startswith(f"cities/{hangzhou:06d}/")}
    agreement = {agreement_path("hangzhou-quzhou"): _b64(files.targets_files[agreement_path("hangzhou-quzhou")])}
    grants = json.loads((workdir / "demo" / "gateway" / "seed.json").read_text())["grants"]
    witness = sign_part(b"\x01" * 48, context.status_signers[quzhou], WITNESS_CONTEXT).SerializeToString()
    items: list[tuple[str, str, object]] = [
        ("verify", "", {"code": codes[0]}),
        ("verify", "", {"code": codes[3], "at": context.now_s, "venue": "till-1"}),
        ("verify", "", {"code": presentations[0], "venue": "till-2"}),
        ("batch_verify", "", {"codes": codes[:6], "venue": "till-3"}),
        ("batch_verify", "", {"codes": [*codes[6:9], presentations[2]], "at": "2026-01-01T00:00:00Z"}),
        ("check", "", {"code": codes[10], "offer_id": QUOTA_OFFER}),
        ("redeem", "fuzz-key-1", {"code": codes[10], "offer_id": QUOTA_OFFER}),
        ("redeem", "fuzz-key-2", {"code": codes[4], "offer_id": QUOTA_OFFER, "at": context.now_s - 60}),
        ("void", "rdm-0000000000000000", None),
        ("history", "limit=5&before=2030-01-01T00:00:00Z", None),
        ("put_parts", f"{hangzhou}", {"role": files.roles[role].decode(), "files": part_files}),
        ("put_status_list", f"{hangzhou}", context.status_updates[hangzhou]),
        ("put_grant", f"{quzhou}", bytes.fromhex(grants[-1])),
        ("put_agreement", "hangzhou-quzhou", {"role": files.roles["agreement-hangzhou-quzhou"].decode(),
                                              "files": agreement}),
        ("put_governance", "", {"targets": files.targets.decode(),
                                "files": {MEMBERSHIP_PATH: _b64(files.targets_files[MEMBERSHIP_PATH])}}),
        ("holder_redemptions", f"{hangzhou}", {"holders": ["00" * 12, "ab" * 12]}),
        ("witness", "", {"city": quzhou, "signed": _b64(witness)}),
        ("status_list", f"{hangzhou}?since=1", None),
        ("inclusion", "index=0&size=1", None),
        ("entries", "start=0&end=5", None),
        ("figures", f"{hangzhou}?since=2026-01-01T00:00:00Z", None),
        ("offers", f"city={quzhou}", None),
        ("trust_file", "timestamp.json", None),
        ("merchant", "", None),
    ]
    return _frames((op.name for op in GATEWAY_OPS), GATEWAY_OPS, items)


def _issuer_seeds(workdir: Path, context: Context, codes: list[str], device: SigningKey) -> list[bytes]:
    hangzhou = CITIES["hangzhou"]
    raw = _b64(device_key(device).public_key)
    offer = next(o for o in context.snapshot.catalogue.offers if o.city == hangzhou)
    p256 = next(s for s in context.code_signers if s.city == hangzhou and s.algorithm is Algorithm.P256)
    uscc = "91330100MA2" + "ABCDEF"
    uscc += uscc_check_character(uscc)
    items: list[tuple[str, str, object]] = [
        ("sign_in", "", {"resident": "hangzhou-4", "password": "demo"}),
        ("device", "", {"algorithm": "p256", "public_key": raw}),
        ("holder_code", "", {"audience": "quzhou"}),
        ("issue", "", {"holder_ref": "demo:hangzhou:0042", "local_record": {"score": 720}, "ttl_s": 600,
                       "audience": "330800"}),
        ("issue", "", {"holder_ref": "demo:hangzhou:0043", "local_record": {"score": 640}, "device_key": raw,
                       "device_algorithm": "p256"}),
        ("new_key", "", {"algorithm": "ed25519"}),
        ("retire_key", p256.kid.hex(), {"not_after": context.now_s + WEEK_S}),
        ("preview_offer", "", to_json(offer)),
        ("publish_offer", offer.id, to_json(offer)),
        ("onboard", "", {"merchant_id": uscc, "name": "示范商户", "venues": ["till-1"]}),
        ("set_status", "", {"code": codes[2], "status": "suspended", "holder": False}),
        ("holder_offers", "audience=quzhou", None),
        ("revoke_merchant", "cred-unknown", None),
        ("withdraw_agreement", "no-such-agreement", None),
        ("withdraw_offer", "no-such-offer", None),
    ]
    return _frames((op.name for op in ISSUER_OPS), ISSUER_OPS, items)
