"""Scale: verify cost as the alliance grows (10 vs 10,000 member cities) and as revocations pile up.

Both comparisons verify the very same codes with two verifiers that differ only
in the bundle they were given. Steady state: each verifier is warmed up first,
so a city's key and status list are loaded once (their one-time cost is the
`scale.open.*` figure).
"""

from __future__ import annotations

from citycredit import Algorithm, Verifier

from benchmarks.fixtures import Context, build_federation, issue_codes, sdk_verify_batch
from benchmarks.harness import AT_MOST, Figure, Spec, cost_figure, paired_rounds

NAME = "scale"
MEMBER_CITIES = 10_000
REVOKED = 10_000_000
STATUS_LIST_SIZE = 1 << 24  # 16,777,216 entries; codes take their indexes from the unrevoked tail
TARGET = AT_MOST(1.1)
FIGURES = (
    Spec("scale.cities_10000.verify", "µs/code", TARGET),
    Spec("scale.revoked_10m.verify", "µs/code", TARGET),
    Spec("scale.cities_10000.open", "ms"),
)


def run(ctx: Context) -> list[Figure]:
    rounds = ctx.settings.rounds
    figures = []

    federation = build_federation(Algorithm.ED25519)
    codes = issue_codes(federation, ctx.settings.codes)
    small_bundle = federation.publish()
    federation.add_filler_cities(MEMBER_CITIES - len(federation.cities))
    big_bundle = federation.publish()
    opened = {}

    def open_small() -> None:
        opened["small"] = Verifier.from_bundle_bytes(small_bundle, anchor=federation.anchor)

    def open_big() -> None:
        opened["big"] = Verifier.from_bundle_bytes(big_bundle, anchor=federation.anchor)

    paired_open = paired_rounds(open_big, open_small, rounds=max(3, rounds // 3), warmup=0)
    figures.append(Figure(
        name="scale.cities_10000.open", value=paired_open.candidate_median_s * 1e3, unit="ms",
        baseline=paired_open.baseline_median_s * 1e3, baseline_name="10 cities", ratio=paired_open.median_ratio(),
        note=f"Verifier.from_bundle_bytes: check 2-of-3 signatures, index {MEMBER_CITIES:,} cities "
             f"({len(big_bundle):,} bytes vs {len(small_bundle):,})"))
    figures.append(cost_figure(
        "scale.cities_10000.verify",
        paired_rounds(sdk_verify_batch(opened["big"], codes), sdk_verify_batch(opened["small"], codes),
                      rounds=rounds),
        ops=len(codes), baseline_name="10 cities", target=TARGET,
        note=f"the same {len(codes)} codes; bundle with {MEMBER_CITIES:,} vs 10 member cities"))

    federation = build_federation(Algorithm.ED25519, status_list_size=STATUS_LIST_SIZE)
    codes = issue_codes(federation, ctx.settings.codes, status_range=(REVOKED, STATUS_LIST_SIZE))
    clean = federation.verifier()
    federation.set_status_lists(size=STATUS_LIST_SIZE, revoked=REVOKED)
    revoked = federation.verifier()
    city = federation.cities[0].city
    counts = [v.snapshot.status_bits(city) for v in (clean, revoked)]
    if [None if b is None else b.count() for b in counts] != [0, REVOKED]:
        raise RuntimeError("the status lists were not built as intended")
    figures.append(cost_figure(
        "scale.revoked_10m.verify",
        paired_rounds(sdk_verify_batch(revoked, codes), sdk_verify_batch(clean, codes), rounds=rounds),
        ops=len(codes), baseline_name="0 revoked", target=TARGET,
        note=f"the same {len(codes)} codes; each city's list has {STATUS_LIST_SIZE:,} entries, "
             f"{REVOKED:,} revoked vs none"))
    return figures

