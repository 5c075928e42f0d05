"""Test utilities that run the real core: an in-memory alliance, every party's keys in one object.

    alliance = InMemoryAlliance(now_s=1_800_000_000)       # real keys, real signatures, no files
    code = alliance.issue(330100, Tier.EXCELLENT).code
    alliance.verifier().verify(code)
    alliance.set_status(330100, index, Status.REVOKED)     # a new signed status list of that city
    alliance.publish_city(330100, offers=[...])             # a new city part, re-signed snapshot/timestamp

Every part is signed by the key its role names (governance, city authority, status key,
the gateway's snapshot and timestamp keys), through the same core functions the real
parties call; nothing here is a second implementation of trust or issuance. For the
gateway's REST API in memory, build the real app over SQLite: `citycredit.gateway.testing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tuf.api.metadata import Metadata, Root

from citycredit._gen.citycredit.v1 import bundle_pb2, status_pb2, trust_pb2
from citycredit._verifier import Verifier, VerifierConfig
from citycredit.core import (
    CITY_ROLE_TTL_S,
    MEMBERSHIP_PATH,
    STATUS_CONTEXT,
    Agreement,
    Algorithm,
    IssuedCode,
    Issuer,
    Offer,
    Repository,
    SigningKey,
    Status,
    StatusBitmap,
    Tier,
    TrustAnchor,
    TrustSnapshot,
    add_signature,
    agreement_metadata,
    agreement_role,
    city_metadata,
    city_role,
    device_key,
    hmac_sha256,
    membership_part,
    open_status_update,
    open_trust,
    publish,
    root_metadata,
    sign_metadata,
    sign_part,
    targets_metadata,
    to_proto,
)

__all__ = ["DEFAULT_CITIES", "InMemoryAlliance", "public_key"]

DEFAULT_CITIES: tuple[tuple[int, str, str, str], ...] = (
    (330100, "hangzhou", "杭州", "Hangzhou"),
    (330800, "quzhou", "衢州", "Quzhou"),
    (330400, "jiaxing", "嘉兴", "Jiaxing"),
)
STATUS_TTL_S = 900
STATUS_EXPIRY_S = 86400


def public_key(key: SigningKey, *, not_before_s: int, not_after_s: int = 0,
               status: bundle_pb2.KeyStatus = bundle_pb2.KEY_STATUS_ACTIVE, revoked_at_s: int = 0,
               ) -> bundle_pb2.PublicKey:
    """The entry of a city's keys part for `key`."""
    return bundle_pb2.PublicKey(kid=key.kid, algorithm=key.algorithm.proto, spki=key.spki, not_before=not_before_s,
                                not_after=not_after_s, status=status, revoked_at=revoked_at_s)


class InMemoryAlliance:
    """Governance, cities (authority, code and status keys, pseudonym secret), the gateway's keys, the repository."""

    def __init__(self, *, now_s: int, cities: Sequence[tuple[int, str, str, str]] = DEFAULT_CITIES,
                 algorithms: Sequence[Algorithm] = (Algorithm.ED25519, Algorithm.P256),
                 governance_keys: int = 3, threshold: int = 2, offers: Iterable[Offer] = (),
                 agreements: Iterable[Agreement] = (), name: str = "test alliance") -> None:
        self.now_s = now_s
        self.name = name
        self.governance = [SigningKey.generate() for _ in range(governance_keys)]
        self.threshold = threshold
        self.snapshot_key, self.timestamp_key = SigningKey.generate(), SigningKey.generate()
        self.members = {city: trust_pb2.Member(city=city, slug=slug, name_zh=zh, name_en=en)
                        for city, slug, zh, en in cities}
        self.authority = {city: SigningKey.generate() for city in self.members}
        self.status_keys = {city: SigningKey.generate() for city in self.members}
        self.keys: dict[tuple[int, Algorithm], SigningKey] = {}
        self.key_entries: dict[int, list[bundle_pb2.PublicKey]] = {}
        for city in self.members:
            self.key_entries[city] = []
            for algorithm in algorithms:
                key = SigningKey.generate(algorithm)
                self.keys[(city, algorithm)] = key
                self.key_entries[city].append(public_key(key, not_before_s=now_s - 86400))
        self.secrets = {city: bytes([city % 251]) * 32 for city in self.members}
        self.offers: dict[int, list[Offer]] = {city: [] for city in self.members}
        for offer in offers:
            self.offers[offer.city].append(offer)
        self.agreements = {a.id: a for a in agreements}
        self.withdrawals: dict[int, list[trust_pb2.AgreementWithdrawal]] = {city: [] for city in self.members}
        self.role_versions: dict[str, int] = {}
        self.targets_version = 0
        root = sign_metadata(self._root(version=1), self.governance[:threshold])
        self.anchor = TrustAnchor.from_json(root)
        self.repository: Repository | None = None
        self.repository = self._publish(root=root, targets=self._targets(), roles=self._all_roles())
        self.bitmaps = {city: StatusBitmap() for city in self.members}
        self.status_versions = {city: 0 for city in self.members}
        self.status_lists: dict[int, bytes] = {}
        for city in self.members:
            self.sign_status(city)

    # --- building parts -----------------------------------------------------------------------------

    def _root(self, *, version: int, governance: Sequence[SigningKey] | None = None,
              threshold: int | None = None) -> Metadata[Root]:
        return root_metadata(governance=governance or self.governance, threshold=threshold or self.threshold,
                             timestamp_key=self.timestamp_key, snapshot_key=self.snapshot_key, version=version,
                             now_s=self.now_s)

    def _targets(self, signers: Sequence[SigningKey] | None = None) -> bytes:
        self.targets_version += 1
        metadata = targets_metadata(
            membership=membership_part(self.name, self.members.values()), authorities=self.authority,
            agreements={a.id: a.cities for a in self.agreements.values()}, version=self.targets_version,
            now_s=self.now_s)
        return sign_metadata(metadata, signers or self.governance[: self.threshold])

    def _city_role(self, city: int) -> tuple[bytes, dict[str, bytes]]:
        name = city_role(city)
        self.role_versions[name] = self.role_versions.get(name, 0) + 1
        keys = trust_pb2.CityKeys(city=city, code_keys=self.key_entries[city],
                                  status_keys=[public_key(self.status_keys[city], not_before_s=self.now_s - 86400)])
        offers = trust_pb2.CityOffers(city=city, offers=[to_proto(o) for o in self.offers[city]])
        policy = trust_pb2.CityPolicy(city=city, withdrawals=self.withdrawals[city],
                                      tier_policy=bundle_pb2.TierPolicy(scheme=f"{self.members[city].slug}-test",
                                                                        version=1, confirmed=True))
        metadata, files = city_metadata(keys=keys, offers=offers, policy=policy, version=self.role_versions[name],
                                        now_s=self.now_s, ttl_s=CITY_ROLE_TTL_S)
        return sign_metadata(metadata, [self.authority[city]]), files

    def _agreement_role(self, agreement: Agreement,
                        signers: Sequence[int] | None = None) -> tuple[bytes, dict[str, bytes]]:
        name = agreement_role(agreement.id)
        self.role_versions[name] = self.role_versions.get(name, 0) + 1
        body = to_proto(agreement).SerializeToString(deterministic=True)
        metadata, files = agreement_metadata(body, agreement.id, version=self.role_versions[name], now_s=self.now_s,
                                             ttl_s=365 * 86400)
        data = sign_metadata(metadata, [])
        for city in sorted(agreement.cities) if signers is None else signers:
            data = add_signature(data, self.authority[city])
        return data, files

    def _all_roles(self) -> tuple[dict[str, bytes], dict[str, bytes]]:
        roles, files = {}, {}
        for city in self.members:
            roles[city_role(city)], part = self._city_role(city)
            files.update(part)
        for agreement in self.agreements.values():
            roles[agreement_role(agreement.id)], part = self._agreement_role(agreement)
            files.update(part)
        return roles, files

    def _publish(self, *, root: bytes | None = None, targets: bytes | None = None,
                 roles: tuple[Mapping[str, bytes], Mapping[str, bytes]] | None = None) -> Repository:
        role_files, part_files = roles or ({}, {})
        membership = {MEMBERSHIP_PATH: membership_part(self.name, self.members.values())} if targets else {}
        self.repository = publish(self.repository, snapshot_signer=self.snapshot_key,
                                  timestamp_signer=self.timestamp_key, now_s=self.now_s, root=root, targets=targets,
                                  roles=role_files, files={**part_files, **membership})
        return self.repository

    # --- changing the alliance ------------------------------------------------------------------------

    def publish_city(self, city: int, *, offers: Iterable[Offer] | None = None,
                     keys: Iterable[bundle_pb2.PublicKey] | None = None) -> Repository:
        """A new version of the city's part (signed by its authority key), then snapshot and timestamp."""
        if offers is not None:
            self.offers[city] = list(offers)
        if keys is not None:
            self.key_entries[city] = list(keys)
        role, files = self._city_role(city)
        return self._publish(roles=({city_role(city): role}, files))

    def publish_agreement(self, agreement: Agreement, *, signers: Sequence[int] | None = None) -> Repository:
        """Add an agreement (governance delegates its role; the cities in `signers`, all by default, sign it)."""
        self.agreements[agreement.id] = agreement
        targets = self._targets()
        role, files = self._agreement_role(agreement, signers)
        return self._publish(targets=targets, roles=({agreement_role(agreement.id): role}, files))

    def withdraw(self, city: int, agreement_id: str, *, at_s: int) -> Repository:
        self.withdrawals[city].append(trust_pb2.AgreementWithdrawal(agreement_id=agreement_id, at=at_s))
        return self.publish_city(city)

    def sign_status(self, city: int, *, now_s: int | None = None, expires_s: int = STATUS_EXPIRY_S) -> bytes:
        """The city's current list as the next version, signed by its status key (a StatusListUpdate)."""
        now = self.now_s if now_s is None else now_s
        self.status_versions[city] += 1
        bitmap = self.bitmaps[city]
        head = status_pb2.StatusListHead(city=city, version=self.status_versions[city], bits=2, size=bitmap.size,
                                         list_sha256=bitmap.digest(), issued_at=now, expires_at=now + expires_s,
                                         ttl_s=STATUS_TTL_S)
        signed = sign_part(head.SerializeToString(deterministic=True), self.status_keys[city], STATUS_CONTEXT)
        update = status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(head=signed,
                                                                              list_zlib=bitmap.compress()))
        self.status_lists[city] = update.SerializeToString(deterministic=True)
        return self.status_lists[city]

    def set_status(self, city: int, index: int, status: Status | int) -> bytes:
        """Change one entry and sign the next version of the city's list."""
        self.bitmaps[city].set(index, status)
        return self.sign_status(city)

    # --- issuing and verifying ------------------------------------------------------------------------

    def issuer(self, city: int, algorithm: Algorithm = Algorithm.ED25519) -> Issuer:
        return Issuer(city=city, key=self.keys[(city, algorithm)], pseudonym=hmac_sha256(self.secrets[city]),
                      policy_version=1, status_list_size=self.bitmaps[city].size)

    def issue(self, city: int, tier: Tier = Tier.GOOD, *, band: str = "良好", holder_ref: str = "holder-1",
              now_s: int | None = None, ttl_s: int = 300, algorithm: Algorithm = Algorithm.ED25519,
              status_index: int | None = None, audience: int | None = None,
              device: SigningKey | None = None) -> IssuedCode:
        return self.issuer(city, algorithm).issue(
            holder_ref=holder_ref, tier=tier, band=band, now_s=self.now_s if now_s is None else now_s, ttl_s=ttl_s,
            status_index=status_index, audience=audience, device_key=None if device is None else device_key(device))

    def snapshot(self, *, now_s: int | None = None, grace_s: int = 0) -> TrustSnapshot:
        """The repository and every city's status list, opened as a verifier would."""
        assert self.repository is not None
        now = self.now_s if now_s is None else now_s
        snapshot = open_trust(self.repository.files(trusted_root_version=1), now_s=now, grace_s=grace_s,
                              anchor=self.anchor)
        for city, data in self.status_lists.items():
            snapshot = snapshot.with_status_list(open_status_update(
                data, city=city, status_keys=snapshot.cities[city].status_keys, previous=None, now_s=now,
                grace_s=grace_s))
        return snapshot

    def verifier(self, *, now_s: int | None = None, grace_s: int = 0) -> Verifier:
        """A verifier over the current trust set whose clock stands still at `now_s`."""
        at = float(self.now_s if now_s is None else now_s)
        return Verifier(self.snapshot(now_s=int(at), grace_s=grace_s), config=VerifierConfig(grace_s=grace_s),
                        clock=lambda: at)

