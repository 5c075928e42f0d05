"""REST inputs for the fuzzer: one framed byte string per request, and a driver that hands it to an ASGI app.

A frame is: one byte choosing the operation, one the credential, one the content type, two
(big-endian) giving the length of the parameter text, the parameter text (the path
parameter, then optionally `?` and a query string; for a redemption, the Idempotency-Key),
then the body. Every byte string is some frame (missing parts are empty), so the fuzzer's
byte mutations and the JSON-aware ones (`_mutate`) both give requests.

The driver calls the real app (the gateway's `Edge` in front of its FastAPI app, or an
issuer's) with an ASGI scope as uvicorn would build it, in process: no sockets, no HTTP
client in between, so that headers and bodies reach the app exactly as fuzzed.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTENT_TYPES", "GATEWAY_OPS", "ISSUER_OPS", "Answer", "Frame", "Op", "call"]


@dataclass(frozen=True)
class Op:
    """One operation: its method, its path (`{}` takes the parameter), and which credential it naturally uses."""

    name: str
    method: str
    path: str
    auth: str = "none"  # "none", "merchant", "office", "holder"
    body: str = "json"  # "json", "protobuf", "none"
    param_header: str | None = None  # the parameter travels in this header instead of the path


GATEWAY_OPS: tuple[Op, ...] = (
    Op("verify", "POST", "/v1/codes:verify"),
    Op("batch_verify", "POST", "/v1/codes:batchVerify"),
    Op("check", "POST", "/v1/eligibility:check"),
    Op("redeem", "POST", "/v1/redemptions", auth="merchant", param_header="idempotency-key"),
    Op("void", "POST", "/v1/redemptions/{}:void", auth="merchant", body="none"),
    Op("history", "GET", "/v1/redemptions?{}", auth="merchant", body="none"),
    Op("put_parts", "PUT", "/v1/cities/{}/parts"),
    Op("put_status_list", "PUT", "/v1/cities/{}/status-list", body="protobuf"),
    Op("put_grant", "PUT", "/v1/cities/{}/merchant-grants", body="protobuf"),
    Op("put_agreement", "PUT", "/v1/agreements/{}"),
    Op("put_governance", "PUT", "/v1/governance"),
    Op("holder_redemptions", "POST", "/v1/cities/{}/holder-redemptions", auth="office"),
    Op("witness", "POST", "/v1/log/witnesses"),
    Op("status_list", "GET", "/v1/cities/{}/status-list", body="none"),
    Op("inclusion", "GET", "/v1/log/proofs/inclusion?{}", body="none"),
    Op("entries", "GET", "/v1/log/entries?{}", body="none"),
    Op("figures", "GET", "/v1/cities/{}/redemption-figures", auth="office", body="none"),
    Op("offers", "GET", "/v1/offers?{}", body="none"),
    Op("trust_file", "GET", "/v1/trust/{}", body="none"),
    Op("merchant", "GET", "/v1/merchant", auth="merchant", body="none"),
)

ISSUER_OPS: tuple[Op, ...] = (
    Op("sign_in", "POST", "/v1/holder/session"),
    Op("device", "PUT", "/v1/holder/device", auth="holder"),
    Op("holder_code", "POST", "/v1/holder/codes", auth="holder"),
    Op("issue", "POST", "/v1/codes", auth="office"),
    Op("new_key", "POST", "/v1/office/keys", auth="office"),
    Op("retire_key", "POST", "/v1/office/keys/{}:retire", auth="office"),
    Op("preview_offer", "POST", "/v1/office/offers:preview", auth="office"),
    Op("publish_offer", "PUT", "/v1/office/offers/{}", auth="office"),
    Op("onboard", "POST", "/v1/office/merchants", auth="office"),
    Op("set_status", "POST", "/v1/office/status", auth="office"),
    Op("holder_offers", "GET", "/v1/holder/offers?{}", auth="holder", body="none"),
    Op("revoke_merchant", "POST", "/v1/office/merchants/{}:revoke", auth="office", body="none"),
    Op("withdraw_agreement", "POST", "/v1/office/agreements/{}:withdraw", auth="office", body="none"),
    Op("withdraw_offer", "DELETE", "/v1/office/offers/{}", auth="office", body="none"),
)

# The content type a frame asks for: the operation's own, none, a wrong one, a JSON suffix type.
CONTENT_TYPES = (None, "", "text/plain", "application/merge-patch+json; charset=utf-8")


@dataclass(frozen=True)
class Frame:
    op: int
    auth: int
    content_type: int
    param: bytes
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        head = data[:5].ljust(5, b"\0")
        length = int.from_bytes(head[3:5], "big")
        param = data[5:5 + length]
        return cls(head[0], head[1], head[2], param, data[5 + length:])

    def encode(self) -> bytes:
        param = self.param[:0xFFFF]
        return bytes([self.op & 0xFF, self.auth & 0xFF, self.content_type & 0xFF]) + len(param).to_bytes(2, "big") \
            + param + self.body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _clean_header(value: bytes) -> bytes:
    """What an HTTP/1.1 server would pass on: no control characters (CR/LF end a header), trimmed."""
    return bytes(b for b in value if b >= 0x20 and b != 0x7F).strip()


def request_parts(op: Op, frame: Frame, credentials: dict[str, str]) -> tuple[str, bytes, list[tuple[bytes, bytes]]]:
    """(path, query string, headers) of a frame's request for `op`."""
    param = frame.param.decode("utf-8", "replace")
    headers: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    if op.param_header is not None:
        headers.append((op.param_header.encode(), _clean_header(frame.param)))
        param = ""
    path_text, _, query = op.path.replace("{}", param).partition("?")
    auth = frame.auth % 5
    natural = credentials.get(op.auth, "")
    token = {0: natural, 1: "", 2: credentials.get("other", ""), 3: "Bearer " + param[:300],
             4: credentials.get("other_city", "")}[auth]
    if auth == 3:
        headers.append((b"authorization", _clean_header(token.encode("utf-8", "replace"))))
    elif token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    content_type = CONTENT_TYPES[frame.content_type % len(CONTENT_TYPES)]
    if content_type is None:
        content_type = {"json": "application/json", "protobuf": "application/x-protobuf"}.get(op.body, "")
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    return path_text, query.encode("utf-8", "replace"), headers


async def _call(app: Any, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
                body: bytes) -> Answer:
    raw_path = urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~").encode()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": urllib.parse.unquote(raw_path.decode()), "raw_path": raw_path,
             "query_string": query, "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
             "headers": [*headers, (b"content-length", str(len(body)).encode())]}
    sent = False
    done = asyncio.Event()
    status = 0
    answer_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", ()):
                answer_headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return Answer(status, answer_headers, b"".join(chunks))


def call(loop: asyncio.AbstractEventLoop, app: Any, op: Op, frame: Frame, credentials: dict[str, str], *,
         timeout_s: float = 60.0) -> Answer:
    """Send the frame's request to `app` on `loop` (run here, in this thread) and collect the answer."""
    path, query, headers = request_parts(op, frame, credentials)
    body = frame.body if op.body != "none" or frame.body else b""
    return loop.run_until_complete(asyncio.wait_for(_call(app, op.method, path, query, headers, body), timeout_s))
