"""Schemathesis against the running gateway: every operation of its OpenAPI document, bounded examples, and
every answer as documented (no 5xx; status codes, content types, bodies and headers as the document says).

The gateway serves the demo alliance on loopback as in production. Requests that need a
credential carry the one the operation is for (a Quzhou merchant's for redemptions, Hangzhou's
city office's for the office reports); uploads go without one, as cities send them. The figures
(operations, examples, failures) are written to the test's log (`-s` shows them).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.support.alliance import HANGZHOU, QUZHOU, Alliance, demo_copy, running_alliance

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
# Status lists and merchant grants travel as protobuf bytes: generated as the binary strings the document names.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance,
          checks.allow_header_conformance]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alliance]:
    home = demo_copy(Path(tmp_path_factory.mktemp("schema")))
    with running_alliance(home) as alliance:
        yield alliance


@pytest.fixture(scope="module")
def api(gateway: Alliance) -> Any:
    return schemathesis.openapi.from_url(f"{gateway.gateway.http_url}/openapi.json")


def _credential(gateway: Alliance, path: str) -> dict[str, str]:
    if path.startswith(("/v1/redemptions", "/v1/merchant")):
        return {"Authorization": f"Bearer {gateway.token(QUZHOU, 'merchant')}"}
    if path.startswith("/v1/cities/{city}/") and not path.endswith(("/parts", "/status-list", "/merchant-grants")):
        return {"Authorization": f"Bearer {gateway.token(HANGZHOU, 'city_office')}"}
    return {}


def test_every_operation_answers_as_documented(api: Any, gateway: Alliance) -> None:
    examples: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]

    def examples_of(operation: Any) -> Any:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers=_credential(gateway, case.path), timeout=30)
            examples[operation.label] += 1
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        return run

    for operation in operations:
        try:
            examples_of(operation)()
        except Exception as exc:  # the failing example, shrunk: every operation is still tried
            failures[operation.label] = str(exc)[:2000]
    print(f"\nschemathesis: {len(operations)} operations, {sum(examples.values())} examples, "
          f"{len(failures)} failing operations; answers by status {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    document = httpx.get(f"{gateway.gateway.http_url}/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert documented == set(examples), sorted(documented ^ set(examples))
