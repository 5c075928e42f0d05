"""The gRPC surface against a real gateway on loopback: the trust set's files and status lists, verification
(one, many, streamed), offers, checks and redemptions, and refusals that always carry `cc-error-code`,
undecodable messages included (INVALID_ARGUMENT, never UNKNOWN with a Python exception in the details)."""

from __future__ import annotations

import time

import grpc
import pytest
from citycredit import GatewayClient
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc
from citycredit.core import Algorithm, SigningKey, Tier
from citycredit.errors import IdempotencyMismatchError

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, Shared, assert_grpc_refusal

SERVICES = ("TrustService", "VerificationService", "EligibilityService", "RedemptionService")
# Bytes no request message decodes from: a field tag whose varint never ends; a field 1 string not in UTF-8.
ENDLESS_VARINT, NOT_UTF8 = b"\xff\xff\xff\xff\xff", b"\x0a\x02\xff\xfe"


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_trust_files_and_status_lists_over_grpc_are_what_rest_serves(shared: Shared, channel: grpc.Channel) -> None:
    trust = service_pb2_grpc.TrustServiceStub(channel)
    for path in ("timestamp.json", "1.root.json"):
        served = trust.GetTrustFile(service_pb2.GetTrustFileRequest(path=path), timeout=30).data
        assert served == shared.http.get(f"/v1/trust/{path}").content
    with pytest.raises(grpc.RpcError) as missing:
        trust.GetTrustFile(service_pb2.GetTrustFileRequest(path="../seed.json"), timeout=30)
    assert_grpc_refusal(missing.value, grpc.StatusCode.NOT_FOUND, "CC_NOT_FOUND")

    whole = trust.GetStatusList(service_pb2.GetStatusListRequest(city=HANGZHOU), timeout=30)
    rest = shared.http.get(f"/v1/cities/{HANGZHOU}/status-list")
    assert whole.version == int(rest.headers["x-status-list-version"]) and not whole.not_modified
    assert whole.update.SerializeToString(deterministic=True) == rest.content
    held = trust.GetStatusList(service_pb2.GetStatusListRequest(city=HANGZHOU, known_version=whole.version),
                               timeout=30)
    assert held.not_modified and held.version == whole.version and not held.HasField("update")
    with pytest.raises(grpc.RpcError) as unknown:
        trust.GetStatusList(service_pb2.GetStatusListRequest(city=999999), timeout=30)
    assert_grpc_refusal(unknown.value, grpc.StatusCode.NOT_FOUND, "CC_CITY_UNKNOWN")
    with pytest.raises(grpc.RpcError) as retired:
        trust.GetTrustBundle(service_pb2.GetTrustBundleRequest(), timeout=30)
    assert_grpc_refusal(retired.value, grpc.StatusCode.FAILED_PRECONDITION, "CC_RETIRED")


def test_verification_over_grpc_one_many_and_streamed(shared: Shared, channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.VerificationServiceStub(channel)
    issued = shared.desk.code(tier=Tier.OUTSTANDING)
    one = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=issued.code), timeout=30).verification
    assert one.valid and one.city == HANGZHOU and one.audience == QUZHOU and one.holder == issued.holder
    early = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=issued.code, at=issued.issued_at_s - 60),
                            timeout=30).verification
    assert not early.valid and early.error.code == "CC_NOT_YET_VALID"
    with pytest.raises(grpc.RpcError) as unreadable:
        stub.VerifyCode(service_pb2.VerifyCodeRequest(code="XX1:not-a-code"), timeout=30)
    assert_grpc_refusal(unreadable.value, grpc.StatusCode.INVALID_ARGUMENT, "CC_PREFIX")

    limit = shared.alliance.gateway.config.max_batch
    codes = shared.desk.many("hangzhou", limit)
    many = stub.VerifyCodes(service_pb2.VerifyCodesRequest(codes=codes), timeout=60).verifications
    assert len(many) == limit and all(v.valid for v in many)
    with pytest.raises(grpc.RpcError) as too_many:
        stub.VerifyCodes(service_pb2.VerifyCodesRequest(codes=[*codes, codes[0]]), timeout=60)
    assert_grpc_refusal(too_many.value, grpc.StatusCode.INVALID_ARGUMENT, "CC_INVALID_ARGUMENT")

    mixed = [*codes[:20], "XX1:", issued.code]
    answers = list(stub.VerifyCodeStream(iter(service_pb2.VerifyCodeStreamRequest(code=c) for c in mixed),
                                         timeout=60))
    assert [a.verification.valid for a in answers] == [True] * 20 + [False, True]
    assert answers[20].verification.error.code == "CC_PREFIX" and answers[21].verification.holder == issued.holder


def test_presentations_over_grpc_are_refused_when_replayed_at_a_venue(shared: Shared, channel: grpc.Channel) -> None:
    stub = service_pb2_grpc.VerificationServiceStub(channel)
    device = SigningKey.generate(Algorithm.ED25519)
    issued = shared.desk.code(device=device)
    presentation = shared.desk.presentation(issued, device)
    first = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=presentation, venue="grpc-till"), timeout=30)
    assert first.verification.valid and first.verification.device_bound
    again = stub.VerifyCode(service_pb2.VerifyCodeRequest(code=presentation, venue="grpc-till"), timeout=30)
    assert again.verification.error.code == "CC_PRESENTATION_REPLAYED"
    # The REST surface shares the same record of what was seen.
    assert shared.http.post("/v1/codes:verify", json={"code": presentation, "venue": "grpc-till"}).json()[
        "error"]["code"] == "CC_PRESENTATION_REPLAYED"


def test_offers_checks_and_redemptions_over_grpc(shared: Shared, channel: grpc.Channel) -> None:
    eligibility = service_pb2_grpc.EligibilityServiceStub(channel)
    redemption = service_pb2_grpc.RedemptionServiceStub(channel)
    offers = eligibility.ListOffers(service_pb2.ListOffersRequest(city=QUZHOU), timeout=30).offers
    assert QUOTA_OFFER in {o.id for o in offers} and {o.city for o in offers} == {QUZHOU}
    issued = shared.desk.code()
    decision = eligibility.CheckEligibility(service_pb2.CheckEligibilityRequest(
        code=issued.code, offer_id=QUOTA_OFFER), timeout=30).decision
    assert decision.eligible and decision.quota_remaining == 2
    with pytest.raises(grpc.RpcError) as unknown:
        eligibility.CheckEligibility(service_pb2.CheckEligibilityRequest(code=issued.code, offer_id="nope"),
                                     timeout=30)
    assert_grpc_refusal(unknown.value, grpc.StatusCode.NOT_FOUND, "CC_OFFER_UNKNOWN")

    merchant = _metadata(shared.token(QUZHOU))
    request = service_pb2.RedeemRequest(code=issued.code, offer_id=QUOTA_OFFER, idempotency_key="grpc-scan-1")
    first = redemption.Redeem(request, metadata=merchant, timeout=30)
    assert first.redemption_id and not first.replayed and first.decision.quota_remaining == 2
    again = redemption.Redeem(request, metadata=merchant, timeout=30)
    assert again.replayed and again.redemption_id == first.redemption_id
    with pytest.raises(grpc.RpcError) as mismatch:
        redemption.Redeem(service_pb2.RedeemRequest(code=issued.code, offer_id="quzhou-hospital-deposit-waived",
                                                    idempotency_key="grpc-scan-1"), metadata=merchant, timeout=30)
    assert_grpc_refusal(mismatch.value, grpc.StatusCode.INVALID_ARGUMENT, "CC_IDEMPOTENCY_MISMATCH")
    for metadata, key, status, code in (
            ((), "grpc-scan-2", grpc.StatusCode.UNAUTHENTICATED, "CC_UNAUTHENTICATED"),
            (_metadata("ccm_wrong"), "grpc-scan-2", grpc.StatusCode.UNAUTHENTICATED, "CC_UNAUTHENTICATED"),
            (_metadata(shared.token(HANGZHOU)), "grpc-scan-2", grpc.StatusCode.PERMISSION_DENIED,
             "CC_PERMISSION_DENIED"),
            (merchant, "", grpc.StatusCode.INVALID_ARGUMENT, "CC_INVALID_ARGUMENT"),
            (merchant, "has space", grpc.StatusCode.INVALID_ARGUMENT, "CC_INVALID_ARGUMENT")):
        with pytest.raises(grpc.RpcError) as refused:
            redemption.Redeem(service_pb2.RedeemRequest(code=issued.code, offer_id=QUOTA_OFFER, idempotency_key=key),
                              metadata=metadata or None, timeout=30)
        assert_grpc_refusal(refused.value, status, code)
    # An offline redemption (a past `at`) is refused for an offer that does not allow it.
    with pytest.raises(grpc.RpcError) as offline:
        redemption.Redeem(service_pb2.RedeemRequest(code=issued.code, offer_id=QUOTA_OFFER, idempotency_key="grpc-3",
                                                    at=int(time.time()) - 600), metadata=merchant, timeout=30)
    assert_grpc_refusal(offline.value, grpc.StatusCode.INVALID_ARGUMENT, "CC_INVALID_ARGUMENT")


def test_the_sdk_gets_the_same_answers_over_rest_and_grpc(shared: Shared) -> None:
    issued = shared.desk.code()
    with GatewayClient.rest(shared.url, api_key=shared.token(QUZHOU)) as rest, \
            GatewayClient.grpc(shared.grpc_target, api_key=shared.token(QUZHOU)) as rpc:
        assert rest.verify(issued.code) == rpc.verify(issued.code)
        assert rest.check(issued.code, QUOTA_OFFER) == rpc.check(issued.code, QUOTA_OFFER)
        assert [o.id for o in rest.offers(QUZHOU)] == [o.id for o in rpc.offers(QUZHOU)]
        assert rest.status_list(HANGZHOU).data == rpc.status_list(HANGZHOU).data
        spent = rpc.redeem(issued.code, QUOTA_OFFER, idempotency_key="both-1")
        replayed = rest.redeem(issued.code, QUOTA_OFFER, idempotency_key="both-1")
        assert replayed.replayed and replayed.redemption_id == spent.redemption_id
        with pytest.raises(IdempotencyMismatchError):
            rest.redeem(issued.code, "quzhou-hospital-deposit-waived", idempotency_key="both-1")


def _undecodable() -> list[tuple[str, bool, bytes]]:
    """(method, client-streaming, bytes) for every method: an endless varint always; a field 1 that is not
    UTF-8 where field 1 is a string (elsewhere protobuf keeps such a field as an unknown one)."""
    out = []
    for name in SERVICES:
        for method in service_pb2.DESCRIPTOR.services_by_name[name].methods:
            path = f"/citycredit.v1.{name}/{method.name}"
            out.append((path, method.client_streaming, ENDLESS_VARINT))
            first = method.input_type.fields_by_number.get(1)
            if first is not None and first.type == first.TYPE_STRING:
                out.append((path, method.client_streaming, NOT_UTF8))
    return out


@pytest.mark.parametrize(("method", "streaming", "garbage"), _undecodable(),
                         ids=[f"{m}-{'varint' if g == ENDLESS_VARINT else 'utf8'}" for m, _, g in _undecodable()])
def test_a_message_that_does_not_decode_is_invalid_argument_with_its_code(channel: grpc.Channel, method: str,
                                                                          streaming: bool, garbage: bytes) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        if streaming:
            call = channel.stream_stream(method)  # no serializers: the bytes go as they are
            list(call(iter([garbage]), timeout=30))
        else:
            channel.unary_unary(method)(garbage, timeout=30)
    assert_grpc_refusal(refused.value, grpc.StatusCode.INVALID_ARGUMENT, "CC_INVALID_ARGUMENT")
