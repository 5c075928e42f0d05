"""The public read side of a gateway (SPEC 6.6) over httpx's MockTransport: an in-memory alliance's TUF files under
/v1/trust/ and its status lists under /v1/cities/{city}/status-list (whole, or a delta from ?since=), with ETags.

It serves whatever it is told to, like a real (possibly compromised) gateway: the SDK under test must check it.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

import httpx
from citycredit import GatewayClient
from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.core import Repository, status_delta
from citycredit.testing import InMemoryAlliance

__all__ = ["BASE_URL", "FakeGateway"]

BASE_URL = "http://gateway.test"


@dataclasses.dataclass
class _Version:
    update: bytes
    data: bytes  # the uncompressed list, to answer deltas


class FakeGateway:
    """Serves `repository` and the status lists it was given; every request is recorded."""

    def __init__(self, alliance: InMemoryAlliance) -> None:
        assert alliance.repository is not None
        self.alliance = alliance
        self.repository: Repository = alliance.repository
        self.lists: dict[int, dict[int, _Version]] = {}
        self.requests: list[httpx.Request] = []
        self.reachable = True
        self.deltas = True
        self.answer: Callable[[httpx.Request], httpx.Response | None] | None = None
        for city in alliance.members:
            self.serve_status(city)

    # --- what it serves ---------------------------------------------------------------------------------

    def serve(self, repository: Repository | None = None) -> None:
        """Serve the alliance's current repository (or the one given)."""
        assert self.alliance.repository is not None
        self.repository = repository or self.alliance.repository

    def serve_status(self, city: int, update: bytes | None = None) -> int:
        """Serve the city's latest signed list (or `update`, a whole-list StatusListUpdate) as its newest version."""
        update = update or self.alliance.status_lists[city]
        message = status_pb2.StatusListUpdate.FromString(update)
        head = status_pb2.StatusListHead.FromString(message.list.head.body)
        self.lists.setdefault(city, {})[head.version] = _Version(update, zlib.decompress(message.list.list_zlib))
        return int(head.version)

    def http(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self._handle))

    def client(self) -> GatewayClient:
        return GatewayClient.rest(BASE_URL, http=self.http())

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    # --- answering --------------------------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("connection refused", request=request)
        self.requests.append(request)
        if self.answer is not None:
            answered = self.answer(request)
            if answered is not None:
                return answered
        path = request.url.path
        if path.startswith("/v1/trust/"):
            data = self.repository.served().get(path.removeprefix("/v1/trust/"))
            if data is None:
                return httpx.Response(404, json={"code": "CC_NOT_FOUND", "detail": path})
            return httpx.Response(200, content=data)
        if path.startswith("/v1/cities/") and path.endswith("/status-list"):
            return self._status(request, int(path.split("/")[3]))
        return httpx.Response(404, json={"code": "CC_NOT_FOUND", "detail": path})

    def _status(self, request: httpx.Request, city: int) -> httpx.Response:
        versions = self.lists.get(city)
        if not versions:
            return httpx.Response(404, json={"code": "CC_CITY_UNKNOWN", "detail": str(city)})
        latest = max(versions)
        etag = f'"{city}-{latest}"'
        headers = {"etag": etag, "x-status-list-version": str(latest)}
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=headers)
        since = int(request.url.params.get("since", "0"))
        body = versions[latest].update
        if self.deltas and since in versions and since != latest:
            indexes, statuses = status_delta(versions[since].data, versions[latest].data)
            head = status_pb2.StatusListUpdate.FromString(body).list.head
            delta = status_pb2.StatusListDelta(head=head, from_version=since, indexes=indexes, statuses=statuses)
            body = status_pb2.StatusListUpdate(delta=delta).SerializeToString()
        return httpx.Response(200, content=body, headers={**headers, "content-type": "application/x-protobuf"})
