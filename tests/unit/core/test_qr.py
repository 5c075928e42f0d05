"""A code must fit a version-9 QR at error correction M (DESIGN 4), and scan back intact."""

from __future__ import annotations

from pathlib import Path

import pytest
import segno
from citycredit import Algorithm, Tier
from citycredit.testing import InMemoryAlliance

from tests.conftest import NOW_S

# The longest labels the alliance uses are well under this; the test takes a generous one.
LONG_BAND = "钱江分·优秀（示范）"


@pytest.mark.parametrize("algorithm", [Algorithm.ED25519, Algorithm.P256, Algorithm.SM2], ids=lambda a: a.slug)
def test_code_fits_version_9_at_m(algorithm: Algorithm) -> None:
    alliance = InMemoryAlliance(now_s=NOW_S, algorithms=[algorithm],
                                cities=[(441300, "huizhou", "惠州", "Huizhou")])
    code = alliance.issue(441300, Tier.OUTSTANDING, band=LONG_BAND, algorithm=algorithm,
                          ttl_s=5 * 365 * 86400, status_index=131_071).code
    assert len(code) <= 259
    qr = segno.make(code, error="m", mode="alphanumeric", boost_error=False)
    assert qr.mode == "alphanumeric"
    assert qr.version <= 9, (len(code), qr.version)


def test_qr_scans_back_to_the_same_code(tmp_path: Path) -> None:
    import zxingcpp
    from PIL import Image

    alliance = InMemoryAlliance(now_s=NOW_S, algorithms=[Algorithm.ED25519])
    code = alliance.issue(330100, Tier.EXCELLENT, band="钱江分·优秀").code
    path = tmp_path / "code.png"
    segno.make(code, error="m", mode="alphanumeric").save(str(path), scale=4, border=4)
    results = zxingcpp.read_barcodes(Image.open(path))
    assert [r.text for r in results] == [code]
    assert alliance.verifier().verify(results[0].text).tier is Tier.EXCELLENT
