"""The OpenAPI document describes what the server sends.

Every answer exercised here (each operation's success and its refusals) has its status and media type
documented for its operation; every operation of the document is answered with a success at least
once; every documented refusal is problem+json with a catalogue `code` (the server never answers
FastAPI's default 422 validation shape: a bad request is a 400 problem)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from citycredit._gen.citycredit.v1 import trust_pb2
from citycredit.core import Algorithm, SigningKey, sign_part
from citycredit.gateway.transparency import WITNESS_CONTEXT, TreeHead

from .conftest import HANGZHOU, QUOTA_OFFER, QUZHOU, Shared, assert_documented, bearer, documented_operation

PROTOBUF = "application/x-protobuf"


def _unsigned(metadata: bytes) -> str:
    doc = json.loads(metadata)
    doc["signatures"] = []
    return json.dumps(doc)


def _grant_city(grant: bytes) -> int:
    return int(trust_pb2.MerchantGrant.FromString(trust_pb2.SignedPart.FromString(grant).body).city)


def _exercise(shared: Shared) -> list[httpx.Response]:
    """One or more answers of every operation: successes and the refusals each can give."""
    http, desk = shared.http, shared.desk
    replica = shared.alliance.gateway.replica
    repository = replica.published.repository
    merchant, office = bearer(shared.token(QUZHOU)), bearer(shared.token(HANGZHOU, "city_office"))
    quzhou_office = bearer(shared.token(QUZHOU, "city_office"))
    issued = desk.code()
    # The key names the code by its id: a slice of the Base45 text could hold a space, which keys may not.
    code, key = issued.code, f"doc-{issued.code_id.hex()}"
    stamp = http.get("/v1/trust/timestamp.json")
    part_path = next(p for p in replica.published.served if p.startswith("targets/"))
    status = http.get(f"/v1/cities/{HANGZHOU}/status-list")
    redeemed = http.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER},
                         headers={**merchant, "Idempotency-Key": key})
    assert redeemed.status_code == 200 and redeemed.json()["redemption_id"], redeemed.text  # voided below
    role, files = repository.roles["city-330100"], {p: base64.b64encode(d).decode()
                                                      for p, d in repository.targets_files.items()
                                                      if p.startswith("cities/330100/")}
    agreement = repository.roles["agreement-hangzhou-quzhou"]
    agreement_files = {"agreements/hangzhou-quzhou.pb": base64.b64encode(
        repository.targets_files["agreements/hangzhou-quzhou.pb"]).decode()}
    grant = bytes.fromhex(json.loads((shared.home / "gateway" / "seed.json").read_text())["grants"][-1])
    grant_office = bearer(shared.token(_grant_city(grant), "city_office"))
    head = http.get("/v1/log/head").json()
    other = TreeHead(size=head["size"], root=bytes(32), timestamp_s=head["timestamp"])
    quzhou_signer = desk.office("quzhou").status_signer()
    same = TreeHead(size=head["size"], root=bytes.fromhex(head["root"]), timestamp_s=head["timestamp"])
    countersign = sign_part(same.body(), quzhou_signer, WITNESS_CONTEXT)
    countersigned = base64.b64encode(countersign.SerializeToString()).decode()
    witness = base64.b64encode(sign_part(other.body(), quzhou_signer, WITNESS_CONTEXT).SerializeToString()).decode()
    stranger = base64.b64encode(sign_part(other.body(), SigningKey.generate(Algorithm.ED25519),
                                          WITNESS_CONTEXT).SerializeToString()).decode()

    def pb(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "content-type": PROTOBUF}

    return [
        stamp, http.get(f"/v1/trust/{part_path}"),
        http.get("/v1/trust/timestamp.json", headers={"If-None-Match": stamp.headers["etag"]}),
        http.get("/v1/trust/none.json"),
        status, http.get(f"/v1/cities/{HANGZHOU}/status-list", headers={"If-None-Match": status.headers["etag"]}),
        http.get(f"/v1/cities/{HANGZHOU}/status-list", params={"since": "x"}),
        http.get("/v1/cities/999999/status-list"),
        http.get("/v1/alliance"),
        http.post("/v1/codes:verify", json={"code": code}), http.post("/v1/codes:verify", content=b"{"),
        http.post("/v1/codes:verify", json={"code": "XX1:"}),
        http.post("/v1/codes:verify", json={"code": "CC1:" + "A" * 1100}),
        http.post("/v1/codes:verify", content=b" " * (shared.alliance.gateway.config.max_body_bytes + 1)),
        http.post("/v1/codes:batchVerify", json={"codes": [code, "XX1:"]}),
        http.post("/v1/codes:batchVerify", json={"codes": "nope"}),
        http.get("/v1/offers"), http.get("/v1/offers", params={"city": "atlantis"}),
        http.post("/v1/eligibility:check", json={"code": code, "offer_id": QUOTA_OFFER}),
        http.post("/v1/eligibility:check", json={"code": code}),
        http.post("/v1/eligibility:check", json={"code": code, "offer_id": "none"}),
        http.post("/v1/eligibility:check", json={"code": "XX1:", "offer_id": QUOTA_OFFER}),
        redeemed,
        http.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER}, headers=merchant),
        http.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER}, headers={"Idempotency-Key": "k"}),
        http.post("/v1/redemptions", json={"code": code, "offer_id": QUOTA_OFFER},
                  headers={**office, "Idempotency-Key": "k"}),
        http.post("/v1/redemptions", json={"code": code, "offer_id": "none"},
                  headers={**merchant, "Idempotency-Key": "doc-none"}),
        http.post("/v1/redemptions", json={"code": code, "offer_id": "quzhou-hospital-deposit-waived"},
                  headers={**merchant, "Idempotency-Key": key}),
        http.post(f"/v1/redemptions/{redeemed.json()['redemption_id']}:void", headers=merchant),
        http.post("/v1/redemptions/rdm-none:void", headers=merchant),
        http.post("/v1/redemptions/rdm-none:void"),
        http.post("/v1/redemptions/rdm-none:void", headers=office),
        http.get("/v1/redemptions", headers=merchant), http.get("/v1/redemptions", headers=merchant,
                                                                 params={"limit": 0}),
        http.get("/v1/merchant", headers=merchant), http.get("/v1/merchant"),
        http.get("/v1/merchant", headers=office),
        http.put("/v1/cities/330100/parts", json={"role": role.decode(), "files": files}, headers=office),
        http.put("/v1/cities/330100/parts", json={"role": 1, "files": {}}, headers=office),
        http.put("/v1/cities/330100/parts", json={"role": role.decode(), "files": files}),  # signed: no token needed
        http.put("/v1/cities/330100/parts", json={"role": role.decode(), "files": files},
                 headers=bearer("ccs_not-a-token")),
        http.put("/v1/cities/330800/parts", json={"role": role.decode(), "files": files}, headers=office),
        http.put("/v1/cities/999999/parts", json={"role": role.decode(), "files": files}, headers=office),
        http.put("/v1/cities/330100/parts", json={"role": _unsigned(role), "files": files}, headers=office),
        http.put("/v1/cities/330100/status-list", content=status.content, headers=pb(office)),
        http.put("/v1/cities/330100/status-list", content=b"\xff\xff", headers=pb(office)),
        http.put("/v1/cities/330100/status-list", content=status.content[:-2] + b"\x00\x00", headers=pb(office)),
        http.put(f"/v1/cities/{_grant_city(grant):06d}/merchant-grants", content=grant, headers=pb(grant_office)),
        http.put("/v1/cities/330100/merchant-grants", content=b"\x0a\x00", headers=pb(office)),
        http.put("/v1/agreements/hangzhou-quzhou", json={"role": agreement.decode(), "files": agreement_files},
                 headers=office),
        http.put("/v1/agreements/hangzhou-quzhou", json={"role": agreement.decode(), "files": agreement_files},
                 headers=bearer(shared.token(330300, "city_office"))),
        http.put("/v1/agreements/hangzhou-quzhou", json={"role": _unsigned(agreement), "files": agreement_files},
                 headers=office),
        http.put("/v1/governance", json={"targets": repository.targets.decode()}),
        http.put("/v1/governance", json={}),
        http.put("/v1/governance", json={"targets": _unsigned(repository.targets)}),
        http.get(f"/v1/cities/{QUZHOU}/redemption-figures", headers=quzhou_office),
        http.get(f"/v1/cities/{QUZHOU}/redemption-figures", headers=quzhou_office, params={"since": "soon"}),
        http.get(f"/v1/cities/{QUZHOU}/redemption-figures", headers=office),
        http.get(f"/v1/cities/{QUZHOU}/redemption-figures"),
        http.get("/v1/cities/999999/redemption-figures", headers=office),
        http.post(f"/v1/cities/{HANGZHOU}/holder-redemptions", json={"holders": ["00" * 12]}, headers=office),
        http.post(f"/v1/cities/{HANGZHOU}/holder-redemptions", json={"holders": ["short"]}, headers=office),
        http.post(f"/v1/cities/{HANGZHOU}/holder-redemptions", json={"holders": []}, headers=merchant),
        http.get(f"/v1/cities/{HANGZHOU}/merchants", headers=office),
        http.get(f"/v1/cities/{HANGZHOU}/merchants", headers=quzhou_office),
        http.get("/v1/log/head"), http.get(f"/v1/log/heads/{head['size']}"), http.get("/v1/log/heads/999999999"),
        http.get("/v1/log/heads/x"),
        http.get("/v1/log/proofs/inclusion", params={"index": 0, "size": head["size"]}),
        http.get("/v1/log/proofs/inclusion", params={"index": 0}),
        http.get("/v1/log/proofs/consistency", params={"first": 1, "second": head["size"]}),
        http.get("/v1/log/entries", params={"start": 0}),
        http.get("/v1/log/entries", params={"start": 10**9}),
        http.post("/v1/log/witnesses", json={"city": QUZHOU, "signed": countersigned}),
        http.post("/v1/log/witnesses", json={"city": QUZHOU, "signed": witness}),
        http.post("/v1/log/witnesses", json={"city": QUZHOU, "signed": stranger}),
        http.post("/v1/log/witnesses", json={"city": 999999, "signed": witness}),
        http.post("/v1/log/witnesses", json={"city": "x"}),
        http.post("/v1/log/witnesses", content=b"x" * 100_000, headers={"content-type": "application/json"}),
        http.get("/healthz"), http.get("/metrics"),
    ]


def test_every_answer_is_documented_for_its_operation_and_every_operation_answers(shared: Shared) -> None:
    doc = shared.http.get("/openapi.json").json()
    answers = _exercise(shared)
    problems = [problem for answer in answers for problem in assert_documented(doc, answer)]
    assert not problems, "\n".join(problems)
    statuses = {(a.request.method, documented_operation(doc, a.request.method, a.request.url.path)[0],
                 a.status_code) for a in answers}
    for path, item in doc["paths"].items():
        for method in item:
            assert any(m == method.upper() and p == path and 200 <= s < 300 for m, p, s in statuses), \
                f"{method.upper()} {path} was not exercised"
    # The refusals the gateway is known for are all among them.
    assert {400, 401, 403, 404, 409, 413, 422} <= {s for *_, s in statuses}


def test_every_documented_refusal_is_a_problem_with_a_catalogue_code(shared: Shared) -> None:
    doc = shared.http.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(doc)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses: dict[str, Any] = operation["responses"]
            assert "429" in responses, f"{method} {path}: every request pays the rate limit"
            for status, response in responses.items():
                if int(status) >= 400 and not (path == "/healthz" and status == "503"):
                    content = response.get("content", {})
                    assert set(content) == {"application/problem+json"}, (method, path, status, content)
                    assert "code" in content["application/problem+json"]["schema"]["required"]
