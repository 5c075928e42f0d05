"""`GatewayService`: every gateway operation once, for both the REST and the gRPC surface.

It owns no verification or decision logic: codes go through `verify_code`, offers
through the eligibility `Catalogue`, bundles through `Alliance.publish` and
`open_bundle`. What it adds is the I/O around that core: the database, the
credentials, idempotency, quotas and the audit log. Methods are synchronous and
thread-safe; the surfaces call the ones that touch the database from worker threads
(`executor`, as many as the hot connection pool holds).

Credentials are looked up once per `auth_cache_s` per replica: a credential revoked
through this replica is refused at once, through another replica within
`auth_cache_s` (1 s by default).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from citycredit._gen.citycredit.v1 import bundle_pb2
from citycredit._home import Home
from citycredit.adapters import load_registry
from citycredit.core import (
    MAX_TTL_S,
    Algorithm,
    Alliance,
    Catalogue,
    Decision,
    HeldKey,
    IssuedCode,
    Issuer,
    KeyRecord,
    Offer,
    SigningKey,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    VerifyingKey,
    decide_redemption,
    decision_for_error,
    from_json,
    open_bundle,
    period_key,
    pick_signing_key,
    pick_status_index,
    redemption_period,
    to_json,
    to_proto,
    verify_code,
)
from citycredit.errors import (
    BundleError,
    CityCreditError,
    CityUnknownError,
    CodeError,
    CodeUnreadableError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from citycredit.gateway.audit import CHAIN_BATCH, REDEMPTION, append_audit, chain_pending, pending_record
from citycredit.gateway.auth import (
    CITY_OFFICE,
    MERCHANT,
    Principal,
    RateLimiter,
    hash_token,
    new_credential_id,
    new_token,
)
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.db import Database
from citycredit.gateway.ledger import Ledger, Spend
from citycredit.gateway.metrics import Metrics
from citycredit.gateway.models import (
    AllianceState,
    BundleRow,
    CityKeyRow,
    CitySecretRow,
    CredentialRow,
    IssuedCodeRow,
    RedemptionRow,
)
from citycredit.gateway.seed import ensure_home, seed_database
from sqlalchemy import func
from sqlmodel import Session, select

__all__ = ["GatewayService", "Published", "RedeemOutcome"]

log = logging.getLogger("citycredit.gateway")

DEFAULT_CODE_TTL_S = 300
MAX_IDEMPOTENCY_KEY_CHARS = 128
_NO_PERIOD = "-"


@dataclass(frozen=True)
class Published:
    """The bundle this replica serves, opened and indexed."""

    version: int
    data: bytes
    snapshot: TrustSnapshot
    catalogue: Catalogue

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@dataclass(frozen=True)
class RedeemOutcome:
    decision: Decision
    redemption_id: str | None
    replayed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"decision": to_json(self.decision), "redemption_id": self.redemption_id, "replayed": self.replayed}


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A redemption answer as stored under its idempotency key (JSON of `RedeemOutcome.to_dict`).

    The REST surface sends `json` as it is; `outcome()` rebuilds the typed answer for gRPC.
    """

    json: bytes
    replayed: bool
    decision: Decision | None = None

    def outcome(self) -> RedeemOutcome:
        doc = orjson.loads(self.json)
        decision = self.decision or from_json(Decision, doc["decision"])
        return RedeemOutcome(decision, doc["redemption_id"], replayed=self.replayed)

    @property
    def eligible(self) -> bool:
        return self.decision.eligible if self.decision is not None else bool(orjson.loads(self.json)["redemption_id"])


class GatewayService:
    """The operations of one gateway replica over a shared database."""

    def __init__(self, config: GatewayConfig, db: Database, *, metrics: Metrics | None = None) -> None:
        self.config = config
        self.db = db
        self.metrics = metrics or Metrics()
        self.limiter = RateLimiter(rate_per_s=config.rate_per_s, burst=config.rate_burst)
        self.home = Home(config.home)
        self._signers: list[SigningKey] = []
        self._published: Published | None = None
        self._adopt_lock = threading.Lock()
        self.ledger = Ledger(db)
        self.executor = ThreadPoolExecutor(max_workers=config.db_pool_size, thread_name_prefix="citycredit-db")
        # Verification off the event loop (the signature check releases the GIL): one thread per core.
        self.verify_executor = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8),
                                                  thread_name_prefix="citycredit-verify")
        self._principals: dict[str, tuple[float, Principal | None]] = {}  # token hash -> (fetched at, principal)

    # --- start-up and the served bundle -----------------------------------------------------------

    def prepare(self) -> None:
        """Migrate, and seed an empty database (what a supervisor does once before its workers start)."""
        if self.config.db_url is None:
            # The SQLite file lives in the home: create the alliance there first.
            ensure_home(self.home, seed_demo=self.config.seed_demo, now_s=self.now_s())
        self.db.migrate()
        seed_database(self.db, self.home, seed_demo=self.config.seed_demo, now_s=self.now_s())

    def start(self) -> None:
        """`prepare`, load the newest bundle and renew it when half its life is gone."""
        self.prepare()
        self._signers = self._load_signers()
        self.refresh()
        self.renew_if_due()
        self.chain_audit()

    def close(self) -> None:
        """Link what is pending in the audit log and release the database (after the servers stopped)."""
        try:
            self.chain_audit()
        finally:
            self.executor.shutdown(wait=True)
            self.verify_executor.shutdown(wait=True)
            self.db.close()

    def chain_audit(self) -> int:
        """Link pending redemption records into the audit chain until none is left (or another replica
        is doing it); returns how many this call linked."""
        linked = 0
        while True:
            count = self.db.write(chain_pending)
            linked += count
            if count < CHAIN_BATCH:  # a partial batch: what arrives meanwhile waits for the next round
                return linked

    def _load_signers(self) -> list[SigningKey]:
        with self.db.read() as session:
            alliance = _latest_alliance(session)
        signers = self.home.governance_signers() if (self.home.path / "governance").is_dir() else []
        known = {k.kid for k in alliance.governance.keys}
        signers = [k for k in signers if k.kid in known]
        if len(signers) < alliance.governance.threshold:
            log.warning("governance keys below threshold; admin changes cannot be published",
                        extra={"fields": {"home": str(self.home.path), "found": len(signers),
                                          "threshold": alliance.governance.threshold}})
        return signers[: alliance.governance.threshold]

    @property
    def published(self) -> Published:
        if self._published is None:
            raise UnavailableError("the gateway has no trust bundle loaded yet")
        return self._published

    def now_s(self) -> int:
        return self.config.now_s()

    def refresh(self) -> bool:
        """Adopt a newer bundle from the database (another replica may have published one)."""
        with self.db.read() as session:
            latest = session.exec(select(func.max(BundleRow.version))).one()
            if latest is None:
                raise UnavailableError("the database holds no trust bundle")
            if self._published is not None and latest <= self._published.version:
                return False
            row = session.get(BundleRow, latest)
            state = session.get(AllianceState, latest)
        assert row is not None
        anchor = Alliance.from_json(state.state_json).governance if state is not None else None
        self._adopt(row.version, row.data, anchor)
        return True

    def _adopt(self, version: int, data: bytes, anchor: TrustAnchor | None = None) -> None:
        with self._adopt_lock:
            current = self._published
            if current is not None and version <= current.version:
                return
            anchor = anchor or (current.snapshot.anchor if current is not None else None)
            if anchor is None:
                raise UnavailableError("no governance anchor to open the bundle with")
            # The gateway opens its own bundle like any client would: a bad signature is caught here.
            snapshot = open_bundle(data, anchor=anchor, now_s=self.now_s(), grace_s=self.config.grace_s + 10**9,
                                   accepted=None if current is None else current.snapshot.accepted)
            self._published = Published(version=version, data=data, snapshot=snapshot,
                                        catalogue=snapshot.catalogue)
        self.metrics.set("citycredit_bundle_version", version)
        log.info("trust bundle adopted", extra={"fields": {"version": version, "bytes": len(data)}})

    def renew_if_due(self) -> bool:
        """Republish the unchanged state once half of the served bundle's lifetime has passed."""
        snapshot = self.published.snapshot
        if self.now_s() < (snapshot.issued_at_s + snapshot.expires_at_s) // 2 or not self._signers:
            return False
        self._change(actor="gateway", action="bundle.renew", city=None, subject=None, details={},
                     change=lambda alliance, session: None)
        return True

    def _change(self, *, actor: str, action: str, city: int | None, subject: str | None,
                details: dict[str, Any], change: Callable[[Alliance, Session], None]) -> int:
        """Apply `change` to the newest alliance state, publish the next bundle, store both, audit it."""
        threshold_ok = bool(self._signers)
        if not threshold_ok:
            raise UnavailableError("this gateway holds too few governance keys to publish a bundle")
        now = self.now_s()

        def work(session: Session) -> tuple[int, bytes]:
            alliance = _latest_alliance(session)
            change(alliance, session)
            data = alliance.publish(self._signers, now_s=now, ttl_s=self.config.bundle_ttl_s)
            session.add(AllianceState(version=alliance.version, state_json=alliance.to_json(), created_at_s=now))
            session.add(BundleRow(version=alliance.version, data=data, digest=hashlib.sha256(data).hexdigest(),
                                  issued_at_s=now, expires_at_s=now + self.config.bundle_ttl_s))
            session.flush()  # a replica that published this version first wins; db.write retries us
            append_audit(session, at_s=now, actor=actor, action=action, city=city, subject=subject,
                         details={**details, "bundle_version": alliance.version})
            return alliance.version, data

        version, data = self.db.write(work)
        self._adopt(version, data)
        self.metrics.inc("citycredit_bundles_published_total")
        return version

    # --- authentication ---------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal:
        """The principal of a live credential, after its rate limit; refuses unknown and revoked tokens.

        A live credential is remembered for `auth_cache_s`; unknown and revoked ones are looked up each time.
        """
        token_hash = hash_token(token)
        now = time.monotonic()
        cached = self._principals.get(token_hash)
        if cached is not None and now - cached[0] < self.config.auth_cache_s:
            principal = cached[1]
        else:
            row = self.ledger.credential(token_hash)
            principal = None
            if row is not None and row[4] is None:
                principal = Principal(id=row[0], kind=row[1], city=row[2], venue=row[3])
                if len(self._principals) >= 10_000:
                    self._principals.clear()
                self._principals[token_hash] = (now, principal)
            else:
                self._principals.pop(token_hash, None)
        if principal is None:
            raise UnauthenticatedError("unknown or revoked credentials")
        self.limiter.take(principal.id)
        return principal

    def create_credential(self, principal: Principal, *, city: int, kind: str = MERCHANT, venue: str | None = None,
                          label: str = "") -> tuple[str, str]:
        """A new merchant key (or city-office token) for the caller's city; returns (id, token) once."""
        principal.require_city_office(city)
        _member(self.published.snapshot, city)
        if kind not in (MERCHANT, CITY_OFFICE):
            raise InvalidArgumentError("kind is merchant or city_office")
        token = new_token(kind)
        cred_id = new_credential_id(kind)
        now = self.now_s()

        def work(session: Session) -> None:
            session.add(CredentialRow(id=cred_id, kind=kind, city=city, venue=venue, label=label,
                                      token_hash=hash_token(token), created_at_s=now, created_by=principal.id))
            session.flush()
            append_audit(session, at_s=now, actor=principal.id, action="credential.create", city=city,
                         subject=cred_id, details={"kind": kind, "venue": venue, "label": label})

        self.db.write(work)
        return cred_id, token

    def revoke_credential(self, principal: Principal, cred_id: str) -> None:
        now = self.now_s()

        def work(session: Session) -> None:
            row = session.get(CredentialRow, cred_id)
            if row is None:
                raise NotFoundError(f"no credential {cred_id!r}")
            principal.require_city_office(row.city)
            if row.revoked_at_s is None:
                row.revoked_at_s = now
                session.add(row)
                session.flush()
                append_audit(session, at_s=now, actor=principal.id, action="credential.revoke", city=row.city,
                             subject=cred_id, details={"kind": row.kind})

        self.db.write(work)
        for token_hash, (_at, cached) in list(self._principals.items()):
            if cached is not None and cached.id == cred_id:
                self._principals.pop(token_hash, None)

    # --- public: trust, verification, offers, decisions -------------------------------------------

    def verify(self, code: str, *, at_s: int | None = None) -> VerifiedCode | CityCreditError:
        """Verify one code against the served bundle: the claims, or the catalogue error saying why not."""
        now = self.now_s() if at_s is None else at_s
        try:
            result = verify_code(self.published.snapshot, code, now_s=now, grace_s=self.config.grace_s)
        except (CodeError, BundleError) as exc:
            self.metrics.inc("citycredit_verifications_total", result=exc.code)
            return exc
        self.metrics.inc("citycredit_verifications_total", result="valid")
        return result

    def verify_readable(self, code: str, *, at_s: int | None = None) -> VerifiedCode | CityCreditError:
        """`verify` for a request about one code: input that is not a credit code at all is a request error."""
        result = self.verify(code, at_s=at_s)
        if isinstance(result, CodeUnreadableError):
            raise result
        return result

    def offers(self, city: int | None = None) -> list[Offer]:
        return self.published.catalogue.find(city=city)

    def check(self, code: str, offer_id: str, *, at_s: int | None = None) -> Decision:
        """The eligibility decision without spending anything (quota counted as used so far)."""
        published = self.published
        offer = published.catalogue.offer(offer_id)
        now = self.now_s() if at_s is None else at_s
        holder = self.verify_readable(code, at_s=now)
        if isinstance(holder, CityCreditError):
            return decision_for_error(holder, offer_id)
        used = 0
        if offer.quota is not None:
            with self.db.read() as session:
                used = _used_in_period(session, offer, holder, period_key(offer.quota.period, now))
        return published.catalogue.decide(holder=holder, offer_id=offer_id, now_s=now, used_in_period=used)

    # --- merchants: redemption --------------------------------------------------------------------

    def redeem(self, principal: Principal, *, code: str, offer_id: str, idempotency_key: str) -> RedeemOutcome:
        """Spend the offer once for the holder, exactly once per idempotency key, never past its quota."""
        return self.redeem_stored(principal, code=code, offer_id=offer_id, idempotency_key=idempotency_key).outcome()

    def redeem_stored(self, principal: Principal, *, code: str, offer_id: str, idempotency_key: str,
                      ) -> StoredAnswer:
        """`redeem`, answering with the stored JSON (what the REST surface sends as it is)."""
        principal.require_merchant()
        if not (isinstance(idempotency_key, str) and 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS
                and idempotency_key.isascii() and idempotency_key.isprintable()):
            raise InvalidArgumentError(f"idempotency_key is 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII "
                                       "characters and required")
        catalogue = self.published.catalogue
        offer = catalogue.offer(offer_id)
        if offer.city != principal.city:
            raise PermissionDeniedError(f"a merchant key of city {principal.city} cannot redeem offers of {offer.city}")
        if principal.venue and offer.venue and principal.venue != offer.venue:
            raise PermissionDeniedError(f"a merchant key of venue {principal.venue!r} cannot redeem at {offer.venue!r}")
        request_hash = hashlib.sha256(json.dumps([code, offer_id]).encode()).hexdigest()
        now = self.now_s()
        verified = self.verify_readable(code, at_s=now)
        period = redemption_period(catalogue, offer_id, now)
        holder_hex = verified.holder.hex() if isinstance(verified, VerifiedCode) else ""
        decided: list[Decision] = []

        def decide(used: int) -> tuple[str, Spend | None]:
            redeemed = decide_redemption(catalogue, verified, offer_id, now_s=now, used_in_period=used)
            spend = None
            if redeemed.redemption_id is not None:
                record = pending_record(id=redeemed.redemption_id, at_s=now, actor=principal.id, action=REDEMPTION,
                                        city=offer.city, subject=holder_hex,
                                        details={"offer": offer_id, "period": period,
                                                 "redemption_id": redeemed.redemption_id,
                                                 "quota_remaining": redeemed.decision.quota_remaining})
                spend = Spend(redemption_id=redeemed.redemption_id, city=offer.city, action=REDEMPTION,
                              details=record["details"], audit_hash=record["hash"])
            decided[:] = [redeemed.decision]
            answer = {"decision": to_json(redeemed.decision), "redemption_id": redeemed.redemption_id,
                      "replayed": False}
            return orjson.dumps(answer).decode(), spend

        stored_hash, answer = self.ledger.redeem(
            credential_id=principal.id, key=idempotency_key, request_hash=request_hash, offer_id=offer_id,
            holder=holder_hex, period_key=period, at_s=now, decide=decide)
        if stored_hash is not None:
            if stored_hash != request_hash:
                raise ConflictError("this idempotency key was used for a different request")
            doc = orjson.loads(answer)
            doc["replayed"] = True
            stored = StoredAnswer(orjson.dumps(doc), replayed=True)
        else:
            stored = StoredAnswer(answer.encode(), replayed=False, decision=decided[0])
        self.metrics.inc("citycredit_redemptions_total", eligible=str(stored.eligible).lower(),
                         replayed=str(stored.replayed).lower())
        return stored

    # --- city offices: issuance -------------------------------------------------------------------

    def issue(self, principal: Principal, *, city: int, holder_ref: str, local_record: Mapping[str, Any],
              ttl_s: int = 0) -> IssuedCode:
        """Map the local record onto a tier and sign a code with a key the gateway holds for the city."""
        principal.require_city_office(city)
        if not isinstance(holder_ref, str) or not 1 <= len(holder_ref) <= 256:
            raise InvalidArgumentError("holder_ref is the holder's identity as the city knows it, 1 to 256 chars")
        ttl_s = ttl_s or DEFAULT_CODE_TTL_S
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidArgumentError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds")
        registry = load_registry(self.home.schemes_dir if self.home.schemes_dir.is_dir() else None)
        rating = registry.resolve_city(city).map(local_record)
        now = self.now_s()
        snapshot = self.published.snapshot
        member = _member(snapshot, city)

        def work(session: Session) -> IssuedCode:
            key = _gateway_key(session, member)
            secret = session.get(CitySecretRow, city)
            if secret is None:
                raise NotFoundError(f"the gateway holds no pseudonym secret for city {city}")
            policy = member.tier_policy.version if member.HasField("tier_policy") else 0
            issuer = Issuer(city=city, key=key, holder_secret=secret.secret, policy_version=policy,
                            status_list_size=member.status_list.size or 131_072)
            index = _free_status_index(session, snapshot, city, issuer.status_list_size, now)
            issued = issuer.issue(holder_ref=holder_ref, tier=rating.tier, band=rating.band, now_s=now, ttl_s=ttl_s,
                                  status_index=index)
            session.add(IssuedCodeRow(code_id=issued.code_id.hex(), city=city, holder=issued.holder.hex(),
                                      status_index=index, tier=issued.tier.name, issued_at_s=now,
                                      expires_at_s=issued.expires_at_s, issued_by=principal.id))
            session.flush()
            append_audit(session, at_s=now, actor=principal.id, action="code.issue", city=city,
                         subject=issued.holder.hex(),
                         details={"code_id": issued.code_id.hex(), "tier": issued.tier.name,
                                  "status_index": index, "expires_at_s": issued.expires_at_s})
            return issued

        issued = self.db.write(work)
        self.metrics.inc("citycredit_codes_issued_total", city=str(city))
        return issued

    # --- city offices: administration -------------------------------------------------------------

    def publish_key(self, principal: Principal, *, city: int, algorithm: str | Algorithm, spki: bytes | None = None,
                    not_before_s: int | None = None, generate: bool = False) -> tuple[int, str]:
        """Add a public key to the city (or have the gateway generate and hold one). Returns (version, kid)."""
        principal.require_city_office(city)
        alg = algorithm if isinstance(algorithm, Algorithm) else Algorithm.from_slug(str(algorithm))
        private: SigningKey | None = None
        if generate:
            if spki:
                raise InvalidArgumentError("give either spki or generate, not both")
            private = SigningKey.generate(alg)
            spki = private.spki
        elif not spki:
            raise InvalidArgumentError("spki (base64 SubjectPublicKeyInfo DER) is required unless generate is true")
        public = VerifyingKey(algorithm=alg, spki=spki)  # refuses a key that does not parse
        now = self.now_s()
        record = KeyRecord(algorithm=alg, spki=public.spki, not_before_s=now if not_before_s is None else not_before_s)

        def change(alliance: Alliance, session: Session) -> None:
            member = alliance.city(city)
            if any(k.kid == record.kid for k in member.keys):
                raise ConflictError(f"city {city} already has key {record.kid.hex()}")
            member.keys.append(record)
            if private is not None:
                session.add(CityKeyRow(kid=private.kid.hex(), city=city, algorithm=alg.slug,
                                       private_pem=private.to_pem(), created_at_s=now))

        version = self._change(actor=principal.id, action="key.publish", city=city, subject=record.kid.hex(),
                               details={"algorithm": alg.slug, "gateway_held": private is not None,
                                        "not_before_s": record.not_before_s}, change=change)
        return version, record.kid.hex()

    def retire_key(self, principal: Principal, *, city: int, kid: bytes, not_after_s: int | None = None) -> int:
        principal.require_city_office(city)
        end = not_after_s or self.now_s()

        def change(alliance: Alliance, _session: Session) -> None:
            record = alliance.city(city).key(kid)
            if end < record.not_before_s:
                raise InvalidArgumentError("not_after must not come before the key's not_before")
            record.status = "retired"
            record.not_after_s = end

        return self._change(actor=principal.id, action="key.retire", city=city, subject=kid.hex(),
                            details={"not_after_s": end}, change=change)

    def publish_offer(self, principal: Principal, offer: Offer) -> int:
        """Add or replace one of the caller's city's offers."""
        principal.require_city_office(offer.city)

        def change(alliance: Alliance, _session: Session) -> None:
            alliance.city(offer.city)
            kept = []
            for existing in alliance.offers:
                if existing.id == offer.id:
                    if existing.city != offer.city:
                        raise PermissionDeniedError(f"offer id {offer.id!r} belongs to city {existing.city}")
                    continue
                kept.append(existing)
            alliance.offers = [*kept, to_proto(offer)]

        return self._change(actor=principal.id, action="offer.publish", city=offer.city, subject=offer.id,
                            details={"offer": to_json(offer)}, change=change)

    def revoke(self, principal: Principal, *, city: int, status_indexes: Sequence[int] = (),
               holders: Sequence[tuple[bytes, int]] = ()) -> int:
        """Revoke status indexes and holders' earlier codes of the caller's city."""
        principal.require_city_office(city)
        if not status_indexes and not holders:
            raise InvalidArgumentError("nothing to revoke: give status_indexes and/or holders")
        if len(status_indexes) + len(holders) > 10_000:
            raise InvalidArgumentError("at most 10,000 revocations per call")
        for holder, _cutoff in holders:
            if not 8 <= len(holder) <= 32:
                raise InvalidArgumentError("a holder pseudonym is 8 to 32 bytes")
        now = self.now_s()

        def change(alliance: Alliance, _session: Session) -> None:
            for index in status_indexes:
                alliance.revoke_index(city, index, now_s=now)
            for holder, cutoff in holders:
                alliance.revoke_holder(city, holder, cutoff_s=cutoff or now + 1)

        # One entry per call; holder pseudonyms (never identities) are listed in it.
        return self._change(actor=principal.id, action="codes.revoke", city=city, subject=None,
                            details={"status_indexes": list(status_indexes),
                                     "holders": [{"holder": h.hex(), "cutoff_s": c} for h, c in holders]},
                            change=change)


# --- helpers ---------------------------------------------------------------------------------------


def _member(snapshot: TrustSnapshot, city: int) -> bundle_pb2.MemberCity:
    member = snapshot.cities.get(city)
    if member is None:
        raise CityUnknownError(f"{city} is not a member of the alliance")
    return member


def _latest_alliance(session: Session) -> Alliance:
    row = session.exec(select(AllianceState).order_by(AllianceState.version.desc()).limit(1)).first()  # type: ignore[attr-defined]
    if row is None:
        raise UnavailableError("the database holds no alliance state")
    return Alliance.from_json(row.state_json)


def _used_in_period(session: Session, offer: Offer, holder: VerifiedCode, period: str) -> int:
    count = session.exec(select(func.count()).select_from(RedemptionRow).where(
        RedemptionRow.offer_id == offer.id, RedemptionRow.holder == holder.holder.hex(),
        RedemptionRow.period_key == period)).one()
    return int(count)


def _gateway_key(session: Session, member: bundle_pb2.MemberCity) -> SigningKey:
    """The key `pick_signing_key` chooses among the city's active keys whose private half the gateway holds."""
    rows = {r.kid: r for r in session.exec(select(CityKeyRow).where(CityKeyRow.city == member.city)).all()}
    held = [HeldKey(SigningKey.from_pem(rows[k.kid.hex()].private_pem, Algorithm(k.algorithm)), k.not_before,
                    active=k.status == bundle_pb2.KEY_STATUS_ACTIVE)
            for k in member.keys if k.kid.hex() in rows]
    try:
        return pick_signing_key(held)
    except NotFoundError:
        raise NotFoundError(f"the gateway holds no active signing key for city {member.city}; "
                            "publish one with generate=true") from None


def _free_status_index(session: Session, snapshot: TrustSnapshot, city: int, size: int, now_s: int) -> int:
    """`pick_status_index` over the indexes neither revoked nor held by a live code the gateway issued."""
    bits = snapshot.status_bits(city)
    live = set(session.exec(select(IssuedCodeRow.status_index).where(
        IssuedCodeRow.city == city, IssuedCodeRow.expires_at_s > now_s)).all())
    revoked = bits.count() if bits is not None else 0
    return pick_status_index(size, lambda i: i not in live and not (bits is not None and bits.is_revoked(i)),
                             len(live) + revoked)


def spki_from_b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgumentError("spki is base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidArgumentError("spki is not valid base64") from None
