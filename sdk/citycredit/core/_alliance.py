"""The alliance as its operator holds it: members, keys, revocations, agreements, offers.

`Alliance` is the authority-side state from which each trust bundle body is
built. The demo home keeps it as JSON; the gateway rebuilds it from its
database; tests use it directly as an in-memory alliance.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from citycredit._gen.citycredit.v1 import bundle_pb2, offer_pb2
from citycredit.core._keys import Algorithm, SigningKey, kid_for_spki
from citycredit.core._status import StatusBits
from citycredit.core._trust import TrustAnchor, sign_bundle
from citycredit.errors import CityUnknownError, InvalidArgumentError, NotFoundError

__all__ = ["Alliance", "CityRecord", "KeyRecord"]

_KEY_STATUS = {"active": bundle_pb2.KEY_STATUS_ACTIVE, "retired": bundle_pb2.KEY_STATUS_RETIRED,
               "revoked": bundle_pb2.KEY_STATUS_REVOKED}


@dataclass
class KeyRecord:
    """A city's public signing key and its validity window (seconds; not_after_s 0 = open)."""

    algorithm: Algorithm
    spki: bytes
    not_before_s: int
    not_after_s: int = 0
    status: str = "active"
    revoked_at_s: int = 0

    @property
    def kid(self) -> bytes:
        return kid_for_spki(self.spki)

    def to_proto(self) -> bundle_pb2.PublicKey:
        return bundle_pb2.PublicKey(kid=self.kid, algorithm=self.algorithm.proto, spki=self.spki,
                                    not_before=self.not_before_s, not_after=self.not_after_s,
                                    status=_KEY_STATUS[self.status], revoked_at=self.revoked_at_s)

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm.slug, "kid": self.kid.hex(), "spki": base64.b64encode(self.spki).decode(),
                "not_before_s": self.not_before_s, "not_after_s": self.not_after_s, "status": self.status,
                "revoked_at_s": self.revoked_at_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyRecord:
        return cls(algorithm=Algorithm.from_slug(d["algorithm"]), spki=base64.b64decode(d["spki"]),
                   not_before_s=d["not_before_s"], not_after_s=d["not_after_s"], status=d["status"],
                   revoked_at_s=d["revoked_at_s"])


@dataclass
class CityRecord:
    city: int
    slug: str
    name_zh: str
    name_en: str
    keys: list[KeyRecord] = field(default_factory=list)
    status: StatusBits = field(default_factory=StatusBits)
    status_updated_at_s: int = 0
    holder_cutoffs: dict[bytes, int] = field(default_factory=dict)
    tier_policy: bundle_pb2.TierPolicy | None = None

    def to_proto(self) -> bundle_pb2.MemberCity:
        member = bundle_pb2.MemberCity(
            city=self.city, name_zh=self.name_zh, name_en=self.name_en, slug=self.slug,
            keys=[k.to_proto() for k in self.keys],
            status_list=bundle_pb2.StatusList(size=self.status.size, bits_zlib=self.status.compress(),
                                              updated_at=self.status_updated_at_s),
            holder_revocations=[bundle_pb2.HolderRevocation(holder=h, cutoff=c)
                                for h, c in sorted(self.holder_cutoffs.items())])
        if self.tier_policy is not None:
            member.tier_policy.CopyFrom(self.tier_policy)
        return member

    def key(self, kid: bytes) -> KeyRecord:
        for key in self.keys:
            if key.kid == kid:
                return key
        raise NotFoundError(f"city {self.city} has no key {kid.hex()}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "city": self.city, "slug": self.slug, "name_zh": self.name_zh, "name_en": self.name_en,
            "keys": [k.to_dict() for k in self.keys],
            "status_size": self.status.size,
            "status_bits_zlib": base64.b64encode(self.status.compress()).decode(),
            "status_updated_at_s": self.status_updated_at_s,
            "holder_cutoffs": {h.hex(): c for h, c in sorted(self.holder_cutoffs.items())},
            "tier_policy": None if self.tier_policy is None else json_format.MessageToDict(self.tier_policy),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CityRecord:
        status = StatusBits.decompress(d["status_size"], base64.b64decode(d["status_bits_zlib"]))
        policy = None
        if d.get("tier_policy") is not None:
            policy = json_format.ParseDict(d["tier_policy"], bundle_pb2.TierPolicy())
        return cls(city=d["city"], slug=d["slug"], name_zh=d["name_zh"], name_en=d["name_en"],
                   keys=[KeyRecord.from_dict(k) for k in d["keys"]], status=status,
                   status_updated_at_s=d["status_updated_at_s"],
                   holder_cutoffs={bytes.fromhex(h): c for h, c in d["holder_cutoffs"].items()},
                   tier_policy=policy)


@dataclass
class Alliance:
    """Everything a trust bundle is built from. `version` is the last published version."""

    name: str
    governance: TrustAnchor
    cities: dict[int, CityRecord] = field(default_factory=dict)
    agreements: list[offer_pb2.Agreement] = field(default_factory=list)
    offers: list[offer_pb2.Offer] = field(default_factory=list)
    version: int = 0

    def city(self, city: int) -> CityRecord:
        record = self.cities.get(city)
        if record is None:
            raise CityUnknownError(f"{city} is not a member of the alliance")
        return record

    def add_city(self, record: CityRecord) -> None:
        if record.city in self.cities:
            raise InvalidArgumentError(f"city {record.city} is already a member")
        self.cities[record.city] = record

    def revoke_index(self, city: int, index: int, *, now_s: int) -> None:
        record = self.city(city)
        record.status.revoke(index)
        record.status_updated_at_s = now_s

    def revoke_holder(self, city: int, holder: bytes, *, cutoff_s: int) -> None:
        record = self.city(city)
        record.holder_cutoffs[holder] = max(cutoff_s, record.holder_cutoffs.get(holder, 0))

    def body(self, *, version: int, now_s: int, ttl_s: int) -> bundle_pb2.BundleBody:
        return bundle_pb2.BundleBody(
            version=version, issued_at=now_s, expires_at=now_s + ttl_s, alliance=self.name,
            governance=self.governance.to_proto(),
            cities=[self.cities[c].to_proto() for c in sorted(self.cities)],
            agreements=self.agreements, offers=self.offers)

    def publish(self, signers: list[SigningKey], *, now_s: int, ttl_s: int) -> bytes:
        """Build and sign the next version; the caller persists the state afterwards."""
        if ttl_s <= 0:
            raise InvalidArgumentError("the bundle lifetime must be positive")
        data = sign_bundle(self.body(version=self.version + 1, now_s=now_s, ttl_s=ttl_s), signers)
        self.version += 1
        return data

    def to_json(self) -> str:
        return json.dumps({
            "format": "citycredit-alliance/1",
            "name": self.name,
            "version": self.version,
            "governance": json.loads(self.governance.to_json()),
            "cities": [self.cities[c].to_dict() for c in sorted(self.cities)],
            "agreements": [json_format.MessageToDict(a) for a in self.agreements],
            "offers": [json_format.MessageToDict(o) for o in self.offers],
        }, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Alliance:
        doc = json.loads(text)
        return cls(
            name=doc["name"], version=doc["version"],
            governance=TrustAnchor.from_json(json.dumps(doc["governance"])),
            cities={c["city"]: CityRecord.from_dict(c) for c in doc["cities"]},
            agreements=[json_format.ParseDict(a, offer_pb2.Agreement()) for a in doc["agreements"]],
            offers=[json_format.ParseDict(o, offer_pb2.Offer()) for o in doc["offers"]],
        )

