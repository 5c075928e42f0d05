"""The trust set (DESIGN 7): TUF roles over protobuf parts, opened into a `TrustSnapshot`.

The roles are TUF metadata, verified by python-tuf's `TrustedMetadataSet` (the
reference implementation's client-side state machine, which does no I/O):

- root and top-level targets: the governance members, m-of-n. Root names the
  governance keys, the gateway's snapshot and timestamp keys; targets lists the
  membership part and delegates one role per city and one per agreement;
- `city-<city>`: the city authority's key, threshold 1, paths `cities/<city>/*`;
- `agreement-<id>`: the authority keys of every city the agreement binds, with a
  threshold of all of them, paths `agreements/<id>.pb`;
- snapshot and timestamp: the gateway's online keys (freshness and consistency).

On top of what TUF checks (signatures and thresholds, the root rotation chain,
rollback of any role's version, hashes and lengths of every file), `open_trust`
checks what is the alliance's own: each part parses and belongs to its role's city,
members and delegations agree, an agreement carries a valid signature of every city
it binds whatever its delegation says, and a city's withdrawal ends an agreement.

A member or an agreement whose role the snapshot does not list yet (just delegated by the
governance, not uploaded by its cities) is left out until it is: nothing fails meanwhile.

Expiry: the top-level roles must be fresh at `now - grace` (CC_BUNDLE_STALE otherwise);
a city role that is stale makes only that city's codes unverifiable; a stale agreement
is not in force. Status lists are opened separately (`_status`) and attached with
`with_status_list`.

`open_trust` takes the previous snapshot: its timestamp and snapshot go into the
`TrustedMetadataSet` first, so any rollback is refused, and roles whose bytes and
delegation did not change are reused without verifying them again (an update costs
what changed).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import DecodeError, Message
from securesystemslib.signer import Key, Signature
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Root, Targets
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

from citycredit._gen.citycredit.v1 import bundle_pb2, offer_pb2, trust_pb2
from citycredit.core._eligibility import Catalogue
from citycredit.core._keys import Algorithm, VerifyingKey, kid_for_spki, tuf_key_spki
from citycredit.core._offers import Agreement, Offer, is_city
from citycredit.core._status import StatusList
from citycredit.core._wire import from_proto
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    BundleThresholdError,
    CityCreditError,
)

__all__ = [
    "CITY_PARTS",
    "MAX_TRUST_FILE_BYTES",
    "MEMBERSHIP_PATH",
    "CityKey",
    "CityTrust",
    "TrustAnchor",
    "TrustFiles",
    "TrustSnapshot",
    "agreement_path",
    "agreement_role",
    "city_part_path",
    "city_role",
    "describe",
    "open_trust",
]

MEMBERSHIP_PATH = "alliance/members.pb"
CITY_PARTS = ("keys", "offers", "policy")
# Refused before parsing: the largest metadata or part file a client accepts.
MAX_TRUST_FILE_BYTES = 16 * 1024 * 1024
_NEVER = 1 << 62
_EPOCH = datetime.fromtimestamp(0, UTC)


def city_role(city: int) -> str:
    return f"city-{city:06d}"


def agreement_role(agreement_id: str) -> str:
    return f"agreement-{agreement_id}"


def city_part_path(city: int, part: str) -> str:
    return f"cities/{city:06d}/{part}.pb"


def agreement_path(agreement_id: str) -> str:
    return f"agreements/{agreement_id}.pb"


def _seconds(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())


# --- what a client holds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustAnchor:
    """The root of trust a client pins: TUF root metadata, signed by its own threshold.

    `anchor.json` is exactly this file (any version of the alliance's root); a
    client accepts newer roots only through the rotation chain (`TrustFiles.newer_roots`),
    each signed by the threshold of the root before it and by its own.
    """

    data: bytes
    version: int
    threshold: int
    keyids: frozenset[str]

    @classmethod
    def from_json(cls, data: str | bytes) -> TrustAnchor:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        try:
            trusted = TrustedMetadataSet(raw, EnvelopeType.METADATA)
        except (tuf_errors.RepositoryError, ValueError, TypeError, KeyError) as exc:
            raise BundleMalformedError(f"the trust anchor is not a self-signed TUF root: {exc}") from None
        root = trusted.root
        role = root.roles[Root.type]
        return cls(data=raw, version=root.version, threshold=role.threshold, keyids=frozenset(role.keyids))

    def to_json(self) -> str:
        return self.data.decode()

    def role_keys(self, role: str) -> dict[bytes, VerifyingKey]:
        """The keys this root names for a top-level role, by kid (e.g. the gateway's timestamp key)."""
        root: Root = Metadata[Root].from_bytes(self.data).signed
        keys = [_verifying(root.keys[keyid]) for keyid in root.roles[role].keyids]
        return {key.kid: key for key in keys}

    def same_keys(self, other: TrustAnchor) -> bool:
        return self.threshold == other.threshold and self.keyids == other.keyids


@dataclass(frozen=True)
class TrustFiles:
    """The unverified files of a TUF repository, as a client fetched or cached them.

    `root` is the newest root the client already trusts (its anchor at first);
    `newer_roots` the rotation chain after it, in order. `roles` holds delegated
    role metadata by role name, `targets_files` the part files by target path.
    """

    root: bytes
    timestamp: bytes
    snapshot: bytes
    targets: bytes
    roles: Mapping[str, bytes] = field(default_factory=dict)
    targets_files: Mapping[str, bytes] = field(default_factory=dict)
    newer_roots: Sequence[bytes] = ()


# --- what a verifier knows ---------------------------------------------------------------------------


@dataclass(eq=False)
class CityKey:
    """A city's code-signing key from its keys part; the verifier is built on first use."""

    city: int
    kid: bytes
    algorithm: Algorithm
    spki: bytes
    not_before_s: int
    not_after_s: int
    status: int
    revoked_at_s: int
    _key: VerifyingKey | None = field(default=None, repr=False)

    @property
    def key(self) -> VerifyingKey:
        if self._key is None:
            self._key = VerifyingKey(algorithm=self.algorithm, spki=self.spki)  # kid checked when the part was read
        return self._key

    def valid_at_issue(self, issued_at_s: int) -> bool:
        """Whether a code issued at `issued_at_s` falls in the key's window (not_after 0: open-ended)."""
        if not self.not_before_s <= issued_at_s < (self.not_after_s or _NEVER):
            return False
        return not (self.status == bundle_pb2.KEY_STATUS_REVOKED and issued_at_s >= self.revoked_at_s)


@dataclass(frozen=True)
class CityTrust:
    """What the trust set says of one member city."""

    city: int
    slug: str
    name_zh: str
    name_en: str
    code_keys: tuple[CityKey, ...]
    status_keys: Mapping[bytes, VerifyingKey]
    issuer_url: str
    offers: tuple[Offer, ...]
    tier_policy: bundle_pb2.TierPolicy | None
    withdrawals: Mapping[str, int]
    # The city role's version and expiry (seconds): past it plus the grace, its codes cannot be judged.
    version: int
    expires_at_s: int


@dataclass
class _Verified:
    """A delegated role already verified, kept for reuse while its bytes and delegation stay the same.

    `value` is what the role's parts say (a `CityTrust`, or the agreement as signed), built once.
    """

    digest: bytes
    delegation: tuple[frozenset[str], int]
    signed: Targets
    value: Any = None


class TrustSnapshot:
    """The verified trust set, indexed for the verification hot path. Pure data: no I/O, no clock."""

    def __init__(self, *, anchor: TrustAnchor, root: Root, files: TrustFiles, expires_at_s: int,
                 versions: Mapping[str, int], alliance: str, cities: Mapping[int, CityTrust],
                 agreements: Sequence[Agreement], verified: Mapping[str, _Verified],
                 members: Mapping[int, trust_pb2.Member] | None = None,
                 authorities: Mapping[int, VerifyingKey] | None = None,
                 statuses: Mapping[int, StatusList] | None = None) -> None:
        self.anchor = anchor
        self.root = root
        self.files = files
        # The earliest expiry of root, timestamp, snapshot and top-level targets, seconds.
        self.expires_at_s = expires_at_s
        # Version of every role: root, timestamp, snapshot, targets, city-…, agreement-….
        self.versions = dict(versions)
        self.alliance = alliance
        self.cities = dict(cities)
        # Every member the governance lists (also one whose first part is not published yet) and its
        # authority key as the top-level targets delegate it.
        self.members = dict(members or {})
        self.authorities = dict(authorities or {})
        self.agreements = tuple(agreements)
        self._verified = dict(verified)
        self.statuses: dict[int, StatusList] = dict(statuses or {})
        self.keys_by_kid: dict[bytes, list[CityKey]] = {}
        for trust in self.cities.values():
            for key in trust.code_keys:
                self.keys_by_kid.setdefault(key.kid, []).append(key)
        self._catalogue: Catalogue | None = None

    @property
    def version(self) -> int:
        """The snapshot version: it changes whenever any part but a status list changes."""
        return self.versions["snapshot"]

    @property
    def catalogue(self) -> Catalogue:
        """Offers and agreements (withdrawals applied) indexed for decisions, built on first use.

        Only member cities with a tier policy have rules: their thresholds mean something on the ladder.
        """
        if self._catalogue is None:
            offers = [o for c in self.cities.values() for o in c.offers]
            try:
                self._catalogue = Catalogue.build(offers=offers, agreements=self.agreements,
                                                  members=[c.city for c in self.cities.values() if c.tier_policy])
            except CityCreditError as exc:
                raise BundleMalformedError(f"the offers or agreements are invalid: {exc.message}") from None
        return self._catalogue

    def with_status_list(self, status: StatusList) -> TrustSnapshot:
        """The same trust set with one city's status list replaced (parts are shared, nothing is re-verified)."""
        copy = object.__new__(TrustSnapshot)
        copy.__dict__.update(self.__dict__)
        copy.statuses = {**self.statuses, status.city: status}
        return copy

    def role_keys(self, role: str) -> dict[bytes, VerifyingKey]:
        """The keys root names for a top-level role by kid (e.g. the timestamp key, which signs the log's heads)."""
        keys = [_verifying(self.root.keys[keyid]) for keyid in self.root.roles[role].keyids]
        return {key.kid: key for key in keys}

    def city_by_slug(self, slug: str) -> int | None:
        for code, trust in self.cities.items():
            if trust.slug == slug:
                return code
        return None


# --- opening ----------------------------------------------------------------------------------------


def _tuf_error(exc: Exception, what: str) -> BundleError:
    """The catalogue error for a refusal of python-tuf's."""
    text = f"{what}: {exc}"
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return BundleStaleError(f"{text}; the offline grace is over")
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return BundleRollbackError(text)
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return BundleThresholdError(text)
    return BundleMalformedError(text)


def _parse(message: Message, data: bytes, what: str) -> Any:
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise BundleMalformedError(f"{what} is not a valid {type(message).__name__} message") from None
    return message


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_TRUST_FILE_BYTES:
        raise BundleMalformedError(f"{what} is larger than {MAX_TRUST_FILE_BYTES} bytes")


def _reference(now_s: int, grace_s: int) -> datetime:
    return datetime.fromtimestamp(max(now_s - grace_s, 0), UTC)


def open_trust(files: TrustFiles, *, now_s: int, grace_s: int, previous: TrustSnapshot | None = None,
               anchor: TrustAnchor | None = None) -> TrustSnapshot:
    """Verify a repository's files into a snapshot; raises a BundleError saying why it is refused.

    `anchor` is the pinned root (default: `files.root`, which the caller already trusts);
    `previous`, the snapshot accepted before, protects against rollback and lets unchanged
    roles be reused.
    """
    for what, data in (("root", files.root), ("timestamp", files.timestamp), ("snapshot", files.snapshot),
                       ("targets", files.targets), *(("root", r) for r in files.newer_roots)):
        _check_size(data, what)
    if anchor is not None:
        # The root the files start from must be the pinned anchor or the newest root accepted through it
        # (SPEC 6.7 inputs): a self-signed root that came with the files proves nothing.
        trusted_roots = [anchor.data] if previous is None else [anchor.data, previous.files.root]
        if not any(_same_root(files.root, trusted) for trusted in trusted_roots):
            raise BundleThresholdError("the trust set does not start from the pinned anchor (or a root accepted "
                                       "through it): its root is signed by keys this client does not trust")
    try:
        trusted = TrustedMetadataSet(files.root, EnvelopeType.METADATA)
    except tuf_errors.RepositoryError as exc:
        raise _tuf_error(exc, "the trusted root") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleMalformedError(f"the trusted root is malformed: {exc}") from None
    trusted.reference_time = _reference(now_s, grace_s)
    step = "root"
    try:
        for data in files.newer_roots:
            trusted.update_root(data)
        step = "timestamp"
        if previous is not None:
            _intermediate(trusted.update_timestamp, previous.files.timestamp)
        try:
            trusted.update_timestamp(files.timestamp)
        except tuf_errors.EqualVersionNumberError:  # unchanged since the previous snapshot: keep that one
            if files.timestamp != previous.files.timestamp:  # type: ignore[union-attr]  # previous set: equal versions
                raise BundleRollbackError("a different timestamp under an accepted version") from None
        step = "snapshot"
        if previous is not None:
            _intermediate(lambda data: trusted.update_snapshot(data, trusted=True), previous.files.snapshot)
        trusted.update_snapshot(files.snapshot)
        step = "top-level targets"
        trusted.update_targets(files.targets)
    except tuf_errors.RepositoryError as exc:
        raise _tuf_error(exc, f"the {step} metadata is refused") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BundleMalformedError(f"the {step} metadata is malformed: {exc}") from None
    root, snapshot, targets = trusted.root, trusted.snapshot, trusted.targets
    if previous is not None and root.version < previous.root.version:
        raise BundleRollbackError(f"root version {root.version} is older than the accepted {previous.root.version}")
    if anchor is not None and root.version < anchor.version:
        raise BundleRollbackError(f"root version {root.version} is older than the pinned anchor's {anchor.version}")
    expires_at_s = min(_seconds(m.expires) for m in (root, trusted.timestamp, snapshot, targets))
    versions: dict[str, int] = {"root": root.version, "timestamp": trusted.timestamp.version,
                                "snapshot": snapshot.version, "targets": targets.version}
    membership = _membership(targets, files)
    reuse = previous._verified if previous is not None else {}
    verified: dict[str, _Verified] = {}
    trusted.reference_time = _EPOCH  # each role's expiry is judged below, one city (or agreement) at a time
    authority: dict[int, Key] = {}
    cities: dict[int, CityTrust] = {}
    for member in membership.members:
        role = city_role(member.city)
        keyids = targets.get_delegated_role(role).keyids
        authority[member.city] = targets.delegations.keys[keyids[0]]  # type: ignore[union-attr]  # checked by _membership
        if role not in files.roles and f"{role}.json" not in snapshot.meta:
            continue  # a member the governance just added, whose first part is not published yet
        signed, fresh = _delegated(trusted, files, targets, role, reuse, verified)
        entry = verified[role]
        if fresh:
            entry.value = _city(member, signed, files)
        elif (entry.value.slug, entry.value.name_zh, entry.value.name_en) != (member.slug, member.name_zh,
                                                                            member.name_en):
            entry.value = dataclasses.replace(entry.value, slug=member.slug, name_zh=member.name_zh,
                                              name_en=member.name_en)
        cities[member.city] = entry.value
        versions[role] = signed.version
    agreements = []
    for role_name, delegated in (targets.delegations.roles or {}).items():  # type: ignore[union-attr]
        if not role_name.startswith("agreement-"):
            continue
        if role_name not in files.roles and f"{role_name}.json" not in snapshot.meta:
            continue  # delegated by the governance; its cities have not published it yet
        agreement = _agreement(trusted, files, targets, role_name, delegated.keyids, authority, cities, reuse,
                               verified, now_s=now_s, grace_s=grace_s)
        versions[role_name] = verified[role_name].signed.version
        if agreement is not None:
            agreements.append(agreement)
    return TrustSnapshot(
        anchor=anchor or (previous.anchor if previous is not None else TrustAnchor.from_json(files.root)),
        root=root, files=dataclasses.replace(files, root=(files.newer_roots or [files.root])[-1], newer_roots=()),
        expires_at_s=expires_at_s, versions=versions,
        alliance=membership.alliance, cities=cities, agreements=agreements, verified=verified,
        members={m.city: m for m in membership.members},
        authorities={city: _verifying(key) for city, key in authority.items()},
        statuses=previous.statuses if previous is not None else None)


def _same_root(data: bytes, trusted: bytes) -> bool:
    """Whether two root files carry the same signed content (their JSON may be laid out differently)."""
    if data == trusted:
        return True
    try:
        return bool(Metadata[Root].from_bytes(data).signed_bytes == Metadata[Root].from_bytes(trusted).signed_bytes)
    except Exception:  # python-tuf raises several types for malformed metadata: then they are not the same
        return False


def _intermediate(update: Any, data: bytes) -> None:
    """Load the previous timestamp or snapshot as TUF's rollback floor; its own expiry does not matter here."""
    try:
        update(data)
    except tuf_errors.ExpiredMetadataError:
        pass  # loaded all the same (python-tuf keeps an expired intermediate for rollback protection)
    except tuf_errors.BadVersionNumberError:
        pass  # an intermediate snapshot whose version the timestamp no longer names: kept as the floor


def _membership(targets: Targets, files: TrustFiles) -> trust_pb2.Membership:
    info = targets.targets.get(MEMBERSHIP_PATH)
    data = files.targets_files.get(MEMBERSHIP_PATH)
    if info is None or data is None:
        raise BundleMalformedError(f"the top-level targets list no {MEMBERSHIP_PATH}")
    _verify_file(info, data, MEMBERSHIP_PATH)
    membership = _parse(trust_pb2.Membership(), data, MEMBERSHIP_PATH)
    seen: set[int] = set()
    slugs: set[str] = set()
    roles = (targets.delegations.roles or {}) if targets.delegations is not None else {}
    for member in membership.members:
        if not is_city(member.city) or member.city in seen or not member.slug or member.slug in slugs:
            raise BundleMalformedError(f"member {member.city} ({member.slug!r}) is invalid or listed twice")
        seen.add(member.city)
        slugs.add(member.slug)
        delegated = roles.get(city_role(member.city))
        if (delegated is None or delegated.threshold != 1 or len(delegated.keyids) != 1
                or delegated.paths != [f"cities/{member.city:06d}/*"]):
            raise BundleMalformedError(f"member {member.city} has no delegation city-{member.city:06d} with one "
                                       "authority key and the paths cities/<city>/*")
    strays = [name for name in roles if name.startswith("city-") and name not in {city_role(c) for c in seen}]
    if strays:
        raise BundleMalformedError(f"delegations for cities that are not members: {', '.join(sorted(strays))}")
    return membership  # type: ignore[no-any-return]  # _parse hands back the message it was given


def _verify_file(info: Any, data: bytes, path: str) -> None:
    _check_size(data, path)
    try:
        info.verify_length_and_hashes(data)
    except tuf_errors.LengthOrHashMismatchError:
        raise BundleMalformedError(f"{path} does not match the length and hashes its role signed") from None


def _delegated(trusted: TrustedMetadataSet, files: TrustFiles, targets: Targets, role: str,
               reuse: Mapping[str, _Verified], verified: dict[str, _Verified]) -> tuple[Targets, bool]:
    """A delegated role, verified through TUF (True) or reused unchanged from the previous snapshot (False)."""
    data = files.roles.get(role)
    if data is None:
        raise BundleMalformedError(f"the role metadata {role}.json is missing")
    _check_size(data, role)
    delegated = targets.get_delegated_role(role)
    delegation = (frozenset(delegated.keyids), delegated.threshold)
    digest = hashlib.sha256(data).digest()
    meta = trusted.snapshot.meta.get(f"{role}.json")
    old = reuse.get(role)
    if old is not None and old.digest == digest and old.delegation == delegation and meta is not None \
            and meta.version == old.signed.version:
        verified[role] = old
        return old.signed, False
    try:
        signed = trusted.update_delegated_targets(data, role, Targets.type)
    except tuf_errors.RepositoryError as exc:
        raise _tuf_error(exc, f"the role {role} is refused") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BundleMalformedError(f"the role {role} is malformed: {exc}") from None
    verified[role] = _Verified(digest, delegation, signed)
    return signed, True


def _part(signed: Targets, files: TrustFiles, path: str, message: Message) -> Any:
    info = signed.targets.get(path)
    data = files.targets_files.get(path)
    if info is None or data is None:
        raise BundleMalformedError(f"{path} is missing")
    _verify_file(info, data, path)
    return _parse(message, data, path)


def _city(member: trust_pb2.Member, signed: Targets, files: TrustFiles) -> CityTrust:
    city = member.city
    allowed = {city_part_path(city, p) for p in CITY_PARTS}
    extra = set(signed.targets) - allowed
    if extra:
        raise BundleMalformedError(f"role {city_role(city)} lists files outside its parts: {', '.join(sorted(extra))}")
    keys = _part(signed, files, city_part_path(city, "keys"), trust_pb2.CityKeys())
    offers_part = _part(signed, files, city_part_path(city, "offers"), trust_pb2.CityOffers())
    policy = _part(signed, files, city_part_path(city, "policy"), trust_pb2.CityPolicy())
    for part, name in ((keys, "keys"), (offers_part, "offers"), (policy, "policy")):
        if part.city != city:
            raise BundleMalformedError(f"the {name} part of {city} names city {part.city}")
    code_keys = tuple(_city_key(city, k) for k in keys.code_keys)
    status_keys = {}
    for k in keys.status_keys:
        status_key = _city_key(city, k)
        if status_key.status != bundle_pb2.KEY_STATUS_REVOKED:  # a revoked status key signs nothing any more
            status_keys[status_key.kid] = status_key.key
    try:
        offers = tuple(from_proto(Offer, o) for o in offers_part.offers)
    except CityCreditError as exc:
        raise BundleMalformedError(f"an offer of {city} is invalid: {exc.message}") from None
    strays = [o.id for o in offers if o.city != city]
    if strays:
        raise BundleMalformedError(f"offers of {city} name another host city: {', '.join(strays)}")
    withdrawals: dict[str, int] = {}
    for w in policy.withdrawals:
        withdrawals[w.agreement_id] = min(w.at, withdrawals.get(w.agreement_id, _NEVER))
    return CityTrust(city=city, slug=member.slug, name_zh=member.name_zh, name_en=member.name_en,
                     code_keys=code_keys, status_keys=status_keys, issuer_url=keys.issuer_url, offers=offers,
                     tier_policy=policy.tier_policy if policy.HasField("tier_policy") else None,
                     withdrawals=withdrawals, version=signed.version, expires_at_s=_seconds(signed.expires))


def _city_key(city: int, key: bundle_pb2.PublicKey) -> CityKey:
    if kid_for_spki(key.spki) != key.kid:
        raise BundleMalformedError(f"city {city}: kid {key.kid.hex()} does not match its key")
    try:
        algorithm = Algorithm(key.algorithm)
    except ValueError:
        raise BundleMalformedError(f"city {city}: unknown key algorithm {key.algorithm}") from None
    if key.status not in (bundle_pb2.KEY_STATUS_ACTIVE, bundle_pb2.KEY_STATUS_RETIRED, bundle_pb2.KEY_STATUS_REVOKED):
        raise BundleMalformedError(f"city {city}: key {key.kid.hex()} has no status")
    entry = CityKey(city=city, kid=key.kid, algorithm=algorithm, spki=key.spki, not_before_s=key.not_before,
                    not_after_s=key.not_after, status=key.status, revoked_at_s=key.revoked_at)
    try:
        entry.key  # noqa: B018 - parse the key now: a malformed one refuses the part, not a later code
    except CityCreditError as exc:
        raise BundleMalformedError(f"city {city}: key {key.kid.hex()}: {exc.message}") from None
    return entry


def _agreement(trusted: TrustedMetadataSet, files: TrustFiles, targets: Targets, role: str,
               keyids: Iterable[str], authority: Mapping[int, Key], cities: Mapping[int, CityTrust],
               reuse: Mapping[str, _Verified], verified: dict[str, _Verified], *, now_s: int,
               grace_s: int) -> Agreement | None:
    """The agreement of one role, or None when it is stale; refused when a bound city did not sign it."""
    signed, fresh = _delegated(trusted, files, targets, role, reuse, verified)
    agreement_id = role.removeprefix("agreement-")
    if fresh:  # a reused role was checked under the same delegation, hence the same authority keys
        verified[role].value = _signed_agreement(signed, files, role, agreement_id, keyids, authority, cities)
    agreement: Agreement = verified[role].value
    if now_s - grace_s > _seconds(signed.expires):
        return None  # stale: not in force until every city signs it anew
    ends = [cities[c].withdrawals[agreement_id] for c in agreement.cities
            if c in cities and agreement_id in cities[c].withdrawals]
    if ends:
        end = min(ends)
        if agreement.not_after_s == 0 or end < agreement.not_after_s:
            if end <= agreement.not_before_s:
                return None
            agreement = dataclasses.replace(agreement, not_after_s=end)
    return agreement


def _signed_agreement(signed: Targets, files: TrustFiles, role: str, agreement_id: str, keyids: Iterable[str],
                      authority: Mapping[int, Key], cities: Mapping[int, CityTrust]) -> Agreement:
    path = agreement_path(agreement_id)
    if set(signed.targets) != {path}:
        raise BundleMalformedError(f"role {role} must list exactly {path}")
    message = _part(signed, files, path, offer_pb2.Agreement())
    try:
        agreement = from_proto(Agreement, message)
    except CityCreditError as exc:
        raise BundleMalformedError(f"agreement {agreement_id} is invalid: {exc.message}") from None
    if agreement.id != agreement_id:
        raise BundleMalformedError(f"role {role} carries agreement {agreement.id}")
    strangers = sorted(c for c in agreement.cities if c not in authority)
    if strangers:
        raise BundleMalformedError(f"agreement {agreement_id} binds cities that are not members: {strangers}")
    if set(keyids) != {authority[c].keyid for c in agreement.cities}:
        raise BundleThresholdError(f"agreement {agreement_id}'s role is not delegated to exactly the authority keys "
                                   "of the cities it binds")
    _require_every_city(files.roles[role], agreement, authority)
    return agreement


def _require_every_city(data: bytes, agreement: Agreement, authority: Mapping[int, Key]) -> None:
    """An agreement binds only with a valid signature of every city it names, whatever threshold its role has."""
    md = Metadata[Targets].from_bytes(data)
    missing = []
    for city in sorted(agreement.cities):
        key = authority[city]
        signature: Signature | None = md.signatures.get(key.keyid)
        try:
            if signature is None:
                raise ValueError
            key.verify_signature(signature, md.signed_bytes)
        except Exception:  # securesystemslib raises several types for a bad or foreign signature
            missing.append(f"{city:06d}")
    if missing:
        raise BundleThresholdError(f"agreement {agreement.id} lacks a valid signature of {', '.join(missing)}")


def describe(snapshot: TrustSnapshot) -> dict[str, Any]:
    """A JSON-ready summary of a snapshot for people, logs and the web pages."""
    return {
        "alliance": snapshot.alliance,
        "versions": snapshot.versions,
        "expires_at": snapshot.expires_at_s,
        "governance": {"threshold": snapshot.root.roles[Root.type].threshold,
                       "keys": len(snapshot.root.roles[Root.type].keyids)},
        "cities": [{"city": f"{c.city:06d}", "slug": c.slug, "name_zh": c.name_zh, "name_en": c.name_en,
                    "keys": len(c.code_keys), "offers": len(c.offers), "issuer_url": c.issuer_url,
                    "version": c.version,
                    "status_list_version": snapshot.statuses[c.city].version if c.city in snapshot.statuses else None}
                   for c in sorted(snapshot.cities.values(), key=lambda c: c.city)],
        "agreements": [a.id for a in snapshot.agreements],
    }


def _verifying(key: Key) -> VerifyingKey:
    """A TUF key (Ed25519 or P-256) as a verifying key."""
    algorithm = Algorithm.ED25519 if key.keytype == "ed25519" else Algorithm.P256
    return VerifyingKey(algorithm=algorithm, spki=tuf_key_spki(key))
