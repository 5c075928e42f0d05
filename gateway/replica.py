"""`Replica`: one gateway process's state and operations, which the REST and gRPC shells both call.

It owns no verification or decision logic: codes go through the core's `verify_code`,
decisions through the trust set's `Catalogue`, redemptions through `decide_redemption`.
What it adds is the I/O around them, one responsibility a module:

    publishing      the trust set: verified uploads, the gateway's snapshot and timestamp
    credentials     city-office tokens and city-granted merchant keys
    limits          rate limits per client and per credential
    redemption      redemptions exactly once, voids, history and figures
    presentations   replay refusal shared by every replica
    transparency    the append-only log and its signed heads

Operations that touch the database run on `executor` threads (as many as the pool
has connections); verifying a bare code does no I/O and runs wherever it is called.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from citycredit._gen.citycredit.v1 import offer_pb2
from citycredit.core import (
    PRESENTATION_PREFIX,
    Decision,
    Offer,
    StatusList,
    TrustAnchor,
    TrustSnapshot,
    VerifiedCode,
    agreement_path,
    decision_for_error,
    verify_code,
)
from citycredit.errors import (
    BundleError,
    CityCreditError,
    CityUnknownError,
    CodeError,
    CodeUnreadableError,
    InvalidArgumentError,
    PermissionDeniedError,
    UnavailableError,
)
from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.credentials import CITY_OFFICE, CredentialStore, Principal
from citycredit.gateway.db import Database
from citycredit.gateway.limits import FAILED_AUTH_COST, Limit, RateLimiter
from citycredit.gateway.metrics import Metrics
from citycredit.gateway.presentations import SeenPresentations
from citycredit.gateway.publishing import Published, TrustPublisher
from citycredit.gateway.redemption import Answer, RedemptionDesk
from citycredit.gateway.transparency import append, chainer_round
from citycredit.keystore import KeyStore, open_store
from google.protobuf.message import DecodeError

__all__ = ["SEED_FORMAT", "SNAPSHOT_KEY", "TIMESTAMP_KEY", "Replica"]

log = logging.getLogger("citycredit.gateway")
SNAPSHOT_KEY, TIMESTAMP_KEY = "snapshot", "timestamp"
SEED_FORMAT = "citycredit-gateway-seed/1"


class Replica:
    """One gateway replica over a shared database (see the module docstring)."""

    def __init__(self, config: GatewayConfig, *, metrics: Metrics | None = None) -> None:
        self.config = config
        self.db = Database(config.database_url, pool_size=config.db_pool_size)
        self.metrics = metrics or Metrics()
        self.credentials = CredentialStore(self.db, cache_s=config.auth_cache_s)
        self.limiter = RateLimiter(client=Limit(config.client_rate_per_s, config.client_rate_burst),
                                   credential=Limit(config.rate_per_s, config.rate_burst), db=self.db)
        self.desk = RedemptionDesk(self.db, void_window_s=config.void_window_s, clock=config.clock)
        self.seen = SeenPresentations(self.db)
        self.anchor = TrustAnchor.from_json(_read(config.anchor_path, "the pinned anchor"))
        self.publisher = TrustPublisher(self.db, anchor=self.anchor, grace_s=config.grace_s,
                                        timestamp_ttl_s=config.timestamp_ttl_s,
                                        timestamp_renew_s=config.timestamp_renew_s)
        self._keys: KeyStore | None = None
        self.executor = ThreadPoolExecutor(max_workers=config.db_pool_size, thread_name_prefix="citycredit-db")
        # Verification off the event loop (the signature check releases the GIL): one thread per core.
        self.verify_executor = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8),
                                                  thread_name_prefix="citycredit-verify")

    # --- life cycle ---------------------------------------------------------------------------------

    def now_s(self) -> int:
        return self.config.now_s()

    def prepare(self) -> None:
        """Migrate, and seed an empty database (what a supervisor does once before its workers start)."""
        if self.config.db_url is None:
            self.config.home.mkdir(parents=True, exist_ok=True)
        self.db.migrate()
        now = self.now_s()
        if self.publisher.seed(self.config.seed_dir, now):
            self.publisher.refresh(now)
            self._seed_credentials(now)
            log.info("database seeded", extra={"fields": {"seed": str(self.config.seed_dir)}})

    def _seed_credentials(self, now_s: int) -> None:
        path = self.config.home / "seed.json"
        if not path.is_file():
            return
        try:
            seed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"{path} is not readable JSON: {exc}") from None
        if not isinstance(seed, dict) or seed.get("format") != SEED_FORMAT:
            raise InvalidArgumentError(f"{path} is not a {SEED_FORMAT} file")
        snapshot = self.publisher.published.snapshot

        def work(session: Any) -> None:
            for grant in seed.get("grants", []):
                row, changed = self.credentials.accept_grant(session, bytes.fromhex(grant), **_grant_keys(snapshot),
                                                             city=None, now_s=now_s)
                if changed:
                    _log_grant(session, row, grant, now_s)

        self.db.write(work)

    def start(self) -> None:
        """`prepare`, open the key store, load the trust set, renew it when due, link the log."""
        self.prepare()
        config = self.config
        passphrase = config.keystore_passphrase.get_secret_value() if config.keystore_passphrase else None
        self._keys = open_store(config.keystore_uri, passphrase=passphrase)
        self.publisher.signers(snapshot=self._keys.signer(SNAPSHOT_KEY), timestamp=self._keys.signer(TIMESTAMP_KEY))
        self.publisher.refresh(self.now_s())
        self.publisher.renew_if_due(self.now_s())
        self.log_round()
        self.metrics.snapshot_version.set(self.published.snapshot.version)

    def close(self) -> None:
        """Link what is pending in the log and release everything (after the servers stopped)."""
        try:
            if self._keys is not None:
                self.log_round()
        finally:
            self.executor.shutdown(wait=True)
            self.verify_executor.shutdown(wait=True)
            if self._keys is not None:
                self._keys.close()
            self.db.close()

    # --- background rounds (the server runs them on its timers) ---------------------------------------

    def refresh_round(self) -> None:
        """Adopt what another replica published, renew the timestamp when due, forget closed windows."""
        now = self.now_s()
        self.publisher.refresh(now)
        self.publisher.renew_if_due(now)
        self.seen.expire(now)
        self.limiter.sync()
        self.metrics.snapshot_version.set(self.published.snapshot.version)

    def log_round(self) -> int:
        """Link pending log entries and sign a head when the log grew; returns the log's size."""
        assert self._keys is not None
        size = chainer_round(self.db, self._keys.signer(TIMESTAMP_KEY), now_s=self.now_s())
        self.metrics.log_size.set(size)
        return size

    @property
    def published(self) -> Published:
        return self.publisher.published

    @property
    def snapshot(self) -> TrustSnapshot:
        return self.publisher.published.snapshot

    # --- who is calling -----------------------------------------------------------------------------

    def authenticate(self, token: str, client: str) -> Principal:
        """The principal of a token, after the client's and the credential's rate limits."""
        try:
            principal = self.credentials.authenticate(token)
        except CityCreditError:
            self.limiter.take("client", client, FAILED_AUTH_COST)
            raise
        self.limiter.take("credential", principal.id)
        return principal

    def admit(self, client: str) -> None:
        """The per-client rate limit every request pays."""
        self.limiter.take("client", client)

    # --- public: verification, offers, decisions ------------------------------------------------------

    @staticmethod
    def needs_io(code: object) -> bool:
        """Whether verifying `code` touches the database (a presentation's replay check)."""
        return isinstance(code, str) and code.startswith(PRESENTATION_PREFIX)

    def verify(self, code: str, *, at_s: int | None = None, venue: str = "",
               seen: SeenPresentations | None = None, record: bool = True) -> VerifiedCode | CityCreditError:
        """One code or presentation against the trust set: the claims, or the catalogue error saying why not.

        A presentation is remembered as seen at `venue` (`record`); a check passes `record=False`.
        """
        now = self.now_s() if at_s is None else at_s
        try:
            result = verify_code(self.snapshot, code, now_s=now, grace_s=self.config.grace_s, venue=venue,
                                 replay=(seen or self.seen) if record else None,
                                 window_s=self.config.presentation_window_s)
        except (CodeError, BundleError) as exc:
            self.metrics.verification(exc.code)
            return exc
        self.metrics.verification("valid")
        return result

    def verify_one(self, code: str, *, at_s: int | None = None, venue: str = "") -> VerifiedCode | CityCreditError:
        """`verify` for a request about one code: input that is not a credit code at all is a request error."""
        result = self.verify(code, at_s=at_s, venue=venue)
        if isinstance(result, CodeUnreadableError):
            raise result
        return result

    def offers(self, city: int | None = None) -> list[Offer]:
        return self.snapshot.catalogue.find(city=city)

    def check(self, code: str, offer_id: str, *, at_s: int | None = None) -> Decision:
        """The decision without spending anything: a dry run (nor is a presentation marked as seen)."""
        now = self.now_s() if at_s is None else at_s
        verified = self.verify(code, at_s=now, record=False)
        if isinstance(verified, CodeUnreadableError):
            raise verified
        catalogue = self.snapshot.catalogue
        if isinstance(verified, CityCreditError):
            return decision_for_error(verified, offer_id)
        offer = catalogue.offer(offer_id)
        used = self.desk.used(offer, verified, now)
        return catalogue.decide(holder=verified, offer_id=offer_id, now_s=now, used_in_period=used)

    def city(self, value: str | int) -> int:
        """A member city named by its six-digit code or its slug."""
        snapshot = self.snapshot
        if isinstance(value, int):
            found: int | None = value
        else:
            text = value.strip()
            found = int(text) if text.isascii() and text.isdigit() and len(text) == 6 else \
                next((c for c, m in snapshot.members.items() if m.slug == text.lower()), None)
        if found is None or found not in snapshot.members:
            raise CityUnknownError(f"{value!r} is not a member city of the alliance")
        return found

    # --- merchants ----------------------------------------------------------------------------------

    def redeem(self, principal: Principal, *, code: str, offer_id: str, key: str,
               at_s: int | None = None) -> Answer:
        """Spend the offer once for the holder, exactly once per idempotency key, never past its quota."""
        principal.require_merchant()
        key = self.desk.check_key(key)
        snapshot = self.snapshot
        offer = snapshot.catalogue.offer(offer_id)
        principal.may_redeem_at(offer.city, offer.venue)
        now = self.now_s()
        when = self.desk.judged_at(offer, at_s, now)
        # A presentation is spent at the offer: a retry under the same key may present it again.
        seen = self.seen.owned_by(f"{principal.id}/{key}")
        verified = self.verify(code, at_s=when, venue=f"redeem/{offer.id}", seen=seen)
        answer = self.desk.redeem(principal, snapshot, offer=offer, code=code, verified=verified, key=key, at_s=when,
                                  requested_at_s=at_s)
        eligible = answer.decision.eligible if answer.decision is not None else bool(answer.doc["redemption_id"])
        self.metrics.redemption(eligible=eligible, replayed=answer.replayed)
        return answer

    # --- what cities upload (each checked against the trust set; a token alone changes nothing) ---------

    def upload_city_parts(self, principal: Principal | None, city: int, role: bytes,
                          files: Mapping[str, bytes]) -> int:
        """A city's role and parts, signed by its authority key; returns the snapshot version now served."""
        _require_own_city(principal, city)
        published = self.publisher.upload_city_parts(city, role, files, now_s=self.now_s())
        return published.snapshot.version

    def upload_status_list(self, principal: Principal | None, city: int, data: bytes) -> StatusList:
        """A city's whole status list, signed by one of its status keys."""
        _require_own_city(principal, city)
        return self.publisher.upload_status_list(city, data, now_s=self.now_s())

    def upload_agreement(self, principal: Principal | None, agreement_id: str, role: bytes,
                         files: Mapping[str, bytes]) -> int:
        """An agreement co-signed by every city it binds (a token that comes with it: the office of one of them)."""
        if principal is not None:
            part = offer_pb2.Agreement()
            with contextlib.suppress(DecodeError):  # a malformed part is the publisher's refusal to word
                part.ParseFromString(files.get(agreement_path(agreement_id), b""))
            if principal.kind != CITY_OFFICE or principal.city not in part.cities:
                raise PermissionDeniedError("a token that comes with an agreement is the office's of a city it binds")
        published = self.publisher.upload_agreement(agreement_id, role, files, now_s=self.now_s())
        return published.snapshot.version

    def upload_governance(self, *, root: bytes | None, targets: bytes | None, files: Mapping[str, bytes]) -> int:
        """A ceremony's result; the governance threshold's signatures are its only credential."""
        published = self.publisher.upload_governance(root=root, targets=targets, files=files, now_s=self.now_s())
        return published.snapshot.version

    def upload_merchant_grant(self, principal: Principal | None, city: int, data: bytes) -> dict[str, Any]:
        """A credential the city granted (or withdrew): a merchant's signed by its status key, its office's by its
        authority key. The signature is what counts; a token that comes with it must be that city's office's."""
        _require_own_city(principal, city)
        snapshot = self.snapshot
        now = self.now_s()

        def work(session: Any) -> dict[str, Any]:
            row, changed = self.credentials.accept_grant(session, data, **_grant_keys(snapshot), city=city, now_s=now)
            if changed:
                _log_grant(session, row, data.hex(), now)
            return {"id": row.id, "city": f"{row.city:06d}", "merchant_id": row.merchant_id,
                    "venues": [v for v in row.venues.split("\n") if v], "revoked": row.revoked_at_s is not None,
                    "changed": changed}

        result: dict[str, Any] = self.db.write(work)
        self.credentials.forget(result["id"])
        return result



def _require_own_city(principal: Principal | None, city: int) -> None:
    """A signed upload needs no token (its signatures authenticate it); one that comes with a token must be the
    token of that city's office."""
    if principal is not None:
        principal.require_city_office(city)


def _grant_keys(snapshot: TrustSnapshot) -> dict[str, Any]:
    """The keys grants are checked against: each city's status keys (merchants) and authority key (its office)."""
    return {"status_keys": {c: trust.status_keys for c, trust in snapshot.cities.items()},
            "authorities": snapshot.authorities}


def _log_grant(session: Any, row: Any, grant_hex: str, now_s: int) -> None:
    kind = "credential.revoked" if row.revoked_at_s is not None else "credential.granted"
    append(session, kind, {"city": row.city, "credential_id": row.id, "merchant_id": row.merchant_id,
                           "grant_sha256": hashlib.sha256(bytes.fromhex(grant_hex)).hexdigest()}, at_s=now_s)


def _read(path: Any, what: str) -> bytes:
    try:
        return bytes(path.read_bytes())
    except OSError as exc:
        raise UnavailableError(f"cannot read {what} at {path}: {exc.strerror}") from None
