"""Nothing the gateway stores is a secret (issue 10): after a busy run, every file of its home and every value
of its database is tried as a key and searched for every private key, pseudonym secret, token and
passphrase of the alliance; the key stores of every party are 0700 folders of 0600 files."""

from __future__ import annotations

import base64
import json
import secrets
import stat
import time
from pathlib import Path

import grpc
import httpx
import pytest
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
from citycredit.city import Uploader
from citycredit.core import Algorithm, SigningKey, Status, uscc_check_character
from citycredit.keystore import EncryptedFileStore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.alliance import Alliance, demo_copy, running_alliance

from ._secrets import Secrets, alliance_secrets, database_blobs, directory_blobs, findings
from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, CityDesk, bearer

pytestmark = pytest.mark.slow


def _busy(alliance: Alliance, desk: CityDesk) -> tuple[list[str], list[tuple[int, str, bytes]]]:
    """A day's work: redemptions over REST and gRPC, a void, presentations, a revocation, a merchant onboarded
    and withdrawn, a new city key. Returns the tokens issued and (audience, holder, pseudonym) of the codes."""
    url = alliance.gateway.http_url
    samples, tokens = [], []
    merchant = bearer(alliance.token(QUZHOU))
    with httpx.Client(base_url=url, timeout=60) as http, grpc.insecure_channel(alliance.gateway.grpc_target) as ch:
        for n in range(3):
            ref = f"busy-{n}"
            issued = desk.code(holder=ref)
            samples.append((issued.audience, ref, issued.holder))
            spent = http.post("/v1/redemptions", json={"code": issued.code, "offer_id": QUOTA_OFFER},
                              headers={**merchant, "Idempotency-Key": f"busy-{n}"}).json()
            assert spent["redemption_id"]
            service_pb2_grpc.RedemptionServiceStub(ch).Redeem(service_pb2.RedeemRequest(
                code=issued.code, offer_id=QUOTA_OFFER, idempotency_key=f"busy-grpc-{n}"),
                metadata=(("authorization", f"Bearer {alliance.token(QUZHOU)}"),), timeout=30)
        assert http.post(f"/v1/redemptions/{spent['redemption_id']}:void", headers=merchant).status_code == 200
        device = SigningKey.generate(Algorithm.P256)
        bound = desk.code(holder="busy-device", device=device)
        samples.append((bound.audience, "busy-device", bound.holder))
        assert http.post("/v1/codes:verify", json={"code": desk.presentation(bound, device), "venue": "v"}).json()[
            "valid"]

        hangzhou = desk.office("hangzhou")
        office = Uploader(url, token=alliance.token(HANGZHOU, "city_office"))
        change = hangzhou.set_status(desk.code(holder="busy-revoked").code, Status.REVOKED, now_s=int(time.time()))
        assert change.update is not None
        office.status_list(HANGZHOU, change.update)
        hangzhou.new_code_key(Algorithm.P256, now_s=int(time.time()))
        role, files, _ = hangzhou.signed_role(now_s=int(time.time()))
        office.city_parts(HANGZHOU, role, files)

        quzhou = desk.office("quzhou")
        token = "ccm_" + secrets.token_urlsafe(32)
        tokens.append(token)
        first17 = "91330800MA1234567"
        credential, grant = quzhou.grant_merchant(merchant_id=first17 + uscc_check_character(first17), name="店",
                                                  venues=(), token=token, now_s=int(time.time()))
        quzhou_office = Uploader(url, token=alliance.token(QUZHOU, "city_office"))
        quzhou_office.merchant_grant(QUZHOU, grant)
        assert http.get("/v1/merchant", headers=bearer(token)).status_code == 200
        quzhou_office.merchant_grant(QUZHOU, quzhou.revoke_merchant(credential, now_s=int(time.time())))
    alliance.gateway.replica.log_round()
    return tokens, samples


def _positive_control(home: Path, found: Secrets) -> None:
    """The search finds secrets where they are: a city key as PEM, its seed in JSON, its pseudonym secret in hex."""
    passphrases = json.loads((home / "passphrases.json").read_text())
    store = EncryptedFileStore.open(home / "cities" / "hangzhou" / "keys", passphrases["cities/hangzhou/keys"])
    _, pem = store._unseal("authority", "signing")
    _, secret = store._unseal("pseudonym", "secret")
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.private_bytes_raw()
    leaky = [("pem", pem), ("json", json.dumps({"seed": base64.b64encode(raw).decode()}).encode()),
             ("hex", b"secret=" + secret.hex().encode())]
    reported = findings(leaky, found)
    assert {r.split(":")[0] for r in reported} == {"pem", "json", "hex"}, reported
    # And without knowing them: any private key, a seed of a known key, a secret that makes a known pseudonym.
    blind = Secrets(public_keys=found.public_keys, pseudonyms=found.pseudonyms)
    assert {r.split(":")[0] for r in findings([*leaky, ("raw", raw), ("mac", secret)], blind)} == {
        "pem", "json", "hex", "raw", "mac"}


def test_the_gateway_keeps_no_secret_in_clear_and_every_key_store_is_private(tmp_path: Path) -> None:
    home = demo_copy(tmp_path)
    desk = CityDesk(home)
    try:
        with running_alliance(home) as alliance:
            tokens, samples = _busy(alliance, desk)
            gateway_state = list(directory_blobs(home / "gateway"))
            database = list(database_blobs(f"sqlite:///{home / 'gateway' / 'gateway.db'}"))
    finally:
        desk.close()
    known = alliance_secrets(home, tokens=tokens)
    known.pseudonyms = samples
    _positive_control(home, known)
    assert {where.split("[")[0] for where, _ in database} >= {"redemptions", "credentials", "log_entries",
                                                              "presentations", "status_lists", "trust_files"}
    assert findings(gateway_state + database, known) == []

    stores = sorted(p.parent for p in home.rglob("store.json"))
    assert home / "gateway" / "keys" in stores and len(stores) == 1 + 3 + 11
    for store in stores:
        assert stat.S_IMODE(store.stat().st_mode) == 0o700, store
        for entry in store.iterdir():
            assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry
    for secret_file in [*home.glob("cities/*/gateway-token"), home / "passphrases.json", home / "credentials.json"]:
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600, secret_file
