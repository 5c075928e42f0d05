"""Size on the wire and in the QR symbol: characters and QR version at error correction M per format."""

from __future__ import annotations

from collections.abc import Sequence

import segno
from citycredit import Algorithm

from benchmarks.fixtures import Context
from benchmarks.harness import AT_MOST, Figure, Spec
from benchmarks.peers import build_peer_codes

NAME = "size"
V9_M_ALPHANUMERIC_CHARS = 259  # capacity of a version-9 symbol at level M in alphanumeric mode (DESIGN 4)
MAX_VERSION = 9
FIGURES = (
    Spec("size.cc1.ed25519.chars", "chars", AT_MOST(1.0)),
    Spec("size.cc1.ed25519.qr_version", "QR version", AT_MOST(1.0)),
    Spec("size.cc1.p256.chars", "chars", AT_MOST(1.0)),
    Spec("size.cc1.p256.qr_version", "QR version", AT_MOST(1.0)),
    Spec("size.dcc_style.chars", "chars"),
    Spec("size.dcc_style.qr_version", "QR version"),
    Spec("size.jwt.chars", "chars"),
    Spec("size.jwt.qr_version", "QR version"),
)


def qr_version(text: str, mode: str) -> int:
    """The smallest version at level M in `mode`; refuses if segno's own choice of mode differs."""
    qr = segno.make(text, error="m", mode=mode, micro=False, boost_error=False)
    auto = segno.make(text, error="m", micro=False, boost_error=False)
    if qr.mode != mode or auto.mode != mode:
        raise RuntimeError(f"expected QR {mode} mode, segno chose {auto.mode!r}")
    if qr.error != "M":
        raise RuntimeError(f"expected error correction M, got {qr.error}")
    return int(qr.version)


def _pair(label: str, texts: Sequence[str], mode: str, *, against: tuple[float, float] | None,
          note: str) -> list[Figure]:
    longest = max(texts, key=len)  # in one mode the version only grows with the length
    chars = len(longest)
    version = qr_version(longest, mode)
    spec_chars, spec_version = (s for s in FIGURES if s.name in (f"size.{label}.chars", f"size.{label}.qr_version"))
    if against is None:  # a CC1 format: measured against the DESIGN limit
        base_chars, base_version, base_name = float(V9_M_ALPHANUMERIC_CHARS), float(MAX_VERSION), "v9-M limit"
    else:
        base_chars, base_version, base_name = against[0], against[1], "CC1 Ed25519"
    return [
        Figure(name=spec_chars.name, value=chars, unit="chars", baseline=base_chars, baseline_name=base_name,
               ratio=chars / base_chars, target=spec_chars.target, note=f"longest of {len(texts)} codes; {note}"),
        Figure(name=spec_version.name, value=version, unit="QR version", baseline=base_version,
               baseline_name=base_name, ratio=version / base_version, target=spec_version.target,
               note=f"error correction M, {mode} mode"),
    ]


def run(ctx: Context) -> list[Figure]:
    ed = ctx.signed(Algorithm.ED25519).codes
    p256 = ctx.signed(Algorithm.P256).codes
    peer = build_peer_codes(ed[:ctx.settings.peer_codes])
    figures = _pair("cc1.ed25519", ed, "alphanumeric", against=None, note="CC1: + Base45(protobuf)")
    cc1 = (figures[0].value or 0.0, figures[1].value or 0.0)
    figures += _pair("cc1.p256", p256, "alphanumeric", against=None, note="raw r||s signature")
    figures += _pair("dcc_style", peer.dcc, "alphanumeric", against=cc1, note="HC1-like: Base45(zlib(COSE_Sign1))")
    figures += _pair("jwt", peer.jwt, "byte", against=cc1, note="compact JWS, EdDSA")
    return figures
