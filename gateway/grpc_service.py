"""The gRPC surface (grpc.aio): the `citycredit.v1` services over the same `Replica` as REST.

A refused request ends with the catalogue error's gRPC status, its message as the status
details and the code in the trailing metadata key `cc-error-code`; a message that does
not decode is INVALID_ARGUMENT with `CC_INVALID_ARGUMENT`, like any other bad request.
Credentials travel as `authorization: Bearer …` metadata. Standard health checking and
server reflection are served beside the services. The deprecated single-bundle, issuance
and admin services of earlier versions are not served (issuance is the cities' own).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc, status_pb2
from citycredit.core import Decision, from_json, to_proto, verification_to_proto
from citycredit.errors import CityCreditError, InvalidArgumentError, NotFoundError, RetiredError
from citycredit.gateway.credentials import Principal
from citycredit.gateway.http import bearer_token
from citycredit.gateway.offload import Batcher
from citycredit.gateway.replica import Replica
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

__all__ = ["ERROR_CODE_KEY", "SERVICE_NAMES", "add_services"]

log = logging.getLogger("citycredit.gateway.access")
T = TypeVar("T")
ERROR_CODE_KEY = "cc-error-code"
_SERVED = ("TrustService", "VerificationService", "EligibilityService", "RedemptionService")
SERVICE_NAMES = tuple(f"citycredit.v1.{name}" for name in _SERVED)


class _Undecodable:
    """What a request that does not decode becomes, so that the handler can refuse it with a catalogue code."""


_UNDECODABLE = _Undecodable()


async def _abort(context: grpc.aio.ServicerContext, err: CityCreditError) -> None:
    await context.abort(getattr(grpc.StatusCode, err.grpc_status, grpc.StatusCode.INTERNAL), err.message,
                        trailing_metadata=((ERROR_CODE_KEY, err.code),))


class _Base:
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    async def _run(self, context: grpc.aio.ServicerContext, op: str, fn: Callable[[], T], *,
                   thread: bool = True) -> T:
        """Run one operation (in a worker thread when it touches the database); map refusals to statuses."""
        started = time.perf_counter()
        try:
            self.replica.admit(_peer(context))
            if thread:
                result = await asyncio.get_running_loop().run_in_executor(self.replica.executor, fn)
            else:
                result = fn()
        except Exception as exc:
            await self._refuse(context, op, exc, started)
            raise  # pragma: no cover - _refuse raises
        self.replica.metrics.request("grpc", op, "OK", time.perf_counter() - started)
        return result

    async def _refuse(self, context: grpc.aio.ServicerContext, op: str, exc: Exception, started: float) -> None:
        """End the call for `exc`: a catalogue error with its status, anything else as INTERNAL, logged."""
        elapsed = time.perf_counter() - started
        if isinstance(exc, CityCreditError):
            self.replica.metrics.request("grpc", op, exc.grpc_status, elapsed)
            await _abort(context, exc)
        if type(exc).__module__.startswith("grpc"):  # the call has already ended (aborted)
            self.replica.metrics.request("grpc", op, "ABORTED", elapsed)
            raise exc
        self.replica.metrics.request("grpc", op, "INTERNAL", elapsed)
        log.error("unhandled error", exc_info=exc, extra={"fields": {"surface": "grpc", "op": op}})
        await _abort(context, CityCreditError("the gateway failed to handle this request"))

    def _caller(self, context: grpc.aio.ServicerContext) -> Principal:
        header = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode(errors="replace")
        return self.replica.authenticate(bearer_token(header), _peer(context))


def _peer(context: grpc.aio.ServicerContext) -> str:
    """The client's address without its port ("ipv4:127.0.0.1:5555" -> "127.0.0.1")."""
    peer = context.peer() or "-"
    kind, _, rest = peer.partition(":")
    return rest.rpartition(":")[0] or peer if kind in ("ipv4", "ipv6") else peer


class TrustServicer(_Base, service_pb2_grpc.TrustServiceServicer):
    async def GetTrustFile(self, request: service_pb2.GetTrustFileRequest,
                           context: grpc.aio.ServicerContext) -> service_pb2.GetTrustFileResponse:
        def run() -> service_pb2.GetTrustFileResponse:
            data = self.replica.publisher.file(request.path)
            if data is None:
                raise NotFoundError(f"the trust set has no file {request.path!r}")
            return service_pb2.GetTrustFileResponse(data=data)

        return await self._run(context, "GetTrustFile", run)

    async def GetStatusList(self, request: service_pb2.GetStatusListRequest,
                            context: grpc.aio.ServicerContext) -> service_pb2.GetStatusListResponse:
        def run() -> service_pb2.GetStatusListResponse:
            served = self.replica.publisher.status_list(self.replica.city(request.city),
                                                        known_version=request.known_version)
            if served.data is None:
                return service_pb2.GetStatusListResponse(not_modified=True, version=served.version)
            return service_pb2.GetStatusListResponse(version=served.version,
                                                     update=status_pb2.StatusListUpdate.FromString(served.data))

        return await self._run(context, "GetStatusList", run)

    async def GetTrustBundle(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def run() -> Any:
            raise RetiredError("the single trust bundle is retired: follow the TUF repository (GetTrustFile) and "
                               "the cities' status lists (GetStatusList)")

        return await self._run(context, "GetTrustBundle", run, thread=False)


class VerificationServicer(_Base, service_pb2_grpc.VerificationServiceServicer):
    """A bare code is verified on the event loop (a thread hop costs more CPU than it frees there); a
    presentation goes to a thread for its replay check. A stream's codes go to the verification threads
    in batches (`offload.Batcher`) while the loop keeps reading and writing the stream's messages."""

    # Stream messages read ahead of the answers written: enough to keep the verification threads busy.
    STREAM_WINDOW = 256

    def __init__(self, replica: Replica) -> None:
        super().__init__(replica)
        self._verdicts = Batcher(self._verify, replica.verify_executor)

    def _verify_one(self, request: service_pb2.VerifyCodeRequest) -> service_pb2.VerifyCodeResponse:
        result = self.replica.verify_one(request.code, at_s=request.at or None, venue=request.venue)
        return service_pb2.VerifyCodeResponse(verification=verification_to_proto(result))

    def _verify(self, request: service_pb2.VerifyCodeStreamRequest) -> service_pb2.VerifyCodeStreamResponse:
        if isinstance(request, _Undecodable):
            raise InvalidArgumentError("a stream message is not a VerifyCodeStreamRequest")
        return service_pb2.VerifyCodeStreamResponse(verification=verification_to_proto(
            self.replica.verify(request.code, at_s=request.at or None, venue=request.venue)))

    async def VerifyCode(self, request: service_pb2.VerifyCodeRequest,
                         context: grpc.aio.ServicerContext) -> service_pb2.VerifyCodeResponse:
        return await self._run(context, "VerifyCode", lambda: self._verify_one(request),
                               thread=self.replica.needs_io(request.code))

    async def VerifyCodes(self, request: service_pb2.VerifyCodesRequest,
                          context: grpc.aio.ServicerContext) -> service_pb2.VerifyCodesResponse:
        def run() -> service_pb2.VerifyCodesResponse:
            limit = self.replica.config.max_batch
            if len(request.codes) > limit:
                raise InvalidArgumentError(f"at most {limit} codes per batch")
            at = request.at or None
            return service_pb2.VerifyCodesResponse(verifications=[
                verification_to_proto(self.replica.verify(c, at_s=at, venue=request.venue)) for c in request.codes])

        return await self._run(context, "VerifyCodes", run)

    async def VerifyCodeStream(
            self, request_iterator: AsyncIterator[service_pb2.VerifyCodeStreamRequest],
            context: grpc.aio.ServicerContext) -> AsyncIterator[service_pb2.VerifyCodeStreamResponse]:
        """Answers in request order; reading, verifying and writing overlap, within `STREAM_WINDOW` messages."""
        started = time.perf_counter()
        try:
            self.replica.admit(_peer(context))
        except CityCreditError as exc:
            await self._refuse(context, "VerifyCodeStream", exc, started)
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
                try:
                    answer = await answers.popleft()
                except CityCreditError as exc:
                    await self._refuse(context, "VerifyCodeStream", exc, started)
                changed.set()
                yield answer
            await reader  # a failed read ends the call with its error
        finally:
            reader.cancel()
            for pending in answers:
                pending.cancel()
        self.replica.metrics.request("grpc", "VerifyCodeStream", "OK", time.perf_counter() - started)


class EligibilityServicer(_Base, service_pb2_grpc.EligibilityServiceServicer):
    async def ListOffers(self, request: service_pb2.ListOffersRequest,
                         context: grpc.aio.ServicerContext) -> service_pb2.ListOffersResponse:
        def run() -> service_pb2.ListOffersResponse:
            city = self.replica.city(request.city) if request.city else None
            return service_pb2.ListOffersResponse(offers=[to_proto(o) for o in self.replica.offers(city)])

        return await self._run(context, "ListOffers", run, thread=False)

    async def CheckEligibility(self, request: service_pb2.CheckEligibilityRequest,
                               context: grpc.aio.ServicerContext) -> service_pb2.CheckEligibilityResponse:
        return await self._run(context, "CheckEligibility", lambda: service_pb2.CheckEligibilityResponse(
            decision=to_proto(self.replica.check(request.code, request.offer_id, at_s=request.at or None))))


class RedemptionServicer(_Base, service_pb2_grpc.RedemptionServiceServicer):
    async def Redeem(self, request: service_pb2.RedeemRequest,
                     context: grpc.aio.ServicerContext) -> service_pb2.RedeemResponse:
        def run() -> service_pb2.RedeemResponse:
            answer = self.replica.redeem(self._caller(context), code=request.code, offer_id=request.offer_id,
                                         key=request.idempotency_key, at_s=request.at or None)
            doc = answer.doc
            decision = answer.decision or from_json(Decision, doc["decision"])
            return service_pb2.RedeemResponse(decision=to_proto(decision), redemption_id=doc["redemption_id"] or "",
                                              replayed=answer.replayed)

        return await self._run(context, "Redeem", run)


class _Capture:
    """Stands in for a server while a generated `add_…_to_server` hands over its method handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, _handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, name: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.handlers[name] = handlers


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # protobuf raises DecodeError, or others for some inputs
            return _UNDECODABLE

    return parse


def _refusing(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            await _abort(context, InvalidArgumentError("the request message does not decode"))
        return await behavior(request, context)

    return handle


def _register(server: grpc.aio.Server, add: Callable[[Any, Any], None], servicer: Any) -> None:
    """Register a servicer with deserializers that never raise: garbage becomes INVALID_ARGUMENT."""
    capture = _Capture()
    add(servicer, capture)
    for name, handlers in capture.handlers.items():
        wrapped = {}
        for method, handler in handlers.items():
            changes: dict[str, Any] = {"request_deserializer": _tolerant(handler.request_deserializer)}
            if handler.unary_unary is not None:
                changes["unary_unary"] = _refusing(handler.unary_unary)
            wrapped[method] = handler._replace(**changes)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, wrapped),))
        server.add_registered_method_handlers(name, wrapped)


async def add_services(server: grpc.aio.Server, replica: Replica) -> health.aio.HealthServicer:
    """Register the citycredit services, health checking and reflection; returns the health servicer."""
    _register(server, service_pb2_grpc.add_TrustServiceServicer_to_server, TrustServicer(replica))
    _register(server, service_pb2_grpc.add_VerificationServiceServicer_to_server, VerificationServicer(replica))
    _register(server, service_pb2_grpc.add_EligibilityServiceServicer_to_server, EligibilityServicer(replica))
    _register(server, service_pb2_grpc.add_RedemptionServiceServicer_to_server, RedemptionServicer(replica))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return health_servicer
