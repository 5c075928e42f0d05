"""Generate the conformance vectors.

    python -m citycredit.conformance.generate            # rewrite conformance/vectors/
    python -m citycredit.conformance.generate --check    # regenerate into a temporary folder and diff

Everything is fixed: keys come from seeds, the clock is `T0`, code ids and holder
pseudonyms are hashes of the case names, status lists are stored uncompressed in
zlib framing, and P-256 signatures come from `keys/p256-signatures.json` (see
`_deterministic`). Running the generator twice gives the same bytes; `--check`
fails when the committed vectors differ from what this file says they are.
"""

from __future__ import annotations

import argparse
import base64
import filecmp
import hashlib
import hmac
import itertools
import json
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import bundle_pb2, code_pb2
from citycredit.adapters import load_registry
from citycredit.core import (
    BUNDLE_CONTEXT,
    CODE_PREFIX,
    MIN_STATUS_LIST_SIZE,
    SIGNING_CONTEXT,
    Agreement,
    Algorithm,
    Benefit,
    BenefitKind,
    Category,
    Offer,
    Period,
    Quota,
    SigningKey,
    Tier,
    TrustAnchor,
    b45encode,
    encode_code,
    to_proto,
)
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._deterministic import SignatureBook, seeded_key, zlib_stored
from ._format import CHECK_STAGES, FORMAT, LAYERS, VERIFY_STAGES, stage_flags, vectors_root

__all__ = ["T0", "generate", "main"]

T0 = 1_795_000_000  # 2026-11-18T11:06:40Z, the vectors' reference clock
DAY = 86_400
ISSUED = T0 - 60  # the default code: issued a minute before T0, five minutes of life
TTL = 300
BUNDLE_VERSION = 5
BOOK_PATH = "keys/p256-signatures.json"
ED25519_L = 2**252 + 27742317777372353535851937790883648493
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
UTC8 = timezone(timedelta(hours=8))

HANGZHOU, QUZHOU, JIAXING, HUZHOU, XIAMEN = 330100, 330800, 330400, 330500, 350200
HZ_REVOKED = (1234, 70000)  # status indexes Hangzhou revoked
QZ_REVOKED = (4321,)
HOLDER_CUTOFF = T0 - 3600  # Hangzhou revoked "holder-downgraded" for codes issued before this


def iso(epoch_s: int, tz: timezone = UTC) -> str:
    text = datetime.fromtimestamp(epoch_s, tz).isoformat()
    return text.replace("+00:00", "Z")


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def holder(city: int, ref: str) -> bytes:
    """A holder pseudonym as the city would derive it (HMAC under a fixed test secret)."""
    secret = _digest("citycredit-conformance/v1/holder-secret", str(city))
    return hmac.new(secret, b"citycredit-holder/1\x00" + ref.encode(), hashlib.sha256).digest()[:16]


def wrap(payload: bytes, kid: bytes, signature: bytes, extra: bytes = b"") -> str:
    envelope = code_pb2.SignedCreditCode(payload=payload, kid=kid, signature=signature)
    return CODE_PREFIX + b45encode(envelope.SerializeToString(deterministic=True) + extra)


def _field_bytes(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (unknown fields and padding)."""
    tag, length = _varint(number << 3 | 2), _varint(len(value))
    return tag + length + value


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@dataclass(frozen=True)
class Built:
    """A code and the parts it was made of."""

    claims: code_pb2.CreditCode | None
    payload: bytes
    kid: bytes
    signature: bytes
    code: str

    def artefacts(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.claims is not None:
            c = self.claims
            doc["claims"] = {"code_id": c.code_id.hex(), "city": c.city, "holder": c.holder.hex(),
                             "tier": Tier(c.tier).name if 1 <= c.tier <= 6 else c.tier, "band": c.band,
                             "issued_at": c.issued_at, "expires_at": c.expires_at, "status_index": c.status_index,
                             "policy_version": c.policy_version}
        doc.update(payload_hex=self.payload.hex(), kid_hex=self.kid.hex(), signature_hex=self.signature.hex())
        return doc


class Keys:
    """Every key the vectors use, derived from its seed."""

    def __init__(self) -> None:
        self.seeds: dict[str, tuple[str, Algorithm]] = {}
        self.governance = [self._make(f"governance-{i}", Algorithm.ED25519) for i in range(1, 6)]
        self.foreign_governance = [self._make(f"foreign-governance-{i}", Algorithm.ED25519) for i in (1, 2)]
        self.hz_ed = self._make("hangzhou-ed25519", Algorithm.ED25519)
        self.hz_p256 = self._make("hangzhou-p256", Algorithm.P256)
        self.hz_old = self._make("hangzhou-ed25519-retired", Algorithm.ED25519)
        self.hz_next = self._make("hangzhou-ed25519-next", Algorithm.ED25519)
        self.hz_revoked = self._make("hangzhou-ed25519-revoked", Algorithm.ED25519)
        self.qz_ed = self._make("quzhou-ed25519", Algorithm.ED25519)
        self.jx_p256 = self._make("jiaxing-p256", Algorithm.P256)
        self.hu_ed = self._make("huzhou-ed25519", Algorithm.ED25519)
        self.xm_ed = self._make("xiamen-ed25519", Algorithm.ED25519)
        self.rogue = self._make("rogue-ed25519", Algorithm.ED25519)
        self.by_role = {role: key for role, key in vars(self).items() if isinstance(key, SigningKey)}
        for i, key in enumerate(self.governance, start=1):
            self.by_role[f"governance_{i}"] = key
        for i, key in enumerate(self.foreign_governance, start=1):
            self.by_role[f"foreign_governance_{i}"] = key

    def _make(self, name: str, algorithm: Algorithm) -> SigningKey:
        seed = f"citycredit-conformance/v1/{name}"
        key = seeded_key(seed, algorithm)
        self.seeds[key.kid.hex()] = (seed, algorithm)
        return key

    def document(self) -> dict[str, Any]:
        return {
            "note": "TEST KEYS for conformance vectors only. Each private key is derived from its seed: "
                    "Ed25519 from SHA-256(seed); P-256 as SHA-256(seed) mod (n-1) + 1.",
            "keys": [{"role": role, "seed": self.seeds[key.kid.hex()][0], "algorithm": key.algorithm.slug,
                      "kid": key.kid.hex(), "spki": base64.b64encode(key.spki).decode()}
                     for role, key in sorted(self.by_role.items())],
        }


def public_key(key: SigningKey, *, not_before: int, not_after: int = 0,
               status: bundle_pb2.KeyStatus = bundle_pb2.KEY_STATUS_ACTIVE,
               revoked_at: int = 0) -> bundle_pb2.PublicKey:
    return bundle_pb2.PublicKey(kid=key.kid, algorithm=key.algorithm.proto, spki=key.spki, not_before=not_before,
                                not_after=not_after, status=status, revoked_at=revoked_at)


def status_list(revoked: Iterable[int]) -> bundle_pb2.StatusList:
    bits = bytearray(MIN_STATUS_LIST_SIZE // 8)
    for index in revoked:
        bits[index >> 3] |= 1 << (7 - (index & 7))
    return bundle_pb2.StatusList(size=MIN_STATUS_LIST_SIZE, bits_zlib=zlib_stored(bytes(bits)), updated_at=T0 - DAY)


class Generator:
    """Writes every vector into `out`; the signature book supplies P-256 signatures."""

    def __init__(self, out: Path, book: SignatureBook) -> None:
        self.out = out
        self.book = book
        self.k = Keys()
        self.anchor = TrustAnchor(threshold=2, keys=tuple(k.verifying_key() for k in self.k.governance[:3]))
        self.negatives: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []

    # --- files -----------------------------------------------------------------------------------

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def write_json(self, relative: str, doc: Any) -> Path:
        return self.write(relative, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")

    # --- codes -----------------------------------------------------------------------------------

    def claims(self, name: str, city: int = HANGZHOU, *, tier: Tier = Tier.GOOD, band: str = "",
               issued: int = ISSUED, ttl: int = TTL, status_index: int | None = None,
               holder_ref: str = "holder-1") -> code_pb2.CreditCode:
        if status_index is None:
            status_index = int.from_bytes(_digest("status", name)[:4], "big") % MIN_STATUS_LIST_SIZE
            while status_index in HZ_REVOKED + QZ_REVOKED:
                status_index += 1
        return code_pb2.CreditCode(
            code_id=_digest("code-id", name)[:16], city=city, holder=holder(city, holder_ref), tier=tier.proto,
            band=band or f"测试分·{tier.label_zh}", issued_at=issued, expires_at=issued + ttl,
            status_index=status_index, policy_version=1)

    def sign_code(self, claims: code_pb2.CreditCode | None, key: SigningKey, *, payload: bytes | None = None,
                  kid: bytes | None = None, context: bytes = SIGNING_CONTEXT, extra: bytes = b"") -> Built:
        """Sign `payload` (default: the claims, serialized deterministically) with `key`."""
        if payload is None:
            assert claims is not None
            payload = claims.SerializeToString(deterministic=True)
        signature = self.book.sign(key, context + payload)
        kid = key.kid if kid is None else kid
        code = wrap(payload, kid, signature, extra)
        if (claims is not None and key.algorithm is Algorithm.ED25519 and kid == key.kid and not extra
                and context == SIGNING_CONTEXT and payload == claims.SerializeToString(deterministic=True)):
            assert code == encode_code(claims, key)  # the SDK's own encoder gives the same bytes
        return Built(claims, payload, kid, signature, code)

    def code(self, name: str, key: SigningKey | None = None, city: int | None = None, **kwargs: Any) -> Built:
        key = key or self.k.hz_ed
        city = city or HANGZHOU
        return self.sign_code(self.claims(name, city, **kwargs), key)

    # --- bundles ---------------------------------------------------------------------------------

    def members(self, *, full: bool = True) -> list[bundle_pb2.MemberCity]:
        k = self.k
        hz = bundle_pb2.MemberCity(city=HANGZHOU, name_zh="杭州", name_en="Hangzhou", slug="hangzhou",
                                   keys=[public_key(k.hz_ed, not_before=T0 - 365 * DAY)])
        if not full:
            return [hz]
        hz.keys.extend([
            public_key(k.hz_p256, not_before=T0 - 365 * DAY),
            public_key(k.hz_old, not_before=T0 - 730 * DAY, not_after=T0 - 30 * DAY,
                       status=bundle_pb2.KEY_STATUS_RETIRED),
            public_key(k.hz_next, not_before=T0 + 30 * DAY),
            public_key(k.hz_revoked, not_before=T0 - 365 * DAY, status=bundle_pb2.KEY_STATUS_REVOKED,
                       revoked_at=T0 - 10 * DAY),
        ])
        hz.status_list.CopyFrom(status_list(HZ_REVOKED))
        hz.holder_revocations.add(holder=holder(HANGZHOU, "holder-downgraded"), cutoff=HOLDER_CUTOFF)
        qz = bundle_pb2.MemberCity(city=QUZHOU, name_zh="衢州", name_en="Quzhou", slug="quzhou",
                                   keys=[public_key(k.qz_ed, not_before=T0 - 365 * DAY)])
        qz.status_list.CopyFrom(status_list(QZ_REVOKED))
        jx = bundle_pb2.MemberCity(city=JIAXING, name_zh="嘉兴", name_en="Jiaxing", slug="jiaxing",
                                   keys=[public_key(k.jx_p256, not_before=T0 - 365 * DAY)])
        hu = bundle_pb2.MemberCity(city=HUZHOU, name_zh="湖州", name_en="Huzhou", slug="huzhou",
                                   keys=[public_key(k.hu_ed, not_before=T0 - 365 * DAY)])
        xm = bundle_pb2.MemberCity(city=XIAMEN, name_zh="厦门", name_en="Xiamen", slug="xiamen",
                                   keys=[public_key(k.xm_ed, not_before=T0 - 365 * DAY)])
        return [hz, jx, hu, qz, xm]

    def body(self, *, version: int = BUNDLE_VERSION, issued: int = T0 - DAY, expires: int = T0 + 29 * DAY,
             full: bool = True, governance: TrustAnchor | None = None) -> bundle_pb2.BundleBody:
        return bundle_pb2.BundleBody(
            version=version, issued_at=issued, expires_at=expires, alliance="citycredit conformance alliance",
            governance=(governance or self.anchor).to_proto(), cities=self.members(full=full))

    def signed(self, body: bundle_pb2.BundleBody | bytes, signers: Sequence[SigningKey], *,
               context: bytes = BUNDLE_CONTEXT, kids: Sequence[bytes] | None = None) -> bytes:
        data = body if isinstance(body, bytes) else body.SerializeToString(deterministic=True)
        bundle = bundle_pb2.TrustBundle(body=data)
        for i, key in enumerate(signers):
            bundle.signatures.add(kid=kids[i] if kids else key.kid, signature=self.book.sign(key, context + data))
        return bundle.SerializeToString(deterministic=True)

    def bundle(self, name: str, data: bytes, *, anchor: TrustAnchor | None = None, about: str) -> str:
        """Write bundles/<name>/{bundle.ccb,anchor.json,README.md}; returns the folder name."""
        anchor = anchor or self.anchor
        self.write(f"bundles/{name}/bundle.ccb", data)
        self.write(f"bundles/{name}/anchor.json", anchor.to_json())
        self.write(f"bundles/{name}/README.md", f"# bundle `{name}`\n\n{about}\n\n{self._bundle_summary(data)}")
        return name

    def _bundle_summary(self, data: bytes) -> str:
        bundle = bundle_pb2.TrustBundle()
        try:
            bundle.ParseFromString(data)
            body = bundle_pb2.BundleBody()
            body.ParseFromString(bundle.body)
        except Exception:  # the deliberately broken bundles
            return f"Not a parseable bundle ({len(data)} bytes).\n"
        lines = [f"- version {body.version}, issued {iso(body.issued_at)}, expires {iso(body.expires_at)}",
                 f"- {len(bundle.signatures)} signature(s) by kid "
                 + ", ".join(f"`{s.kid.hex()}`" for s in bundle.signatures)]
        if body.HasField("governance"):
            lines.append(f"- governance in the body: {body.governance.threshold}-of-{len(body.governance.keys)} "
                         + ", ".join(f"`{k.kid.hex()}`" for k in body.governance.keys))
        status_names = {1: "active", 2: "retired", 3: "revoked"}
        for city in body.cities:
            lines.append(f"- city {city.city} {city.name_en}")
            for key in city.keys:
                window = f"[{iso(key.not_before)}, {iso(key.not_after) if key.not_after else '…'})"
                revoked = f", revoked at {iso(key.revoked_at)}" if key.status == bundle_pb2.KEY_STATUS_REVOKED else ""
                lines.append(f"  - key `{key.kid.hex()}` algorithm {key.algorithm} "
                             f"{status_names.get(key.status, key.status)} {window}{revoked}")
            revoked_ix = HZ_REVOKED if city.city == HANGZHOU else QZ_REVOKED if city.city == QUZHOU else ()
            if city.HasField("status_list"):
                lines.append(f"  - status list of {city.status_list.size} entries; revoked: "
                             + ", ".join(str(i) for i in revoked_ix))
            for rev in city.holder_revocations:
                lines.append(f"  - holder `{rev.holder.hex()}` revoked for codes issued before {iso(rev.cutoff)}")
        return "\n".join(lines) + "\n"

    # --- vectors ---------------------------------------------------------------------------------

    def vector(self, layer: str, case: str, description: str, built: Built | str, *, command: str = "verify",
               bundle: str = "main", clock: int | str = T0, stage: str | None = None,
               errors: Sequence[str] = (), result: Mapping[str, Any] | None = None,
               state: Mapping[str, Any] | None = None, offer: str | None = None, exit_code: int | None = None) -> None:
        """Write one verify or check vector. `stage`/`errors` for a negative case, else `result`."""
        negative = stage is not None
        if negative != case.endswith("_fail"):
            raise ValueError(f"{layer}/{case}: a negative case's name ends in _fail, a positive one's does not")
        folder = f"{layer}/{case}"
        code = built.code if isinstance(built, Built) else built
        self.write(f"{folder}/code.txt", code)
        stages = CHECK_STAGES if command == "check" else VERIFY_STAGES
        if exit_code is None:
            exit_code = 2 if stage == "bundle" else 1 if negative else 0
        expected: dict[str, Any] = {"exit": exit_code, "stages": stage_flags(stages, stage)}
        if command == "verify":
            if negative:
                expected["result"] = {"valid": False, "error": list(errors)}
            else:
                assert isinstance(built, Built) and built.claims is not None
                expected["result"] = {"valid": True, **self.verified(built.claims)}
        else:
            assert result is not None
            expected["result"] = dict(result)
            if errors:
                expected["result"]["error"] = list(errors)
        context: dict[str, Any] = {
            "clock": clock if isinstance(clock, str) else iso(clock),
            "bundle": f"../../bundles/{bundle}/bundle.ccb",
            "anchor": f"../../bundles/{bundle}/anchor.json",
        }
        if state is not None:
            self.write_json(f"{folder}/state.json", state)
            context["state"] = "state.json"
        if offer is not None:
            context["offer"] = offer
        doc: dict[str, Any] = {"format": FORMAT, "name": folder, "layer": layer, "command": command,
                               "description": description, "context": context, "input": {"code": "code.txt"},
                               "expected": expected}
        if isinstance(built, Built):
            doc["artefacts"] = built.artefacts()
        self.write_json(f"{folder}/vector.json", doc)
        self.cases.append({"name": folder, "layer": layer, "description": description, "negative": negative})
        if negative:
            said = list(errors) or [str(expected["result"].get("reason"))]  # a decision's "no" names its reason
            self.negatives.append({"name": folder, "layer": layer, "stage": stage, "errors": said,
                                   "exit": exit_code, "description": description})

    def verified(self, claims: code_pb2.CreditCode) -> dict[str, Any]:
        return {"city": f"{claims.city:06d}", "tier": Tier(claims.tier).name, "band": claims.band,
                "expires_at": iso(claims.expires_at)}

    def fail(self, layer: str, case: str, description: str, built: Built | str, stage: str, *errors: str,
             **kwargs: Any) -> None:
        self.vector(layer, case, description, built, stage=stage, errors=errors, **kwargs)

    # --- the layers ------------------------------------------------------------------------------

    def generate(self) -> None:
        self.write_json("keys/keys.json", self.k.document())
        g = self.k.governance
        self.bundle("main", self.signed(self.body(), g[:2]),
                    about="The trust bundle most vectors verify against: five cities, Hangzhou with keys in "
                          "every state, status lists for Hangzhou and Quzhou, one holder cut-off.")
        self.decode_layer()
        self.signature_layer()
        self.time_layer()
        self.revocation_layer()
        self.bundle_layer()
        self.adapter_layer()
        self.eligibility_layer()
        self.write("keys/p256-signatures.json", self.book.dump())
        self.write_catalogue()

    def decode_layer(self) -> None:
        good = self.code("decode-base")
        body = good.code[len(CODE_PREFIX):]
        fail = self.fail
        fail("decode", "prefix_missing_fail", "Base45 body without the CC1: prefix", body, "prefix", "CC_PREFIX")
        fail("decode", "prefix_lowercase_fail", "prefix written cc1: in lower case", "cc1:" + body, "prefix",
             "CC_PREFIX")
        fail("decode", "prefix_hc1_fail", "an EU HC1: prefix instead of CC1:", "HC1:" + body, "prefix", "CC_PREFIX")
        fail("decode", "prefix_version_2_fail", "an unknown format version CC2:", "CC2:" + body, "prefix",
             "CC_PREFIX")
        fail("decode", "prefix_fullwidth_colon_fail", "prefix with a full-width colon (CC1：)", "CC1：" + body,
             "prefix", "CC_PREFIX")
        fail("decode", "empty_fail", "an empty string", "", "prefix", "CC_PREFIX")
        fail("decode", "base45_lowercase_fail", "Base45 body in lower case (outside the alphabet)",
             CODE_PREFIX + body.lower(), "base45", "CC_BASE45")
        fail("decode", "base45_length_mod3_fail", "Base45 text whose length leaves remainder 1 modulo 3",
             good.code + "0" * ((1 - len(body)) % 3), "base45", "CC_BASE45")
        fail("decode", "base45_triple_overflow_fail", "a 3-character Base45 group worth more than 65535 (':::')",
             CODE_PREFIX + ":::" + body[3:], "base45", "CC_BASE45")
        fail("decode", "base45_pair_overflow_fail", "a final 2-character Base45 group worth more than 255 ('::')",
             good.code + "::", "base45", "CC_BASE45")
        fail("decode", "base45_non_ascii_fail", "a Chinese character inside the Base45 body",
             CODE_PREFIX + "中" + body[1:], "base45", "CC_BASE45")
        fail("decode", "envelope_not_protobuf_fail", "Base45 of bytes that are not a protobuf message",
             CODE_PREFIX + b45encode(b"\xff\xff\xff\xff"), "envelope", "CC_MALFORMED")
        fail("decode", "envelope_empty_fail", "CC1: followed by nothing (an empty envelope)", CODE_PREFIX,
             "envelope", "CC_MALFORMED")
        fail("decode", "kid_7_bytes_fail", "kid of 7 bytes", wrap(good.payload, good.kid[:7], good.signature),
             "envelope", "CC_MALFORMED")
        fail("decode", "kid_9_bytes_fail", "kid of 9 bytes", wrap(good.payload, good.kid + b"\x00", good.signature),
             "envelope", "CC_MALFORMED")
        fail("decode", "signature_63_bytes_fail", "signature of 63 bytes",
             wrap(good.payload, good.kid, good.signature[:63]), "envelope", "CC_MALFORMED")
        fail("decode", "signature_65_bytes_fail", "signature of 65 bytes",
             wrap(good.payload, good.kid, good.signature + b"\x00"), "envelope", "CC_MALFORMED")
        fail("decode", "payload_empty_fail", "an envelope with an empty payload",
             wrap(b"", good.kid, self.book.sign(self.k.hz_ed, SIGNING_CONTEXT)), "envelope", "CC_MALFORMED")
        # Length: a valid code padded (an unknown payload field) to exactly the limit, and one group past it.
        padded = self._padded("decode-length", 1024)
        self.vector("decode", "length_1024_valid", "a valid code of exactly 1,024 characters (the limit)", padded)
        fail("decode", "length_1025_fail", "the 1,024-character code and one more character: too long before "
             "anything else", padded.code + "0", "length", "CC_TOO_LONG")
        fail("decode", "length_1026_signed_fail", "a correctly signed code of 1,026 characters",
             self._padded("decode-length-over", 1026), "length", "CC_TOO_LONG")
        fail("decode", "length_junk_fail", "2,000 characters of junk: length is refused before the prefix",
             "X" * 2000, "length", "CC_TOO_LONG")
        # Claims: correctly signed payloads that are not acceptable CreditCodes.
        key = self.k.hz_ed

        def bad_claims(case: str, description: str, **changes: Any) -> None:
            claims = self.claims(f"decode-{case}")
            for field_name, value in changes.items():
                setattr(claims, field_name, value)
            fail("decode", case, description, self.sign_code(claims, key), "claims", "CC_MALFORMED")

        fail("decode", "claims_not_protobuf_fail", "a signed payload that is not a CreditCode message",
             self.sign_code(None, key, payload=b"\xff\xff\xff\xff"), "claims", "CC_MALFORMED")
        bad_claims("claims_code_id_15_bytes_fail", "a code id of 15 bytes", code_id=b"\x01" * 15)
        bad_claims("claims_city_not_gbt2260_fail", "city 999999 is no GB/T 2260 division code", city=999999)
        bad_claims("claims_holder_4_bytes_fail", "a holder pseudonym of 4 bytes", holder=b"\x02" * 4)
        bad_claims("claims_tier_unspecified_fail", "tier 0 (unspecified)", tier=0)
        bad_claims("claims_tier_7_fail", "tier 7, above OUTSTANDING", tier=7)
        bad_claims("claims_expiry_equals_issue_fail", "expires_at equal to issued_at", expires_at=ISSUED)
        bad_claims("claims_issued_at_zero_fail", "issued_at of 0", issued_at=0)
        bad_claims("claims_band_65_chars_fail", "a band label of 65 characters", band="分" * 65)

    def _padded(self, name: str, chars: int) -> Built:
        """A valid Hangzhou code padded with an unknown payload field to exactly `chars` characters."""
        claims = self.claims(name)
        for pad in range(0, 800):
            payload = claims.SerializeToString(deterministic=True) + _field_bytes(100, b"\x00" * pad)
            envelope_len = len(code_pb2.SignedCreditCode(payload=payload, kid=b"\x00" * 8,
                                                         signature=b"\x00" * 64).SerializeToString())
            if len(CODE_PREFIX) + 3 * (envelope_len // 2) + 2 * (envelope_len % 2) == chars:
                built = self.sign_code(claims, self.k.hz_ed, payload=payload)
                assert len(built.code) == chars
                return built
        raise AssertionError(f"no padding gives {chars} characters")

    def signature_layer(self) -> None:
        k, fail, vector = self.k, self.fail, self.vector
        vector("signature", "ed25519_valid", "a Hangzhou code signed with its Ed25519 key", self.code("sig-ed"))
        p256 = self.code("sig-p256", k.hz_p256, tier=Tier.EXCELLENT)
        vector("signature", "p256_valid", "a Hangzhou code signed with its ECDSA P-256 key", p256)
        vector("signature", "p256_only_city_valid", "a Jiaxing code (a city with only a P-256 key)",
               self.code("sig-jx", k.jx_p256, JIAXING, tier=Tier.FAIR))
        vector("signature", "other_city_valid", "a Quzhou code signed with the Quzhou key",
               self.code("sig-qz", k.qz_ed, QUZHOU, tier=Tier.OUTSTANDING))
        good = self.code("sig-tamper")
        flipped = bytes([good.signature[0] ^ 1]) + good.signature[1:]
        fail("signature", "tampered_signature_fail", "one bit of the Ed25519 signature flipped",
             wrap(good.payload, good.kid, flipped), "signature", "CC_SIGNATURE_INVALID")
        upgraded = code_pb2.CreditCode()
        assert good.claims is not None
        upgraded.CopyFrom(good.claims)
        upgraded.tier = Tier.OUTSTANDING.proto
        fail("signature", "tampered_payload_tier_fail", "tier raised to OUTSTANDING after signing",
             wrap(upgraded.SerializeToString(deterministic=True), good.kid, good.signature), "signature",
             "CC_SIGNATURE_INVALID")
        fail("signature", "tampered_payload_appended_fail", "an unknown field appended to the payload after signing",
             wrap(good.payload + _field_bytes(100, b"x"), good.kid, good.signature), "signature",
             "CC_SIGNATURE_INVALID")
        fail("signature", "kid_swapped_fail", "a Hangzhou signature carrying the Quzhou key's kid",
             wrap(good.payload, k.qz_ed.kid, good.signature), "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "unknown_kid_fail", "signed by a key that is in no trust bundle",
             self.code("sig-rogue", k.rogue), "key", "CC_KEY_UNKNOWN")
        p_sig = p256.signature[:40] + bytes([p256.signature[40] ^ 1]) + p256.signature[41:]
        fail("signature", "p256_tampered_signature_fail", "one bit of the P-256 signature's s flipped",
             wrap(p256.payload, p256.kid, p_sig), "signature", "CC_SIGNATURE_INVALID")
        # Algorithm confusion: the algorithm comes from the key the kid selects, never from the code.
        fail("signature", "p256_signature_under_ed25519_kid_fail",
             "signed with the city's P-256 key but carrying its Ed25519 kid (try-every-algorithm trap)",
             self.sign_code(self.claims("sig-alg-1", tier=Tier.OUTSTANDING), k.hz_p256, kid=k.hz_ed.kid),
             "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "ed25519_signature_under_p256_kid_fail",
             "signed with the city's Ed25519 key but carrying its P-256 kid",
             self.sign_code(self.claims("sig-alg-2", tier=Tier.OUTSTANDING), k.hz_ed, kid=k.hz_p256.kid),
             "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "envelope_names_algorithm_fail",
             "the envelope carries an extra field naming \"p256\" and a P-256 signature under the Ed25519 kid",
             self.sign_code(self.claims("sig-alg-3", tier=Tier.OUTSTANDING), k.hz_p256, kid=k.hz_ed.kid,
                            extra=_field_bytes(4, b"p256")),
             "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "other_city_key_fail", "a code naming Hangzhou signed with the Quzhou key (and its kid)",
             self.code("sig-city", k.qz_ed, HANGZHOU), "city", "CC_CITY_MISMATCH")
        fail("signature", "ed25519_without_context_fail", "Ed25519 over the payload alone, without b\"CC1\\x00\"",
             self.sign_code(self.claims("sig-ctx-ed"), k.hz_ed, context=b""), "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "p256_without_context_fail", "P-256 over the payload alone, without b\"CC1\\x00\"",
             self.sign_code(self.claims("sig-ctx-p256"), k.hz_p256, context=b""), "signature",
             "CC_SIGNATURE_INVALID")
        s = int.from_bytes(good.signature[32:], "little") + ED25519_L
        fail("signature", "ed25519_s_not_reduced_fail", "Ed25519 signature with S + L (malleable, non-canonical)",
             wrap(good.payload, good.kid, good.signature[:32] + s.to_bytes(32, "little")), "signature",
             "CC_SIGNATURE_INVALID")
        fail("signature", "p256_r_zero_fail", "a P-256 signature with r = 0",
             wrap(p256.payload, p256.kid, bytes(32) + p256.signature[32:]), "signature", "CC_SIGNATURE_INVALID")
        fail("signature", "p256_s_equals_order_fail", "a P-256 signature with s = n (out of range)",
             wrap(p256.payload, p256.kid, p256.signature[:32] + P256_N.to_bytes(32, "big")), "signature",
             "CC_SIGNATURE_INVALID")
        der = _der(p256.signature)
        fail("signature", "p256_der_signature_fail", "a P-256 signature in DER instead of raw r‖s (64 bytes)",
             wrap(p256.payload, p256.kid, der), "envelope", "CC_MALFORMED")
        # The signature covers the bytes as received: a verifier must not re-serialize.
        claims = self.claims("sig-order", tier=Tier.EXCELLENT)
        fields: list[Any] = list(claims.DESCRIPTOR.fields)
        reordered = b"".join(_single_field(claims, f.name) for f in reversed(fields))
        vector("signature", "payload_field_order_valid",
               "payload fields in reverse order, signed as they are (re-serializing breaks the signature)",
               self.sign_code(claims, k.hz_ed, payload=reordered))
        vector("signature", "payload_unknown_field_valid",
               "payload with an unknown field 50 (forward compatibility: kept, not rejected)",
               self.sign_code(self.claims("sig-unknown"), k.hz_ed,
                              payload=self.claims("sig-unknown").SerializeToString(deterministic=True)
                              + _field_bytes(50, "未来的字段".encode())))
        vector("signature", "envelope_unknown_field_valid", "envelope with an unknown field 9 after the signature",
               self.sign_code(self.claims("sig-env-unknown"), k.hz_ed, extra=_field_bytes(9, b"later")))
        # Key windows: a key verifies codes issued inside its window, whatever its status now.
        vector("signature", "retired_key_inside_window_valid",
               "a printed code issued 40 days ago with the Hangzhou key retired 30 days ago",
               self.code("key-retired-in", k.hz_old, issued=T0 - 40 * DAY, ttl=365 * DAY))
        vector("signature", "key_window_start_valid", "issued at the exact second the retired key's window opened",
               self.code("key-start", k.hz_old, issued=T0 - 730 * DAY, ttl=800 * DAY))
        fail("signature", "retired_key_after_window_fail", "issued now with the key retired 30 days ago",
             self.code("key-retired-out", k.hz_old), "key_window", "CC_KEY_NOT_VALID")
        fail("signature", "key_window_end_exclusive_fail", "issued at the exact second the retired key's window closed",
             self.code("key-end", k.hz_old, issued=T0 - 30 * DAY, ttl=60 * DAY), "key_window", "CC_KEY_NOT_VALID")
        fail("signature", "key_not_yet_valid_fail", "signed with the published next key, 30 days before its window",
             self.code("key-next", k.hz_next), "key_window", "CC_KEY_NOT_VALID")
        fail("signature", "revoked_key_after_revocation_fail", "issued now with the key revoked 10 days ago",
             self.code("key-revoked-out", k.hz_revoked), "key_window", "CC_KEY_NOT_VALID")
        vector("signature", "revoked_key_before_revocation_valid",
               "issued 20 days ago with the key revoked 10 days ago (codes before the revocation stand)",
               self.code("key-revoked-in", k.hz_revoked, issued=T0 - 20 * DAY, ttl=60 * DAY))

    def time_layer(self) -> None:
        fail, vector = self.fail, self.vector
        built = self.code("time-base")
        expires = ISSUED + TTL
        vector("time", "at_issue_time_valid", "the clock at the second of issue", built, clock=ISSUED)
        fail("time", "before_issue_fail", "the clock one second before issue", built, "validity",
             "CC_NOT_YET_VALID", clock=ISSUED - 1)
        vector("time", "last_second_valid", "the clock one second before expiry", built, clock=expires - 1)
        fail("time", "at_expiry_fail", "the clock at the second of expiry (the window is half-open)", built,
             "validity", "CC_EXPIRED", clock=expires)
        fail("time", "day_after_expiry_fail", "the clock a day after expiry", built, "validity", "CC_EXPIRED",
             clock=expires + DAY)
        vector("time", "zone_offset_valid", "the clock given in UTC+8, one second before expiry", built,
               clock=iso(expires - 1, UTC8))
        fail("time", "zone_offset_expired_fail", "the clock given in UTC+8, at expiry", built, "validity",
             "CC_EXPIRED", clock=iso(expires, UTC8))
        vector("time", "printed_long_lived_valid", "a printed code valid for a year, 200 days into its life",
               self.code("time-printed", issued=T0 - 200 * DAY, ttl=366 * DAY))
        fail("time", "issued_in_future_fail", "a code issued an hour after the clock", self.code(
            "time-future", issued=T0 + 3600), "validity", "CC_NOT_YET_VALID")

    def revocation_layer(self) -> None:
        k, fail, vector = self.k, self.fail, self.vector
        fail("revocation", "status_index_revoked_fail", "Hangzhou status index 1234 is revoked",
             self.code("rev-1234", status_index=1234), "revocation", "CC_REVOKED")
        vector("revocation", "status_index_neighbour_valid", "index 1235, next to a revoked bit, is not revoked",
               self.code("rev-1235", status_index=1235))
        vector("revocation", "status_index_bit_order_valid",
               "index 1237 (1234 read least-significant bit first) is not revoked: bits run MSB first",
               self.code("rev-1237", status_index=1237))
        fail("revocation", "status_index_high_revoked_fail", "Hangzhou status index 70000 is revoked",
             self.code("rev-70000", status_index=70000), "revocation", "CC_REVOKED")
        vector("revocation", "status_index_zero_valid", "status index 0 is not revoked",
               self.code("rev-0", status_index=0))
        fail("revocation", "status_index_beyond_list_fail",
             "index 131072, beyond the list, counts as revoked (no issuer hands it out)",
             self.code("rev-beyond", status_index=MIN_STATUS_LIST_SIZE), "revocation", "CC_REVOKED")
        vector("revocation", "other_city_index_valid",
               "a Quzhou code with index 1234 (revoked in Hangzhou's list only)",
               self.code("rev-qz-1234", k.qz_ed, QUZHOU, status_index=1234))
        fail("revocation", "other_city_revoked_fail", "Quzhou status index 4321 is revoked",
             self.code("rev-qz-4321", k.qz_ed, QUZHOU, status_index=4321), "revocation", "CC_REVOKED")
        vector("revocation", "no_status_list_valid", "a Jiaxing code; Jiaxing publishes no status list",
               self.code("rev-jx", k.jx_p256, JIAXING, status_index=1234))
        fail("revocation", "holder_before_cutoff_fail",
             "a downgraded holder's code issued one second before the cut-off",
             self.code("rev-holder-before", holder_ref="holder-downgraded", issued=HOLDER_CUTOFF - 1, ttl=2 * DAY),
             "revocation", "CC_REVOKED")
        vector("revocation", "holder_at_cutoff_valid", "the downgraded holder's code issued at the cut-off second",
               self.code("rev-holder-at", holder_ref="holder-downgraded", issued=HOLDER_CUTOFF, ttl=2 * DAY))
        vector("revocation", "holder_other_valid", "another holder's code issued before the cut-off",
               self.code("rev-holder-other", holder_ref="holder-2", issued=HOLDER_CUTOFF - 1, ttl=2 * DAY))
        claims = self.claims("rev-holder-qz", QUZHOU, issued=HOLDER_CUTOFF - 1, ttl=2 * DAY)
        claims.holder = holder(HANGZHOU, "holder-downgraded")
        vector("revocation", "holder_cutoff_other_city_valid",
               "a Quzhou code with the pseudonym Hangzhou revoked: cut-offs are per city",
               self.sign_code(claims, k.qz_ed))
        fail("revocation", "expired_and_revoked_fail", "revoked and also expired: either refusal is right",
             self.code("rev-expired", status_index=1234), "validity", "CC_EXPIRED", "CC_REVOKED",
             clock=ISSUED + TTL + 60)

    def bundle_layer(self) -> None:
        k, g = self.k, self.k.governance
        fail, vector = self.fail, self.vector
        lite = self.body(full=False)
        code = self.code("bundle-code")

        def bundle_fail(case: str, description: str, name: str, data: bytes, *errors: str,
                        anchor: TrustAnchor | None = None, **kwargs: Any) -> None:
            self.bundle(name, data, anchor=anchor, about=description)
            fail("bundle", case, description, code, "bundle", *errors, bundle=name, **kwargs)

        self.bundle("lite", self.signed(lite, g[:2]), about="A small valid bundle: Hangzhou's Ed25519 key only.")
        vector("bundle", "lite_valid", "a valid 2-of-3 bundle and a valid code", code, bundle="lite")
        vector("bundle", "all_three_signed_valid", "signed by all three governance keys", code,
               bundle=self.bundle("signed_by_three", self.signed(lite, g[:3]), about="Signed by 3 of 3."))
        vector("bundle", "extra_unknown_signature_valid", "2-of-3 plus a signature by a key the anchor does not pin",
               code, bundle=self.bundle("extra_signature", self.signed(lite, [g[0], g[1], k.foreign_governance[0]]),
                                        about="Two governance signatures and one foreign one."))
        bundle_fail("signed_by_one_fail", "one valid signature where the anchor requires two", "signed_by_one",
                    self.signed(lite, g[:1]), "CC_BUNDLE_THRESHOLD")
        bundle_fail("duplicate_signer_fail", "one governance key signing twice counts once", "duplicate_signer",
                    self.signed(lite, [g[0], g[0]]), "CC_BUNDLE_THRESHOLD")
        bundle_fail("foreign_signers_fail", "two signatures by keys the anchor does not pin", "foreign_signers",
                    self.signed(lite, k.foreign_governance), "CC_BUNDLE_THRESHOLD")
        bundle_fail("kid_spoofed_signer_fail", "a foreign key's signature labelled with a governance kid",
                    "kid_spoofed", self.signed(lite, [g[0], k.foreign_governance[0]], kids=[g[0].kid, g[1].kid]),
                    "CC_BUNDLE_THRESHOLD")
        tampered = bundle_pb2.TrustBundle()
        tampered.ParseFromString(self.signed(lite, g[:2]))
        at = tampered.body.index(b"conformance")
        tampered.body = tampered.body[:at] + b"C" + tampered.body[at + 1:]
        bundle_fail("tampered_body_fail", "one byte of the signed body changed after signing", "tampered_body",
                    tampered.SerializeToString(deterministic=True), "CC_BUNDLE_THRESHOLD")
        bundle_fail("signed_without_context_fail", "governance signatures over the body without b\"CCB1\\x00\"",
                    "no_context", self.signed(lite, g[:2], context=b""), "CC_BUNDLE_THRESHOLD")
        strict = TrustAnchor(threshold=3, keys=self.anchor.keys)
        bundle_fail("anchor_requires_three_fail", "a 2-of-3 bundle under an anchor pinning a threshold of 3",
                    "anchor_threshold_3", self.signed(lite, g[:2]), "CC_BUNDLE_THRESHOLD", anchor=strict)
        other = TrustAnchor(threshold=2, keys=tuple(key.verifying_key() for key in k.foreign_governance))
        bundle_fail("anchor_other_keys_fail", "a valid bundle under an anchor pinning other governance keys",
                    "anchor_other_keys", self.signed(lite, g[:2]), "CC_BUNDLE_THRESHOLD", anchor=other)
        bundle_fail("expired_beyond_grace_fail", "the bundle expired 10 days before the clock (grace is 3 days)",
                    "expired_10_days", self.signed(self.body(full=False, issued=T0 - 40 * DAY,
                                                             expires=T0 - 10 * DAY), g[:2]), "CC_BUNDLE_STALE")
        vector("bundle", "expired_within_grace_valid", "the bundle expired an hour before the clock (inside grace)",
               code, bundle=self.bundle("expired_1_hour", self.signed(
                   self.body(full=False, issued=T0 - 30 * DAY, expires=T0 - 3600), g[:2]),
                   about="Expired an hour before T0: inside every offline grace of an hour or more."))
        bundle_fail("not_a_bundle_fail", "bytes that are not a TrustBundle message", "garbage",
                    b"\xff\xff\xff\xffnot a bundle", "CC_BUNDLE_MALFORMED", "CC_BUNDLE_THRESHOLD")
        bundle_fail("empty_file_fail", "an empty bundle file", "empty", b"", "CC_BUNDLE_MALFORMED",
                    "CC_BUNDLE_THRESHOLD")
        bundle_fail("expiry_before_issue_fail", "a signed body whose expiry precedes its issue time",
                    "expiry_before_issue", self.signed(self.body(full=False, issued=T0, expires=T0 - DAY), g[:2]),
                    "CC_BUNDLE_MALFORMED", "CC_BUNDLE_STALE")
        bad_kid = self.body(full=False)
        bad_kid.cities[0].keys[0].kid = b"\x00" * 8
        bundle_fail("city_kid_mismatch_fail", "a city key whose kid is not the hash of its key", "city_kid_mismatch",
                    self.signed(bad_kid, g[:2]), "CC_BUNDLE_MALFORMED")
        bad_alg = self.body(full=False)
        bad_alg.cities[0].keys[0].algorithm = 9  # type: ignore[assignment]
        bundle_fail("city_key_unknown_algorithm_fail", "a city key with algorithm number 9", "city_unknown_algorithm",
                    self.signed(bad_alg, g[:2]), "CC_BUNDLE_MALFORMED")
        # Governance rotation (TUF): a new set needs the thresholds of both the pinned and the new keys.
        rotated = TrustAnchor(threshold=2, keys=tuple(key.verifying_key() for key in g[2:5]))
        new_body = self.body(full=False, version=BUNDLE_VERSION + 1, governance=rotated)
        vector("bundle", "governance_rotation_valid", "version 6 rotates governance to keys 3-5, signed by 1, 2, 4, 5",
               code, bundle=self.bundle("rotation", self.signed(new_body, [g[0], g[1], g[3], g[4]]),
                                        about="Rotates governance; signed by the old and the new thresholds."))
        bundle_fail("governance_rotation_old_only_fail", "a governance rotation signed by the old keys only",
                    "rotation_old_only", self.signed(new_body, g[:2]), "CC_BUNDLE_THRESHOLD")
        # Rollback and fork (TUF): the state file holds the last version accepted and its body's digest.
        main = bundle_pb2.TrustBundle()
        main.ParseFromString((self.out / "bundles/main/bundle.ccb").read_bytes())
        digest = hashlib.sha256(main.body).hexdigest()
        hz = self.code("bundle-state")
        fail("bundle", "rollback_fail", "the client accepted version 6; the bundle offered is version 5", hz,
             "bundle", "CC_BUNDLE_ROLLBACK", state={"version": BUNDLE_VERSION + 1, "digest": "00" * 32})
        fail("bundle", "fork_same_version_fail", "the client accepted a different body as version 5", hz,
             "bundle", "CC_BUNDLE_ROLLBACK", state={"version": BUNDLE_VERSION, "digest": "11" * 32})
        vector("bundle", "same_version_valid", "the client accepted this very bundle before", hz,
               state={"version": BUNDLE_VERSION, "digest": digest})
        vector("bundle", "newer_version_valid", "the client accepted version 4; version 5 moves it forward", hz,
               state={"version": BUNDLE_VERSION - 1, "digest": "22" * 32})

    # --- eligibility -----------------------------------------------------------------------------

    def eligibility_layer(self) -> None:
        """Decision tables: a bundle with offers and agreements, a code, an offer id and a clock."""
        def offer(offer_id: str, city: int, category: Category, min_tier: Tier, kind: BenefitKind, text: str,
                  **kwargs: Any) -> Any:
            benefit = Benefit(kind=kind, text_zh=text, text_en=offer_id.replace("-", " "),
                              discount_percent=kwargs.pop("percent", 0), count=kwargs.pop("count", 0))
            return to_proto(Offer(id=offer_id, city=city, category=category, min_tier=min_tier, benefit=benefit,
                         title_zh=f"{text}（测试）", title_en=offer_id, **kwargs))

        year_2026 = 1_767_196_800  # 2026-01-01T00:00+08:00
        offers = [
            offer("hz-library", HANGZHOU, Category.LIBRARY, Tier.GOOD, BenefitKind.WAIVER, "免押金借书",
                  valid_from_s=year_2026),
            offer("hz-parking", HANGZHOU, Category.PARKING, Tier.FAIR, BenefitKind.DISCOUNT, "停车九折", percent=10),
            offer("hz-housing-fund", HANGZHOU, Category.HOUSING_FUND, Tier.EXCELLENT, BenefitKind.EXTRA_ALLOWANCE,
                  "公积金贷款额度上浮", local_only=True),
            offer("hz-scenic-later", HANGZHOU, Category.SCENIC_SPOT, Tier.GOOD, BenefitKind.WAIVER, "景区免票",
                  valid_from_s=T0 + 7200),
            offer("hz-hotel-ended", HANGZHOU, Category.HOTEL, Tier.GOOD, BenefitKind.WAIVER, "酒店免押金",
                  valid_from_s=year_2026, valid_until_s=T0),
            offer("qz-parking-free-3", QUZHOU, Category.PARKING, Tier.EXCELLENT, BenefitKind.FREE_USES,
                  "每月免费停车3次", count=3, quota=Quota(uses=3, period=Period.MONTH)),
            offer("jx-fitness", JIAXING, Category.FITNESS, Tier.GOOD, BenefitKind.DISCOUNT, "健身八折", percent=20),
            offer("jx-library", JIAXING, Category.LIBRARY, Tier.GOOD, BenefitKind.WAIVER, "免押金借书"),
            offer("sh-museum", 310000, Category.SCENIC_SPOT, Tier.GOOD, BenefitKind.WAIVER, "博物馆免票"),
            offer("xm-bike", XIAMEN, Category.PUBLIC_BIKE, Tier.GOOD, BenefitKind.WAIVER, "免押金骑行"),
        ]
        agreements = [
            to_proto(Agreement(id="hz-qz", cities=frozenset({HANGZHOU, QUZHOU}), not_before_s=1_588_176_000,
                      title="杭衢信用互认 (from 2020-04-30)")),
            to_proto(Agreement(id="jx-hu-tourism", cities=frozenset({JIAXING, HUZHOU}), not_before_s=year_2026,
                      categories=frozenset({Category.SCENIC_SPOT, Category.HOTEL, Category.DINING, Category.FITNESS}),
                      title="嘉湖文旅互认")),
            to_proto(Agreement(id="hz-xm-ended", cities=frozenset({HANGZHOU, XIAMEN}),
                               not_before_s=year_2026 - 730 * DAY, not_after_s=year_2026 + 151 * DAY,
                               title="杭厦互认 (ended)")),
            to_proto(Agreement(id="hz-hu-soon", cities=frozenset({HANGZHOU, HUZHOU}), not_before_s=T0 + 3600,
                      title="杭湖互认 (from an hour after T0)")),
        ]
        body = self.body()
        for city in body.cities:
            city.ClearField("status_list")  # revocation is the revocation layer's; keep the bundle small
            if city.city != XIAMEN:  # a member without a tier policy has no same-city rules
                city.tier_policy.CopyFrom(bundle_pb2.TierPolicy(
                    scheme=f"{city.slug}-test", version=1, digest=_digest("tier-policy", city.slug), confirmed=True))
        body.offers.extend(offers)
        body.agreements.extend(agreements)
        g = self.k.governance
        self.bundle("offers", self.signed(body, g[:2]),
                    about="The main members with offers and agreements for the eligibility decision tables "
                          "(status lists left out; the holder cut-off kept; Xiamen has no tier policy).")
        broken = bundle_pb2.BundleBody()
        broken.CopyFrom(body)
        broken.offers[0].min_tier = 0  # type: ignore[assignment]
        self.bundle("offers_invalid", self.signed(broken, g[:2]),
                    about="Correctly signed, but its first offer has no minimum tier.")
        texts = {o.id: o.benefit.text_zh for o in offers}
        k = self.k

        def check(case: str, description: str, code: Built | str, offer_id: str, *, eligible: bool = False,
                  reason: str | None = None, tier: Tier | None = None, local: bool | None = None,
                  stage: str | None = None, errors: Sequence[str] = (), clock: int = T0, bundle: str = "offers",
                  exit_code: int | None = None) -> None:
            result: dict[str, Any] = {"eligible": eligible, "reason": reason, "offer": offer_id}
            if tier is not None:
                result["tier"] = tier.name
            if local is not None:
                result["treated_as_local"] = local
            if eligible:
                result["benefit"] = texts[offer_id]
            if reason is not None and stage is None:
                stage = "decision"
            self.vector("eligibility", case, description, code, command="check", bundle=bundle, clock=clock,
                        stage=stage, errors=errors, result=result, offer=offer_id, exit_code=exit_code)

        def code(name: str, city: int = HANGZHOU, tier: Tier = Tier.GOOD, **kwargs: Any) -> Built:
            key = {HANGZHOU: k.hz_ed, QUZHOU: k.qz_ed, JIAXING: k.jx_p256, HUZHOU: k.hu_ed, XIAMEN: k.xm_ed}[city]
            return self.code(f"elig-{name}", key, city, tier=tier, **kwargs)

        good, fair = code("hz-good"), code("hz-fair", tier=Tier.FAIR)
        check("resident_at_minimum_eligible", "a Hangzhou resident at the offer's minimum tier (GOOD)", good,
              "hz-library", eligible=True, tier=Tier.GOOD, local=True)
        check("resident_above_minimum_eligible", "a Hangzhou resident above the minimum (OUTSTANDING)",
              code("hz-outstanding", tier=Tier.OUTSTANDING), "hz-library", eligible=True, tier=Tier.OUTSTANDING,
              local=True)
        check("resident_tier_too_low_fail", "a Hangzhou resident one tier below the minimum", fair, "hz-library",
              reason="TIER_TOO_LOW", tier=Tier.FAIR, local=True)
        check("restricted_tier_fail", "a RESTRICTED (失信) holder at an offer open from FAIR",
              code("hz-restricted", tier=Tier.RESTRICTED), "hz-parking", reason="TIER_TOO_LOW",
              tier=Tier.RESTRICTED, local=True)
        check("resident_local_only_eligible", "a Hangzhou resident at a local-only offer",
              code("hz-excellent", tier=Tier.EXCELLENT), "hz-housing-fund", eligible=True, tier=Tier.EXCELLENT,
              local=True)
        qz_excellent = code("qz-excellent", QUZHOU, Tier.EXCELLENT)
        check("visitor_agreement_eligible", "a Quzhou visitor in Hangzhou under the Hangzhou–Quzhou agreement",
              qz_excellent, "hz-library", eligible=True, tier=Tier.EXCELLENT, local=True)
        check("visitor_agreement_tier_too_low_fail", "a Quzhou visitor covered by the agreement, tier too low",
              code("qz-fair", QUZHOU, Tier.FAIR), "hz-library", reason="TIER_TOO_LOW", tier=Tier.FAIR, local=True)
        check("visitor_local_only_fail", "a Quzhou visitor at Hangzhou's local-only housing-fund offer", qz_excellent,
              "hz-housing-fund", reason="OFFER_LOCAL_ONLY", tier=Tier.EXCELLENT, local=False)
        check("visitor_reverse_direction_eligible", "a Hangzhou visitor in Quzhou: the agreement works both ways",
              code("hz-excellent-2", tier=Tier.EXCELLENT), "qz-parking-free-3", eligible=True, tier=Tier.EXCELLENT,
              local=True)
        check("visitor_no_agreement_fail", "a Jiaxing visitor in Hangzhou: no agreement between the two",
              code("jx-good", JIAXING), "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD, local=False)
        hu_good = code("hu-good", HUZHOU)
        check("visitor_category_covered_eligible", "a Huzhou visitor at Jiaxing fitness (tourism agreement)",
              hu_good, "jx-fitness", eligible=True, tier=Tier.GOOD, local=True)
        check("visitor_category_not_covered_fail", "a Huzhou visitor at a Jiaxing library: library is not covered",
              hu_good, "jx-library", reason="NO_AGREEMENT", tier=Tier.GOOD, local=False)
        check("visitor_agreement_ended_fail", "a Xiamen visitor in Hangzhou: the agreement ended in June 2026",
              code("xm-good", XIAMEN), "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD, local=False)
        check("visitor_agreement_not_yet_fail", "a Huzhou visitor in Hangzhou an hour before the agreement starts",
              hu_good, "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD, local=False)
        check("visitor_agreement_first_second_eligible", "a Huzhou visitor in Hangzhou at the agreement's first second",
              code("hu-good-later", HUZHOU, issued=T0 + 3600 - 60), "hz-library", eligible=True, tier=Tier.GOOD,
              local=True, clock=T0 + 3600)
        check("offer_not_yet_active_fail", "a resident two hours before the scenic-spot offer opens", good,
              "hz-scenic-later", reason="OFFER_NOT_ACTIVE", tier=Tier.GOOD)
        check("offer_first_second_eligible", "a resident at the scenic-spot offer's first second",
              code("hz-good-later", issued=T0 + 7200 - 60), "hz-scenic-later", eligible=True, tier=Tier.GOOD,
              local=True, clock=T0 + 7200)
        check("offer_ended_fail", "a resident at the hotel offer's end (the window is half-open)", good,
              "hz-hotel-ended", reason="OFFER_NOT_ACTIVE", tier=Tier.GOOD)
        check("offer_last_second_eligible", "a resident one second before the hotel offer ends", good,
              "hz-hotel-ended", eligible=True, tier=Tier.GOOD, local=True, clock=T0 - 1)
        check("no_rules_fail", "an offer of a city that is no member (Shanghai 310000): no rules, an explicit no",
              good, "sh-museum", reason="NO_RULES", tier=Tier.GOOD)
        check("no_tier_policy_fail", "an offer of a member with no tier policy (Xiamen here): no rules",
              code("xm-resident", XIAMEN), "xm-bike", reason="NO_RULES", tier=Tier.GOOD)
        check("offer_unknown_fail", "an offer id the bundle does not have: bad input (exit 2)", good, "hz-nothing",
              reason="OFFER_UNKNOWN", errors=["CC_OFFER_UNKNOWN"], exit_code=2)
        expiring = code("hz-expiring")
        check("code_expired_fail", "an expired code is a no naming CODE_EXPIRED", expiring, "hz-library",
              reason="CODE_EXPIRED", stage="validity", clock=ISSUED + TTL)
        check("code_not_yet_valid_fail", "a code used before its issue time", expiring, "hz-library",
              reason="CODE_NOT_YET_VALID", stage="validity", clock=ISSUED - 1)
        check("code_revoked_fail", "a downgraded holder's code issued before the cut-off",
              code("hz-downgraded", holder_ref="holder-downgraded", issued=HOLDER_CUTOFF - 60, ttl=DAY),
              "hz-library", reason="CODE_REVOKED", stage="revocation")
        flipped = wrap(good.payload, good.kid, bytes([good.signature[0] ^ 1]) + good.signature[1:])
        check("code_tampered_fail", "a code whose signature does not verify", flipped, "hz-library",
              reason="CODE_INVALID", stage="signature")
        check("code_unknown_kid_fail", "a code signed by a key in no bundle", self.code("elig-rogue", k.rogue),
              "hz-library", reason="CODE_INVALID", stage="key")
        check("bundle_stale_fail", "a bundle expired beyond grace: the checker cannot judge (exit 2)", good,
              "hz-library", stage="bundle", errors=["CC_BUNDLE_STALE"], bundle="expired_10_days")
        check("bundle_invalid_offer_fail", "a signed bundle whose offer has no minimum tier: refused (exit 2)", good,
              "hz-library", stage="bundle", errors=["CC_BUNDLE_MALFORMED"], bundle="offers_invalid")

    # --- adapters --------------------------------------------------------------------------------

    def adapter_layer(self) -> None:
        for scheme in load_registry().schemes():
            doc = scheme.describe()
            rows = adapter_rows(doc)
            folder = f"adapter/{doc['slug']}"
            self.write_json(f"{folder}/vector.json", {
                "format": FORMAT, "name": folder, "layer": "adapter", "command": "adapter",
                "description": f"{doc['name_en']} {doc['scheme_name']} ({doc['kind']}): every band edge and "
                               "out-of-range record",
                "context": {"city": doc["city"], "scheme_id": doc["scheme_id"], "version": doc["version"],
                            "confirmed": doc["confirmed"]},
                "cases": rows})
            for row in rows:
                name = f"{folder}/{row['name']}"
                negative = row["name"].endswith("_fail")
                self.cases.append({"name": name, "layer": "adapter", "description": row["description"],
                                   "negative": negative})
                if negative:
                    self.negatives.append({"name": name, "layer": "adapter", "stage": "map",
                                           "errors": [row["expected"]["error"]], "exit": None,
                                           "description": row["description"]})

    # --- the catalogue ---------------------------------------------------------------------------

    def write_catalogue(self) -> None:
        negatives = sorted(self.negatives, key=lambda n: (LAYERS.index(n["layer"]), n["name"]))
        self.write_json("CATALOGUE.json", {
            "note": "Every negative case of the conformance vectors: what is wrong and what a verifier must say.",
            "count": len(negatives), "cases": negatives})
        lines = ["# Negative catalogue", "",
                 f"{len(negatives)} cases that every implementation must refuse, and the error it must give "
                 "(any of those listed). Generated by `python -m citycredit.conformance.generate`; do not edit.", ""]
        for layer in LAYERS:
            in_layer = [n for n in negatives if n["layer"] == layer]
            if not in_layer:
                continue
            lines += [f"## {layer} ({len(in_layer)})", "", "| case | stage | must say | what is wrong |",
                      "|---|---|---|---|"]
            lines += [f"| `{n['name']}` | {n['stage']} | {' or '.join(n['errors'])} | {n['description']} |"
                      for n in in_layer]
            lines.append("")
        self.write("CATALOGUE.md", "\n".join(lines))
        counts = {layer: [0, 0] for layer in LAYERS}
        for case in self.cases:
            counts[case["layer"]][1 if case["negative"] else 0] += 1
        table = ["| layer | positive | negative |", "|---|---|---|"]
        table += [f"| {layer} | {p} | {n} |" for layer, (p, n) in counts.items()]
        self.write("README.md", README_TEMPLATE.format(table="\n".join(table), total=len(self.cases)))


README_TEMPLATE = """# Conformance vectors

Generated by `python -m citycredit.conformance.generate`; `--check` proves the committed files are
what the generator makes. Do not edit by hand. The protocol, the vector format and the runner are
described in `../README.md`; the negative cases are listed in `CATALOGUE.md`.

{table}

{total} cases in all (adapter tables count one case per row).

- `<layer>/<case>/vector.json`: the context (clock, bundle, anchor, state, offer), the input
  (`code.txt`, the code exactly, no newline) and the expected result with per-stage flags.
  A case whose name ends in `_fail` must be refused.
- `bundles/<name>/`: `bundle.ccb` and the `anchor.json` pinned beside it, with a README saying what is
  in (or wrong with) the bundle.
- `keys/keys.json`: the test keys, their seeds and kids; `keys/p256-signatures.json`: the recorded
  ECDSA signatures that make the P-256 vectors reproducible.
"""


def _single_field(claims: code_pb2.CreditCode, name: str) -> bytes:
    one = code_pb2.CreditCode()
    setattr(one, name, getattr(claims, name))
    return one.SerializeToString(deterministic=True)


def _der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


# --- adapter tables --------------------------------------------------------------------------------


def adapter_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The expected rating of every band edge of a scheme, read from its description (not its code)."""
    rows: list[dict[str, Any]] = []

    def ok(name: str, record: dict[str, Any], band: Mapping[str, Any], description: str) -> None:
        rows.append({"name": name, "description": description, "record": record,
                     "expected": {"tier": band["tier"], "band": band["label"]}})

    def bad(name: str, record: Any, description: str) -> None:
        rows.append({"name": f"{name}_fail", "description": description, "record": record,
                     "expected": {"error": "CC_LOCAL_RECORD"}})

    city = doc["name_en"]
    if doc["kind"] == "score":
        low, high, bands = doc["range"]["min"], doc["range"]["max"], doc["bands"]
        ok(f"score_{_num(low)}_min", {"score": low}, bands[0], f"{city}: the lowest score of the range")
        for before, band in itertools.pairwise(bands):
            edge = band["from"]
            ok(f"score_{_num(edge)}", {"score": edge}, band, f"{city}: {edge} opens {band['label']}")
            ok(f"score_{_num(edge - 1)}", {"score": edge - 1}, before, f"{city}: {edge - 1} stays in {before['label']}")
            ok(f"score_{_num(edge - 0.5)}", {"score": edge - 0.5}, before,
               f"{city}: {edge - 0.5} (a fraction below the edge) stays in {before['label']}")
        ok(f"score_{_num(high)}_max", {"score": high}, bands[-1], f"{city}: the highest score of the range")
        bad(f"score_{_num(low - 1)}_below_range", {"score": low - 1}, f"{city}: {low - 1} is below the range")
        bad(f"score_{_num(high + 1)}_above_range", {"score": high + 1}, f"{city}: {high + 1} is above the range")
        bad("score_as_text", {"score": str(bands[-1]["from"])}, f"{city}: the score given as text")
        bad("score_missing", {}, f"{city}: a record without a score")
        bad("score_nan", {"score": "NaN"}, f"{city}: a score that is not a number")
        bad("unknown_field", {"score": bands[-1]["from"], "colour": "blue"}, f"{city}: a record with a foreign field")
    elif doc["kind"] == "grade":
        for grade in doc["grades"]:
            ok(f"grade_{grade['value']}", {"grade": grade["value"]}, grade, f"{city}: grade {grade['value']}")
        top = doc["grades"][-1]
        ok(f"grade_{top['value'].lower()}_lower_case", {"grade": top["value"].lower()}, top,
           f"{city}: grade {top['value'].lower()} (case is ignored)")
        bad("grade_unknown", {"grade": "E"}, f"{city}: grade E is not in the scheme")
        bad("grade_missing", {}, f"{city}: a record without a grade")
        bad("grade_as_number", {"grade": 1}, f"{city}: a grade given as a number")
    elif doc["kind"] == "colour":
        flags = list(doc.get("flags", {}))
        for colour in doc["colours"]:
            ok(f"colour_{colour['value']}", {"colour": colour["value"]}, colour, f"{city}: colour {colour['value']}")
            when = colour.get("when", {})
            if flags and len(when) == len(flags):
                ok(f"colour_{colour['value']}_by_flags", dict(when), colour,
                   f"{city}: flags {when} alone give {colour['value']}")
        bad("colour_unknown", {"colour": "purple"}, f"{city}: colour purple is not in the scheme")
        bad("colour_missing", {}, f"{city}: a record with neither colour nor flags")
        for colour in doc["colours"]:
            when = colour.get("when", {})
            if when:
                flag, value = next(iter(when.items()))
                bad(f"colour_{colour['value']}_contradicted", {"colour": colour["value"], flag: not value},
                    f"{city}: colour {colour['value']} with {flag}={str(not value).lower()}, which contradicts it")
                break
    return rows


def _num(value: float) -> str:
    text = f"{value:g}" if isinstance(value, float) and not float(value).is_integer() else str(int(value))
    return text.replace("-", "minus").replace(".", "_")


# --- entry points ----------------------------------------------------------------------------------


def generate(out: Path, *, book_from: Path | None = None) -> None:
    """Write every vector into `out` (which is emptied first), reusing P-256 signatures from `book_from`."""
    book = SignatureBook.load((book_from or out) / BOOK_PATH)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    Generator(out, book).generate()


def _differences(left: Path, right: Path) -> list[str]:
    files_left = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    files_right = {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    diffs = [f"missing: {p}" for p in sorted(files_right - files_left)]
    diffs += [f"not generated: {p}" for p in sorted(files_left - files_right)]
    diffs += [f"differs: {p}" for p in sorted(files_left & files_right)
              if not filecmp.cmp(left / p, right / p, shallow=False)]
    return diffs


def check(vectors: Path) -> list[str]:
    """Regenerate into a temporary folder; the differences from `vectors` (empty when clean)."""
    with tempfile.TemporaryDirectory(prefix="citycredit-vectors-") as tmp:
        fresh = Path(tmp) / "vectors"
        try:
            generate(fresh, book_from=vectors)
        except ValueError as exc:  # a recorded P-256 signature that no longer verifies
            return [str(exc)]
        return _differences(vectors, fresh)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citycredit.conformance.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary folder and diff")
    parser.add_argument("--out", type=Path, default=None, help="the vectors folder (default: the shipped one)")
    args = parser.parse_args(argv)
    out = args.out or _source_vectors()
    if args.check:
        diffs = check(out)
        for line in diffs:
            print(line, file=sys.stderr)
        print(f"{out}: {'clean' if not diffs else f'{len(diffs)} difference(s)'}", file=sys.stderr)
        return 1 if diffs else 0
    generate(out, book_from=out)
    print(f"wrote {sum(1 for p in out.rglob('*') if p.is_file())} files to {out}", file=sys.stderr)
    return 0


def _source_vectors() -> Path:
    return vectors_root()


if __name__ == "__main__":
    sys.exit(main())
