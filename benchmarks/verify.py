"""The SDK's `Verifier.verify` on distinct codes against raw `cryptography` verification of the same signatures.

The verifier is opened from the alliance's TUF parts through `open_trust` (the chain anchor →
governance → city → key is checked once per part version, when it is accepted), then each
code costs decoding, a kid look-up, the signature, the claims and the key window, the part's
freshness and the status entry. Three batches:

- `sdk.{ed25519,p256}.verify`: ten cities, each with an Ed25519 and a P-256 code key, lists of
  131,072 entries;
- `sdk.ed25519.verify_1m_lists`: the same cities with 1,048,576-entry lists, 5 % of the entries
  revoked or suspended at random (the codes hold free entries, so every one verifies);
- `sdk.ed25519.verify_decide`: `Verifier.check(code, offer)`, verification plus the decision over
  20 offers (visitor-open with quota, local-only) and one agreement; codes go round-robin to host
  cities, so locals and visitors, yeses and noes mix.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from citycredit import Algorithm, Verifier
from citycredit.core import Status, StatusBitmap
from citycredit.testing import InMemoryAlliance

from benchmarks.fixtures import (
    BASE_CITIES,
    CODE_TTL_S,
    TIERS,
    Context,
    issue_codes,
    key_table,
    raw_verify_batch,
    sdk_verify_batch,
)
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure

NAME = "verify"
_ALGORITHMS = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
TARGET = AT_LEAST(0.85)
MILLION = 1 << 20
FIGURES = (
    *(spec for _, slug in _ALGORITHMS for spec in (
        Spec(f"limit.{slug}.verify", "verifies/s"),
        Spec(f"sdk.{slug}.verify", "codes/s", TARGET),
        Spec(f"sdk.{slug}.overhead", "µs/code"),
    )),
    Spec("sdk.ed25519.verify_1m_lists", "codes/s", TARGET),
    Spec("sdk.ed25519.verify_decide", "codes/s", AT_LEAST(0.8)),
)


def _sdk_vs_raw(ctx: Context, name: str, verifier: Verifier, codes: list[str], keys: dict[bytes, tuple[Algorithm,
                bytes]], note: str) -> tuple[Figure, float, float]:
    paired = paired_rounds(sdk_verify_batch(verifier, codes), raw_verify_batch(keys, codes),
                           rounds=ctx.settings.rounds)
    n = len(codes)
    figure = throughput_figure(name, paired, ops=n, unit="codes/s", baseline_name="raw", target=TARGET, note=note)
    return figure, paired.baseline_median_s / n * 1e6, paired.median_difference_s() / n * 1e6


def million_entry_alliance(ctx: Context) -> tuple[InMemoryAlliance, list[str]]:
    """The base cities with 1,048,576-entry lists, 5 % of entries not VALID; codes at free entries."""
    rng = random.Random(1)
    alliance = InMemoryAlliance(now_s=ctx.now_s, cities=BASE_CITIES, algorithms=(Algorithm.ED25519,))
    taken: dict[int, set[int]] = {}
    for city in alliance.members:
        bitmap = StatusBitmap(MILLION)
        flagged = set(rng.sample(range(MILLION), MILLION // 20))
        for index in flagged:
            bitmap.set(index, Status.REVOKED if index % 3 else Status.SUSPENDED)
        alliance.bitmaps[city] = bitmap
        alliance.sign_status(city)
        taken[city] = flagged

    def free(_i: int, city: int) -> int:
        while True:
            index = rng.randrange(MILLION)
            if index not in taken[city]:
                taken[city].add(index)
                return index
    return alliance, issue_codes(alliance, ctx.settings.codes, index=free, tag="million")


def _check_batch(verifier: Verifier, pairs: Sequence[tuple[str, str]]) -> Callable[[], None]:
    check = verifier.check

    def batch() -> None:
        for code, offer_id in pairs:
            check(code, offer_id)
    return batch


def run(ctx: Context) -> list[Figure]:
    base = ctx.base()
    n = ctx.settings.codes
    figures = []
    for algorithm, slug in _ALGORITHMS:
        codes = base.codes[algorithm]
        sdk, raw_us, overhead_us = _sdk_vs_raw(ctx, f"sdk.{slug}.verify", base.verifier, codes, base.keys,
                                               f"{n} distinct codes from 10 cities vs raw verify of the same")
        figures.append(Figure(name=f"limit.{slug}.verify", value=sdk.baseline, unit="verifies/s",
                              note=f"cryptography {slug} verify over the same {n} signatures and bytes",
                              samples={"seconds": sdk.samples["baseline_s"]}))
        figures.append(sdk)
        figures.append(Figure(name=f"sdk.{slug}.overhead", value=overhead_us, unit="µs/code", baseline=raw_us,
                              baseline_name="raw µs/code", ratio=overhead_us / raw_us,
                              note="SDK time per code minus raw verify time per code (median over paired rounds)"))

    alliance, codes = million_entry_alliance(ctx)
    verifier = alliance.verifier()
    for code in codes:
        verifier.verify(code)  # each holds a free entry: all valid
    million, _, overhead_us = _sdk_vs_raw(
        ctx, "sdk.ed25519.verify_1m_lists", verifier, codes, key_table(alliance),
        f"{n} distinct codes, 10 cities each with a 1,048,576-entry list (5 % revoked or suspended)")
    million.note += f"; SDK overhead {overhead_us:.1f} µs/code above the signature"
    figures.append(million)

    # Code i goes to offer 3i mod 20, issued for that offer's host city (its audience): locals and visitors mix.
    offers = [o for city in base.alliance.offers.values() for o in city]
    cities = list(base.alliance.members)
    pairs = []
    for i in range(n):
        offer = offers[3 * i % len(offers)]
        tier = TIERS[i % len(TIERS)]
        code = base.alliance.issue(cities[i % len(cities)], tier, band=tier.label_zh, holder_ref=f"decide-{i}",
                                   ttl_s=CODE_TTL_S, audience=offer.city).code
        pairs.append((code, offer.id))
    outcomes = Counter(d.reason.value if d.reason else "ELIGIBLE"
                       for d in (base.verifier.check(c, o) for c, o in pairs))
    if "ELIGIBLE" not in outcomes or any(reason.startswith("CODE_") for reason in outcomes):
        raise RuntimeError(f"unexpected decisions: {dict(outcomes)}")
    paired = paired_rounds(_check_batch(base.verifier, pairs), raw_verify_batch(base.keys, [c for c, _ in pairs]),
                           rounds=ctx.settings.rounds)
    figures.append(throughput_figure(
        "sdk.ed25519.verify_decide", paired, ops=n, unit="codes/s", baseline_name="raw", target=FIGURES[-1].target,
        note=f"Verifier.check(code, offer) on {n} distinct codes, 20 offers, 1 agreement; "
             + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))))
    return figures
