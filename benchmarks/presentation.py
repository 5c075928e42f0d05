"""`CP1:` presentations: `Verifier.verify` on distinct presentations against two raw verifications of the same
signatures (the city's over the code, the device's over the presentation).

Each presentation comes from its own holder's device key (Ed25519 or P-256), made at the
verifier's clock. Every batch scans at a venue of its own, so the replay check runs (and
remembers every presentation) without refusing the rounds after the first. The raw baseline
has both keys of each presentation loaded beforehand, and the device signature's message
(context, SHA-256 of the code, the time) built beforehand: only the two verify calls remain.
"""

from __future__ import annotations

from collections.abc import Callable

from citycredit import Algorithm, SigningKey
from citycredit.core import Presented, decode_text, encode_presentation, presentation_message
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchmarks.fixtures import CODE_TTL_S, TIERS, Context, raw_verify_batch, sdk_verify_batch
from benchmarks.harness import AT_LEAST, Figure, Spec, paired_rounds, throughput_figure

NAME = "presentation"
_ECDSA = ec.ECDSA(hashes.SHA256())
TARGET = AT_LEAST(0.85)
_DEVICES = ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256"))
FIGURES = tuple(spec for _, slug in _DEVICES for spec in (
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


def raw_two_signatures(ctx: Context, texts: list[str], devices: list[SigningKey]) -> Callable[[], None]:
    """The city's signature (as `raw_verify_batch`) and the device's, each key loaded beforehand."""
    city = raw_verify_batch(ctx.base().keys, texts)
    items = []
    for text, device in zip(texts, devices, strict=True):
        presented = decode_text(text)
        assert isinstance(presented, Presented)
        public = serialization.load_der_public_key(device.spki)
        message = presentation_message(presented.envelope.raw, presented.presented_at_s)
        if device.algorithm is Algorithm.P256:
            items.append((public.verify, _der(presented.signature), message, _ECDSA))
        else:
            items.append((public.verify, presented.signature, message, None))

    def batch() -> None:
        city()
        for verify, signature, message, ecdsa in items:
            if ecdsa is None:
                verify(signature, message)
            else:
                verify(signature, message, ecdsa)
    return batch


def _der(signature: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def run(ctx: Context) -> list[Figure]:
    verifier = ctx.base().verifier
    n = ctx.settings.codes
    figures = []
    for algorithm, slug in _DEVICES:
        texts, devices = presentations(ctx, algorithm, n)
        for text in texts:  # every presentation verifies (at a venue of its own)
            verifier.verify(text, venue="check")
        paired = paired_rounds(sdk_verify_batch(verifier, texts, fresh_venue=True),
                               raw_two_signatures(ctx, texts, devices), rounds=ctx.settings.rounds)
        figures.append(throughput_figure(
            f"sdk.cp1.{slug}_device.verify", paired, ops=n, unit="presentations/s", baseline_name="2 raw verifies",
            target=TARGET, note=f"{n} distinct presentations (Ed25519 city key, {slug} device key, one device "
                                "each) vs raw verify of the city's and the device's signatures"))
        raw_us = paired.baseline_median_s / n * 1e6
        overhead_us = paired.median_difference_s() / n * 1e6
        figures.append(Figure(name=f"sdk.cp1.{slug}_device.overhead", value=overhead_us, unit="µs/code",
                              baseline=raw_us, baseline_name="raw µs/presentation", ratio=overhead_us / raw_us,
                              note="SDK time per presentation minus the two raw verifies (median over paired rounds)"))
    return figures
