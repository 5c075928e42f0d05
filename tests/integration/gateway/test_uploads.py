"""Uploads are accepted for their signatures, never for the token that came with them (issue 10): a city
office's upload signed by another city's key, or unsigned, is refused even with that office's valid token,
and the trust set the gateway serves is left exactly as it was."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from citycredit._demo import DemoHome
from citycredit._gen.citycredit.v1 import status_pb2, trust_pb2
from citycredit.city import AUTHORITY_KEY, Uploader
from citycredit.core import (
    MERCHANT_CONTEXT,
    STATUS_CONTEXT,
    Algorithm,
    Issuer,
    Tier,
    agreement_metadata,
    city_metadata,
    hmac_sha256,
    sign_metadata,
    sign_part,
    uscc_check_character,
)
from citycredit.errors import CityCreditError
from tuf.api.metadata import Metadata, Targets

from .conftest import HANGZHOU, QUZHOU, WENZHOU, Shared


def _timestamp(shared: Shared) -> bytes:
    return shared.http.get("/v1/trust/timestamp.json").content


def _refused(shared: Shared, code: str, upload: Callable[[], object]) -> None:
    """`upload` is refused with `code` and the served trust set does not move."""
    before = _timestamp(shared)
    with pytest.raises(CityCreditError) as refused:
        upload()
    assert refused.value.code == code, refused.value
    assert _timestamp(shared) == before


def _hangzhou_role(shared: Shared, *signers: object) -> tuple[bytes, dict[str, bytes]]:
    office = shared.desk.office("hangzhou")
    keys, offers, policy = office.parts()
    metadata, files = city_metadata(keys=keys, offers=offers, policy=policy, version=office.role_version() + 1,
                                    now_s=int(time.time()))
    return sign_metadata(metadata, signers), files  # type: ignore[arg-type]


def _status_signed_by(shared: Shared, signer: object | None) -> bytes:
    current = status_pb2.StatusListUpdate.FromString(
        shared.http.get(f"/v1/cities/{HANGZHOU}/status-list").content)
    head = status_pb2.StatusListHead.FromString(current.list.head.body)
    head.version += 1
    body = head.SerializeToString(deterministic=True)
    part = sign_part(body, signer, STATUS_CONTEXT) if signer is not None else trust_pb2.SignedPart(body=body)
    return status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(
        head=part, list_zlib=current.list.list_zlib)).SerializeToString(deterministic=True)


def test_a_citys_role_signed_by_another_city_or_by_nobody_is_refused_with_its_token(shared: Shared) -> None:
    hangzhou = Uploader(shared.url, token=shared.token(HANGZHOU, "city_office"))
    quzhou_authority = shared.desk.office("quzhou").keystore.signer(AUTHORITY_KEY)
    for signers in ((quzhou_authority,), ()):
        role, files = _hangzhou_role(shared, *signers)
        _refused(shared, "CC_BUNDLE_THRESHOLD", lambda r=role, f=files: hangzhou.city_parts(HANGZHOU, r, f))
    # Another city's genuinely signed role is not this office's to upload, nor a merchant's.
    quzhou = shared.desk.office("quzhou")
    role, files, _ = quzhou.signed_role(now_s=int(time.time()))
    _refused(shared, "CC_PERMISSION_DENIED", lambda: hangzhou.city_parts(QUZHOU, role, files))
    merchant = Uploader(shared.url, token=shared.token(QUZHOU))
    _refused(shared, "CC_PERMISSION_DENIED", lambda: merchant.city_parts(QUZHOU, role, files))
    _refused(shared, "CC_UNAUTHENTICATED", lambda: Uploader(shared.url, token="ccs_guess").city_parts(
        QUZHOU, role, files))
    # A city uploads only its own parts: Quzhou's files under Hangzhou's role are refused before any signature.
    own, own_files = _hangzhou_role(shared, shared.desk.office("hangzhou").keystore.signer(AUTHORITY_KEY))
    _refused(shared, "CC_INVALID_ARGUMENT", lambda: hangzhou.city_parts(HANGZHOU, own, {**own_files, **files}))


def test_a_status_list_signed_by_another_city_or_by_nobody_is_refused_with_its_token(shared: Shared) -> None:
    hangzhou = Uploader(shared.url, token=shared.token(HANGZHOU, "city_office"))
    for signer in (shared.desk.office("quzhou").status_signer(),
                   shared.desk.office("quzhou").keystore.signer(AUTHORITY_KEY), None):
        forged = _status_signed_by(shared, signer)
        _refused(shared, "CC_BUNDLE_MALFORMED", lambda f=forged: hangzhou.status_list(HANGZHOU, f))
    before = shared.http.get(f"/v1/cities/{HANGZHOU}/status-list").headers["x-status-list-version"]
    genuine = _status_signed_by(shared, shared.desk.office("hangzhou").status_signer())
    _refused(shared, "CC_PERMISSION_DENIED", lambda: Uploader(
        shared.url, token=shared.token(QUZHOU, "city_office")).status_list(HANGZHOU, genuine))
    assert shared.http.get(f"/v1/cities/{HANGZHOU}/status-list").headers["x-status-list-version"] == before


def test_a_merchant_grant_signed_by_another_city_or_by_nobody_is_refused_with_its_token(shared: Shared) -> None:
    hangzhou = Uploader(shared.url, token=shared.token(HANGZHOU, "city_office"))
    quzhou = shared.desk.office("quzhou")
    first17 = "91330100MA7654321"
    _, foreign = quzhou.grant_merchant(merchant_id=first17 + uscc_check_character(first17), name="x", venues=(),
                                       token="ccm_foreign-grant-token", now_s=int(time.time()))
    body = trust_pb2.SignedPart.FromString(foreign).body
    grant = trust_pb2.MerchantGrant.FromString(body)
    grant.city = HANGZHOU  # claims to be Hangzhou's, signed by Quzhou's status key
    claimed = trust_pb2.SignedPart.FromString(foreign)
    claimed.body = grant.SerializeToString(deterministic=True)
    claimed.signature = quzhou.status_signer().sign(MERCHANT_CONTEXT + claimed.body)
    unsigned = trust_pb2.SignedPart(body=claimed.body).SerializeToString()
    for data in (claimed.SerializeToString(), unsigned):
        _refused(shared, "CC_PERMISSION_DENIED", lambda d=data: hangzhou.merchant_grant(HANGZHOU, d))
    with httpx.Client(base_url=shared.url) as http:
        assert http.get("/v1/merchant", headers={"Authorization": "Bearer ccm_foreign-grant-token"}).status_code == 401


def test_an_agreement_needs_every_bound_citys_signature_whoever_uploads_it(shared: Shared) -> None:
    repository = shared.alliance.gateway.replica.published.repository
    current: Metadata[Targets] = Metadata.from_bytes(repository.roles["agreement-hangzhou-quzhou"])
    body = repository.targets_files["agreements/hangzhou-quzhou.pb"]
    metadata, files = agreement_metadata(body, "hangzhou-quzhou", version=current.signed.version + 1,
                                         now_s=int(time.time()), ttl_s=86400 * 30)
    unsigned = sign_metadata(metadata, [])
    only_hangzhou = shared.desk.office("hangzhou").cosign(unsigned)
    only_quzhou = shared.desk.office("quzhou").cosign(unsigned)
    twice_hangzhou = shared.desk.office("hangzhou").cosign(only_hangzhou)
    wenzhou_instead = shared.desk.office("wenzhou").cosign(only_hangzhou)
    for token in (shared.token(HANGZHOU, "city_office"), shared.token(QUZHOU, "city_office")):
        uploader = Uploader(shared.url, token=token)
        for role in (unsigned, only_hangzhou, only_quzhou, twice_hangzhou, wenzhou_instead):
            _refused(shared, "CC_BUNDLE_THRESHOLD", lambda u=uploader, r=role: u.agreement("hangzhou-quzhou", r, files))
    # An office of a city the agreement does not bind may not upload it at all.
    both = shared.desk.office("quzhou").cosign(only_hangzhou)
    _refused(shared, "CC_PERMISSION_DENIED", lambda: Uploader(
        shared.url, token=shared.token(WENZHOU, "city_office")).agreement("hangzhou-quzhou", both, files))


def test_the_governance_upload_needs_the_threshold(shared: Shared) -> None:
    repository = shared.alliance.gateway.replica.published.repository
    targets: Metadata[Targets] = Metadata.from_bytes(repository.targets)
    targets.signed.version += 1
    home = DemoHome(shared.home)
    with home.store("governance/member-1/keys") as member:
        one = sign_metadata(targets, [member.signer("governance")])  # 1 of the 3, the threshold is 2
    for token in (None, shared.token(HANGZHOU, "city_office")):
        _refused(shared, "CC_BUNDLE_THRESHOLD", lambda t=token: Uploader(shared.url, token=t).governance(
            targets=one, root=None, files={}))


def test_a_city_offices_own_signed_upload_is_accepted(shared: Shared) -> None:
    """The control: the same routes take what the city signed, and the trust set moves."""
    office = shared.desk.office("hangzhou")
    before = json.loads(_timestamp(shared))["signed"]["version"]
    entry = office.new_code_key(Algorithm.P256, now_s=int(time.time()))
    role, files, _ = office.signed_role(now_s=int(time.time()))
    answer = Uploader(shared.url, token=shared.token(HANGZHOU, "city_office")).city_parts(HANGZHOU, role, files)
    assert answer["snapshot_version"] > 0 and json.loads(_timestamp(shared))["signed"]["version"] == before + 1
    served = Metadata.from_bytes(shared.http.get(f"/v1/trust/{Metadata.from_bytes(role).signed.version}"
                                                 ".city-330100.json").content)
    assert served.to_bytes() == Metadata.from_bytes(role).to_bytes()
    issuer = Issuer(city=HANGZHOU, key=office.keystore.signer(entry.name), pseudonym=hmac_sha256(bytes(32)))
    code = issuer.issue(holder_ref="new-key", tier=Tier.GOOD, band="b", now_s=int(time.time()), audience=QUZHOU).code
    assert shared.http.post("/v1/codes:verify", json={"code": code}).json()["valid"] is True
