"""`citycredit redeem` against a real gateway on loopback: spend, replay, refuse, and say why."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from citycredit._cli.main import main

from tests.support.alliance import QUOTA_OFFER as OFFER  # EXCELLENT and up, 3 a month
from tests.support.alliance import QUZHOU, Alliance, demo_copy, running_alliance


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alliance]:
    with running_alliance(demo_copy(tmp_path_factory.mktemp("cli-redeem"))) as alliance:
        yield alliance


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["--no-color", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_redeem_spends_replays_and_stops_at_the_quota(gateway: Alliance, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(gateway.home)
    assert main(["--json", "issue", "--home", home, "--city", "quzhou", "--score", "890"]) == 0
    code = json.loads(capsys.readouterr().out)["code"]
    key = gateway.token(QUZHOU, "merchant")
    args = ("redeem", code, "--offer", OFFER, "--gateway", gateway.gateway.http_url, "--api-key", key)
    first = run(capsys, *args, "--idempotency-key", "till-1")
    assert first[0] == 0 and first[1]["redeemed"] and first[1]["decision"]["quota_remaining"] == 2
    replay = run(capsys, *args, "--idempotency-key", "till-1")
    assert replay[0] == 0 and replay[1]["replayed"] and replay[1]["redemption_id"] == first[1]["redemption_id"]
    for _ in range(2):
        assert run(capsys, *args)[0] == 0
    exhausted = run(capsys, *args)
    assert exhausted[0] == 1 and exhausted[1]["decision"]["reason"] == "QUOTA_EXHAUSTED"


def test_redeem_needs_a_merchant_key_and_a_reachable_gateway(gateway: Alliance,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-color", "redeem", "CC1:x", "--offer", OFFER, "--gateway", gateway.gateway.http_url,
                 "--api-key", "ccm_not-a-key"]) == 2
    assert "CC_UNAUTHENTICATED" in capsys.readouterr().err
    assert main(["--no-color", "redeem", "CC1:x", "--offer", OFFER, "--gateway", "http://127.0.0.1:9",
                 "--api-key", "k", "--retries", "1"]) == 2
    assert "CC_UNAVAILABLE" in capsys.readouterr().err
