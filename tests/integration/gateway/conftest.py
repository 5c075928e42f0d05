"""What the gateway tests share: the demo alliance's gateway on loopback, real codes from its cities, and
the shape every refusal must have.

The gateway runs as in production (`tests.support.alliance.running_alliance`: its own key store, SQLite in
its home, ephemeral loopback ports). Codes are signed in the test process by the cities' own offices
(`CityDesk`, over each city's store in the demo home), the way a city's issuer signs them: the gateway
never sees a city key. One alliance is shared by the tests that only add to it (`shared`); tests that
change what it publishes or exhaust a limit start their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.support.alliance import HANGZHOU, QUOTA_OFFER, QUZHOU, WENZHOU, Alliance, demo_copy, running_alliance

from .cities import CityDesk, new_holder

__all__ = ["HANGZHOU", "QUOTA_OFFER", "QUZHOU", "WENZHOU", "CityDesk", "Shared", "assert_documented",
           "assert_grpc_refusal", "assert_problem", "bearer", "documented_operation", "new_holder"]

@dataclass
class Shared:
    """One running alliance (the gateway, no issuers) and its cities' offices."""

    alliance: Alliance
    desk: CityDesk
    http: httpx.Client

    @property
    def home(self) -> Path:
        return self.alliance.home

    @property
    def url(self) -> str:
        return str(self.alliance.gateway.http_url)

    @property
    def grpc_target(self) -> str:
        return str(self.alliance.gateway.grpc_target)

    def token(self, city: int, kind: str = "merchant") -> str:
        return self.alliance.token(city, kind)


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """The demo alliance's gateway, shared by the tests that only add codes, redemptions and lists to it."""
    home = demo_copy(tmp_path_factory.mktemp("shared"))
    desk = CityDesk(home)
    try:
        with running_alliance(home) as alliance, httpx.Client(base_url=alliance.gateway.http_url,
                                                              timeout=60) as http:
            yield Shared(alliance=alliance, desk=desk, http=http)
    finally:
        desk.close()


@pytest.fixture(scope="session")
def channel(shared: Shared) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(shared.grpc_target) as channel:
        yield channel


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the catalogue code and the catalogue's status, and nothing of a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json", response.headers
    body = response.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"] == f"urn:citycredit:error:{code}" and body["title"] and body["detail"]
    assert "Traceback" not in response.text and "File \"" not in response.text
    return dict(body)


def assert_grpc_refusal(error: grpc.RpcError, status: grpc.StatusCode, code: str) -> None:
    """A refused call: the catalogue error's status and its code in the `cc-error-code` trailer."""
    assert error.code() == status, (error.code(), error.details())
    trailers = dict(error.trailing_metadata() or ())
    assert trailers.get("cc-error-code") == code, trailers
    assert "Traceback" not in (error.details() or "") and "Error(" not in (error.details() or "")


def documented_operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any] | None]:
    """The OpenAPI operation serving `method path` (its template and the operation; None when none does)."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    for template, item in doc["paths"].items():
        operation = item.get(method.lower())
        if operation is None:
            continue
        pattern = re.escape(template).replace(r"\{path\}", ".+")
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", pattern)
        if re.fullmatch(pattern, path):
            found.append((template.count("{"), template, operation))
    if not found:
        return "", None
    _, template, operation = min(found, key=lambda f: f[0])
    return template, operation


def assert_documented(doc: dict[str, Any], response: httpx.Response) -> list[str]:
    """What is wrong with the document about this answer: its operation, status and media type (empty: nothing)."""
    method, path, status = response.request.method, response.request.url.path, response.status_code
    template, operation = documented_operation(doc, method, path)
    if operation is None:
        return [f"{method} {path}: no operation of the document serves it"]
    documented = operation["responses"].get(str(status))
    where = f"{method} {template} answered {status}"
    if documented is None:
        return [f"{where}, which is not documented ({sorted(operation['responses'])})"]
    content = documented.get("content") or {}
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if not response.content:
        return [f"{where} without a body, documented with {sorted(content)}"] if content else []
    if media not in content:
        return [f"{where} as {media}, documented as {sorted(content)}"]
    if media == "application/problem+json":
        schema = content[media].get("schema", {})
        missing = set(schema.get("required", ())) - set(response.json())
        if missing or "code" not in schema.get("required", ()):
            return [f"{where}: the problem lacks {sorted(missing)} or the schema does not require code"]
    return []
