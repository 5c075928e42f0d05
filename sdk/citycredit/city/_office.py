"""`CityOffice`: what a city credit office keeps and does, with its own keys and nobody else's.

    D/office.json        the city's public state: members' names, its keys (public halves, windows,
                         status), offers, tier policy, withdrawals, the versions it signed
    D/keys/              its key store: the authority key, code keys, status key, pseudonym secret
    D/register.db        the register (codes, status list, devices), see `_register`
    D/outbox/            the last signed role, parts and status list, ready to upload

Every operation works offline against the store. What the alliance must see (the city's
role over its keys/offers/policy parts, its status list) comes out signed with the
city's own keys (`signed_role`, `status_update`) for upload to the gateway, which can
check but not forge them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf.api.metadata import Metadata, Targets

from citycredit._files import write_public
from citycredit._gen.citycredit.v1 import bundle_pb2, code_pb2, status_pb2, trust_pb2
from citycredit.city._register import CodeRecord, Register
from citycredit.core import (
    CITY_ROLE_TTL_S,
    STATUS_CONTEXT,
    Algorithm,
    HeldKey,
    IssuedCode,
    Issuer,
    Offer,
    RandomSource,
    Signer,
    Status,
    StatusBitmap,
    Tier,
    VerifyingKey,
    add_signature,
    city_metadata,
    decode_envelope,
    from_json,
    grown_size,
    holder_pseudonym,
    parse_claims,
    pick_signing_key,
    pick_status_index,
    sign_merchant_grant,
    sign_metadata,
    sign_part,
    to_json,
    to_proto,
)
from citycredit.errors import CodeError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from citycredit.keystore import KeyStore

__all__ = ["AUTHORITY_KEY", "CityOffice", "KeyEntry", "StatusChange", "role_version_of"]

OFFICE_FORMAT = "citycredit-office/1"
AUTHORITY_KEY = "authority"
PSEUDONYM_SECRET = "pseudonym"
STATUS_TTL_S = 900  # how soon verifiers look for a newer list
STATUS_EXPIRY_S = 86400  # a list is stale a day after it was signed (verifiers add their grace)
_KEY_STATUS = {"active": bundle_pb2.KEY_STATUS_ACTIVE, "retired": bundle_pb2.KEY_STATUS_RETIRED,
               "revoked": bundle_pb2.KEY_STATUS_REVOKED}


@dataclass
class KeyEntry:
    """A key of the city as its parts list it: the key store's name for it, and its public half and window."""

    name: str
    algorithm: Algorithm
    spki: bytes
    not_before_s: int
    not_after_s: int = 0
    status: str = "active"
    revoked_at_s: int = 0

    @property
    def kid(self) -> bytes:
        return VerifyingKey(algorithm=self.algorithm, spki=self.spki).kid

    def to_proto(self) -> bundle_pb2.PublicKey:
        return bundle_pb2.PublicKey(kid=self.kid, algorithm=self.algorithm.proto, spki=self.spki,
                                    not_before=self.not_before_s, not_after=self.not_after_s,
                                    status=_KEY_STATUS[self.status], revoked_at=self.revoked_at_s)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "algorithm": self.algorithm.slug, "kid": self.kid.hex(),
                "spki": base64.b64encode(self.spki).decode(), "not_before_s": self.not_before_s,
                "not_after_s": self.not_after_s, "status": self.status, "revoked_at_s": self.revoked_at_s}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyEntry:
        return cls(name=d["name"], algorithm=Algorithm.from_slug(d["algorithm"]), spki=base64.b64decode(d["spki"]),
                   not_before_s=d["not_before_s"], not_after_s=d["not_after_s"], status=d["status"],
                   revoked_at_s=d["revoked_at_s"])


@dataclass
class _State:
    """office.json: everything public the office keeps."""

    city: int
    slug: str
    name_zh: str
    name_en: str
    tier_policy: bundle_pb2.TierPolicy
    code_keys: list[KeyEntry] = field(default_factory=list)
    status_keys: list[KeyEntry] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    withdrawals: dict[str, int] = field(default_factory=dict)
    issuer_url: str = ""
    role_version: int = 0
    # The parts' digest at the last signature, so that an unchanged city is not re-signed.
    signed_digest: str = ""
    signed_expires_s: int = 0

    def to_json(self) -> str:
        return json.dumps({
            "format": OFFICE_FORMAT, "city": f"{self.city:06d}", "slug": self.slug, "name_zh": self.name_zh,
            "name_en": self.name_en,
            "tier_policy": {"scheme": self.tier_policy.scheme, "version": self.tier_policy.version,
                            "digest": self.tier_policy.digest.hex(), "confirmed": self.tier_policy.confirmed},
            "code_keys": [k.to_json() for k in self.code_keys], "status_keys": [k.to_json() for k in self.status_keys],
            "offers": [to_json(o) for o in self.offers], "withdrawals": self.withdrawals, "issuer_url": self.issuer_url,
            "role_version": self.role_version, "signed_digest": self.signed_digest,
            "signed_expires_s": self.signed_expires_s}, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> _State:
        d = json.loads(text)
        if d.get("format") != OFFICE_FORMAT:
            raise InvalidArgumentError(f"not a {OFFICE_FORMAT} file")
        policy = d["tier_policy"]
        return cls(city=int(d["city"]), slug=d["slug"], name_zh=d["name_zh"], name_en=d["name_en"],
                   tier_policy=bundle_pb2.TierPolicy(scheme=policy["scheme"], version=policy["version"],
                                                     digest=bytes.fromhex(policy["digest"]),
                                                     confirmed=policy["confirmed"]),
                   code_keys=[KeyEntry.from_json(k) for k in d["code_keys"]],
                   status_keys=[KeyEntry.from_json(k) for k in d["status_keys"]],
                   offers=[from_json(Offer, o) for o in d["offers"]], withdrawals=d["withdrawals"],
                   issuer_url=d["issuer_url"], role_version=d["role_version"], signed_digest=d["signed_digest"],
                   signed_expires_s=d["signed_expires_s"])


@dataclass(frozen=True)
class StatusChange:
    """What a revoke, suspend or reinstate did: the codes whose status changed, and the list it signed."""

    code_ids: tuple[str, ...]
    version: int | None
    # The new signed list (a StatusListUpdate), to publish; None when nothing changed.
    update: bytes | None = None

    @property
    def changed(self) -> bool:
        return bool(self.code_ids)


class CityOffice:
    """One city's office over its store (see the module docstring)."""

    def __init__(self, directory: Path, keystore: KeyStore, state: _State) -> None:
        self.directory = directory
        self.keystore = keystore
        self._state = state
        self.register = Register(directory / "register.db")

    # --- creating and opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, *, keystore: KeyStore, city: int, slug: str, name_zh: str, name_en: str,
               tier_policy: bundle_pb2.TierPolicy, now_s: int, offers: Sequence[Offer] = (),
               algorithms: Sequence[Algorithm] = (Algorithm.ED25519, Algorithm.P256),
               issuer_url: str = "") -> CityOffice:
        """A new office: an authority key, a code key per algorithm, a status key and a pseudonym secret."""
        directory = Path(directory)
        if (directory / "office.json").exists():
            raise InvalidArgumentError(f"{directory} already holds a city office")
        keystore.create_key(AUTHORITY_KEY, Algorithm.ED25519)
        keystore.create_secret(PSEUDONYM_SECRET)
        state = _State(city=city, slug=slug, name_zh=name_zh, name_en=name_en, tier_policy=tier_policy,
                       offers=list(offers), issuer_url=issuer_url)
        office = cls(directory, keystore, state)
        for algorithm in algorithms:
            office._new_key(state.code_keys, "code", algorithm, now_s)
        office._new_key(state.status_keys, "status", Algorithm.ED25519, now_s)
        office.save()
        return office

    @classmethod
    def open(cls, directory: str | Path, keystore: KeyStore) -> CityOffice:
        directory = Path(directory)
        try:
            state = _State.from_json((directory / "office.json").read_text(encoding="utf-8"))
        except OSError as exc:
            raise NotFoundError(f"{directory} holds no city office ({exc.strerror})") from None
        return cls(directory, keystore, state)

    def close(self) -> None:
        self.register.close()

    def save(self) -> None:
        write_public(self.directory / "office.json", self._state.to_json().encode())

    @property
    def city(self) -> int:
        return self._state.city

    @property
    def slug(self) -> str:
        return self._state.slug

    @property
    def offers(self) -> list[Offer]:
        return list(self._state.offers)

    @property
    def code_keys(self) -> list[KeyEntry]:
        return list(self._state.code_keys)

    @property
    def issuer_url(self) -> str:
        return self._state.issuer_url

    def member(self) -> trust_pb2.Member:
        s = self._state
        return trust_pb2.Member(city=s.city, slug=s.slug, name_zh=s.name_zh, name_en=s.name_en)

    def authority_key(self) -> VerifyingKey:
        return self.keystore.public_key(AUTHORITY_KEY)

    # --- keys -----------------------------------------------------------------------------------------

    def _new_key(self, entries: list[KeyEntry], role: str, algorithm: Algorithm, now_s: int) -> KeyEntry:
        name = f"{role}-{secrets.token_hex(4)}"
        signer = self.keystore.create_key(name, algorithm)
        entry = KeyEntry(name=name, algorithm=algorithm, spki=signer.spki, not_before_s=now_s)
        entries.append(entry)
        return entry

    def new_code_key(self, algorithm: Algorithm, *, now_s: int) -> KeyEntry:
        """A new code-signing key, valid from now (it takes effect once the signed part is published)."""
        entry = self._new_key(self._state.code_keys, "code", algorithm, now_s)
        self.save()
        return entry

    def retire_key(self, kid: bytes, *, now_s: int, not_after_s: int | None = None) -> KeyEntry:
        """Stop issuing with a key. Its window ends after the current second by default, so a code it signed
        earlier in this second still verifies; codes issued inside the window stay valid."""
        entry = next((k for k in self._state.code_keys if k.kid == kid), None)
        if entry is None:
            raise NotFoundError(f"city {self.city:06d} has no code key {kid.hex()}")
        end = now_s + 1 if not_after_s is None else not_after_s
        if end <= entry.not_before_s:
            raise InvalidArgumentError("a key's window cannot end before it starts")
        entry.status, entry.not_after_s = "retired", end
        self.save()
        return entry

    # --- offers and agreements ------------------------------------------------------------------------

    def publish_offer(self, offer: Offer) -> None:
        """Add or replace an offer of this city (it takes effect once the signed part is published)."""
        if offer.city != self.city:
            raise PermissionDeniedError(f"offer {offer.id} is for {offer.city:06d}; this office is {self.city:06d}")
        self._state.offers = [o for o in self._state.offers if o.id != offer.id] + [offer]
        self.save()

    def withdraw_offer(self, offer_id: str) -> None:
        before = len(self._state.offers)
        self._state.offers = [o for o in self._state.offers if o.id != offer_id]
        if len(self._state.offers) == before:
            raise NotFoundError(f"city {self.city:06d} has no offer {offer_id!r}")
        self.save()

    def withdraw_agreement(self, agreement_id: str, *, at_s: int) -> None:
        """Leave an agreement from `at_s`: one city may always leave (its own policy part says so)."""
        self._state.withdrawals[agreement_id] = min(at_s, self._state.withdrawals.get(agreement_id, at_s))
        self.save()

    def cosign(self, metadata: bytes) -> bytes:
        """Add this city's authority signature to an agreement's role metadata (or a proposal)."""
        return add_signature(metadata, self.keystore.signer(AUTHORITY_KEY))

    # --- the signed parts -----------------------------------------------------------------------------

    def parts(self) -> tuple[trust_pb2.CityKeys, trust_pb2.CityOffers, trust_pb2.CityPolicy]:
        s = self._state
        keys = trust_pb2.CityKeys(city=s.city, code_keys=[k.to_proto() for k in s.code_keys],
                                  status_keys=[k.to_proto() for k in s.status_keys], issuer_url=s.issuer_url)
        offers = trust_pb2.CityOffers(city=s.city, offers=[to_proto(o) for o in sorted(s.offers, key=lambda o: o.id)])
        policy = trust_pb2.CityPolicy(city=s.city, tier_policy=s.tier_policy, withdrawals=[
            trust_pb2.AgreementWithdrawal(agreement_id=i, at=at) for i, at in sorted(s.withdrawals.items())])
        return keys, offers, policy

    def signed_role(self, *, now_s: int, ttl_s: int = CITY_ROLE_TTL_S) -> tuple[bytes, dict[str, bytes], bool]:
        """The city's role metadata and part files, signed by its authority key.

        A new version is signed only when a part changed or half of the last one's life is gone;
        returns (role, files, whether this call signed a new version) and keeps them in the outbox.
        """
        keys, offers, policy = self.parts()
        files_now = {n: p.SerializeToString(deterministic=True) for n, p in (("keys", keys), ("offers", offers),
                                                                             ("policy", policy))}
        digest = hashlib.sha256(b"".join(files_now.values())).hexdigest()
        s = self._state
        outbox = self.directory / "outbox"
        fresh = s.role_version and digest == s.signed_digest and now_s < s.signed_expires_s - ttl_s // 2
        if fresh and (outbox / "role.json").is_file():
            role = (outbox / "role.json").read_bytes()
            files = {p: base64.b64decode(d) for p, d in json.loads((outbox / "parts.json").read_text()).items()}
            return role, files, False
        s.role_version += 1
        metadata, files = city_metadata(keys=keys, offers=offers, policy=policy, version=s.role_version, now_s=now_s,
                                        ttl_s=ttl_s)
        role = sign_metadata(metadata, [self.keystore.signer(AUTHORITY_KEY)])
        s.signed_digest, s.signed_expires_s = digest, now_s + ttl_s
        write_public(outbox / "role.json", role)
        write_public(outbox / "parts.json", json.dumps({p: base64.b64encode(d).decode() for p, d in files.items()},
                                                       indent=2).encode())
        self.save()
        return role, files, True

    def role_version(self) -> int:
        return self._state.role_version

    # --- merchants ------------------------------------------------------------------------------------

    def grant_merchant(self, *, merchant_id: str, name: str, venues: Sequence[str], token: str, now_s: int,
                       publish: Callable[[bytes], object] | None = None) -> tuple[str, bytes]:
        """Onboard a merchant: its credential (id, and the token's hash) in a grant this city signs.

        Returns (credential id, signed grant) for upload; the token itself is the merchant's to keep.
        `publish` (an upload to the gateway) is given the grant first: when it raises, nothing is kept.
        """
        credential_id = f"mkey-{secrets.token_hex(6)}"
        token_sha256 = hashlib.sha256(token.encode()).digest()
        grant = sign_merchant_grant(city=self.city, merchant_id=merchant_id, name=name, venues=venues,
                                    credential_id=credential_id, token_sha256=token_sha256, issued_at_s=now_s,
                                    revoked_at_s=0, signer=self.status_signer())
        if publish is not None:
            publish(grant)
        with self.register.transaction() as db:
            self.register.add_merchant(db, credential_id=credential_id, merchant_id=merchant_id, name=name,
                                       venues=sorted(set(venues)), token_sha256=token_sha256, issued_at_s=now_s,
                                       grant=grant)
        return credential_id, grant

    def grant_office(self, *, office_id: str, token: str, now_s: int) -> tuple[str, bytes]:
        """This office's own gateway credential (uploads, figures, merchants), signed by the authority key.

        `office_id` is the office's unified social credit code. Returns (credential id, signed grant).
        """
        credential_id = f"city-{secrets.token_hex(6)}"
        grant = sign_merchant_grant(city=self.city, merchant_id=office_id, name=f"{self._state.name_zh}信用办",
                                    venues=(), credential_id=credential_id,
                                    token_sha256=hashlib.sha256(token.encode()).digest(), issued_at_s=now_s,
                                    revoked_at_s=0, signer=self.keystore.signer(AUTHORITY_KEY), office=True)
        return credential_id, grant

    def revoke_merchant(self, credential_id: str, *, now_s: int,
                        publish: Callable[[bytes], object] | None = None) -> bytes:
        """Withdraw a merchant's credential: the same grant, signed again with its revocation time.

        `publish` is given the revocation first, and only once it returns is the credential kept as revoked:
        the register never shows as revoked a credential the gateway may still accept.
        """
        found = next((m for m in self.register.merchants() if m.credential_id == credential_id), None)
        if found is None:
            raise NotFoundError(f"city {self.city:06d} granted no credential {credential_id!r}")
        grant = sign_merchant_grant(city=self.city, merchant_id=found.merchant_id, name=found.name,
                                    venues=found.venues, credential_id=credential_id,
                                    token_sha256=found.token_sha256, issued_at_s=found.issued_at_s,
                                    revoked_at_s=now_s, signer=self.status_signer())
        if publish is not None:
            publish(grant)
        with self.register.transaction() as db:
            self.register.revoke_merchant(db, credential_id, now_s, grant)
        return grant

    # --- issuing --------------------------------------------------------------------------------------

    def _issuer(self, algorithm: Algorithm | None) -> Issuer:
        held = [HeldKey(self.keystore.signer(k.name), k.not_before_s, active=k.status == "active")
                for k in self._state.code_keys]
        mac = self.keystore.mac(PSEUDONYM_SECRET).mac
        bitmap, _, _ = self.register.status()
        return Issuer(city=self.city, key=pick_signing_key(held, algorithm), pseudonym=mac,
                      policy_version=self._state.tier_policy.version, status_list_size=bitmap.size)

    def holder_key(self, holder_ref: str) -> str:
        """The register's name for a holder: their pseudonym for the home city (never the identity)."""
        return holder_pseudonym(self.keystore.mac(PSEUDONYM_SECRET).mac, self.city, holder_ref).hex()

    def issue(self, *, holder_ref: str, tier: Tier, band: str, now_s: int, ttl_s: int = 300,
              audience: int | None = None, device_key: code_pb2.DeviceKey | None = None,
              algorithm: Algorithm | None = None, rng: RandomSource = secrets) -> IssuedCode:
        """Issue and register a code at a random status index no live code holds and whose entry is VALID.

        The list grows (doubling) so that at most half of it is in use; an index returns to the
        pool only after every code that held it expired and its entry is back to VALID.
        """
        issuer = self._issuer(algorithm)
        holder = self.holder_key(holder_ref)
        with self.register.transaction() as db:
            bitmap, _version, _signed = self.register.status()
            live = self.register.live_count(now_s)
            size = grown_size(bitmap.size, live + 1)
            if size != bitmap.size:
                bitmap.grow(size)
                self.register.save_status(db, bitmap)
            index = pick_status_index(bitmap.size, lambda i: bitmap.get(i) == 0 and not self.register.index_taken(
                i, now_s), live, rng)
            issued = dataclasses.replace(issuer, status_list_size=bitmap.size).issue(
                holder_ref=holder_ref, tier=tier, band=band, now_s=now_s, ttl_s=ttl_s, status_index=index,
                audience=audience, device_key=device_key, rng=rng)
            self.register.add_code(db, CodeRecord(
                code_id=issued.code_id.hex(), holder=holder, audience=issued.audience, status_index=index,
                issued_at_s=issued.issued_at_s, expires_at_s=issued.expires_at_s, status=0,
                device_bound=issued.device_bound))
        return issued

    # --- revocation, suspension, reinstatement -----------------------------------------------------------

    def _own_code(self, code: str) -> CodeRecord:
        """The register's record of a code this city issued; a forged or foreign code is refused."""
        envelope = decode_envelope(code)
        key = next((k for k in self._state.code_keys if k.kid == envelope.kid), None)
        if key is None or not VerifyingKey(algorithm=key.algorithm, spki=key.spki).verify(
                envelope.signature, b"CC1\x00" + envelope.payload):
            raise PermissionDeniedError(f"this code was not signed by a key of {self.city:06d}: this office cannot "
                                        "change its status")
        try:
            claims = parse_claims(envelope.payload)
        except CodeError as exc:
            raise PermissionDeniedError(f"the code's claims are malformed: {exc.message}") from None
        record = self.register.code(claims.code_id.hex())
        if record is None:
            raise NotFoundError(f"code {claims.code_id.hex()} is not in the register of {self.city:06d}")
        return record

    def set_status(self, code: str, status: Status, *, holder: bool = False, now_s: int) -> StatusChange:
        """Revoke, suspend or reinstate one code (or, with `holder`, every live code of its holder).

        Codes already in that status are left alone; when nothing changes, nothing is signed.
        """
        record = self._own_code(code)
        targets = self.register.live_codes_of(record.holder, now_s) if holder else [record]
        changed = []
        with self.register.transaction() as db:
            bitmap, version, _signed = self.register.status()
            for entry in targets:
                if entry.status == status and bitmap.get(entry.status_index) == status:
                    continue
                self.register.set_code_status(db, entry.code_id, int(status))
                bitmap.set(entry.status_index, status)
                changed.append(entry.code_id)
            if not changed:
                return StatusChange((), None, None)
            signed = self._sign_status(bitmap, version + 1, now_s)
            self.register.save_status(db, bitmap, version=version + 1, signed=signed)
        self._outbox_status(signed)
        return StatusChange(tuple(changed), version + 1, signed)

    def _sign_status(self, bitmap: StatusBitmap, version: int, now_s: int) -> bytes:
        head = status_pb2.StatusListHead(city=self.city, version=version, bits=2, size=bitmap.size,
                                         list_sha256=bitmap.digest(), issued_at=now_s,
                                         expires_at=now_s + STATUS_EXPIRY_S, ttl_s=STATUS_TTL_S)
        part = sign_part(head.SerializeToString(deterministic=True), self.status_signer(),
                         STATUS_CONTEXT)
        return status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(
            head=part, list_zlib=bitmap.compress())).SerializeToString(deterministic=True)

    def status_signer(self) -> Signer:
        """The city's current status key: it signs status lists, merchant grants and log countersignatures."""
        return self.keystore.signer(self._status_key().name)

    def _status_key(self) -> KeyEntry:
        return next(k for k in reversed(self._state.status_keys) if k.status == "active")

    def _outbox_status(self, signed: bytes) -> None:
        write_public(self.directory / "outbox" / "status.pb", signed)

    def status_update(self, *, now_s: int, renew_before_s: int = STATUS_EXPIRY_S // 2) -> tuple[bytes, int, bool]:
        """The current signed status list (a StatusListUpdate), its version, and whether this call signed it.

        Re-signs (as the next version) when none was signed yet or the last one is within
        `renew_before_s` of its expiry; entries whose codes all expired go back to VALID then.
        """
        bitmap, version, signed = self.register.status()
        if signed is not None:
            held = status_pb2.StatusListUpdate.FromString(signed)
            head = status_pb2.StatusListHead.FromString(held.list.head.body)
            if now_s < head.expires_at - renew_before_s and head.size == bitmap.size:
                return signed, version, False
        with self.register.transaction() as db:
            bitmap, version, _ = self.register.status()
            cleared = self.register.expired_flagged(now_s)
            for index in cleared:
                bitmap.set(index, Status.VALID)
            self.register.clear_status(db, cleared, now_s)
            signed = self._sign_status(bitmap, version + 1, now_s)
            self.register.save_status(db, bitmap, version=version + 1, signed=signed)
        self._outbox_status(signed)
        return signed, version + 1, True


def role_version_of(role: bytes) -> int:
    """The version a signed role metadata carries."""
    return Metadata[Targets].from_bytes(role).signed.version
