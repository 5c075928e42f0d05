"""Opening and updating a national-scale trust set, and what a status-list update costs a verifier.

- `trust.national.open`: `open_trust` over the national set (`benchmarks.national_set`: 300 cities,
  4 code keys and 50 offers each, 500 co-signed agreements), checking the whole chain (root,
  timestamp, snapshot, top-level targets, every city and agreement role, every part's hash), against
  the retired single-signature bundle of the same content, verified and parsed into the same
  objects (`open_single_bundle`), in the same rounds.
- `trust.national.update`: `Verifier.update` after one city re-signed its part (python-tuf reuses
  every role whose bytes did not change), against re-opening the whole single bundle (what a
  bundle update costs: the open timed above).
- `trust.verify_after_{part,status}_update`: the first `verify` of a code of the city that just
  changed (its part, or its 1,048,576-entry status list by a delta) against steady verifies of
  other codes of that city right after it; median over updates of first ÷ median(steady).
- `status.{delta,whole}.{131k,1m,16m}`: `open_status_update` with a 50-entry delta and with the
  whole list, for 131,072, 1,048,576 and 16,777,216 entries (1 % of entries revoked), against
  the floor of any correct update: one raw Ed25519 verify of the signed head and SHA-256 over the
  resulting list (and, for a whole list, zlib inflating it).
"""

from __future__ import annotations

import hashlib
import random
import statistics
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

from citycredit import Algorithm, Tier, Verifier
from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.core import SigningKey, StatusBitmap, StatusList, open_status_update, open_trust

from benchmarks.fixtures import CODE_TTL_S, Context
from benchmarks.harness import AT_MOST, Figure, Spec, paired_rounds, time_once, value_figure
from benchmarks.national_set import open_single_bundle
from benchmarks.status_lists import delta_update, flag_random, whole_update

NAME = "trust_open"
SIZES = ((131_072, "131k"), (1_048_576, "1m"), (16_777_216, "16m"))
DELTA_ENTRIES = 50
STEADY = 5  # steady verifies timed after each first one
TARGET_AFTER_UPDATE = AT_MOST(2.0)
FIGURES = (
    Spec("trust.national.open", "ms"),
    Spec("trust.national.update", "ms"),
    Spec("trust.verify_after_part_update", "µs/code", TARGET_AFTER_UPDATE),
    Spec("trust.verify_after_status_update", "µs/code", TARGET_AFTER_UPDATE),
    *(Spec(f"status.{kind}.{label}", "ms") for kind in ("delta", "whole") for _, label in SIZES),
)


def _first_and_steady(verify: Callable[[str], object], codes: list[str]) -> tuple[float, float]:
    first = time_once(lambda: verify(codes[0]))
    steady = statistics.median(time_once(lambda c=c: verify(c)) for c in codes[1:])  # type: ignore[misc]
    return first, steady


def _after_update_figure(name: str, samples: list[tuple[float, float]], note: str) -> Figure:
    ratios = [first / steady for first, steady in samples]
    return value_figure(name, statistics.median(f for f, _ in samples) * 1e6, "µs/code",
                        baseline=statistics.median(s for _, s in samples) * 1e6, baseline_name="steady verify",
                        ratio=statistics.median(ratios), target=TARGET_AFTER_UPDATE, note=note,
                        samples={"first_s": [f for f, _ in samples], "steady_s": [s for _, s in samples]})


def _national(ctx: Context) -> list[Figure]:
    national = ctx.national()
    alliance = national.alliance
    files = national.files()
    s = ctx.settings
    rounds = max(3, s.rounds // 3)

    def open_tuf() -> None:
        open_trust(files, now_s=alliance.now_s, grace_s=0, anchor=alliance.anchor)

    def open_bundle() -> None:
        open_single_bundle(national.bundle, national.bundle_key)

    opened = paired_rounds(open_tuf, open_bundle, rounds=rounds, warmup=0)
    shape = (f"{len(alliance.members)} cities × {s.national_keys} keys × {s.national_offers} offers, "
             f"{len(national.agreements)} agreements")
    figures = [value_figure(
        "trust.national.open", opened.candidate_median_s * 1e3, "ms", baseline=opened.baseline_median_s * 1e3,
        baseline_name="single bundle", ratio=opened.median_ratio(),
        note=f"open_trust, whole chain, {shape}: {national.tuf_bytes():,} bytes of TUF files "
             f"({len(files.roles)} delegated roles) vs one TrustBundle of {len(national.bundle):,} bytes, one "
             "Ed25519 signature, verified, parsed, keys loaded, offers and agreements converted",
        samples={"candidate_s": list(opened.candidate_s), "baseline_s": list(opened.baseline_s)})]

    verifier = alliance.verifier()
    cities = list(alliance.members)
    part_samples, update_s = [], []
    for k in range(s.update_samples):
        city = cities[k % len(cities)]
        codes = [alliance.issue(city, Tier.GOOD, holder_ref=f"after-part-{k}-{j}", ttl_s=CODE_TTL_S).code
                 for j in range(STEADY + 1)]
        repository = alliance.publish_city(city)
        update_s.append(time_once(partial(_apply_update, verifier, repository)))
        part_samples.append(_first_and_steady(verifier.verify, codes))
    figures.append(value_figure(
        "trust.national.update", statistics.median(update_s) * 1e3, "ms", baseline=opened.baseline_median_s * 1e3,
        baseline_name="reopen single bundle",
        note=f"Verifier.update after one city's part changed (new role, snapshot, timestamp), {len(update_s)} "
             "updates; the baseline is the single bundle's open above (a bundle update re-opens it whole)",
        samples={"candidate_s": update_s}))
    figures.append(_after_update_figure(
        "trust.verify_after_part_update", part_samples,
        f"first verify of the changed city's code after Verifier.update vs {STEADY} steady verifies, "
        f"{len(part_samples)} updates"))

    # One city's list grows to 1,048,576 entries, then changes by deltas.
    city = cities[0]
    rng = random.Random(7)
    bitmap = StatusBitmap(1 << 20)
    flag_random(bitmap, (1 << 20) // 100, rng)
    alliance.bitmaps[city] = bitmap
    verifier.update_status_list(city, alliance.sign_status(city))
    status_samples = []
    for k in range(s.update_samples):
        codes = [alliance.issue(city, Tier.GOOD, holder_ref=f"after-status-{k}-{j}", ttl_s=CODE_TTL_S,
                                status_index=_free(alliance.bitmaps[city], rng)).code for j in range(STEADY + 1)]
        old = alliance.bitmaps[city].copy()
        flag_random(alliance.bitmaps[city], DELTA_ENTRIES, rng)
        version = alliance.status_versions[city]
        alliance.status_versions[city] = version + 1
        delta = delta_update(old, alliance.bitmaps[city], city=city, from_version=version, version=version + 1,
                             key=alliance.status_keys[city], now_s=alliance.now_s)
        verifier.update_status_list(city, delta)
        status_samples.append(_first_and_steady(verifier.verify, codes))
    figures.append(_after_update_figure(
        "trust.verify_after_status_update", status_samples,
        f"first verify of the city's code after a {DELTA_ENTRIES}-entry delta to its 1,048,576-entry list vs "
        f"{STEADY} steady verifies, {len(status_samples)} updates"))
    return figures


def _free(bitmap: StatusBitmap, rng: random.Random) -> int:
    while True:
        index = rng.randrange(bitmap.size)
        if bitmap.get(index) == 0:
            return index


def _status_cost(size: int, label: str, key: SigningKey, now: int, rounds: int, rng: random.Random,
                 ) -> tuple[Figure, Figure]:
    keys = {key.kid: key.verifying_key()}
    city = 330100
    old = StatusBitmap(size)
    flag_random(old, size // 100, rng)
    held: StatusList = open_status_update(whole_update(old, city=city, version=1, key=key, now_s=now), city=city,
                                          status_keys=keys, previous=None, now_s=now, grace_s=0)
    new = old.copy()
    flag_random(new, DELTA_ENTRIES, rng)
    delta = delta_update(old, new, city=city, from_version=1, version=2, key=key, now_s=now)
    whole = whole_update(new, city=city, version=2, key=key, now_s=now)
    parsed = status_pb2.StatusListUpdate.FromString(whole)
    head, list_zlib, raw = parsed.list.head, parsed.list.list_zlib, bytes(new.data)
    public = key.verifying_key()
    calls = max(1, (1 << 22) // size)  # about the same work per timed batch whatever the size

    def figure(kind: str, data: bytes, inflate: bool) -> Figure:
        def apply() -> None:
            for _ in range(calls):
                open_status_update(data, city=city, status_keys=keys, previous=held, now_s=now, grace_s=0)

        def floor() -> None:
            for _ in range(calls):
                public.verify(head.signature, b"CCS1\x00" + head.body)
                hashlib.sha256(zlib.decompress(list_zlib) if inflate else raw).digest()

        paired = paired_rounds(apply, floor, rounds=rounds)
        return value_figure(
            f"status.{kind}.{label}", paired.candidate_median_s / calls * 1e3, "ms",
            baseline=paired.baseline_median_s / calls * 1e3,
            baseline_name="verify+inflate+sha256" if inflate else "verify+sha256", ratio=paired.median_ratio(),
            note=f"open_status_update, {size:,}-entry list (1 % revoked), "
                 + (f"{DELTA_ENTRIES}-entry delta of {len(data):,} bytes" if kind == "delta" else
                    f"whole list of {len(data):,} bytes"),
            samples={"candidate_s": list(paired.candidate_s), "baseline_s": list(paired.baseline_s)})

    return figure("delta", delta, False), figure("whole", whole, True)


def _status_costs(ctx: Context) -> list[Figure]:
    key = SigningKey.generate(Algorithm.ED25519)
    rng = random.Random(11)
    pairs = [_status_cost(size, label, key, ctx.now_s, max(5, ctx.settings.rounds), rng) for size, label in SIZES]
    return [delta for delta, _ in pairs] + [whole for _, whole in pairs]


def _apply_update(verifier: Verifier, repository: Any) -> None:
    """What a merchant's verifier does with a city's new part: take the files and adopt them."""
    verifier.update(repository.files(trusted_root_version=1))


def run(ctx: Context) -> list[Figure]:
    return _national(ctx) + _status_costs(ctx)
