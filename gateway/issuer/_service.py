"""`IssuerService`: what a city's issuer does, with the city's own keys, for its holders and its office.

Holders sign in through the city's identity hook, register one device key, obtain
device-bound codes for the city they are in and see the offers open to them there. The
office (its gateway token is its credential here too) manages keys, offers, merchants,
agreements and statuses. Every change the alliance must see is signed here with the
city's keys (`CityOffice`) and uploaded to the gateway, which can check but not forge it.
The office is told when an upload fails; the city's role and status list stay in its outbox
and each round sends what the gateway may have missed, until it takes them. A merchant's
grant goes to the gateway before the office keeps it: an onboarding or a revocation the
gateway did not take leaves the office's merchants as they were, to be done again.

Eligibility for the holder page comes from the same core as a merchant's check, over the
trust set this issuer follows (the gateway's, through the SDK's `Verifier.from_gateway`).

A holder's codes are device-bound and sized for the phone: every presentation of one must fit a
version-12 QR at error correction M (DESIGN 4), so a band label too long for that is shortened in the
code (it is for display only; the tier decides, and the page shows the whole label). Agreement proposals
pass through the office's inbox (`_proposals`): the office signs them with the city's authority key and
publishes them once every city they bind has signed.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from citycredit import GatewayVerifier, Verifier, VerifierConfig
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.adapters import SchemeRegistry, load_registry
from citycredit.city import CityOffice, Uploader
from citycredit.core import (
    HOLDER_BYTES,
    USCC_ALPHABET,
    Algorithm,
    Offer,
    Status,
    Tier,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    city_role,
    from_json,
    holder_pseudonym,
    is_uscc,
    iso,
    to_json,
    uscc_check_character,
)
from citycredit.errors import (
    CityCreditError,
    CityUnknownError,
    ConflictError,
    InvalidArgumentError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from citycredit.gateway.issuer._config import IssuerConfig
from citycredit.gateway.issuer._identity import (
    DemoResidents,
    IdentityProvider,
    NoIdentityProvider,
    Resident,
    Sessions,
)
from citycredit.gateway.issuer._proposals import Inbox, Proposal, parse
from citycredit.gateway.transparency import Witness, load_heads
from citycredit.keystore import KeyStore, open_store

__all__ = ["IssuerService"]

log = logging.getLogger("citycredit.issuer")
_DEVICE = 0  # the register keeps a holder's one device under audience 0: it binds codes for every audience
_DEVICE_ALGORITHMS = {"p256": Algorithm.P256, "ed25519": Algorithm.ED25519}
_DEVICE_KEY_BYTES = {Algorithm.P256: 33, Algorithm.ED25519: 32}
_STATUSES = {"revoked": Status.REVOKED, "suspended": Status.SUSPENDED, "valid": Status.VALID}


@dataclass(frozen=True)
class _Holder:
    resident: Resident
    tier: Tier
    band: str
    assumed: bool


def _device_key(algorithm: object, public_key: object) -> code_pb2.DeviceKey:
    """A device key as a code carries it, from its algorithm name and base64 raw public key."""
    alg = _DEVICE_ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if alg is None:
        raise InvalidArgumentError("the device key's algorithm is p256 or ed25519")
    try:
        raw = base64.b64decode(public_key, validate=True) if isinstance(public_key, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _DEVICE_KEY_BYTES[alg] or (alg is Algorithm.P256 and raw[0] not in (2, 3)):
        raise InvalidArgumentError("the device key is its raw public key in base64: Ed25519 32 bytes, P-256 a "
                                   "33-byte compressed point")
    return code_pb2.DeviceKey(algorithm=alg.proto, public_key=raw)


def _uscc_problem(code: str) -> str:
    """Why `code` is not a unified social credit code (GB 32100), naming the right check character."""
    if len(code) != 18:
        return f"a unified social credit code has 18 characters; {code!r} has {len(code)}"
    wrong = sorted({c for c in code if c not in USCC_ALPHABET})
    if wrong:
        return f"a unified social credit code has only 0-9 and A-Y without I, O, S, V, Z; not {', '.join(wrong)}"
    return (f"{code!r} is not a unified social credit code: its check character is {code[17]}, "
            f"but the first 17 characters give {uscc_check_character(code[:17])}")


class IssuerService:
    """One city's issuer over its office store (see the module docstring)."""

    def __init__(self, config: IssuerConfig, *, identity: IdentityProvider | None = None,
                 http: httpx.Client | None = None) -> None:
        self.config = config
        folder, store_dir, anchor_path = self._locate(config)
        self.folder = folder
        passphrase = config.keystore_passphrase.get_secret_value() if config.keystore_passphrase else None
        self._keys: KeyStore = open_store(f"file:{store_dir}", passphrase=passphrase)
        self.office = CityOffice.open(folder, self._keys)
        self._lock = threading.RLock()  # one office operation at a time: its register and files are shared
        self.city = self.office.city
        self.anchor = TrustAnchor.from_json(anchor_path.read_bytes())
        schemes = (config.home / "schemes") if config.home is not None else folder / "schemes"
        self.registry: SchemeRegistry = load_registry(schemes if schemes.is_dir() else None)
        self.scheme = self.registry.resolve_city(self.city)
        residents = folder / "residents.json"
        self.identity = identity or (DemoResidents(residents) if residents.is_file() else NoIdentityProvider())
        self.sessions = Sessions(ttl_s=config.session_ttl_s, clock=config.clock)
        self._http = http or httpx.Client(timeout=10.0)
        token_path = folder / "gateway-token"
        self._office_token = token_path.read_text().strip() if token_path.is_file() else ""
        self.uploader = Uploader(config.gateway, token=self._office_token, http=self._http) if config.gateway else None
        self._verifier: Verifier | None = None
        self.witness: Witness | None = None
        # What the gateway may not have yet: the first round sends both (an earlier run may have signed what it
        # could not upload), a failed upload leaves its flag set for the next round.
        self._pending: dict[str, bool] = {"role": True, "status": True}
        self.inbox = Inbox(folder / "inbox")

    @staticmethod
    def _locate(config: IssuerConfig) -> tuple[Path, Path, Path]:
        """(office folder, key store folder, pinned anchor) from a demo home and city, or a store."""
        if config.store is not None:
            folder = config.store
            return folder, folder / "keys", config.anchor or folder / "anchor.json"
        assert config.home is not None and config.city is not None
        wanted = config.city.strip().lower()
        for candidate in sorted((config.home / "cities").glob("*")):
            office = candidate / "office.json"
            if office.is_file():
                doc = json.loads(office.read_text(encoding="utf-8"))
                if wanted in (doc["slug"], doc["city"], str(int(doc["city"]))):
                    return candidate, candidate / "keys", config.anchor or config.home / "anchor.json"
        raise CityUnknownError(f"{config.city!r} is not a city of the alliance in {config.home}")

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the trust set, publish what is due, start witnessing the gateway's log."""
        self._verifier = self._follow()
        if self.config.gateway:
            timestamp_key = next(iter(self._verifier.snapshot.role_keys("timestamp").values()))
            status_key = self.office.status_signer()
            self.witness = Witness(city=self.city, gateway_url=self.config.gateway, timestamp_key=timestamp_key,
                                   signer=status_key, state_dir=self.folder / "witness", client=self._http)
        self.round()

    def _follow(self) -> Verifier:
        config = VerifierConfig(grace_s=3 * 86400)
        if self.config.gateway:
            return Verifier.from_gateway(self.config.gateway, anchor=self.anchor, cache_dir=self.folder / "trust-cache",
                                         config=config, clock=self.config.clock)
        assert self.config.home is not None, "an issuer without a gateway runs in a demo home"
        return Verifier.from_directory(self.config.home / "repository", anchor=self.anchor, config=config,
                                       clock=self.config.clock)

    def close(self) -> None:
        if self.witness is not None:
            self.witness.close()
        self.office.close()
        self._keys.close()
        self._http.close()

    @property
    def snapshot(self) -> TrustSnapshot:
        assert self._verifier is not None, "start() first"
        return self._verifier.snapshot

    def round(self) -> None:
        """Refresh the trust set, renew the city's role and status list when due, retry what did not upload."""
        now = self.config.now_s()
        if isinstance(self._verifier, GatewayVerifier):
            try:
                self._verifier.refresh()
            except CityCreditError as exc:
                log.warning("trust refresh failed", extra={"fields": {"error": exc.code, "detail": exc.message}})
        with self._lock:
            role, files, signed_role = self.office.signed_role(now_s=now)
            status, _, signed_status = self.office.status_update(now_s=now)
        self._pending["role"] |= signed_role
        self._pending["status"] |= signed_status
        self._upload_pending(role, files, status)

    def _upload_pending(self, role: bytes, files: Mapping[str, bytes], status: bytes) -> None:
        uploader = self.uploader
        if uploader is None:
            return
        sends: dict[str, Callable[[], object]] = {"role": lambda: uploader.city_parts(self.city, role, files),
                                                  "status": lambda: uploader.status_list(self.city, status)}
        for what, send in sends.items():
            if not self._pending[what]:
                continue
            try:
                self._upload_now(what, send)
            except CityCreditError as exc:
                log.warning(f"{what} upload failed; retried next round",
                            extra={"fields": {"error": exc.code, "detail": exc.message}})

    def witness_round(self) -> None:
        if self.witness is not None:
            self.witness.run_once(self.config.now_s())

    def _publish_role(self) -> int:
        """Sign the city's role over its current parts and upload it now, raising when that fails (the rounds
        then retry it)."""
        role, files, _ = self.office.signed_role(now_s=self.config.now_s())
        if (uploader := self.uploader) is not None:
            self._upload_now("role", lambda: uploader.city_parts(self.city, role, files))
        return self.office.role_version()

    def _publish_status(self, update: bytes | None) -> None:
        if update is not None and (uploader := self.uploader) is not None:
            self._upload_now("status", lambda: uploader.status_list(self.city, update))

    def _upload_now(self, what: str, send: Callable[[], object]) -> None:
        self._pending[what] = True
        send()
        self._pending[what] = False

    # --- holders ------------------------------------------------------------------------------------

    def sign_in(self, form: Mapping[str, object]) -> dict[str, Any]:
        resident = self.identity.sign_in(form)
        token, expires = self.sessions.open(resident.id)
        return {"token": token, "expires_at": iso(expires), "holder": self.me(self._holder(resident))}

    def holder(self, token: str) -> _Holder:
        return self._holder(self.identity.resident(self.sessions.resident_id(token)))

    def _holder(self, resident: Resident) -> _Holder:
        rating = self.scheme.map(resident.record)
        return _Holder(resident=resident, tier=rating.tier, band=rating.band, assumed=rating.assumed)

    def _home_pseudonym(self, holder: _Holder) -> str:
        return self.office.holder_key(holder.resident.ref)

    def me(self, holder: _Holder) -> dict[str, Any]:
        snapshot = self.snapshot
        trust = snapshot.cities[self.city]
        device = self.office.register.device(self._home_pseudonym(holder), _DEVICE)
        return {"resident": holder.resident.id, "name_zh": holder.resident.name_zh, "name_en": holder.resident.name_en,
                "fictional": holder.resident.fictional, "city": f"{self.city:06d}", "city_name_zh": trust.name_zh,
                "city_name_en": trust.name_en, "tier": holder.tier.name, "band": holder.band,
                "assumed": holder.assumed,
                "device": None if device is None else {"algorithm": Algorithm(device[0]).slug,
                                                       "public_key": base64.b64encode(device[1]).decode()},
                "cities": [{"city": f"{c.city:06d}", "slug": c.slug, "name_zh": c.name_zh, "name_en": c.name_en}
                           for c in sorted(snapshot.cities.values(), key=lambda c: (c.city != self.city, c.city))]}

    def register_device(self, holder: _Holder, *, algorithm: object, public_key: object) -> dict[str, Any]:
        """The holder's one device key (a new one replaces the old: codes are bound to the new one from now)."""
        key = _device_key(algorithm, public_key)
        now = self.config.now_s()
        with self._lock, self.office.register.transaction() as db:
            self.office.register.register_device(db, self._home_pseudonym(holder), _DEVICE, key.algorithm,
                                                 key.public_key, now)
        return {"algorithm": Algorithm(key.algorithm).slug, "registered_at": iso(now)}

    def issue(self, *, holder_ref: str, local_record: Mapping[str, object], ttl_s: int | None, audience: object,
              device_key: str | None, device_algorithm: str) -> dict[str, Any]:
        """Issuance for the city's own systems: rate the local record, sign a code (device-bound with a key)."""
        rating = self.scheme.map(local_record)
        key = None if device_key is None else _device_key(device_algorithm, device_key)
        host, now, ttl = self.audience(audience), self.config.now_s(), ttl_s or self.config.code_ttl_s
        with self._lock:
            issued = self.office.issue(holder_ref=holder_ref, tier=rating.tier, band=rating.band, now_s=now,
                                       ttl_s=ttl, audience=host, device_key=key)
        return {"code": issued.code, "city": f"{issued.city:06d}", "audience": f"{issued.audience:06d}",
                "tier": issued.tier.name, "band": issued.band, "issued_at": iso(issued.issued_at_s),
                "expires_at": iso(issued.expires_at_s), "status_index": issued.status_index,
                "holder": issued.holder.hex(), "device_bound": issued.device_bound}

    def audience(self, value: object) -> int:
        if value in (None, ""):
            return self.city
        snapshot = self.snapshot
        text = str(value).strip().lower()
        found = int(text) if text.isdigit() and len(text) == 6 else snapshot.city_by_slug(text)
        if found is None or found not in snapshot.cities:
            raise CityUnknownError(f"{value!r} is not a member city")
        return found

    def holder_code(self, holder: _Holder, *, audience: object = None) -> dict[str, Any]:
        """A device-bound code for `audience` (the home city by default), for the registered device.

        `band` in the answer is the holder's whole label; `code_band` the one the code carries, shortened
        when needed so that the code's presentations fit a version-12 QR at M.
        """
        host = self.audience(audience)
        device = self.office.register.device(self._home_pseudonym(holder), _DEVICE)
        if device is None:
            raise PermissionDeniedError("register this phone's device key first")
        key = code_pb2.DeviceKey(algorithm=device[0], public_key=device[1])  # type: ignore[arg-type]
        now, ttl = self.config.now_s(), self.config.holder_code_ttl_s
        with self._lock:
            issued = self.office.issue(holder_ref=holder.resident.ref, tier=holder.tier, band=holder.band, now_s=now,
                                       ttl_s=ttl, audience=host, device_key=key)
        # `band` is the holder's whole label (what the page shows); `code_band` what the code carries.
        return {"code": issued.code, "audience": f"{issued.audience:06d}", "tier": issued.tier.name,
                "band": holder.band, "code_band": issued.band, "issued_at": iso(issued.issued_at_s),
                "expires_at": iso(issued.expires_at_s), "window_s": 30}

    def holder_offers(self, holder: _Holder, *, audience: object = None) -> dict[str, Any]:
        """The offers of the host city, each with the decision the core gives this holder there today."""
        host = self.audience(audience)
        snapshot = self.snapshot
        catalogue = snapshot.catalogue
        now = self.config.now_s()
        claims = VerifiedCode(city=self.city, tier=holder.tier, band=holder.band, issued_at_s=now,
                              expires_at_s=now + 1, code_id=bytes(16), holder=bytes(HOLDER_BYTES), status_index=0,
                              kid=b"", policy_version=0, audience=host)
        decisions: list[dict[str, Any]] = []
        for offer in catalogue.find(city=host):
            decision = catalogue.decide(holder=claims, offer_id=offer.id, now_s=now)
            decisions.append({"offer": to_json(offer), "decision": to_json(decision)})
        trust = snapshot.cities[host]
        return {"audience": f"{host:06d}", "city_name_zh": trust.name_zh, "city_name_en": trust.name_en,
                "offers": decisions}

    def holder_redemptions(self, holder: _Holder) -> dict[str, Any]:
        """The holder's redemptions across the alliance, from the gateway (by the pseudonyms only this city knows)."""
        if not self.config.gateway:
            return {"redemptions": [], "note": "this issuer follows no gateway"}
        mac = self._keys.mac("pseudonym").mac
        pseudonyms = [holder_pseudonym(mac, city, holder.resident.ref).hex() for city in self.snapshot.cities]
        response = self._gateway("POST", f"/v1/cities/{self.city:06d}/holder-redemptions",
                                 json={"holders": pseudonyms})
        titles = {o.id: o for o in self.snapshot.catalogue.offers}
        out = []
        for row in response.get("redemptions", []):
            offer = titles.get(row.get("offer_id"))
            out.append(row | {"title_zh": offer.title_zh if offer else None,
                              "title_en": offer.title_en if offer else None})
        return {"redemptions": out}

    # --- the office ---------------------------------------------------------------------------------

    def office_principal(self, token: str) -> None:
        """The office authenticates with its own gateway token."""
        if not self._office_token or not hmac.compare_digest(hashlib.sha256(token.encode()).digest(),
                                                             hashlib.sha256(self._office_token.encode()).digest()):
            raise UnauthenticatedError("the city office's token is required")

    def state(self) -> dict[str, Any]:
        snapshot = self.snapshot
        trust = snapshot.cities.get(self.city)
        office = self.office
        held = load_heads(self.folder / "witness" / "heads.jsonl")
        agreements = [{"id": a.id, "cities": sorted(f"{c:06d}" for c in a.cities),
                       "categories": sorted(c.value for c in a.categories), "not_before": iso(a.not_before_s),
                       "not_after": iso(a.not_after_s) if a.not_after_s else None, "title": a.title}
                      for a in snapshot.agreements if self.city in a.cities]
        return {"city": f"{self.city:06d}", "slug": office.slug,
                "name_zh": trust.name_zh if trust else "", "name_en": trust.name_en if trust else "",
                "code_keys": [k.to_json() | {"spki": None} for k in office.code_keys],
                "offers": [to_json(o) for o in office.offers], "role_version": office.role_version(),
                "published_role_version": snapshot.versions.get(city_role(self.city)),
                "status_list_version": snapshot.statuses[self.city].version if self.city in snapshot.statuses else None,
                "agreements": agreements, "proposals": self.proposals(),
                "merchants": [{"id": m.credential_id, "merchant_id": m.merchant_id, "name": m.name,
                               "venues": list(m.venues), "granted_at": iso(m.issued_at_s),
                               "revoked_at": iso(m.revoked_at_s) if m.revoked_at_s else None}
                              for m in office.register.merchants()],
                "log_head": held[-1].to_json() if held else None, "gateway": self.config.gateway,
                "cities": [{"city": f"{c.city:06d}", "slug": c.slug, "name_zh": c.name_zh, "name_en": c.name_en}
                           for c in sorted(snapshot.cities.values(), key=lambda c: c.city)]}

    def new_key(self, algorithm: object) -> dict[str, Any]:
        alg = Algorithm.from_slug(str(algorithm)) if isinstance(algorithm, str) else None
        if alg is None:
            raise InvalidArgumentError("algorithm is ed25519, p256 or sm2")
        with self._lock:
            entry = self.office.new_code_key(alg, now_s=self.config.now_s())
            version = self._publish_role()
        return {"key": entry.to_json() | {"spki": None}, "role_version": version}

    def retire_key(self, kid_hex: str, not_after: int | None) -> dict[str, Any]:
        try:
            kid = bytes.fromhex(kid_hex)
        except ValueError:
            raise InvalidArgumentError("kid is 16 hex digits") from None
        with self._lock:
            entry = self.office.retire_key(kid, now_s=self.config.now_s(), not_after_s=not_after)
            version = self._publish_role()
        return {"key": entry.to_json() | {"spki": None}, "role_version": version}

    def preview_offer(self, doc: object) -> dict[str, Any]:
        """The offer as it would be published, and who would get it (by tier, locals and visitors)."""
        offer = self._own_offer(doc)
        snapshot = self.snapshot
        now = self.config.now_s()
        rows = []
        homes = [self.city, *sorted(c for c in snapshot.cities if c != self.city)]
        preview = snapshot.catalogue.__class__.build(
            offers=[o for o in snapshot.catalogue.offers if o.id != offer.id] + [offer],
            agreements=snapshot.agreements, members=[c.city for c in snapshot.cities.values() if c.tier_policy])
        for home in homes:
            for tier in Tier:
                claims = VerifiedCode(city=home, tier=tier, band="", issued_at_s=now, expires_at_s=now + 1,
                                      code_id=bytes(16), holder=bytes(HOLDER_BYTES), status_index=0, kid=b"",
                                      policy_version=0, audience=self.city)
                decision = preview.decide(holder=claims, offer_id=offer.id, now_s=max(now, offer.valid_from_s))
                rows.append({"home": f"{home:06d}", "tier": tier.name, "eligible": decision.eligible,
                             "reason": None if decision.reason is None else decision.reason.value})
        return {"offer": to_json(offer), "who": rows}

    def _own_offer(self, doc: object) -> Offer:
        offer = from_json(Offer, doc)
        if offer.city != self.city:
            raise PermissionDeniedError(f"this office publishes offers of {self.city:06d} only")
        return offer

    def publish_offer(self, doc: object) -> dict[str, Any]:
        offer = self._own_offer(doc)
        with self._lock:
            self.office.publish_offer(offer)
            version = self._publish_role()
        return {"offer": to_json(offer), "role_version": version}

    def withdraw_offer(self, offer_id: str) -> dict[str, Any]:
        with self._lock:
            self.office.withdraw_offer(offer_id)
            version = self._publish_role()
        return {"withdrawn": offer_id, "role_version": version}

    def onboard_merchant(self, doc: Mapping[str, object]) -> dict[str, Any]:
        """A merchant key for a merchant known by its unified social credit code; the token is shown once."""
        merchant_id, name, venues = doc.get("merchant_id"), doc.get("name"), doc.get("venues", [])
        if not isinstance(merchant_id, str) or not isinstance(name, str) or not name.strip() or \
                not isinstance(venues, list) or not all(isinstance(v, str) and v for v in venues):
            raise InvalidArgumentError("give merchant_id (18 characters), name and venues (a list, may be empty)")
        merchant_id = merchant_id.strip().upper()
        if not is_uscc(merchant_id):
            raise InvalidArgumentError(_uscc_problem(merchant_id))
        token = "ccm_" + secrets.token_urlsafe(32)
        with self._lock:
            credential, _ = self.office.grant_merchant(merchant_id=merchant_id, name=name.strip(), venues=venues,
                                                       token=token, now_s=self.config.now_s(),
                                                       publish=self._grant_upload())
        return {"id": credential, "token": token, "merchant_id": merchant_id, "venues": venues}

    def revoke_merchant(self, credential_id: str) -> dict[str, Any]:
        with self._lock:
            self.office.revoke_merchant(credential_id, now_s=self.config.now_s(), publish=self._grant_upload())
        return {"id": credential_id, "revoked": True}

    def _grant_upload(self) -> Callable[[bytes], object] | None:
        uploader = self.uploader
        return None if uploader is None else lambda grant: uploader.merchant_grant(self.city, grant)

    def set_status(self, code: object, status: object, *, holder: bool) -> dict[str, Any]:
        if not isinstance(code, str) or not code:
            raise InvalidArgumentError("give the code (CC1:…) whose status changes")
        wanted = _STATUSES.get(status) if isinstance(status, str) else None
        if wanted is None:
            raise InvalidArgumentError("status is revoked, suspended or valid")
        with self._lock:
            change = self.office.set_status(code, wanted, holder=holder, now_s=self.config.now_s())
        self._publish_status(change.update)
        return {"changed": list(change.code_ids), "status_list_version": change.version,
                "note": None if change.changed else "nothing changed: already in that status, nothing published"}

    def withdraw_agreement(self, agreement_id: str) -> dict[str, Any]:
        with self._lock:
            self.office.withdraw_agreement(agreement_id, at_s=self.config.now_s())
            version = self._publish_role()
        return {"withdrawn": agreement_id, "role_version": version}

    def figures(self, since: str | None, until: str | None) -> dict[str, Any]:
        params = {k: v for k, v in (("since", since), ("until", until)) if v}
        return self._gateway("GET", f"/v1/cities/{self.city:06d}/redemption-figures", params=params)

    # --- agreement proposals (the office's inbox, see _proposals) ------------------------------------

    def proposals(self) -> list[dict[str, Any]]:
        """The proposals in the inbox that bind this city, with who signed them."""
        authorities = self.snapshot.authorities
        return [p.to_json(authorities) for p in self.inbox.readable() if self.city in p.agreement.cities]

    def _binding(self, name: str) -> Proposal:
        proposal = self.inbox.load(name)
        if self.city not in proposal.agreement.cities:
            raise PermissionDeniedError(f"agreement {proposal.agreement.id} does not bind {self.city:06d}")
        return proposal

    def proposal(self, name: str) -> dict[str, Any]:
        """The proposal file as it stands (to pass on to the next city that must sign)."""
        return self._binding(name).document()

    def add_proposal(self, name: str, doc: object) -> dict[str, Any]:
        """Put a proposal another city passed on into the inbox (it must bind this city)."""
        proposal = parse(name, doc)
        if self.city not in proposal.agreement.cities:
            raise PermissionDeniedError(f"agreement {proposal.agreement.id} does not bind {self.city:06d}")
        with self._lock:
            self.inbox.save(proposal)
        return proposal.to_json(self.snapshot.authorities)

    def sign_proposal(self, name: str) -> dict[str, Any]:
        """Add this city's authority signature (from its key store) to the proposal's role."""
        with self._lock:
            proposal = self._binding(name)
            if self.city not in proposal.signed_by(self.snapshot.authorities):
                proposal = dataclasses.replace(proposal, role=self.office.cosign(proposal.role))
                self.inbox.save(proposal)
        return proposal.to_json(self.snapshot.authorities)

    def publish_proposal(self, name: str) -> dict[str, Any]:
        """Send a proposal every city signed to the gateway; it leaves the inbox for `published/`."""
        with self._lock:
            proposal = self._binding(name)
            summary = proposal.to_json(self.snapshot.authorities)
            if not summary["complete"]:
                missing = sorted(set(summary["cities"]) - set(summary["signed_by"]))
                raise ConflictError(f"agreement {proposal.agreement.id} still needs the signature of "
                                    f"{', '.join(missing)}")
            if self.uploader is None:
                raise UnavailableError("this issuer follows no gateway to publish to")
            answer = self.uploader.agreement(proposal.agreement.id, proposal.role, proposal.files)
            self.inbox.archive(name)
        return summary | {"published": True, "gateway": answer}

    # --- the gateway --------------------------------------------------------------------------------

    def _gateway(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self.uploader is None:
            raise UnavailableError("this issuer follows no gateway")
        return self.uploader.request(method, path, **kwargs)
