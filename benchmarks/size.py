"""Size on the wire and in the QR symbol: characters and QR version at error correction M per format.

CC1 codes must fit version 9 at M (DESIGN 4), `CP1:` presentations version 12 at M; the
peer formats (an EU-DCC-style code and a JWT with the same claims) are measured against CC1.
"""

from __future__ import annotations

from collections.abc import Sequence

from citycredit import Algorithm

from benchmarks.fixtures import Context
from benchmarks.harness import AT_MOST, Figure, Spec
from benchmarks.peers import PEERS_MISSING, build_peer_codes
from benchmarks.presentation import presentations

try:
    import segno
except ImportError:
    segno = None  # type: ignore[assignment]  # unavailable() says what to install

NAME = "size"
# At level M, version 9 holds 262 alphanumeric characters (DESIGN 4 budgets a code at 259) and version 12
# holds 419 (tests/unit/core/test_qr.py checks both capacities against segno).
LIMITS = {"cc1": (259, 9), "cp1": (419, 12)}
_FORMATS = ("cc1.ed25519", "cc1.p256", "cp1.ed25519_device", "cp1.p256_device", "dcc_style", "jwt")
FIGURES = tuple(Spec(f"size.{fmt}.{what}", unit, AT_MOST(1.0) if fmt.startswith("c") else None)
                for fmt in _FORMATS for what, unit in (("chars", "chars"), ("qr_version", "QR version")))


def unavailable() -> str | None:
    if segno is None:
        return "skipped: segno is not installed (pip install -r benchmarks/requirements.txt)"
    return PEERS_MISSING


def qr_version(text: str, mode: str) -> int:
    """The smallest version at level M in `mode`; refuses if segno's own choice of mode differs."""
    qr = segno.make(text, error="m", mode=mode, micro=False, boost_error=False)
    auto = segno.make(text, error="m", micro=False, boost_error=False)
    if qr.mode != mode or auto.mode != mode:
        raise RuntimeError(f"expected QR {mode} mode, segno chose {auto.mode!r}")
    return int(qr.version)


def _pair(fmt: str, texts: Sequence[str], mode: str, against: tuple[float, float, str], note: str) -> list[Figure]:
    longest = max(texts, key=len)  # in one mode the version only grows with the length
    chars, version = len(longest), qr_version(longest, mode)
    target = AT_MOST(1.0) if fmt.startswith("c") else None
    base_chars, base_version, base_name = against
    return [
        Figure(name=f"size.{fmt}.chars", value=chars, unit="chars", baseline=base_chars, baseline_name=base_name,
               ratio=chars / base_chars, target=target, note=f"longest of {len(texts)}; {note}"),
        Figure(name=f"size.{fmt}.qr_version", value=version, unit="QR version", baseline=base_version,
               baseline_name=base_name, ratio=version / base_version, target=target,
               note=f"error correction M, {mode} mode"),
    ]


def run(ctx: Context) -> list[Figure]:
    base = ctx.base()
    n = ctx.settings.peer_codes
    ed, p256 = base.codes[Algorithm.ED25519][:n], base.codes[Algorithm.P256][:n]
    cc1 = (float(LIMITS["cc1"][0]), float(LIMITS["cc1"][1]), "v9-M limit")
    cp1 = (float(LIMITS["cp1"][0]), float(LIMITS["cp1"][1]), "v12-M limit")
    figures = _pair("cc1.ed25519", ed, "alphanumeric", cc1, "CC1: + Base45(protobuf)")
    figures += _pair("cc1.p256", p256, "alphanumeric", cc1, "raw r||s signature")
    for algorithm, slug in ((Algorithm.ED25519, "ed25519"), (Algorithm.P256, "p256")):
        texts, _ = presentations(ctx, algorithm, n)
        figures += _pair(f"cp1.{slug}_device", texts, "alphanumeric", cp1,
                         f"CP1: + Base45(code, time, device signature); {slug} device key in the code")
    ours = (float(figures[0].value or 0), float(figures[1].value or 0), "CC1 Ed25519")
    peer = build_peer_codes(ed)
    figures += _pair("dcc_style", peer.dcc, "alphanumeric", ours, "HC1-like: Base45(zlib(COSE_Sign1))")
    figures += _pair("jwt", peer.jwt, "byte", ours, "compact JWS, EdDSA")
    return figures
