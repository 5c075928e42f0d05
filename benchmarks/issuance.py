"""Issuance: codes signed per second by `Issuer.issue` vs raw `cryptography` signing of the same payload bytes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from citycredit import Algorithm, Issuer, SigningKey, Tier
from citycredit.core import SIGNING_CONTEXT, decode_envelope, hmac_sha256

from benchmarks.fixtures import BASE_CITIES, Context
from benchmarks.harness import Figure, Spec, paired_rounds, throughput_figure

NAME = "issuance"
_ALGORITHMS = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
FIGURES = tuple(Spec(f"issue.{slug}.sign", "codes/s") for _, slug in _ALGORITHMS)


def _batches(algorithm: Algorithm, count: int, now_s: int) -> tuple[Callable[[], None], Callable[[], None]]:
    key = SigningKey.generate(algorithm)
    city, _, _, _ = BASE_CITIES[0]
    issuer = Issuer(city=city, key=key, pseudonym=hmac_sha256(secrets.token_bytes(32)), policy_version=1)
    requests = [(f"holder-{i}", tuple(Tier)[i % 6]) for i in range(count)]
    messages = [SIGNING_CONTEXT + decode_envelope(issuer.issue(holder_ref=ref, tier=tier, band=tier.label_zh,
                                                               now_s=now_s).code).payload for ref, tier in requests]

    def issue() -> None:
        for ref, tier in requests:
            issuer.issue(holder_ref=ref, tier=tier, band=tier.label_zh, now_s=now_s)

    sign = key.sign  # the SDK's own signer: the raw library call plus its DER → r||s conversion for P-256

    def raw() -> None:
        for message in messages:
            sign(message)
    return issue, raw


def run(ctx: Context) -> list[Figure]:
    n = ctx.settings.issue_codes
    figures = []
    for (algorithm, _slug), spec in zip(_ALGORITHMS, FIGURES, strict=True):
        issue, raw = _batches(algorithm, n, ctx.now_s)
        figures.append(throughput_figure(spec.name, paired_rounds(issue, raw, rounds=ctx.settings.rounds), ops=n,
                                         unit="codes/s", baseline_name="sign only",
                                         note="Issuer.issue (pseudonym HMAC, protobuf, sign, Base45) vs the same "
                                              "key signing the same payload bytes"))
    return figures
