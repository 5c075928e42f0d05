"""Sending what a city (or the governance) signed to a gateway, which checks it and refuses anything else.

    PUT /v1/cities/{city}/parts            the city's role and part files (JSON)
    PUT /v1/cities/{city}/status-list      a StatusListUpdate (protobuf)
    PUT /v1/cities/{city}/merchant-grants  a signed MerchantGrant (protobuf)
    PUT /v1/agreements/{id}                an agreement's role, co-signed, and its part file (JSON)
    PUT /v1/governance                     a ceremony's root and/or top-level targets (JSON)

A city office authenticates with its gateway token as well; the gateway accepts an upload
only when the signatures hold under the trust it already has, whoever's token came with it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx

from citycredit._client import PROTOBUF_MEDIA_TYPE, error_from_response
from citycredit.errors import UnavailableError

__all__ = ["Uploader"]


class Uploader:
    """Uploads to one gateway's REST API, as one credential (a city office token, or none for the governance)."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 30.0,
                 http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = http or httpx.Client(timeout=timeout_s)

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call to the gateway as this credential: its JSON answer, or the catalogue error it refused with."""
        try:
            response = self._http.request(method, self.url + path,
                                          headers={**self._headers, **kwargs.pop("headers", {})}, **kwargs)
        except httpx.HTTPError as exc:
            raise UnavailableError(f"cannot reach the gateway at {self.url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            doc = response.json()
        except ValueError:
            raise UnavailableError(f"the gateway answered {method} {path} with something other than JSON") from None
        return doc if isinstance(doc, dict) else {}

    def _put(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.request("PUT", path, **kwargs)

    @staticmethod
    def _files(files: Mapping[str, bytes]) -> dict[str, str]:
        return {path: base64.b64encode(data).decode() for path, data in sorted(files.items())}

    def city_parts(self, city: int, role: bytes, files: Mapping[str, bytes]) -> dict[str, Any]:
        return self._put(f"/v1/cities/{city:06d}/parts", json={"role": role.decode(), "files": self._files(files)})

    def status_list(self, city: int, update: bytes) -> dict[str, Any]:
        return self._put(f"/v1/cities/{city:06d}/status-list", content=update,
                         headers={"content-type": PROTOBUF_MEDIA_TYPE})

    def merchant_grant(self, city: int, grant: bytes) -> dict[str, Any]:
        return self._put(f"/v1/cities/{city:06d}/merchant-grants", content=grant,
                         headers={"content-type": PROTOBUF_MEDIA_TYPE})

    def agreement(self, agreement_id: str, role: bytes, files: Mapping[str, bytes]) -> dict[str, Any]:
        return self._put(f"/v1/agreements/{agreement_id}", json={"role": role.decode(), "files": self._files(files)})

    def governance(self, *, targets: bytes, files: Mapping[str, bytes], root: bytes | None) -> dict[str, Any]:
        return self._put("/v1/governance", json={"root": None if root is None else root.decode(),
                                                 "targets": targets.decode(), "files": self._files(files)})
