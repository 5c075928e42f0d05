"""The gRPC surface over a real server: same answers as REST, statuses with `cc-error-code`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import httpx
import pytest
from citycredit._gen.citycredit.v1 import bundle_pb2, offer_pb2, service_pb2, service_pb2_grpc
from citycredit.core import SigningKey, b45decode, b45encode
from citycredit.gateway import Gateway
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, issue


@pytest.fixture(scope="module")
def channel(gateway: Gateway) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.grpc_target) as ch:
        yield ch


def _auth(gateway: Gateway, city: int, kind: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {gateway.token(city, kind)}"),)


def _error_code(err: grpc.RpcError) -> str:
    return dict(err.trailing_metadata() or ()).get("cc-error-code", "")  # type: ignore[attr-defined]


def test_trust_bundle_and_not_modified(channel: grpc.Channel, http: httpx.Client) -> None:
    stub = service_pb2_grpc.TrustServiceStub(channel)
    full = stub.GetTrustBundle(service_pb2.GetTrustBundleRequest())
    assert not full.not_modified and full.version >= 1
    body = bundle_pb2.BundleBody.FromString(full.bundle.body)
    assert body.version == full.version
    same = stub.GetTrustBundle(service_pb2.GetTrustBundleRequest(known_version=full.version))
    assert same.not_modified and not same.HasField("bundle")


def test_verify_unary_batch_and_stream(channel: grpc.Channel, http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway, record={"score": 720})["code"]
    stub = service_pb2_grpc.VerificationServiceStub(channel)
    one = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=code)).verification
    assert one.valid and one.city == HANGZHOU and one.tier == 5 and len(one.holder) == 16
    with pytest.raises(grpc.RpcError) as unreadable:  # not a credit code at all: a request error
        stub.VerifyCode(service_pb2.VerifyCodeRequest(code="CC1:x"))
    assert unreadable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(unreadable.value.trailing_metadata())["cc-error-code"] == "CC_BASE45"
    raw = b45decode(code[4:])
    forged = "CC1:" + b45encode(raw[:-1] + bytes([raw[-1] ^ 1]))
    bad = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=forged)).verification
    assert not bad.valid and bad.error.code == "CC_SIGNATURE_INVALID"
    many = stub.VerifyCodes(service_pb2.VerifyCodesRequest(codes=[code, "nope"])).verifications
    assert [v.valid for v in many] == [True, False]
    stream = stub.VerifyCodeStream(iter([service_pb2.VerifyCodeStreamRequest(code=c) for c in (code, "x", code)]))
    assert [r.verification.valid for r in stream] == [True, False, True]
    with pytest.raises(grpc.RpcError) as err:
        stub.VerifyCodes(service_pb2.VerifyCodesRequest(codes=["x"] * 1001))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and _error_code(err.value) == "CC_INVALID_ARGUMENT"


def test_a_long_stream_answers_every_code_in_order(channel: grpc.Channel, http: httpx.Client,
                                                  gateway: Gateway) -> None:
    """More messages than the server reads ahead, valid and refused interleaved: answers keep request order."""
    codes = [issue(http, gateway, record={"score": 720})["code"] for _ in range(3)]
    sent = [codes[i % 3] if i % 4 else f"CC1:not-{i}" for i in range(700)]
    stub = service_pb2_grpc.VerificationServiceStub(channel)
    answers = list(stub.VerifyCodeStream(iter([service_pb2.VerifyCodeStreamRequest(code=c) for c in sent])))
    assert [a.verification.valid for a in answers] == [bool(i % 4) for i in range(700)]
    assert {a.verification.city for a in answers if a.verification.valid} == {HANGZHOU}
    assert list(stub.VerifyCodeStream(iter([]))) == []


def test_offers_check_and_redeem(channel: grpc.Channel, http: httpx.Client, gateway: Gateway) -> None:
    code = issue(http, gateway)["code"]
    eligibility = service_pb2_grpc.EligibilityServiceStub(channel)
    offers = eligibility.ListOffers(service_pb2.ListOffersRequest(city=QUZHOU)).offers
    assert QUOTA_OFFER in {o.id for o in offers} and {o.city for o in offers} == {QUZHOU}
    decision = eligibility.CheckEligibility(service_pb2.CheckEligibilityRequest(code=code, offer_id=QUOTA_OFFER))
    assert decision.decision.eligible and decision.decision.quota_remaining == 2
    # the same decision as REST
    rest = http.post("/v1/eligibility:check", json={"code": code, "offer_id": QUOTA_OFFER}).json()
    assert rest["eligible"] and rest["agreement"] == decision.decision.agreement_id

    redemption = service_pb2_grpc.RedemptionServiceStub(channel)
    request = service_pb2.RedeemRequest(code=code, offer_id=QUOTA_OFFER, idempotency_key="grpc-1")
    first = redemption.Redeem(request, metadata=_auth(gateway, QUZHOU, "merchant"))
    assert first.decision.eligible and first.redemption_id and not first.replayed
    again = redemption.Redeem(request, metadata=_auth(gateway, QUZHOU, "merchant"))
    assert again.replayed and again.redemption_id == first.redemption_id
    assert again.decision == first.decision

    with pytest.raises(grpc.RpcError) as err:
        eligibility.CheckEligibility(service_pb2.CheckEligibilityRequest(code=code, offer_id="nothing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and _error_code(err.value) == "CC_OFFER_UNKNOWN"


def test_credentials_are_checked(channel: grpc.Channel, gateway: Gateway) -> None:
    redemption = service_pb2_grpc.RedemptionServiceStub(channel)
    request = service_pb2.RedeemRequest(code="x", offer_id=QUOTA_OFFER, idempotency_key="grpc-auth")
    for metadata in ((), (("authorization", "Bearer ccm_unknown"),)):
        with pytest.raises(grpc.RpcError) as err:
            redemption.Redeem(request, metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _error_code(err.value) == "CC_UNAUTHENTICATED"
    admin = service_pb2_grpc.AdminServiceStub(channel)
    key = bundle_pb2.PublicKey(algorithm=bundle_pb2.KEY_ALGORITHM_ED25519, spki=SigningKey.generate().spki)
    for city, kind in ((QUZHOU, "city_office"), (HANGZHOU, "merchant")):
        with pytest.raises(grpc.RpcError) as err:
            admin.PublishKey(service_pb2.PublishKeyRequest(city=HANGZHOU, key=key), metadata=_auth(gateway, city, kind))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _error_code(err.value) == "CC_PERMISSION_DENIED"


def test_issue_and_administer(channel: grpc.Channel, gateway: Gateway) -> None:
    office = _auth(gateway, HANGZHOU, "city_office")
    issued = service_pb2_grpc.IssuanceServiceStub(channel).IssueCode(service_pb2.IssueCodeRequest(
        city=HANGZHOU, holder_ref="grpc-holder", local_record_json=json.dumps({"score": 610})), metadata=office)
    assert issued.code.startswith("CC1:") and issued.tier == 4
    with pytest.raises(grpc.RpcError) as err:
        service_pb2_grpc.IssuanceServiceStub(channel).IssueCode(service_pb2.IssueCodeRequest(
            city=HANGZHOU, holder_ref="x", local_record_json="{broken"), metadata=office)
    assert _error_code(err.value) == "CC_INVALID_ARGUMENT"

    admin = service_pb2_grpc.AdminServiceStub(channel)
    new_key = SigningKey.generate()
    published = admin.PublishKey(service_pb2.PublishKeyRequest(city=HANGZHOU, key=bundle_pb2.PublicKey(
        algorithm=bundle_pb2.KEY_ALGORITHM_ED25519, spki=new_key.spki)), metadata=office)
    retired = admin.RetireKey(service_pb2.RetireKeyRequest(city=HANGZHOU, kid=new_key.kid), metadata=office)
    assert retired.bundle_version > published.bundle_version
    offer = offer_pb2.Offer(id="hangzhou-grpc-offer", city=HANGZHOU, category=offer_pb2.CATEGORY_DINING,
                            min_tier=4, title_zh="测试", benefit=offer_pb2.Benefit(
                                kind=offer_pb2.BENEFIT_KIND_DISCOUNT, discount_percent=10, text_zh="九折"))
    assert admin.PublishOffer(service_pb2.PublishOfferRequest(offer=offer), metadata=office).bundle_version
    with pytest.raises(grpc.RpcError) as err:
        admin.PublishOffer(service_pb2.PublishOfferRequest(offer=offer_pb2.Offer(id="x")), metadata=office)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    revoked = admin.RevokeCodes(service_pb2.RevokeCodesRequest(
        city=HANGZHOU, status_indexes=[7], holders=[bundle_pb2.HolderRevocation(holder=b"h" * 16, cutoff=1)]),
        metadata=office)
    assert revoked.bundle_version > retired.bundle_version


def test_oversized_messages_are_refused(channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.VerificationServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.VerifyCodes(service_pb2.VerifyCodesRequest(codes=["A" * 1000] * 100))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", "citycredit.v1.VerificationService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=name)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for answer in answers for s in answer.list_services_response.service}
    assert {"citycredit.v1.VerificationService", "citycredit.v1.AdminService", "grpc.health.v1.Health"} <= names
