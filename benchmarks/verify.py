"""The limit and the SDK: `Verifier.verify` on distinct codes vs raw `cryptography` on the same signatures."""

from __future__ import annotations

from citycredit import Algorithm

from benchmarks.fixtures import Context, raw_verify_batch, sdk_verify_batch
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure

NAME = "verify"
_ALGORITHMS = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
TARGET = AT_LEAST(0.85)
FIGURES = tuple(spec for _, slug in _ALGORITHMS for spec in (
    Spec(f"limit.{slug}.verify", "verifies/s"),
    Spec(f"sdk.{slug}.verify", "codes/s", TARGET),
    Spec(f"sdk.{slug}.overhead", "µs/code"),
))


def run(ctx: Context) -> list[Figure]:
    figures = []
    for algorithm, slug in _ALGORITHMS:
        signed = ctx.signed(algorithm)
        n = len(signed.codes)
        raw = raw_verify_batch(signed.federation.public_keys(), signed.codes)
        paired = paired_rounds(sdk_verify_batch(signed.verifier, signed.codes), raw, rounds=ctx.settings.rounds)
        sdk = throughput_figure(f"sdk.{slug}.verify", paired, ops=n, unit="codes/s", baseline_name="raw",
                                target=TARGET, note=f"{n} distinct codes from 10 cities vs raw verify of the same")
        figures.append(Figure(name=f"limit.{slug}.verify", value=sdk.baseline, unit="verifies/s",
                              note=f"cryptography {slug} verify over the same {n} signatures and bytes",
                              samples={"seconds": sdk.samples["baseline_s"]}))
        figures.append(sdk)
        raw_us = paired.baseline_median_s / n * 1e6
        overhead_us = paired.median_difference_s() / n * 1e6
        figures.append(Figure(name=f"sdk.{slug}.overhead", value=overhead_us, unit="µs/code", baseline=raw_us,
                              baseline_name="raw µs/code", ratio=overhead_us / raw_us,
                              note="SDK time per code minus raw verify time per code (median over rounds)"))
    return figures
