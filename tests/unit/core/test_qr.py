"""QR fit (DESIGN 4): a bare code in a version-9 QR at M, a presentation in version 12 at M (its band shortened in
the code when a label is too long for that); both scan back."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import segno
from citycredit import Algorithm, SigningKey, Tier
from citycredit.adapters import load_registry
from citycredit.core import (
    MAX_PRESENTATION_CHARS,
    MAX_TTL_S,
    MIN_STATUS_LIST_SIZE,
    IssuedCode,
    device_key,
    encode_presentation,
)
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

CODE_ALGORITHMS = [Algorithm.ED25519, Algorithm.P256]
DEVICE_ALGORITHMS = [Algorithm.ED25519, Algorithm.P256]
# Every band label the demo cities' schemes give, and the longest of them in UTF-8 bytes.
BANDS = sorted({s.map(r).band for s in load_registry().schemes() for r in s.sample_records()},
               key=lambda b: (len(b.encode()), b))
TYPICAL_BAND = "钱江分·优秀"  # 17 bytes


def qr_version(text: str) -> int:
    qr = segno.make(text, error="m", mode="alphanumeric", boost_error=False)
    assert qr.mode == "alphanumeric" and qr.error == "M"
    return int(qr.version)


def _alliance(algorithm: Algorithm) -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S, algorithms=[algorithm], cities=[(330800, "quzhou", "衢州", "Quzhou")])


_ALLIANCES = {a: _alliance(a) for a in CODE_ALGORITHMS}


def _issue_wide(algorithm: Algorithm, band: str, device: SigningKey, **kwargs: Any) -> IssuedCode:
    """A device-bound Quzhou code at the last index of a 2^28-entry list (a varint one byte wider than the
    minimum list's), for `device`."""
    issuer = dataclasses.replace(_ALLIANCES[algorithm].issuer(330800, algorithm), status_list_size=2**28)
    return issuer.issue(holder_ref="holder-1", tier=Tier.EXCELLENT, band=band, now_s=NOW_S, status_index=2**28 - 1,
                        device_key=device_key(device), **kwargs)


@pytest.mark.parametrize(("chars", "version"), [(262, 9), (263, 10), (419, 12), (420, 13)])
def test_the_alphanumeric_capacities_at_m_these_tests_and_the_benchmarks_use(chars: int, version: int) -> None:
    assert qr_version("A" * chars) == version


@pytest.mark.parametrize("band", BANDS)
@pytest.mark.parametrize("algorithm", CODE_ALGORITHMS, ids=lambda a: a.slug)
def test_a_bare_code_fits_version_9_at_m(algorithm: Algorithm, band: str) -> None:
    # The largest values a minimum-size list and the longest lifetime give: a five-year printed code at the
    # list's last index, for another city, with every demo band.
    code = _ALLIANCES[algorithm].issue(330800, Tier.OUTSTANDING, band=band, algorithm=algorithm, ttl_s=MAX_TTL_S,
                                       status_index=MIN_STATUS_LIST_SIZE - 1, audience=330100).code
    assert len(code) <= 262  # the alphanumeric capacity of version 9 at M
    assert qr_version(code) <= 9, (band, len(code))


@pytest.mark.parametrize("band", BANDS)
@pytest.mark.parametrize("device_algorithm", DEVICE_ALGORITHMS, ids=lambda a: f"device-{a.slug}")
@pytest.mark.parametrize("algorithm", CODE_ALGORITHMS, ids=lambda a: f"code-{a.slug}")
def test_a_presentation_fits_version_12_at_m(algorithm: Algorithm, device_algorithm: Algorithm, band: str) -> None:
    # Every demo band whole (the longest, 钱江分·待提高, is 20 UTF-8 bytes), for another city, for the longest
    # lifetime, at a wide status index.
    device = SigningKey.generate(device_algorithm)
    issued = _issue_wide(algorithm, band, device, ttl_s=MAX_TTL_S, audience=330100)
    presentation = encode_presentation(issued.code, device, presented_at_s=issued.expires_at_s)
    assert issued.band == band, "the whole label fits"
    assert len(presentation) <= MAX_PRESENTATION_CHARS
    assert qr_version(presentation) <= 12, (band, len(presentation))


@pytest.mark.parametrize("band", ["信安分·蓝码(信用优秀，示范标签)", "示" * 40])
def test_a_band_too_long_for_a_presentation_is_shortened_in_the_code(band: str) -> None:
    device = SigningKey.generate(Algorithm.P256)
    issued = _issue_wide(Algorithm.P256, band, device)
    presentation = encode_presentation(issued.code, device, presented_at_s=issued.expires_at_s)
    assert qr_version(presentation) <= 12 and len(presentation) <= MAX_PRESENTATION_CHARS
    assert band.startswith(issued.band) and 0 < len(issued.band) < len(band)
    if "(" in band:
        assert issued.band == "信安分·蓝码", "a trailing parenthetical goes first"
    else:  # one character (3 UTF-8 bytes, 4 or 5 Base45 characters) more would not fit
        assert len(presentation) > MAX_PRESENTATION_CHARS - 5, "shortened no more than it had to be"
    # Only device-bound codes are fitted: a bare code keeps its whole label.
    assert _ALLIANCES[Algorithm.P256].issue(330800, Tier.EXCELLENT, band=band, algorithm=Algorithm.P256).band == band


@pytest.mark.parametrize("kind", ["code", "presentation"])
def test_the_qr_scans_back_to_the_same_text(tmp_path: Path, kind: str) -> None:
    import zxingcpp
    from PIL import Image

    alliance = _ALLIANCES[Algorithm.ED25519]
    device = SigningKey.generate(Algorithm.P256)
    text = alliance.issue(330800, Tier.EXCELLENT, band="信安分·蓝码").code
    if kind == "presentation":
        text = encode_presentation(alliance.issue(330800, band=TYPICAL_BAND, device=device).code, device,
                                   presented_at_s=NOW_S)
    path = tmp_path / "code.png"
    segno.make(text, error="m", mode="alphanumeric").save(str(path), scale=4, border=4)
    results = zxingcpp.read_barcodes(Image.open(path))
    assert [r.text for r in results] == [text]
    assert alliance.verifier(now_s=NOW_S).verify(results[0].text).city == 330800
