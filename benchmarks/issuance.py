"""Issuance: codes signed per second by `Issuer.issue` vs raw `cryptography` signing of the same bytes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from citycredit import Algorithm, Issuer, SigningKey, Tier
from citycredit.core import SIGNING_CONTEXT, decode_envelope
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from benchmarks.fixtures import BASE_CITIES, Context
from benchmarks.harness import Figure, Spec, paired_rounds, throughput_figure

NAME = "issuance"
FIGURES = (Spec("issue.ed25519.sign", "codes/s"), Spec("issue.p256.sign", "codes/s"))
_ECDSA = ec.ECDSA(hashes.SHA256())


def _batches(algorithm: Algorithm, count: int) -> tuple[Callable[[], None], Callable[[], None]]:
    private = ed25519.Ed25519PrivateKey.generate() if algorithm is Algorithm.ED25519 else \
        ec.generate_private_key(ec.SECP256R1())
    city, _, scheme = BASE_CITIES[0]
    issuer = Issuer(city=city, key=SigningKey(algorithm=algorithm, key=private), holder_secret=secrets.token_bytes(32))
    now = int(time.time())
    requests = [(f"holder-{i}", tuple(Tier)[i % 6]) for i in range(count)]
    messages = [SIGNING_CONTEXT + decode_envelope(issuer.issue(
        holder_ref=ref, tier=tier, band=f"{scheme}·{tier.label_zh}", now_s=now).code).payload for ref, tier in requests]

    def issue() -> None:
        for ref, tier in requests:
            issuer.issue(holder_ref=ref, tier=tier, band=f"{scheme}·{tier.label_zh}", now_s=now)

    if algorithm is Algorithm.ED25519:
        sign = private.sign

        def raw() -> None:
            for message in messages:
                sign(message)
    else:
        sign_ec = private.sign

        def raw() -> None:
            for message in messages:
                sign_ec(message, _ECDSA)
    return issue, raw


def run(ctx: Context) -> list[Figure]:
    settings = ctx.settings
    figures = []
    for spec, algorithm in zip(FIGURES, (Algorithm.ED25519, Algorithm.P256), strict=True):
        issue, raw = _batches(algorithm, settings.issue_codes)
        figures.append(throughput_figure(spec.name, paired_rounds(issue, raw, rounds=settings.rounds),
                                         ops=settings.issue_codes, unit="codes/s", baseline_name="raw sign",
                                         note="Issuer.issue (pseudonym HMAC, protobuf, sign, Base45) vs "
                                              "raw sign of the same payload bytes"))
    return figures
