"""An in-memory alliance for tests, examples and benchmarks: real keys, real signatures, no files.

    alliance = InMemoryAlliance(now_s=1_800_000_000)
    code = alliance.issue(330100, Tier.EXCELLENT).code
    alliance.verifier().verify(code)
"""

from __future__ import annotations

from collections.abc import Sequence

from citycredit._internal.alliance import Alliance, CityRecord, KeyRecord
from citycredit._internal.bundle import TrustAnchor
from citycredit._internal.fake_gateway import InMemoryGateway
from citycredit._internal.issue import IssuedCode, Issuer
from citycredit._internal.keys import Algorithm, SigningKey
from citycredit._internal.tiers import Tier
from citycredit._internal.verifier import Verifier, VerifierConfig

__all__ = ["DEFAULT_CITIES", "InMemoryAlliance", "InMemoryGateway"]

DEFAULT_CITIES: tuple[tuple[int, str, str, str], ...] = (
    (330100, "hangzhou", "杭州", "Hangzhou"),
    (330800, "quzhou", "衢州", "Quzhou"),
    (330400, "jiaxing", "嘉兴", "Jiaxing"),
)


class InMemoryAlliance:
    """Governance keys, one key per city and algorithm, and the operator's `Alliance` state."""

    def __init__(self, *, now_s: int, cities: Sequence[tuple[int, str, str, str]] = DEFAULT_CITIES,
                 algorithms: Sequence[Algorithm] = (Algorithm.ED25519, Algorithm.P256),
                 governance_keys: int = 3, threshold: int = 2, bundle_ttl_s: int = 30 * 86400) -> None:
        self.now_s = now_s
        self.bundle_ttl_s = bundle_ttl_s
        self.governance = [SigningKey.generate() for _ in range(governance_keys)]
        self.anchor = TrustAnchor(threshold=threshold, keys=tuple(k.verifying_key() for k in self.governance))
        self.alliance = Alliance(name="test alliance", governance=self.anchor)
        self.keys: dict[tuple[int, Algorithm], SigningKey] = {}
        self.secrets: dict[int, bytes] = {}
        for city, slug, zh, en in cities:
            record = CityRecord(city=city, slug=slug, name_zh=zh, name_en=en, status_updated_at_s=now_s)
            for algorithm in algorithms:
                key = SigningKey.generate(algorithm)
                self.keys[(city, algorithm)] = key
                record.keys.append(KeyRecord(algorithm=algorithm, spki=key.spki, not_before_s=now_s - 86400))
            self.alliance.add_city(record)
            self.secrets[city] = bytes([city % 251]) * 32
        self.bundle = self.publish()

    def issuer(self, city: int, algorithm: Algorithm = Algorithm.ED25519) -> Issuer:
        return Issuer(city=city, key=self.keys[(city, algorithm)], holder_secret=self.secrets[city])

    def issue(self, city: int, tier: Tier = Tier.GOOD, *, band: str = "良好", holder_ref: str = "holder-1",
              now_s: int | None = None, ttl_s: int = 300, algorithm: Algorithm = Algorithm.ED25519,
              status_index: int | None = None) -> IssuedCode:
        return self.issuer(city, algorithm).issue(holder_ref=holder_ref, tier=tier, band=band,
                                                  now_s=self.now_s if now_s is None else now_s, ttl_s=ttl_s,
                                                  status_index=status_index)

    def publish(self, *, now_s: int | None = None, signers: Sequence[SigningKey] | None = None) -> bytes:
        """Sign the next version (threshold signers by default) and keep it as `self.bundle`."""
        chosen = list(signers) if signers is not None else self.governance[: self.anchor.threshold]
        self.bundle = self.alliance.publish(chosen, now_s=self.now_s if now_s is None else now_s,
                                            ttl_s=self.bundle_ttl_s)
        return self.bundle

    def verifier(self, *, now_s: int | None = None, grace_s: int = 0) -> Verifier:
        """A verifier over the current bundle whose clock stands still at `now_s`."""
        at = float(self.now_s if now_s is None else now_s)
        return Verifier.from_bundle_bytes(self.bundle, anchor=self.anchor, config=VerifierConfig(grace_s=grace_s),
                                          clock=lambda: at)
