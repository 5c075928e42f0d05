"""A home directory holding an alliance on disk: the operator's state, keys and latest bundle.

Layout::

    D/alliance.json                    members, public keys, revocations, offers (public)
    D/anchor.json                      the pinned governance keys and threshold (public)
    D/bundle.ccb                       the latest signed TrustBundle (public)
    D/governance/<kid>.<alg>.pem       governance private keys (0600)
    D/cities/<code>/<kid>.<alg>.pem    city signing keys (0600)
    D/cities/<code>/holder.secret      the city's pseudonym secret, hex (0600)
    D/cities/<code>/issued.jsonl       the city's register of issued codes (no identities)
    D/schemes/*.json                   optional scheme overrides for this alliance

Writes go to a temporary file and are renamed into place, so a crash never
leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from citycredit.core import (
    Algorithm,
    Alliance,
    CityRecord,
    HeldKey,
    IssuedCode,
    Issuer,
    KeyRecord,
    SigningKey,
    Tier,
    TrustAnchor,
    pick_signing_key,
    pick_status_index,
)
from citycredit.errors import InvalidArgumentError, NotFoundError

__all__ = ["BUNDLE_TTL_S", "Home", "write_private", "write_public"]

BUNDLE_TTL_S = 30 * 86400


def write_public(path: Path, data: bytes) -> None:
    _write(path, data, 0o644)


def write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def key_filename(key: SigningKey) -> str:
    return f"{key.kid.hex()}.{key.algorithm.slug}.pem"


def load_key_file(path: Path) -> SigningKey:
    parts = path.name.split(".")
    if len(parts) != 3 or parts[2] != "pem":
        raise InvalidArgumentError(f"{path.name}: key files are named <kid>.<algorithm>.pem")
    return SigningKey.from_pem(path.read_bytes(), Algorithm.from_slug(parts[1]))


class Home:
    """An alliance kept in a directory (see the module docstring for the layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def alliance_path(self) -> Path:
        return self.path / "alliance.json"

    @property
    def anchor_path(self) -> Path:
        return self.path / "anchor.json"

    @property
    def bundle_path(self) -> Path:
        return self.path / "bundle.ccb"

    @property
    def schemes_dir(self) -> Path:
        return self.path / "schemes"

    def exists(self) -> bool:
        return self.alliance_path.is_file()

    def require(self) -> Home:
        if not self.exists():
            raise NotFoundError(
                f"{self.path} holds no alliance; create one with: citycredit demo init --dir {self.path}")
        return self

    def load(self) -> Alliance:
        return Alliance.from_json(self.require().alliance_path.read_text(encoding="utf-8"))

    def anchor(self) -> TrustAnchor:
        return TrustAnchor.from_json(self.require().anchor_path.read_bytes())

    def bundle(self) -> bytes:
        return self.require().bundle_path.read_bytes()

    # --- private material --------------------------------------------------------------------------

    def governance_signers(self) -> list[SigningKey]:
        return [load_key_file(p) for p in sorted((self.path / "governance").glob("*.pem"))]

    def add_governance_key(self, key: SigningKey) -> None:
        write_private(self.path / "governance" / key_filename(key), key.to_pem())

    def city_dir(self, city: int) -> Path:
        return self.path / "cities" / str(city)

    def store_city_key(self, city: int, key: SigningKey) -> Path:
        path = self.city_dir(city) / key_filename(key)
        if path.exists():
            raise InvalidArgumentError(f"{path} exists; refusing to overwrite a key")
        write_private(path, key.to_pem())
        return path

    def _signing_key(self, record: CityRecord, algorithm: Algorithm | None) -> SigningKey:
        """The key `pick_signing_key` chooses among the city's keys whose private half is here."""
        held = []
        for key in record.keys:
            path = self.city_dir(record.city) / f"{key.kid.hex()}.{key.algorithm.slug}.pem"
            if path.is_file():
                held.append(HeldKey(load_key_file(path), key.not_before_s, active=key.status == "active"))
        try:
            return pick_signing_key(held, algorithm)
        except NotFoundError:
            wanted = f" {algorithm.slug}" if algorithm else ""
            raise NotFoundError(f"no active{wanted} signing key for city {record.city} in {self.path}; add one "
                                f"with: citycredit keys new --city {record.city} --home {self.path}") from None

    def holder_secret(self, city: int) -> bytes:
        path = self.city_dir(city) / "holder.secret"
        if not path.is_file():
            write_private(path, secrets.token_hex(32).encode())
        return bytes.fromhex(path.read_text().strip())

    def issuer(self, city: int, algorithm: Algorithm | None = None) -> Issuer:
        return self._issuer(self.load().city(city), algorithm)

    def _issuer(self, record: CityRecord, algorithm: Algorithm | None) -> Issuer:
        policy_version = record.tier_policy.version if record.tier_policy is not None else 0
        return Issuer(city=record.city, key=self._signing_key(record, algorithm),
                      holder_secret=self.holder_secret(record.city), policy_version=policy_version,
                      status_list_size=record.status.size)

    # --- the register of issued codes ------------------------------------------------------------

    def issue(self, city: int, *, holder_ref: str, tier: Tier, band: str, now_s: int, ttl_s: int,
              algorithm: Algorithm | None = None) -> IssuedCode:
        """Issue and register a code, at a status index that is not revoked and that no live code holds.

        Two live codes sharing an index would be revoked together, and a code on a revoked index would be
        born revoked; an index is reused only after every code that held it has expired.
        """
        record = self.load().city(city)  # one read of the alliance for the key, the policy and the revocations
        issuer = self._issuer(record, algorithm)
        revoked = record.status
        register = self.city_dir(city) / "issued.jsonl"
        taken = set()
        if register.is_file():
            for line in register.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                if entry["expires_at"] > now_s:
                    taken.add(entry["status_index"])
        used = len(taken) + revoked.count() - sum(revoked.is_revoked(i) for i in taken)
        index = pick_status_index(issuer.status_list_size, lambda i: i not in taken and not revoked.is_revoked(i),
                                  used)
        issued = issuer.issue(holder_ref=holder_ref, tier=tier, band=band, now_s=now_s, ttl_s=ttl_s,
                              status_index=index)
        register.parent.mkdir(parents=True, exist_ok=True)
        with register.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"code_id": issued.code_id.hex(), "holder": issued.holder.hex(),
                                "status_index": issued.status_index, "issued_at": issued.issued_at_s,
                                "expires_at": issued.expires_at_s, "tier": issued.tier.name}) + "\n")
        return issued

    # --- publishing -------------------------------------------------------------------------------

    def add_city_key(self, alliance: Alliance, city: int, key: SigningKey, *, now_s: int) -> KeyRecord:
        record = KeyRecord(algorithm=key.algorithm, spki=key.spki, not_before_s=now_s)
        self.store_city_key(city, key)
        alliance.city(city).keys.append(record)
        return record

    def publish(self, alliance: Alliance, *, now_s: int, ttl_s: int = BUNDLE_TTL_S) -> bytes:
        """Sign the next bundle with the governance keys here and store state, anchor and bundle."""
        signers = self.governance_signers()
        if len(signers) < alliance.governance.threshold:
            raise NotFoundError(f"{len(signers)} governance key(s) in {self.path}; "
                                f"{alliance.governance.threshold} needed to sign")
        data = alliance.publish(signers[: alliance.governance.threshold], now_s=now_s, ttl_s=ttl_s)
        write_public(self.alliance_path, alliance.to_json().encode())
        if not self.anchor_path.exists():
            write_public(self.anchor_path, alliance.governance.to_json().encode())
        write_public(self.bundle_path, data)
        return data
