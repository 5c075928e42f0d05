"""`CP1:` presentations: `Verifier.verify` on distinct presentations against two raw verifications of the same
signatures (the city's over the code, the device's over the presentation).

Each presentation comes from its own holder's device key (Ed25519 or P-256), made at the
verifier's clock. Every batch scans at a venue of its own, so the replay check runs (and
remembers every presentation) without refusing the rounds after the first.

The raw baseline is the least cryptography any verifier of a presentation does, in the order it
does it (one presentation after the other, as the verifier goes): the city's
signature under its key (loaded beforehand: it comes from the trust set), and the device's
signature under the device key loaded from the raw bytes the code carries (Ed25519's 32
bytes, P-256's compressed point, whose square root costs as much as a third of a P-256
verify; `limit.*_device.key_load` reports it alone), with the device's message (context,
SHA-256 of the code, the time) built beforehand.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial
from typing import Any

from citycredit import Algorithm, SigningKey
from citycredit.core import Presented, decode_text, device_key, encode_presentation, presentation_message
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from benchmarks.fixtures import CODE_TTL_S, TIERS, Context, raw_der, raw_verify_items, sdk_verify_batch
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure, time_once

NAME = "presentation"
_ECDSA = ec.ECDSA(hashes.SHA256())
TARGET = AT_LEAST(0.85)
_DEVICES = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
FIGURES = tuple(spec for _, slug in _DEVICES for spec in (
    Spec(f"limit.{slug}_device.key_load", "µs/key"),
    Spec(f"sdk.cp1.{slug}_device.verify", "presentations/s", TARGET),
    Spec(f"sdk.cp1.{slug}_device.overhead", "µs/code"),
))


def presentations(ctx: Context, device_algorithm: Algorithm, count: int) -> tuple[list[str], list[SigningKey]]:
    """Device-bound Ed25519 codes of the base cities, each presented once by its own device at `now_s`."""
    alliance = ctx.base().alliance
    cities = list(alliance.members)
    out, devices = [], []
    for i in range(count):
        device = SigningKey.generate(device_algorithm)
        tier = TIERS[i % len(TIERS)]
        issued = alliance.issue(cities[i % len(cities)], tier, band=f"基准·{tier.label_zh}",
                                holder_ref=f"device-holder-{i}", ttl_s=CODE_TTL_S, device=device)
        out.append(encode_presentation(issued.code, device, presented_at_s=alliance.now_s))
        devices.append(device)
    return out, devices


def _device_key_loader(algorithm: Algorithm) -> Callable[[bytes], Any]:
    if algorithm is Algorithm.P256:
        return partial(ec.EllipticCurvePublicKey.from_encoded_point, ec.SECP256R1())
    return ed25519.Ed25519PublicKey.from_public_bytes


def raw_two_signatures(ctx: Context, texts: list[str], devices: list[SigningKey]) -> Callable[[], None]:
    """Per presentation, in order as a verifier goes: the city's signature (as `raw_verify_batch`), then the
    device's, its key loaded from the code's raw bytes."""
    items = []
    for city, text, device in zip(raw_verify_items(ctx.base().keys, texts), texts, devices, strict=True):
        presented = decode_text(text)
        assert isinstance(presented, Presented)
        message = presentation_message(presented.envelope.raw, presented.presented_at_s)
        p256 = device.algorithm is Algorithm.P256
        items.append((*city, _device_key_loader(device.algorithm), device_key(device).public_key,
                      raw_der(presented.signature) if p256 else presented.signature, message,
                      _ECDSA if p256 else None))

    def batch() -> None:
        for verify, signature, message, ecdsa, load, raw, device_signature, device_message, device_ecdsa in items:
            if ecdsa is None:
                verify(signature, message)
            else:
                verify(signature, message, ecdsa)
            if device_ecdsa is None:
                load(raw).verify(device_signature, device_message)
            else:
                load(raw).verify(device_signature, device_message, device_ecdsa)
    return batch


def _key_load_figure(ctx: Context, algorithm: Algorithm, slug: str, devices: list[SigningKey]) -> Figure:
    load = _device_key_loader(algorithm)
    raws = [device_key(device).public_key for device in devices]

    def batch() -> None:
        for raw in raws:
            load(raw)
    seconds = [time_once(batch) for _ in range(ctx.settings.rounds)]
    return Figure(name=f"limit.{slug}_device.key_load", value=statistics.median(seconds) / len(raws) * 1e6,
                  unit="µs/key", note=f"cryptography loading {len(raws)} raw {slug} device keys (part of the baseline)",
                  samples={"seconds": seconds})


def run(ctx: Context) -> list[Figure]:
    verifier = ctx.base().verifier
    n = ctx.settings.codes
    figures = []
    for algorithm, slug in _DEVICES:
        texts, devices = presentations(ctx, algorithm, n)
        figures.append(_key_load_figure(ctx, algorithm, slug, devices))
        for text in texts:  # every presentation verifies (at a venue of its own)
            verifier.verify(text, venue="check")
        paired = paired_rounds(sdk_verify_batch(verifier, texts, fresh_venue=True),
                               raw_two_signatures(ctx, texts, devices), rounds=ctx.settings.rounds)
        figures.append(throughput_figure(
            f"sdk.cp1.{slug}_device.verify", paired, ops=n, unit="presentations/s", baseline_name="2 raw verifies",
            target=TARGET, note=f"{n} distinct presentations (Ed25519 city key, {slug} device key, one device "
                                "each) vs raw verify of the city's and the device's signatures, the device key "
                                "loaded from its raw bytes"))
        raw_us = paired.baseline_median_s / n * 1e6
        overhead_us = paired.median_difference_s() / n * 1e6
        figures.append(Figure(name=f"sdk.cp1.{slug}_device.overhead", value=overhead_us, unit="µs/code",
                              baseline=raw_us, baseline_name="raw µs/presentation", ratio=overhead_us / raw_us,
                              note="SDK time per presentation minus the two raw verifies (median over paired rounds)"))
    return figures
