"""Filling an empty database: the alliance of the home directory (the demo one if there is none).

The home's state, bundle, city private keys and pseudonym secrets are imported;
one city-office token and one merchant key per city are created and written to
`D/credentials.json` (0600), so the README and tests can use them::

    {"format": "citycredit-credentials/1",
     "cities": {"330100": {"slug": "hangzhou",
                           "city_office": {"id": "city-…", "token": "ccs_…"},
                           "merchant": {"id": "mkey-…", "token": "ccm_…", "venue": null}}}}

An existing credentials file is reused, so a fresh database over the same home
keeps the tokens people already have.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from citycredit._demo import init_demo
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit._home import Home, load_key_file, write_private
from citycredit.core import Alliance
from citycredit.errors import InvalidArgumentError, NotFoundError
from citycredit.gateway.audit import append_audit
from citycredit.gateway.auth import CITY_OFFICE, MERCHANT, hash_token, new_credential_id, new_token
from citycredit.gateway.db import Database
from citycredit.gateway.models import AllianceState, BundleRow, CityKeyRow, CitySecretRow, CredentialRow
from sqlmodel import Session, select

__all__ = ["CREDENTIALS_FORMAT", "credentials_path", "ensure_home", "load_credentials", "seed_database"]

CREDENTIALS_FORMAT = "citycredit-credentials/1"
log = logging.getLogger("citycredit.gateway")


def credentials_path(home: Path | str) -> Path:
    return Path(home) / "credentials.json"


def load_credentials(home: Path | str) -> dict[str, Any]:
    """The seeded credentials of a home directory (see the module docstring for the format)."""
    path = credentials_path(home)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotFoundError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != CREDENTIALS_FORMAT:
        raise InvalidArgumentError(f"{path} is not a {CREDENTIALS_FORMAT} file")
    return doc


def ensure_home(home: Home, *, seed_demo: bool, now_s: int) -> Home:
    """The home directory with an alliance in it: the demo one is created when there is none."""
    if home.exists():
        return home
    if not seed_demo:
        raise NotFoundError(f"{home.path} holds no alliance and seeding the demo is off")
    init_demo(home, now_s=now_s)
    log.info("demo alliance created", extra={"fields": {"home": str(home.path)}})
    return home


def _credentials_doc(home: Home, alliance: Alliance) -> dict[str, Any]:
    path = credentials_path(home.path)
    if path.is_file():
        return load_credentials(home.path)
    cities: dict[str, Any] = {}
    for code, record in sorted(alliance.cities.items()):
        cities[str(code)] = {
            "slug": record.slug,
            CITY_OFFICE: {"id": new_credential_id(CITY_OFFICE), "token": new_token(CITY_OFFICE)},
            MERCHANT: {"id": new_credential_id(MERCHANT), "token": new_token(MERCHANT), "venue": None},
        }
    return {"format": CREDENTIALS_FORMAT, "cities": cities}


def seed_database(db: Database, home: Home, *, seed_demo: bool, now_s: int) -> bool:
    """Seed an empty database from the home directory; False when it already holds an alliance."""
    with db.read() as session:
        if session.exec(select(AllianceState.version).limit(1)).first() is not None:
            return False
    home = ensure_home(home, seed_demo=seed_demo, now_s=now_s)
    alliance = home.load()
    data = home.bundle()
    creds = _credentials_doc(home, alliance)
    body = bundle_pb2.BundleBody.FromString(bundle_pb2.TrustBundle.FromString(data).body)
    now = now_s

    def work(session: Session) -> bool:
        if session.exec(select(AllianceState.version).limit(1)).first() is not None:
            return False  # another replica seeded first
        session.add(AllianceState(version=alliance.version, state_json=alliance.to_json(), created_at_s=now))
        session.add(BundleRow(version=alliance.version, data=data, digest=hashlib.sha256(data).hexdigest(),
                              issued_at_s=body.issued_at, expires_at_s=body.expires_at))
        held = 0
        for code, record in alliance.cities.items():
            kids = {k.kid for k in record.keys}
            for path in sorted(home.city_dir(code).glob("*.pem")):
                key = load_key_file(path)
                if key.kid in kids:
                    session.add(CityKeyRow(kid=key.kid.hex(), city=code, algorithm=key.algorithm.slug,
                                           private_pem=key.to_pem(), created_at_s=now))
                    held += 1
            secret_path = home.city_dir(code) / "holder.secret"
            secret = bytes.fromhex(secret_path.read_text().strip()) if secret_path.is_file() \
                else secrets.token_bytes(32)
            session.add(CitySecretRow(city=code, secret=secret))
        for code, entry in creds["cities"].items():
            for kind in (CITY_OFFICE, MERCHANT):
                cred = entry[kind]
                session.add(CredentialRow(id=cred["id"], kind=kind, city=int(code), venue=cred.get("venue"),
                                          label=f"seeded {kind}", token_hash=hash_token(cred["token"]),
                                          created_at_s=now, created_by="seed"))
        session.flush()
        append_audit(session, at_s=now, actor="gateway", action="alliance.seed", city=None, subject=None,
                     details={"bundle_version": alliance.version, "cities": sorted(alliance.cities),
                              "gateway_held_keys": held, "credentials": len(creds["cities"]) * 2})
        return True

    seeded = db.write(work)
    if seeded:
        write_private(credentials_path(home.path), json.dumps(creds, indent=2, ensure_ascii=False).encode() + b"\n")
        log.info("database seeded", extra={"fields": {"bundle_version": alliance.version,
                                                      "cities": len(alliance.cities),
                                                      "credentials": str(credentials_path(home.path))}})
    return seeded
