"""The demonstration alliance: every party of the alliance in one folder, each with its own keys.

    D/anchor.json                    the pinned root (TUF root metadata, version 1)
    D/governance/member-<n>/keys/    each governance member's key store (one Ed25519 key)
    D/cities/<slug>/                 each city office's store (`citycredit.city.CityOffice`)
    D/gateway/keys/                  the gateway's key store: its snapshot and timestamp keys only
    D/gateway/seed.json              what the gateway starts from: the grants each city signed for
                                     its office's and one merchant's credential (token hashes only)
    D/repository/                    the published trust set in the served layout (`_trustdir`)
    D/cities/<slug>/residents.json   DEMO ONLY: fictional residents for the issuer's demo identity
                                     provider (one per band of the city's scheme)
    D/passphrases.json               DEMO ONLY: every store's passphrase, so that one command runs
                                     every party; in production each party supplies its own
                                     (CITYCREDIT_KEYSTORE_PASSPHRASE or a prompt) and keeps it
    D/credentials.json               DEMO ONLY: the tokens of every city office and merchant

`init_demo` creates all of it the way the parties would: each generates its keys in its
own store, the governance holds its founding ceremony (every member signs the first root
and membership), each city signs its role and status list, the cities of each agreement
co-sign it, and the gateway signs snapshot and timestamp. Offline commands in a demo home
(`citycredit issue --home D`) act as the party they name; `publish_local` then plays the
gateway for D/repository, which is how `citycredit verify --home D` sees the change.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from citycredit._files import write_private, write_public
from citycredit._trustdir import read_status_lists, read_trust_dir, write_trust_dir
from citycredit._verifier import Verifier, VerifierConfig
from citycredit.adapters import demo_catalogue, load_registry
from citycredit.city import CityOffice
from citycredit.core import (
    AGREEMENT_MAX_TTL_S,
    Agreement,
    Algorithm,
    Repository,
    TrustAnchor,
    TrustSnapshot,
    agreement_metadata,
    agreement_role,
    city_role,
    membership_part,
    open_trust,
    publish,
    root_metadata,
    sign_metadata,
    targets_metadata,
    to_proto,
    uscc_check_character,
)
from citycredit.errors import InvalidArgumentError, NotFoundError
from citycredit.governance import Proposal
from citycredit.governance import sign as sign_proposal
from citycredit.keystore import EncryptedFileStore, KeyStore

__all__ = ["ALLIANCE_NAME", "DEMO_ISSUER_PORT", "DemoHome", "init_demo", "new_token"]

ALLIANCE_NAME = "长三角·闽粤 信用互认示范联盟 (demonstration)"
GOVERNANCE_MEMBERS, GOVERNANCE_THRESHOLD = 3, 2
GOVERNANCE_KEY = "governance"
SNAPSHOT_KEY, TIMESTAMP_KEY = "snapshot", "timestamp"
# The demo cities' issuers listen on 8101, 8102 … in city-code order.
DEMO_ISSUER_PORT = 8101
SEED_FORMAT = "citycredit-gateway-seed/1"
RESIDENTS_FORMAT = "citycredit-demo-residents/1"
DEMO_PASSWORD = "demo"
_NUMERALS = "一二三四五六七八九十"
CREDENTIALS_FORMAT = "citycredit-credentials/1"
# What `publish_local` checks is signatures and versions, whatever the age of the files.
_ANY_AGE_S = 10**12


def new_token(kind: str) -> str:
    """A bearer token: 256 random bits, `ccs_` for a city office, `ccm_` for a merchant."""
    return {"city_office": "ccs_", "merchant": "ccm_"}[kind] + secrets.token_urlsafe(32)


class DemoHome:
    """An alliance home (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def anchor_path(self) -> Path:
        return self.path / "anchor.json"

    @property
    def repository_dir(self) -> Path:
        return self.path / "repository"

    @property
    def gateway_dir(self) -> Path:
        return self.path / "gateway"

    @property
    def schemes_dir(self) -> Path:
        return self.path / "schemes"

    def exists(self) -> bool:
        return self.anchor_path.is_file() and self.repository_dir.is_dir()

    def require(self) -> DemoHome:
        if not self.exists():
            raise NotFoundError(f"{self.path} holds no alliance; create one with: "
                                f"citycredit demo init --dir {self.path}")
        return self

    def anchor(self) -> TrustAnchor:
        return TrustAnchor.from_json(self.require().anchor_path.read_bytes())

    # --- stores ---------------------------------------------------------------------------------------

    def passphrase(self, store: Path) -> str:
        """A store's passphrase: CITYCREDIT_KEYSTORE_PASSPHRASE when set, else the demo's file."""
        given = os.environ.get("CITYCREDIT_KEYSTORE_PASSPHRASE")
        if given:
            return given
        try:
            known = json.loads((self.path / "passphrases.json").read_text())
        except (OSError, ValueError):
            raise NotFoundError(f"no passphrase for {store}: set CITYCREDIT_KEYSTORE_PASSPHRASE") from None
        relative = str(store.relative_to(self.path))
        if relative not in known:
            raise NotFoundError(f"no passphrase for {relative} in {self.path / 'passphrases.json'}")
        return str(known[relative])

    def store(self, relative: str | Path) -> KeyStore:
        folder = self.path / relative
        return EncryptedFileStore.open(folder, self.passphrase(folder))

    def city_dir(self, city: str | int) -> Path:
        """The store of a city named by code or slug."""
        for folder in sorted((self.path / "cities").glob("*")):
            doc = json.loads((folder / "office.json").read_text(encoding="utf-8"))
            if str(city).strip().lower() in (doc["slug"], doc["city"], str(int(doc["city"]))):
                return folder
        raise NotFoundError(f"{city!r} is not a city of the alliance in {self.path}")

    @contextmanager
    def city(self, city: str | int) -> Iterator[CityOffice]:
        folder = self.city_dir(city)
        keystore = self.store(folder.relative_to(self.path) / "keys")
        office = CityOffice.open(folder, keystore)
        try:
            yield office
        finally:
            office.close()
            keystore.close()

    def city_slugs(self) -> list[str]:
        return sorted(p.name for p in (self.path / "cities").glob("*") if (p / "office.json").is_file())

    def member_dirs(self) -> list[Path]:
        return sorted((self.path / "governance").glob("member-*"))

    # --- the published trust set ------------------------------------------------------------------------

    def repository(self) -> Repository:
        """The trust set of D/repository as a `Repository` (every root version, current files)."""
        files = read_trust_dir(self.repository_dir, trusted_root=self.anchor().data)
        roots = [files.root, *files.newer_roots]
        return Repository(roots=roots, timestamp=files.timestamp, snapshot=files.snapshot, targets=files.targets,
                          roles=dict(files.roles), targets_files=dict(files.targets_files))

    def status_lists(self) -> dict[int, bytes]:
        return read_status_lists(self.repository_dir)

    def publish_local(self, *, now_s: int, root: bytes | None = None, targets: bytes | None = None,
                      roles: Mapping[str, bytes] | None = None, files: Mapping[str, bytes] | None = None,
                      status_lists: Mapping[int, bytes] | None = None) -> Repository:
        """Play the gateway for D/repository: apply what the parties signed, sign snapshot and timestamp."""
        repository = self.repository()
        if root is not None or targets is not None or roles or files:
            # Like the gateway it plays, refuse what the parties' signatures do not carry (too few governance
            # signatures, a role signed by the wrong city, a rollback) before anything is written: a refused
            # proposal leaves D/repository as it was. Freshness is the verifiers' to judge, at their time.
            anchor = self.anchor()
            current = open_trust(repository.files(trusted_root_version=anchor.version), now_s=now_s,
                                 grace_s=_ANY_AGE_S, anchor=anchor)
            with self.gateway_keys() as keys:
                repository = publish(repository, snapshot_signer=keys.signer(SNAPSHOT_KEY),
                                     timestamp_signer=keys.signer(TIMESTAMP_KEY), now_s=now_s, root=root,
                                     targets=targets, roles=roles, files=files)
            open_trust(repository.files(trusted_root_version=anchor.version), now_s=now_s, grace_s=_ANY_AGE_S,
                       anchor=anchor, previous=current)
        write_trust_dir(self.repository_dir, repository, status_lists)
        return repository

    @contextmanager
    def gateway_keys(self) -> Iterator[KeyStore]:
        keystore = self.store("gateway/keys")
        try:
            yield keystore
        finally:
            keystore.close()

    def snapshot(self, *, now_s: int, grace_s: int = 0) -> TrustSnapshot:
        """D/repository opened as a verifier would."""
        return Verifier.from_directory(self.repository_dir, anchor=self.anchor(), clock=lambda: float(now_s),
                                       config=VerifierConfig(grace_s=grace_s)).snapshot


def _create_store(home: DemoHome, relative: str, passphrases: dict[str, str]) -> KeyStore:
    passphrases[relative] = secrets.token_urlsafe(24)
    return EncryptedFileStore.create(home.path / relative, passphrases[relative])


def init_demo(path: str | Path, *, now_s: int) -> bool:
    """Create the demo alliance in `path`. Returns False (and changes nothing) if one is there already.

    Refuses to write into a directory that has files but no alliance, so keys are never
    overwritten silently.
    """
    home = DemoHome(path)
    if home.exists():
        return False
    if home.path.exists() and any(p.name != "schemes" for p in home.path.iterdir()):
        raise InvalidArgumentError(f"{home.path} is not empty and holds no alliance; refusing to write keys there")
    registry = load_registry(home.schemes_dir if home.schemes_dir.is_dir() else None)
    offers, agreements = demo_catalogue()
    passphrases: dict[str, str] = {}

    # The governance members and the gateway make their keys, each in their own store.
    members = []
    for n in range(1, GOVERNANCE_MEMBERS + 1):
        store = _create_store(home, f"governance/member-{n}/keys", passphrases)
        members.append(store.create_key(GOVERNANCE_KEY, Algorithm.ED25519))
        store.close()
    gateway = _create_store(home, "gateway/keys", passphrases)
    snapshot_key = gateway.create_key(SNAPSHOT_KEY, Algorithm.ED25519)
    timestamp_key = gateway.create_key(TIMESTAMP_KEY, Algorithm.ED25519)

    # Each city office makes its keys and signs its own role and status list.
    offices: dict[int, CityOffice] = {}
    for index, scheme in enumerate(registry.schemes()):
        store = _create_store(home, f"cities/{scheme.slug}/keys", passphrases)
        offices[scheme.city] = CityOffice.create(
            home.path / "cities" / scheme.slug, keystore=store, city=scheme.city, slug=scheme.slug,
            name_zh=scheme.name_zh, name_en=scheme.name_en, tier_policy=scheme.tier_policy(), now_s=now_s,
            offers=[o for o in offers if o.city == scheme.city],
            issuer_url=f"http://127.0.0.1:{DEMO_ISSUER_PORT + index}")
        _write_residents(home.path / "cities" / scheme.slug, scheme.slug, scheme.sample_records())
    write_private(home.path / "passphrases.json", (json.dumps(passphrases, indent=2) + "\n").encode())

    # The founding ceremony: every member signs the first root and the first membership.
    root = root_metadata(governance=members, threshold=GOVERNANCE_THRESHOLD, timestamp_key=timestamp_key,
                         snapshot_key=snapshot_key, version=1, now_s=now_s)
    membership = membership_part(ALLIANCE_NAME, [o.member() for o in offices.values()])
    targets = targets_metadata(membership=membership, authorities={c: o.authority_key() for c, o in offices.items()},
                               agreements={a.id: a.cities for a in agreements}, version=1, now_s=now_s)
    proposal = Proposal(summary=("founding the alliance",), root=sign_metadata(root, []),
                        targets=sign_metadata(targets, []), files={"alliance/members.pb": membership})
    for member in members:
        proposal = sign_proposal(proposal, member)
    assert proposal.root is not None

    roles: dict[str, bytes] = {}
    files: dict[str, bytes] = dict(proposal.files)
    status_lists: dict[int, bytes] = {}
    for city, office in offices.items():
        role, parts, _ = office.signed_role(now_s=now_s)
        roles[city_role(city)] = role
        files.update(parts)
        status_lists[city], _, _ = office.status_update(now_s=now_s)
    for agreement in agreements:
        role, parts = _cosigned_agreement(agreement, offices, now_s)
        roles[agreement_role(agreement.id)] = role
        files.update(parts)
    repository = publish(None, snapshot_signer=snapshot_key, timestamp_signer=timestamp_key, now_s=now_s,
                         root=proposal.root, targets=proposal.targets, roles=roles, files=files)
    write_trust_dir(home.repository_dir, repository, status_lists)
    write_public(home.anchor_path, proposal.root)
    write_public(home.gateway_dir / "anchor.json", proposal.root)  # the gateway pins the same root
    _seed_credentials(home, offices, now_s)
    for office in offices.values():
        office.close()
        office.keystore.close()
    gateway.close()
    return True


def _write_residents(folder: Path, slug: str, records: list[dict[str, object]]) -> None:
    """Fictional residents, one per band, for the demo identity provider (never real people)."""
    residents = [{"id": f"{slug}-{n}", "name_zh": f"示范居民{_NUMERALS[n - 1]}", "name_en": f"Demo resident {n}",
                  "ref": f"demo:{slug}:{n:04d}", "record": record} for n, record in enumerate(records, 1)]
    doc = {"format": RESIDENTS_FORMAT, "note": "DEMO ONLY: fictional residents, not real people; a real city signs "
                                              "its residents in through its own identity system",
           "password": DEMO_PASSWORD, "residents": residents}
    write_private(folder / "residents.json", (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())


def _cosigned_agreement(agreement: Agreement, offices: Mapping[int, CityOffice], now_s: int,
                        ) -> tuple[bytes, dict[str, bytes]]:
    body = to_proto(agreement).SerializeToString(deterministic=True)
    end = agreement.not_after_s - now_s if agreement.not_after_s else AGREEMENT_MAX_TTL_S
    metadata, files = agreement_metadata(body, agreement.id, version=1, now_s=now_s, ttl_s=max(end, 86400))
    data = sign_metadata(metadata, [])
    for city in sorted(agreement.cities):
        data = offices[city].cosign(data)
    return data, files


def _seed_credentials(home: DemoHome, offices: Mapping[int, CityOffice], now_s: int) -> None:
    """One city-office credential and one merchant per city, each under a grant the city signed.

    The gateway gets the signed grants (D/gateway/seed.json: token hashes only); each office
    keeps its own token (0600 in its store); D/credentials.json lists them all for the demo.
    """
    seed: dict[str, Any] = {"format": SEED_FORMAT, "grants": []}
    listed: dict[str, Any] = {"format": CREDENTIALS_FORMAT, "cities": {}}
    for city, office in sorted(offices.items()):
        office_token, merchant_token = new_token("city_office"), new_token("merchant")
        office_first17 = f"11{city:06d}MB{secrets.randbelow(10**7):07d}"
        credential, office_grant = office.grant_office(office_id=office_first17 + uscc_check_character(office_first17),
                                                       token=office_token, now_s=now_s)
        seed["grants"].append(office_grant.hex())
        write_private(office.directory / "gateway-token", office_token.encode())
        first17 = f"91{city:06d}MA{secrets.randbelow(10**7):07d}"
        merchant, grant = office.grant_merchant(merchant_id=first17 + uscc_check_character(first17),
                                                name=f"{office.member().name_zh}示范商户 (demonstration)", venues=(),
                                                token=merchant_token, now_s=now_s)
        seed["grants"].append(grant.hex())
        listed["cities"][f"{city:06d}"] = {
            "slug": office.slug,
            "city_office": {"id": credential, "token": office_token},
            "merchant": {"id": merchant, "token": merchant_token, "venue": None}}
    write_public(home.gateway_dir / "seed.json", (json.dumps(seed, indent=2) + "\n").encode())
    write_private(home.path / "credentials.json", (json.dumps(listed, indent=2, ensure_ascii=False) + "\n").encode())

