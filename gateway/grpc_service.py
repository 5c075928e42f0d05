"""The gRPC surface (grpc.aio): the `citycredit.v1` services over the same `GatewayService`.

A refused request ends with the catalogue error's gRPC status, its message as the
status details and the code in the trailing metadata key `cc-error-code`.
Credentials travel as `authorization: Bearer …` metadata. Standard health
checking and server reflection are served beside the services.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
from citycredit._gen.citycredit.v1 import bundle_pb2, service_pb2, service_pb2_grpc
from citycredit.core import Algorithm, Offer, from_proto, to_proto, verification_to_proto
from citycredit.errors import CityCreditError, InvalidArgumentError
from citycredit.gateway.auth import Principal, bearer_token
from citycredit.gateway.offload import Batcher
from citycredit.gateway.service import GatewayService
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

__all__ = ["ERROR_CODE_KEY", "SERVICE_NAMES", "add_services"]

log = logging.getLogger("citycredit.gateway.access")
T = TypeVar("T")
ERROR_CODE_KEY = "cc-error-code"
SERVICE_NAMES = tuple(s.full_name for s in service_pb2.DESCRIPTOR.services_by_name.values())


class _Base:
    def __init__(self, service: GatewayService) -> None:
        self.service = service

    async def _run(self, context: grpc.aio.ServicerContext, op: str, fn: Callable[[], T], *,
                   thread: bool = True) -> T:
        """Run one operation (in a worker thread when it touches the database); map refusals to statuses."""
        if thread:
            return await self._await(context, op, asyncio.get_running_loop().run_in_executor(self.service.executor, fn))
        started = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:
            await self._refuse(context, op, exc, started)
            raise  # pragma: no cover - _refuse raises
        self._record(op, "OK", time.perf_counter() - started)
        return result

    async def _await(self, context: grpc.aio.ServicerContext, op: str, answer: Awaitable[T]) -> T:
        """The answer of one operation under way; refusals mapped to statuses."""
        started = time.perf_counter()
        try:
            result = await answer
        except Exception as exc:
            await self._refuse(context, op, exc, started)
            raise  # pragma: no cover - _refuse raises
        self._record(op, "OK", time.perf_counter() - started)
        return result

    async def _refuse(self, context: grpc.aio.ServicerContext, op: str, exc: Exception, started: float) -> None:
        """End the call for `exc`: a catalogue error with its status, anything else as INTERNAL, logged."""
        if isinstance(exc, CityCreditError):
            self._record(op, exc.grpc_status, time.perf_counter() - started)
            await _abort(context, exc)
        if type(exc).__module__.startswith("grpc"):  # the call has already ended (aborted)
            self._record(op, "ABORTED", time.perf_counter() - started)
            raise exc
        self._record(op, "INTERNAL", time.perf_counter() - started)
        log.error("unhandled error", exc_info=exc, extra={"fields": {"surface": "grpc", "op": op}})
        await _abort(context, CityCreditError("the gateway failed to handle this request"))

    def _record(self, op: str, code: str, elapsed: float) -> None:
        metrics = self.service.metrics
        metrics.inc("citycredit_requests_total", surface="grpc", op=op, code=code)
        metrics.observe("citycredit_request_seconds", elapsed, surface="grpc", op=op)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"fields": {"surface": "grpc", "op": op, "status": code,
                                                  "ms": round(elapsed * 1000, 2)}})

    def _caller(self, context: grpc.aio.ServicerContext) -> Principal:
        header = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode(errors="replace")
        return self.service.authenticate(bearer_token(header))


async def _abort(context: grpc.aio.ServicerContext, err: CityCreditError) -> None:
    await context.abort(getattr(grpc.StatusCode, err.grpc_status, grpc.StatusCode.INTERNAL), err.message,
                        trailing_metadata=((ERROR_CODE_KEY, err.code),))


class TrustServicer(_Base, service_pb2_grpc.TrustServiceServicer):
    async def GetTrustBundle(self, request: service_pb2.GetTrustBundleRequest,
                             context: grpc.aio.ServicerContext) -> service_pb2.GetTrustBundleResponse:
        def run() -> service_pb2.GetTrustBundleResponse:
            published = self.service.published
            if request.known_version == published.version:
                return service_pb2.GetTrustBundleResponse(not_modified=True, version=published.version)
            return service_pb2.GetTrustBundleResponse(version=published.version,
                                                      bundle=bundle_pb2.TrustBundle.FromString(published.data))

        return await self._run(context, "GetTrustBundle", run, thread=False)


class VerificationServicer(_Base, service_pb2_grpc.VerificationServiceServicer):
    """One code per call is verified on the event loop: a thread hop costs more CPU than it frees there.
    A stream's codes go to the verification threads in batches (`offload.Batcher`) while the loop keeps
    reading and writing the stream's messages."""

    # Stream messages read ahead of the answers written: enough to keep the verification threads busy.
    STREAM_WINDOW = 256

    def __init__(self, service: GatewayService) -> None:
        super().__init__(service)
        self._verdicts = Batcher(self._verify, service.verify_executor)

    def _verify_readable(self, request: service_pb2.VerifyCodeRequest) -> service_pb2.VerifyCodeResponse:
        return service_pb2.VerifyCodeResponse(
            verification=verification_to_proto(self.service.verify_readable(request.code, at_s=request.at or None)))

    def _verify(self, request: service_pb2.VerifyCodeStreamRequest) -> service_pb2.VerifyCodeStreamResponse:
        return service_pb2.VerifyCodeStreamResponse(
            verification=verification_to_proto(self.service.verify(request.code, at_s=request.at or None)))

    async def VerifyCode(self, request: service_pb2.VerifyCodeRequest,
                         context: grpc.aio.ServicerContext) -> service_pb2.VerifyCodeResponse:
        return await self._run(context, "VerifyCode", lambda: self._verify_readable(request), thread=False)

    async def VerifyCodes(self, request: service_pb2.VerifyCodesRequest,
                          context: grpc.aio.ServicerContext) -> service_pb2.VerifyCodesResponse:
        def run() -> service_pb2.VerifyCodesResponse:
            limit = self.service.config.max_batch
            if len(request.codes) > limit:
                raise InvalidArgumentError(f"at most {limit} codes per batch")
            at = request.at or None
            return service_pb2.VerifyCodesResponse(
                verifications=[verification_to_proto(self.service.verify(c, at_s=at)) for c in request.codes])

        return await self._run(context, "VerifyCodes", run, thread=False)

    async def VerifyCodeStream(
            self, request_iterator: AsyncIterator[service_pb2.VerifyCodeStreamRequest],
            context: grpc.aio.ServicerContext) -> AsyncIterator[service_pb2.VerifyCodeStreamResponse]:
        """Answers in request order; reading, verifying and writing overlap, within `STREAM_WINDOW` messages."""
        started = time.perf_counter()
        answers: collections.deque[asyncio.Future[service_pb2.VerifyCodeStreamResponse]] = collections.deque()
        changed = asyncio.Event()  # an answer was queued, one was written, or the requests ended
        ended = False

        async def read() -> None:
            nonlocal ended
            try:
                async for request in request_iterator:
                    while len(answers) >= self.STREAM_WINDOW:
                        changed.clear()
                        await changed.wait()
                    answers.append(self._verdicts.submit(request))
                    changed.set()
            finally:
                ended = True
                changed.set()

        reader = asyncio.ensure_future(read())
        try:
            while answers or not ended:
                if not answers:
                    changed.clear()
                    await changed.wait()
                    continue
                answer = await answers.popleft()
                changed.set()
                yield answer
            await reader  # a failed read ends the call with its error
        finally:
            reader.cancel()
            for pending in answers:
                pending.cancel()
        self._record("VerifyCodeStream", "OK", time.perf_counter() - started)


class EligibilityServicer(_Base, service_pb2_grpc.EligibilityServiceServicer):
    async def ListOffers(self, request: service_pb2.ListOffersRequest,
                         context: grpc.aio.ServicerContext) -> service_pb2.ListOffersResponse:
        return await self._run(context, "ListOffers", lambda: service_pb2.ListOffersResponse(
            offers=[to_proto(o) for o in self.service.offers(request.city or None)]), thread=False)

    async def CheckEligibility(self, request: service_pb2.CheckEligibilityRequest,
                               context: grpc.aio.ServicerContext) -> service_pb2.CheckEligibilityResponse:
        return await self._run(context, "CheckEligibility", lambda: service_pb2.CheckEligibilityResponse(
            decision=to_proto(self.service.check(request.code, request.offer_id, at_s=request.at or None))))


class RedemptionServicer(_Base, service_pb2_grpc.RedemptionServiceServicer):
    async def Redeem(self, request: service_pb2.RedeemRequest,
                     context: grpc.aio.ServicerContext) -> service_pb2.RedeemResponse:
        def run() -> service_pb2.RedeemResponse:
            outcome = self.service.redeem(self._caller(context), code=request.code, offer_id=request.offer_id,
                                          idempotency_key=request.idempotency_key)
            return service_pb2.RedeemResponse(decision=to_proto(outcome.decision),
                                              redemption_id=outcome.redemption_id or "", replayed=outcome.replayed)

        return await self._run(context, "Redeem", run)


class IssuanceServicer(_Base, service_pb2_grpc.IssuanceServiceServicer):
    async def IssueCode(self, request: service_pb2.IssueCodeRequest,
                        context: grpc.aio.ServicerContext) -> service_pb2.IssueCodeResponse:
        def run() -> service_pb2.IssueCodeResponse:
            caller = self._caller(context)
            try:
                record = json.loads(request.local_record_json or "null")
            except ValueError:
                raise InvalidArgumentError("local_record_json is not valid JSON") from None
            if not isinstance(record, dict):
                raise InvalidArgumentError('local_record_json is a JSON object such as {"score": 720}')
            issued = self.service.issue(caller, city=request.city, holder_ref=request.holder_ref,
                                        local_record=record, ttl_s=request.ttl_s)
            return service_pb2.IssueCodeResponse(code=issued.code, tier=int(issued.tier), band=issued.band,  # type: ignore[arg-type]
                                                 expires_at=issued.expires_at_s)

        return await self._run(context, "IssueCode", run)


class AdminServicer(_Base, service_pb2_grpc.AdminServiceServicer):
    async def PublishKey(self, request: service_pb2.PublishKeyRequest,
                         context: grpc.aio.ServicerContext) -> service_pb2.PublishKeyResponse:
        def run() -> service_pb2.PublishKeyResponse:
            caller = self._caller(context)
            try:
                algorithm = Algorithm(request.key.algorithm)
            except ValueError:
                raise InvalidArgumentError("key.algorithm is unspecified or unknown") from None
            version, _kid = self.service.publish_key(caller, city=request.city, algorithm=algorithm,
                                                     spki=request.key.spki,
                                                     not_before_s=request.key.not_before or None)
            return service_pb2.PublishKeyResponse(bundle_version=version)

        return await self._run(context, "PublishKey", run)

    async def RetireKey(self, request: service_pb2.RetireKeyRequest,
                        context: grpc.aio.ServicerContext) -> service_pb2.RetireKeyResponse:
        def run() -> service_pb2.RetireKeyResponse:
            caller = self._caller(context)
            if len(request.kid) != 8:
                raise InvalidArgumentError("kid is 8 bytes")
            version = self.service.retire_key(caller, city=request.city, kid=request.kid,
                                              not_after_s=request.not_after or None)
            return service_pb2.RetireKeyResponse(bundle_version=version)

        return await self._run(context, "RetireKey", run)

    async def PublishOffer(self, request: service_pb2.PublishOfferRequest,
                           context: grpc.aio.ServicerContext) -> service_pb2.PublishOfferResponse:
        def run() -> service_pb2.PublishOfferResponse:
            caller = self._caller(context)
            version = self.service.publish_offer(caller, from_proto(Offer, request.offer))
            return service_pb2.PublishOfferResponse(bundle_version=version)

        return await self._run(context, "PublishOffer", run)

    async def RevokeCodes(self, request: service_pb2.RevokeCodesRequest,
                          context: grpc.aio.ServicerContext) -> service_pb2.RevokeCodesResponse:
        def run() -> service_pb2.RevokeCodesResponse:
            caller = self._caller(context)
            version = self.service.revoke(caller, city=request.city, status_indexes=list(request.status_indexes),
                                          holders=[(h.holder, h.cutoff) for h in request.holders])
            return service_pb2.RevokeCodesResponse(bundle_version=version)

        return await self._run(context, "RevokeCodes", run)


async def add_services(server: grpc.aio.Server, service: GatewayService) -> health.aio.HealthServicer:
    """Register the citycredit services, health checking and reflection; returns the health servicer."""
    service_pb2_grpc.add_TrustServiceServicer_to_server(TrustServicer(service), server)
    service_pb2_grpc.add_VerificationServiceServicer_to_server(VerificationServicer(service), server)
    service_pb2_grpc.add_EligibilityServiceServicer_to_server(EligibilityServicer(service), server)
    service_pb2_grpc.add_RedemptionServiceServicer_to_server(RedemptionServicer(service), server)
    service_pb2_grpc.add_IssuanceServiceServicer_to_server(IssuanceServicer(service), server)
    service_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(service), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return health_servicer

