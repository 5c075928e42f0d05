"""The TypeScript verifier (gateway/web/verifier) against the Python reference.

- the conformance vectors, run through the Node CLI (the verifier protocol);
- agreement on 1,000 random codes of a demo alliance (every demo city; Ed25519, P-256 and SM2;
  valid, expired, not yet valid, revoked, suspended, tampered, wrong-audience, device-bound CC1
  and CP1 at several clocks): the JSON verdict and exit code of the reference's CLI path and of
  `cli.mjs verify-many` must be identical;
- `--state` (rollback refused, presentations remembered per venue) as the reference does it;
- the browser bundle in headless Chromium verifying a code from bytes it is handed.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from citycredit._cli.main import build_parser
from citycredit._cli.main import main as citycredit_main
from citycredit._cli.trust import load_verifier
from citycredit._gen.citycredit.v1 import code_pb2
from citycredit._trustdir import write_trust_dir
from citycredit.adapters import demo_catalogue, load_registry
from citycredit.core import (
    Algorithm,
    SigningKey,
    Status,
    Tier,
    b45decode,
    b45encode,
    encode_presentation,
    iso,
    to_json,
    verification_to_json,
)
from citycredit.errors import BundleError, CodeError
from citycredit.testing import InMemoryAlliance

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "gateway" / "web" / "verifier"
CLI = VERIFIER / "cli.mjs"
BUNDLE = VERIFIER / "dist" / "verifier.js"
NODE = shutil.which("node")
NOW = 1_800_000_000
CHROMIUM = os.environ.get("CITYCREDIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(NODE is None or not CLI.is_file(),
                                reason="needs node and the built gateway/web/verifier/cli.mjs (./dev setup)")


def _node(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(CLI), *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _reference(args: list[str]) -> tuple[int, Any]:
    """`citycredit --json ...` in process: its exit code and the JSON it printed (None when it printed none)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = citycredit_main(["--json", *args])
    text = out.getvalue().strip()
    return code, json.loads(text) if text else None


# --- a demo alliance with every kind of code -----------------------------------------------------------


class _Cases:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # (validation time, code, offer id or None)
        self.cases: list[tuple[int, str, str | None]] = []


def _tamper(code: str, rng: random.Random) -> str:
    """Flip one bit of the envelope (mostly the payload or signature), re-encoded as valid Base45."""
    raw = bytearray(b45decode(code[4:]))
    i = rng.randrange(len(raw))
    raw[i] ^= 1 << rng.randrange(8)
    return code[:4] + b45encode(bytes(raw))


def _build(directory: Path, n: int = 1000, seed: int = 20261118) -> _Cases:
    rng = random.Random(seed)
    offers, agreements = demo_catalogue()
    cities = [(s.city, s.slug, s.name_zh, s.name_en) for s in load_registry(None).schemes()]
    alliance = InMemoryAlliance(now_s=NOW, cities=cities, algorithms=[Algorithm.ED25519, Algorithm.P256, Algorithm.SM2],
                                offers=offers, agreements=agreements)
    codes = [c for c, *_ in cities]
    offer_ids = [o.id for o in offers] + ["no-such-offer"]
    devices = [SigningKey.generate(Algorithm.ED25519), SigningKey.generate(Algorithm.P256)]
    outsider = InMemoryAlliance(now_s=NOW, cities=cities[:1])
    times = [NOW + 60, NOW + 3600, NOW + 2 * 86400, NOW + 5 * 86400]
    statuses: dict[tuple[int, int], Status] = {}
    cases = _Cases(directory)
    kinds = ["valid", "valid", "expired", "not_yet_valid", "revoked", "suspended", "tampered", "wrong_audience",
             "device_bare", "device_presented", "device_stale", "device_forged", "unknown_kid", "garbage"]
    for i in range(n):
        at = rng.choice(times)
        kind = rng.choice(kinds)
        city = rng.choice(codes)
        algorithm = rng.choice([Algorithm.ED25519, Algorithm.P256, Algorithm.SM2])
        tier = rng.choice(list(Tier))
        issued = at - rng.randrange(0, 200)
        audience = None
        device = None
        index = rng.randrange(131_072)
        if kind == "expired":
            issued = at - 400
        elif kind == "not_yet_valid":
            issued = at + 500
        elif kind == "wrong_audience":
            audience = rng.choice([c for c in codes if c != city])
        elif kind.startswith("device"):
            device = rng.choice(devices)
        if kind in ("revoked", "suspended"):
            statuses[(city, index)] = Status.REVOKED if kind == "revoked" else Status.SUSPENDED
        elif (city, index) in statuses:
            index = (index + 1) % 131_072
        source = outsider if kind == "unknown_kid" else alliance
        issue_city = cities[0][0] if kind == "unknown_kid" else city
        code = source.issue(issue_city, tier, band=f"band {i}", holder_ref=f"holder-{i % 97}", now_s=max(issued, 1),
                            ttl_s=300, algorithm=algorithm if source is alliance else Algorithm.ED25519,
                            status_index=index, audience=audience, device=device).code
        if kind == "tampered":
            code = _tamper(code, rng)
        elif kind == "garbage":
            code = rng.choice(["", "CC1:", "CC2:ABC", "CC1:%%%", "CP1:" + code[4:], code + "A", code.lower(),
                               "CC1:" + "0" * 1100])
        elif kind in ("device_presented", "device_forged", "device_stale"):
            skew = rng.choice([-100, 100]) if kind == "device_stale" else rng.randrange(-25, 26)
            signer = SigningKey.generate(device.algorithm) if kind == "device_forged" else device  # type: ignore[union-attr]
            code = encode_presentation(code, signer, presented_at_s=at + skew)
        offer = rng.choice(offer_ids) if rng.random() < 0.5 else None
        cases.cases.append((at, code, offer))
    for (city, index), status in statuses.items():
        alliance.bitmaps[city].set(index, status)
    for city in alliance.members:
        alliance.sign_status(city)
    assert alliance.repository is not None
    write_trust_dir(directory, alliance.repository, alliance.status_lists)
    (directory / "anchor.json").write_bytes(alliance.anchor.data)
    return cases


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> _Cases:
    return _build(tmp_path_factory.mktemp("js-verifier") / "trust")


def _reference_answers(cases: _Cases) -> list[tuple[int, Any]]:
    """The reference's answers, through the same CLI code path, with the trust set opened once per clock.

    `_verify`/`_check` (sdk/citycredit/_cli) load a verifier per call; opening it once per clock is the same
    computation (a fresh verifier, no state), so this reproduces `citycredit --json verify|check` per code
    (test_reference_path_is_the_cli checks that on a sample).
    """
    answers: list[tuple[int, Any]] = []
    verifiers: dict[int, Any] = {}
    parser = build_parser()
    for at, code, offer in cases.cases:
        if at not in verifiers:
            args = parser.parse_args(["--json", "verify", "--trust", str(cases.directory), "--at", iso(at), "--", "x"])
            try:
                verifiers[at] = load_verifier(args)
            except BundleError as exc:
                verifiers[at] = exc
        verifier = verifiers[at]
        if isinstance(verifier, BundleError):
            if offer is None:
                answers.append((2, verification_to_json(verifier)))
            else:
                answers.append((2, {"eligible": False, "reason": None, "offer": offer, "tier": None,
                                    "treated_as_local": False, "benefit": None, "error": verifier.code}))
            continue
        verifier._replay = None  # one process per code: nothing was seen before
        if offer is None:
            try:
                answers.append((0, verification_to_json(verifier.verify(code.rstrip("\r\n"), at=at))))
            except (CodeError, BundleError) as exc:
                answers.append((2 if isinstance(exc, BundleError) else 1, verification_to_json(exc)))
            continue
        try:
            decision = verifier.check(code.rstrip("\r\n"), offer, at=at)
        except BundleError as exc:
            answers.append((2, {"eligible": False, "reason": None, "offer": offer, "tier": None,
                                "treated_as_local": False, "benefit": None, "error": exc.code}))
            continue
        exit_code = 2 if decision.reason is not None and decision.reason.value == "OFFER_UNKNOWN" else (
            0 if decision.eligible else 1)
        answers.append((exit_code, to_json(decision)))
    return answers


def _node_answers(cases: _Cases) -> list[tuple[int, Any]]:
    answers: dict[int, tuple[int, Any]] = {}
    for at in sorted({c[0] for c in cases.cases}):
        chosen = [(i, code, offer) for i, (t, code, offer) in enumerate(cases.cases) if t == at]
        lines = "".join(json.dumps({"code": code, **({"offer": offer} if offer else {})}) + "\n"
                        for _, code, offer in chosen)
        done = _node("verify-many", "--trust", str(cases.directory), "--at", iso(at), stdin=lines)
        assert done.returncode == 0, done.stderr
        out = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(out) == len(chosen)
        for (i, _, _), answer in zip(chosen, out, strict=True):
            answers[i] = (answer["exit"], answer["result"])
    return [answers[i] for i in range(len(cases.cases))]


@pytest.mark.slow
def test_agreement_on_1000_codes(demo: _Cases) -> None:
    reference = _reference_answers(demo)
    node = _node_answers(demo)
    disagreements = [(demo.cases[i], r, n) for i, (r, n) in enumerate(zip(reference, node, strict=True)) if r != n]
    assert not disagreements, f"{len(disagreements)} disagreements, the first: {disagreements[:3]}"
    verdicts: dict[str, int] = {}
    for exit_code, doc in reference:
        key = (doc.get("error") or {}).get("code") if "valid" in doc else (doc.get("reason") or "ELIGIBLE")
        key = key if isinstance(key, str) else str(doc.get("error"))
        verdicts[f"{exit_code}:{key}"] = verdicts.get(f"{exit_code}:{key}", 0) + 1
    # The set exercises every outcome it was built for, not only the easy ones.
    for expected in ("0:None", "1:CC_EXPIRED", "1:CC_REVOKED", "1:CC_SUSPENDED", "1:CC_NOT_YET_VALID",
                     "1:CC_DEVICE_PROOF_REQUIRED", "1:CC_PRESENTATION_STALE", "1:CC_DEVICE_SIGNATURE_INVALID",
                     "1:CC_KEY_UNKNOWN", "2:CC_BUNDLE_STALE", "1:WRONG_AUDIENCE", "2:OFFER_UNKNOWN"):
        assert any(k.startswith(expected) for k in verdicts), (expected, verdicts)


def test_reference_path_is_the_cli(demo: _Cases) -> None:
    """The shortcut above gives what `citycredit --json verify|check` prints, on a sample."""
    sample = demo.cases[:40]
    shortcut = _reference_answers(_Sample(demo.directory, sample))
    for (at, code, offer), expected in zip(sample, shortcut, strict=True):
        command = ["check", "--offer", offer] if offer else ["verify"]
        assert _reference([*command, "--trust", str(demo.directory), "--at", iso(at), "--", code]) == expected


class _Sample(_Cases):
    def __init__(self, directory: Path, cases: list[tuple[int, str, str | None]]) -> None:
        super().__init__(directory)
        self.cases = cases


def test_single_verify_and_check_match_the_reference(demo: _Cases) -> None:
    for at, code, offer in demo.cases[:12]:
        command = ["check", "--offer", offer] if offer else ["verify"]
        args = [*command, "--trust", str(demo.directory), "--at", iso(at), "--", code]
        done = _node(*args)
        assert (done.returncode, json.loads(done.stdout)) == _reference(args)


# --- canonical decoding: mutated payloads, signed, so that the claims are parsed ---------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _record(number: int, wire: int, value: bytes) -> bytes:
    body = _varint(len(value)) + value if wire == 2 else value
    return _varint(number << 3 | wire) + body


def _mutations(payload: bytes, device_key: bytes, rng: random.Random) -> list[bytes]:
    """Payload variants: unknown and mistyped records before, between and after the known ones (also inside
    the device key), repeated and reordered fields, non-minimal varints, flipped and cut bytes."""
    records = [_record(15, 0, b"\x01"), _record(16, 2, b"abc"), _record(2, 2, b"xy"), _record(4, 2, b""),
               _record(1, 0, b"\x05"), _record(11, 0, b"\x01"), _record(19, 5, b"\x00\x00\x00\x00"),
               _record(6, 1, b"\x00" * 8), bytes([0x80 | (15 << 3), 0x00, 0x01])]
    out = [payload + r for r in records] + [r + payload for r in records]
    head = payload.index(device_key) - 2 if device_key else len(payload)
    for r in records:
        out.append(payload[:head] + r + payload[head:])
    if device_key:
        start = payload.index(device_key)
        for inner in (device_key + _record(1, 2, b"x"), device_key + _record(7, 0, b"\x01"),
                      _record(7, 0, b"\x01") + device_key, device_key + _record(2, 0, b"\x01"),
                      device_key[:-1], device_key + b"\x00"):
            out.append(payload[:start - 2] + bytes([0x5A]) + _varint(len(inner)) + inner)
    out.append(payload + payload[:2])
    for _ in range(12):
        raw = bytearray(payload)
        i = rng.randrange(len(raw))
        raw[i] ^= 1 << rng.randrange(8)
        out.append(bytes(raw))
        out.append(payload[: rng.randrange(len(payload))])
    return out


@pytest.mark.slow
def test_canonical_decoding_agrees_on_mutated_payloads(tmp_path: Path) -> None:
    rng = random.Random(7)
    alliance = InMemoryAlliance(now_s=NOW, algorithms=[Algorithm.ED25519, Algorithm.P256])
    assert alliance.repository is not None
    write_trust_dir(tmp_path, alliance.repository, alliance.status_lists)
    (tmp_path / "anchor.json").write_bytes(alliance.anchor.data)
    codes = []
    for bound in (False, True):
        device = SigningKey.generate(Algorithm.ED25519) if bound else None
        issued = alliance.issue(330100, device=device, audience=330800)
        envelope = code_pb2.SignedCreditCode.FromString(b45decode(issued.code[4:]))
        claims = code_pb2.CreditCode.FromString(envelope.payload)
        device_key = claims.device_key.SerializeToString() if bound else b""
        key = alliance.keys[(330100, Algorithm.ED25519)]
        for payload in _mutations(envelope.payload, device_key, rng):
            signed = code_pb2.SignedCreditCode(payload=payload, kid=key.kid, signature=key.sign(b"CC1\x00" + payload))
            codes.append("CC1:" + b45encode(signed.SerializeToString(deterministic=True)))
    cases = _Sample(tmp_path, [(NOW + 10, code, None) for code in codes])
    reference, node = _reference_answers(cases), _node_answers(cases)
    disagreements = [(c, r, n) for c, r, n in zip(codes, reference, node, strict=True) if r != n]
    assert not disagreements, f"{len(disagreements)} of {len(codes)} disagree, the first: {disagreements[:2]}"
    errors = {(doc["error"] or {}).get("code") for _, doc in reference}
    assert {"CC_MALFORMED", None} <= errors, errors


# --- state: rollback and replay -------------------------------------------------------------------------


def test_state_refuses_rollback_and_replay_like_the_reference(tmp_path: Path) -> None:
    alliance = InMemoryAlliance(now_s=NOW)
    device = SigningKey.generate(Algorithm.ED25519)
    old, new = tmp_path / "old", tmp_path / "new"
    assert alliance.repository is not None
    write_trust_dir(old, alliance.repository, alliance.status_lists)
    (old / "anchor.json").write_bytes(alliance.anchor.data)
    alliance.publish_city(330100)
    write_trust_dir(new, alliance.repository, alliance.status_lists)
    (new / "anchor.json").write_bytes(alliance.anchor.data)
    bound = alliance.issue(330100, device=device).code
    presented = encode_presentation(bound, device, presented_at_s=NOW + 5)
    at = iso(NOW + 10)
    for name in ("ref", "node"):
        state = tmp_path / f"state-{name}"

        def run(trust: Path, code: str, venue: str = "gate-1", *, state: Path = state, name: str = name) -> Any:
            args = ["verify", "--trust", str(trust), "--at", at, "--state", str(state), "--venue", venue, "--", code]
            if name == "ref":
                return _reference(args)
            done = _node(*args)
            return done.returncode, json.loads(done.stdout)

        assert run(new, presented)[0] == 0
        assert run(new, presented)[1]["error"]["code"] == "CC_PRESENTATION_REPLAYED"
        assert run(new, presented, "gate-2")[0] == 0
        rolled = run(old, presented)
        assert rolled[0] == 2 and rolled[1]["error"]["code"] == "CC_BUNDLE_ROLLBACK"
    for path in sorted((tmp_path / "state-ref").rglob("*")):
        twin = tmp_path / "state-node" / path.relative_to(tmp_path / "state-ref")
        assert twin.exists(), f"the Node CLI's state lacks {twin.name}"
        if path.is_file() and path.suffix == ".json":
            assert path.read_bytes() == twin.read_bytes(), path.name


# --- the conformance vectors ----------------------------------------------------------------------------


def _kit_ready() -> str | None:
    vectors = ROOT / "conformance" / "vectors"
    if not (vectors / "trust").is_dir():
        return "the conformance vectors are still the retired bundle format (no vectors/trust/)"
    return None


@pytest.mark.slow
def test_conformance_vectors_pass() -> None:
    """Every verify and check vector, through the protocol; adapter tables are not part of it (known failures)."""
    reason = _kit_ready()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        [sys.executable, "-m", "citycredit", "--json", "conformance", "run", "--cmd", f"{NODE} {CLI}",
         "--known-failures", str(VERIFIER / "known_failures.json")],
        capture_output=True, text=True, timeout=1800, check=False, cwd=ROOT)
    assert done.returncode == 0, (done.stdout[-6000:], done.stderr[-3000:])


# --- the browser bundle -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                                                 ".js": "text/javascript"}

    def log_message(self, format: str, *args: Any) -> None:
        pass


_PAGE = """<!doctype html><meta charset="utf-8"><title>till</title><script type="module">
import { openVerifier } from "./verifier.js";
const unbase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
window.runTill = async (files, anchor, nowS, code, offer) => {
  const bytes = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, unbase64(v)]));
  const till = await openVerifier({ files: bytes, anchor: unbase64(anchor), nowS });
  const verdict = await till.verifyJson(code);
  const decision = await till.checkJson(code, offer);
  return { verdict, decision, hasSubtle: !!(globalThis.crypto && crypto.subtle) };
};
window.tillReady = true;
</script>"""


@pytest.mark.browser
def test_browser_bundle_verifies_a_code(tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    playwright = pytest.importorskip("playwright.sync_api")

    offers, agreements = demo_catalogue()
    alliance = InMemoryAlliance(now_s=NOW, algorithms=[Algorithm.ED25519, Algorithm.P256, Algorithm.SM2],
                                offers=[o for o in offers if o.city in (330100, 330800, 330400)],
                                agreements=[a for a in agreements if a.id == "hangzhou-quzhou"])
    trust = tmp_path / "trust"
    assert alliance.repository is not None
    write_trust_dir(trust, alliance.repository, alliance.status_lists)
    files = {str(p.relative_to(trust)): base64.b64encode(p.read_bytes()).decode()
             for p in trust.rglob("*") if p.is_file()}
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(BUNDLE, site / "verifier.js")
    (site / "index.html").write_text(_PAGE, encoding="utf-8")
    codes = {alg: alliance.issue(330100, Tier.EXCELLENT, algorithm=alg, audience=330800).code for alg in Algorithm}
    expected = {alg: verification_to_json(alliance.verifier(now_s=NOW + 5).verify(code)) for alg, code in codes.items()}
    with _serve(site) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{base}/index.html")
            page.wait_for_function("window.tillReady === true")
            for alg, code in codes.items():
                out = page.evaluate("([f, a, t, c, o]) => window.runTill(f, a, t, c, o)",
                                    [files, base64.b64encode(alliance.anchor.data).decode(), NOW + 5, code,
                                     "quzhou-parking-discount-10"])
                assert out["hasSubtle"]
                assert out["verdict"] == {"exit": 0, "json": expected[alg]}, alg
                assert out["decision"]["json"]["eligible"] is True, out["decision"]
                assert out["decision"]["json"]["agreement"] == "hangzhou-quzhou"
            # The bundle fetched nothing itself: only the page and the module were requested.
            assert sorted({r.rsplit("/", 1)[-1] for r in requests}) == ["index.html", "verifier.js"]
        finally:
            browser.close()
