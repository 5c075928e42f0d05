"""The vectors about a code itself: decode, signature, time and presentation (all against the `main` trust set)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import CODE_PREFIX, MAX_TIME_S, PRESENTATION_PREFIX, Tier, b45encode, kid_for_spki
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._codes import Built, field, fields_of
from ._deterministic import P256_N, SM2_DEFAULT_ID, SM2_N
from ._fixtures import HANGZHOU, ISSUED, JIAXING, QUZHOU, T0, TTL, compressed_spki
from ._trustsets import DAY
from ._writer import Step, VectorWriter, iso

__all__ = ["decode_layer", "presentation_layer", "signature_layer", "time_layer"]

ED25519_L = 2**252 + 27742317777372353535851937790883648493
UTC8 = timezone(timedelta(hours=8))


def _utc8(epoch_s: int) -> str:
    return iso(epoch_s, UTC8)


def _reencode(claims: code_pb2.CreditCode, *, replace: dict[int, bytes] | None = None,
              after: dict[int, bytes] | None = None, order: list[int] | None = None) -> bytes:
    """The claims' fields by hand: some replaced, some followed by more bytes, optionally in another order."""
    parts = dict(fields_of(claims))
    parts.update(replace or {})
    numbers = order or sorted(parts)
    return b"".join(parts[n] + (after or {}).get(n, b"") for n in numbers)


def decode_layer(w: VectorWriter) -> None:
    k, mint = w.keys, w.mint
    enc, claims_spec = "SPEC 2.7, 8.2 V2", "SPEC 3.1, 8.2 V5"
    by_stage = {"prefix": "SPEC 2.1, 2.7 D2", "length": "SPEC 2.2", "base45": "SPEC 2.3",
                "envelope": "SPEC 2.4, 2.5", "claims": "SPEC 2.4, 8.2 V5"}

    def fail(name: str, description: str, code: Built | str | bytes, stage: str, *errors: str,
             spec: str | None = None) -> None:
        w.verify("decode", name, description, code, spec=spec or by_stage[stage], stage=stage, errors=errors)

    good = mint.issue("decode-base", k.hz_ed, HANGZHOU, issued=ISSUED)
    body = good.code[len(CODE_PREFIX):]
    w.verify("decode", "baseline_valid", "a Hangzhou Ed25519 code as its issuer makes it", good, spec=enc)
    # Prefixes: CC1 (a code) and CP1 (a presentation) only, exactly.
    fail("prefix_missing_fail", "the Base45 body without the CC1: prefix", body, "prefix", "CC_PREFIX")
    fail("prefix_lowercase_fail", "the prefix written cc1: in lower case", "cc1:" + body, "prefix", "CC_PREFIX")
    fail("prefix_hc1_fail", "an EU HC1: prefix instead of CC1:", "HC1:" + body, "prefix", "CC_PREFIX")
    fail("prefix_version_2_fail", "an unknown format version CC2:", "CC2:" + body, "prefix", "CC_PREFIX")
    fail("prefix_presentation_version_2_fail", "an unknown presentation version CP2:", "CP2:" + body, "prefix",
         "CC_PREFIX")
    fail("prefix_fullwidth_colon_fail", "the prefix with a full-width colon (CC1：)", "CC1：" + body, "prefix",
         "CC_PREFIX")
    fail("empty_fail", "an empty string", "", "prefix", "CC_PREFIX")
    fail("code_under_presentation_prefix_fail", "a code's envelope behind CP1: (it is no Presentation message)",
         PRESENTATION_PREFIX + body, "envelope", "CC_MALFORMED", spec="SPEC 2.4, 2.6, 2.7 D4")
    # Length: counted in code points, checked before anything else.
    padded = _padded(w, "decode-length", 1024)
    w.verify("decode", "length_1024_valid", "a valid code of exactly 1,024 characters (the limit): its payload "
             "carries an unknown field after the known ones", padded, spec="SPEC 2.2")
    fail("length_1025_fail", "the 1,024-character code and one more character: too long before anything else",
         padded.code + "0", "length", "CC_TOO_LONG")
    fail("length_1026_signed_fail", "a correctly signed code of 1,026 characters", _padded(w, "decode-length-over",
         1026), "length", "CC_TOO_LONG")
    fail("length_1024_code_points_fail", "1,024 code points, the last one 中 (1,026 bytes in UTF-8): not too long, "
         "but not Base45", padded.code[:-1] + "中", "base45", "CC_BASE45", spec="SPEC 2.2, 2.3")
    fail("length_1025_code_points_fail", "the 1,024-character code and 中: 1,025 code points is too long",
         padded.code + "中", "length", "CC_TOO_LONG")
    fail("length_junk_fail", "2,000 characters of junk: the length is refused before the prefix", "X" * 2000,
         "length", "CC_TOO_LONG")
    fail("not_utf8_fail", "the code followed by the byte 0xFF, which is no UTF-8 (the implementation gets the bytes)",
         good.code.encode() + b"\xff", "base45", "CC_BASE45", spec="SPEC 2.2, 2.3")
    # Whitespace is never stripped by the decoder: a space is a Base45 character, a newline is not.
    fail("trailing_space_fail", "a space after the code (a Base45 character: the last group overflows)",
         good.code + " ", "base45", "CC_BASE45", spec="SPEC 2.2 item 3, 2.3")
    ws = "SPEC 2.2 item 3"
    fail("trailing_tab_fail", "a tab after the code", good.code + "\t", "base45", "CC_BASE45", spec=ws)
    fail("leading_space_fail", "a space before the prefix", " " + good.code, "prefix", "CC_PREFIX", spec=ws)
    fail("leading_newline_fail", "a newline before the prefix", "\n" + good.code, "prefix", "CC_PREFIX", spec=ws)
    fail("newline_inside_fail", "a newline inside the Base45 body", good.code[:40] + "\n" + good.code[40:],
         "base45", "CC_BASE45", spec=ws)
    # Strict Base45 (RFC 9285).
    fail("base45_lowercase_fail", "the Base45 body in lower case (outside the alphabet)",
         CODE_PREFIX + body.lower(), "base45", "CC_BASE45")
    fail("base45_bad_character_fail", "an underscore, which is no Base45 character", good.code[:20] + "_"
         + good.code[21:], "base45", "CC_BASE45")
    fail("base45_length_mod3_fail", "Base45 text whose length leaves remainder 1 modulo 3",
         good.code + "0" * ((1 - len(body)) % 3 or 3), "base45", "CC_BASE45")
    fail("base45_group_overflow_fail", "a three-character group worth more than 65535 (':::' is 91124)",
         CODE_PREFIX + ":::" + body[3:], "base45", "CC_BASE45")
    fail("base45_pair_overflow_fail", "a final two-character group worth more than 255 ('::' is 2024)",
         _even(w, good) + "::", "base45", "CC_BASE45")
    fail("base45_non_ascii_fail", "a Chinese character inside the Base45 body", CODE_PREFIX + "中" + body[1:],
         "base45", "CC_BASE45")
    # The envelope: exact sizes, and one encoding only.
    env = good.envelope
    fail("envelope_not_protobuf_fail", "Base45 of bytes that are not a protobuf message",
         CODE_PREFIX + b45encode(b"\xff\xff\xff\xff"), "envelope", "CC_MALFORMED")
    fail("envelope_empty_fail", "CC1: followed by nothing (an empty envelope)", CODE_PREFIX, "envelope",
         "CC_MALFORMED")
    sizes = "SPEC 2.5, 2.7 D6"
    fail("kid_7_bytes_fail", "a kid of 7 bytes", mint.wrap(good, kid=good.kid[:7]), "envelope", "CC_MALFORMED",
         spec=sizes)
    fail("kid_9_bytes_fail", "a kid of 9 bytes", mint.wrap(good, kid=good.kid + b"\x00"), "envelope", "CC_MALFORMED",
         spec=sizes)
    fail("signature_63_bytes_fail", "a signature of 63 bytes", mint.wrap(good, signature=good.signature[:63]),
         "envelope", "CC_MALFORMED", spec=sizes)
    fail("signature_65_bytes_fail", "a signature of 65 bytes", mint.wrap(good, signature=good.signature + b"\x00"),
         "envelope", "CC_MALFORMED", spec=sizes)
    fail("payload_empty_fail", "an envelope with an empty payload (signed as it is)",
         mint.sign(None, k.hz_ed, payload=b""), "envelope", "CC_MALFORMED", spec=sizes)
    p256 = mint.issue("decode-p256", k.hz_p256, HANGZHOU, issued=ISSUED)
    fail("p256_der_signature_fail", "a P-256 signature in DER instead of raw r‖s (64 bytes)",
         mint.wrap(p256, signature=_der(p256.signature)), "envelope", "CC_MALFORMED", spec="SPEC 2.5, 4.5")
    kid, payload, signature = field(2, good.kid), field(1, good.payload), field(3, good.signature)
    fail("envelope_twice_fail", "two copies of the envelope one after the other (a parser merges them)",
         CODE_PREFIX + b45encode(env + env), "envelope", "CC_MALFORMED")
    fail("envelope_fields_out_of_order_fail", "the envelope's fields in the order kid, payload, signature",
         CODE_PREFIX + b45encode(kid + payload + signature), "envelope", "CC_MALFORMED")
    fail("envelope_kid_twice_fail", "the kid field twice, a foreign kid first (a parser keeps the last)",
         CODE_PREFIX + b45encode(payload + field(2, k.rogue.kid) + kid + signature), "envelope", "CC_MALFORMED")
    fail("envelope_varint_not_minimal_fail", "the payload's length as a two-byte varint where one would do",
         CODE_PREFIX + b45encode(field(1, good.payload, pad=1) + kid + signature), "envelope", "CC_MALFORMED")
    fail("envelope_trailing_bytes_fail", "two zero bytes after the envelope", CODE_PREFIX + b45encode(env + b"\0\0"),
         "envelope", "CC_MALFORMED")
    fail("envelope_unknown_field_first_fail", "an unknown field 9 before the known ones",
         CODE_PREFIX + b45encode(field(9, b"later") + env), "envelope", "CC_MALFORMED")
    w.verify("decode", "envelope_unknown_field_last_valid", "an unknown field 9 after the signature: kept "
             "(forward compatibility), and the code verifies",
             mint.sign(good.claims, k.hz_ed, envelope=env + field(9, b"later")), spec="SPEC 2.4")
    # The payload, signed exactly as it is: the same one-encoding rule applies to the claims.
    claims = mint.claims("decode-payload", HANGZHOU, issued=ISSUED)

    def signed(name: str, description: str, raw: bytes, stage: str = "claims") -> None:
        fail(name, description, mint.sign(claims, k.hz_ed, payload=raw), stage, "CC_MALFORMED")

    signed("payload_tier_twice_fail", "two tier fields, GOOD then OUTSTANDING, signed as they are (a parser "
           "keeps OUTSTANDING)", _reencode(claims, after={4: field(4, Tier.OUTSTANDING.proto)}))
    signed("payload_fields_reversed_fail", "the payload's fields in reverse order, signed as they are",
           _reencode(claims, order=sorted(dict(fields_of(claims)), reverse=True)))
    signed("payload_varint_not_minimal_fail", "the tier as a two-byte varint (84 00), signed as it is",
           _reencode(claims, replace={4: field(4, claims.tier, pad=1)}))
    signed("payload_trailing_bytes_fail", "two zero bytes after the payload's last field, signed as they are",
           _reencode(claims) + b"\0\0")
    defaults = code_pb2.CreditCode()
    defaults.CopyFrom(claims)
    defaults.policy_version = 0
    fail("payload_explicit_default_fail", "policy_version 0 written out (proto3 leaves a default out), signed",
         mint.sign(defaults, k.hz_ed, payload=_reencode(defaults, after={8: field(9, 0)})), "claims", "CC_MALFORMED")
    signed("payload_unknown_field_first_fail", "an unknown field 50 before the known ones, signed",
           field(50, "未来的字段".encode()) + _reencode(claims))
    w.verify("decode", "payload_unknown_field_last_valid", "an unknown field 50 after the known ones, signed: kept "
             "(forward compatibility), and the code verifies",
             mint.sign(claims, k.hz_ed, payload=_reencode(claims) + field(50, "未来的字段".encode())),
             spec="SPEC 2.4, 3.1")
    signed("payload_not_protobuf_fail", "a signed payload that is no CreditCode message", b"\xff\xff\xff\xff")

    # The claims' own rules.
    def bad_claims(name: str, description: str, **changes: Any) -> None:
        changed = mint.claims(f"decode-{name}", HANGZHOU, issued=ISSUED)
        for field_name, value in changes.items():
            setattr(changed, field_name, value)
        fail(name, description, mint.sign(changed, k.hz_ed), "claims", "CC_MALFORMED",
             spec="SPEC 3.3, 8.2 V5" if "city" in name or "audience" in name else claims_spec)

    bad_claims("code_id_15_bytes_fail", "a code id of 15 bytes", code_id=b"\x01" * 15)
    bad_claims("code_id_17_bytes_fail", "a code id of 17 bytes", code_id=b"\x01" * 17)
    bad_claims("holder_11_bytes_fail", "a holder pseudonym of 11 bytes", holder=b"\x02" * 11)
    bad_claims("holder_13_bytes_fail", "a holder pseudonym of 13 bytes", holder=b"\x02" * 13)
    bad_claims("holder_32_bytes_fail", "a full HMAC-SHA256 (32 bytes) as the holder: pseudonyms are 12 bytes",
               holder=b"\x02" * 32)
    bad_claims("tier_unspecified_fail", "tier 0 (unspecified, so absent from the payload)", tier=0)
    bad_claims("tier_7_fail", "tier 7, above OUTSTANDING", tier=7)
    bad_claims("city_province_25_fail", "city 250000: six digits, but province 25 does not exist in GB/T 2260",
               city=250000)
    bad_claims("city_five_digits_fail", "city 33010, five digits", city=33010)
    bad_claims("audience_not_a_city_fail", "audience 250000 (no province 25)", audience=250000)
    bad_claims("expiry_equals_issue_fail", "expires_at equal to issued_at", expires_at=ISSUED)
    bad_claims("issued_at_zero_fail", "issued_at of 0", issued_at=0)
    bad_claims("issued_at_negative_fail", "a negative issued_at (before 1970)", issued_at=-60)
    w.verify("decode", "band_64_code_points_valid", "a band label of 64 code points (192 bytes of UTF-8): the limit",
             _band(w, "decode-band-64", "分" * 64), spec=claims_spec)
    fail("band_65_code_points_fail", "a band label of 65 code points", _band(w, "decode-band-65", "分" * 65), "claims",
         "CC_MALFORMED", spec=claims_spec)
    utf8 = mint.claims("decode-band-utf8", HANGZHOU, issued=ISSUED)
    fail("band_not_utf8_fail", "a band label whose bytes are not UTF-8 (E4 B8, a character cut short), signed",
         mint.sign(utf8, k.hz_ed, payload=_reencode(utf8, replace={5: field(5, b"\xe4\xb8")})), "claims",
         "CC_MALFORMED", spec=claims_spec)


def _band(w: VectorWriter, name: str, band: str) -> Built:
    claims = w.mint.claims(name, HANGZHOU, issued=ISSUED)
    claims.band = band
    return w.mint.sign(claims, w.keys.hz_ed)


def _even(w: VectorWriter, built: Built) -> str:
    """A code whose Base45 body has a whole number of groups (so a pair can be appended)."""
    body = built.code[len(CODE_PREFIX):]
    assert len(body) % 3 in (0, 2)
    return built.code if len(body) % 3 == 0 else built.code[:-2]


def _padded(w: VectorWriter, name: str, chars: int) -> Built:
    """A valid Hangzhou code padded with an unknown payload field to exactly `chars` characters."""
    claims = w.mint.claims(name, HANGZHOU, issued=ISSUED)
    canonical = claims.SerializeToString(deterministic=True)
    for pad in range(800):
        payload = canonical + field(100, b"\0" * pad)
        size = len(code_pb2.SignedCreditCode(payload=payload, kid=b"\0" * 8, signature=b"\0" * 64).SerializeToString())
        if len(CODE_PREFIX) + 3 * (size // 2) + 2 * (size % 2) == chars:
            built = w.mint.sign(claims, w.keys.hz_ed, payload=payload)
            assert len(built.code) == chars
            return built
    raise AssertionError(f"no padding gives {chars} characters")


def _der(raw: bytes) -> bytes:
    return bytes(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")))


def _s_negated(signature: bytes, order: int) -> bytes:
    return signature[:32] + (order - int.from_bytes(signature[32:], "big")).to_bytes(32, "big")


def signature_layer(w: VectorWriter) -> None:
    k, mint = w.keys, w.mint
    keys_spec, selection = "SPEC 4.2, 6.5", "SPEC 4.3, 8.2 V3, V4"

    def section(name: str) -> str:
        """The section of an algorithm's rules for a case named after it, else the signing input's."""
        for prefix, number in (("ed25519", "4.4"), ("p256", "4.5"), ("sm2", "4.6")):
            if name.startswith(prefix) and "under" not in name:
                return f"SPEC {number}, 8.2 V4"
        return "SPEC 4.1, 8.2 V4"

    def fail(name: str, description: str, code: Built | str, stage: str, *errors: str, spec: str = "") -> None:
        w.verify("signature", name, description, code, spec=spec or section(name), stage=stage, errors=errors)

    def ok(name: str, description: str, code: Built, spec: str = "") -> None:
        w.verify("signature", name, description, code, spec=spec or section(name))

    ok("ed25519_valid", "a Hangzhou code signed with its Ed25519 key", mint.issue("sig-ed", k.hz_ed, HANGZHOU,
                                                                                  issued=ISSUED))
    p256 = mint.issue("sig-p256", k.hz_p256, HANGZHOU, tier=Tier.EXCELLENT, issued=ISSUED)
    ok("p256_low_s_valid", "a Hangzhou code signed with its ECDSA P-256 key (s ≤ n/2, as every signer makes it)",
       p256)
    sm2 = mint.issue("sig-sm2", k.hz_sm2, HANGZHOU, tier=Tier.OUTSTANDING, issued=ISSUED)
    ok("sm2_valid", "a Hangzhou code signed with its SM2 key (SM3, default user id 1234567812345678)", sm2)
    ok("p256_only_city_valid", "a Jiaxing code (a city whose only key is P-256)",
       mint.issue("sig-jx", k.jx_p256, JIAXING, tier=Tier.FAIR, issued=ISSUED), spec="SPEC 4.3, 4.5")
    ok("other_city_valid", "a Quzhou code signed with the Quzhou key",
       mint.issue("sig-qz", k.qz_ed, QUZHOU, tier=Tier.OUTSTANDING, issued=ISSUED), spec=selection)
    good = mint.issue("sig-tamper", k.hz_ed, HANGZHOU, issued=ISSUED)
    assert good.claims is not None
    fail("tampered_signature_fail", "one bit of the Ed25519 signature flipped",
         mint.wrap(good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:]), "signature",
         "CC_SIGNATURE_INVALID")
    upgraded = code_pb2.CreditCode()
    upgraded.CopyFrom(good.claims)
    upgraded.tier = Tier.OUTSTANDING.proto
    fail("tampered_payload_tier_fail", "the tier raised to OUTSTANDING after signing",
         mint.wrap(good, payload=upgraded.SerializeToString(deterministic=True)), "signature", "CC_SIGNATURE_INVALID")
    fail("tampered_payload_appended_fail", "an unknown field appended to the payload after signing",
         mint.wrap(good, payload=good.payload + field(100, b"x")), "signature", "CC_SIGNATURE_INVALID")
    fail("kid_swapped_fail", "a Hangzhou signature carrying the Quzhou key's kid", mint.wrap(good, kid=k.qz_ed.kid),
         "signature", "CC_SIGNATURE_INVALID", spec=selection)
    fail("unknown_kid_fail", "signed by a key that is in no trust set",
         mint.issue("sig-rogue", k.rogue, HANGZHOU, issued=ISSUED), "key", "CC_KEY_UNKNOWN", spec=selection)
    fail("p256_tampered_signature_fail", "one bit of the P-256 signature's s flipped",
         mint.wrap(p256, signature=p256.signature[:40] + bytes([p256.signature[40] ^ 1]) + p256.signature[41:]),
         "signature", "CC_SIGNATURE_INVALID")
    fail("p256_high_s_fail", "the P-256 code above with s replaced by n − s: a valid ECDSA signature, but not the "
         "one encoding (low S)", mint.wrap(p256, signature=_s_negated(p256.signature, P256_N)), "signature",
         "CC_SIGNATURE_INVALID")
    fail("p256_r_zero_fail", "a P-256 signature with r = 0", mint.wrap(p256, signature=bytes(32) + p256.signature[32:]),
         "signature", "CC_SIGNATURE_INVALID")
    fail("p256_s_equals_order_fail", "a P-256 signature with s = n (out of range)",
         mint.wrap(p256, signature=p256.signature[:32] + P256_N.to_bytes(32, "big")), "signature",
         "CC_SIGNATURE_INVALID")
    s = int.from_bytes(good.signature[32:], "little") + ED25519_L
    fail("ed25519_s_plus_l_fail", "an Ed25519 signature with S + L instead of S (malleated, not canonical)",
         mint.wrap(good, signature=good.signature[:32] + s.to_bytes(32, "little")), "signature",
         "CC_SIGNATURE_INVALID")
    # SM2: SM3 over Z (the default user id) and the message; anything else does not verify.
    fail("sm2_other_user_id_fail", "an SM2 signature made with the user id \"citycredit\" instead of the default",
         mint.sign(mint.claims("sig-sm2-id", HANGZHOU, issued=ISSUED), k.hz_sm2,
                   variant="sm2-id:" + b"citycredit".hex()), "signature", "CC_SIGNATURE_INVALID")
    fail("sm2_without_z_fail", "an SM2 signature over SM3 of the message alone (no Z value)",
         mint.sign(mint.claims("sig-sm2-no-z", HANGZHOU, issued=ISSUED), k.hz_sm2, variant="sm2-no-z"),
         "signature", "CC_SIGNATURE_INVALID")
    fail("sm2_s_negated_fail", "the SM2 code above as (r, n − s): unlike ECDSA, SM2 has no such twin",
         mint.wrap(sm2, signature=_s_negated(sm2.signature, SM2_N)), "signature", "CC_SIGNATURE_INVALID")
    assert SM2_DEFAULT_ID == b"1234567812345678"
    # Algorithm confusion: the algorithm comes from the key the kid selects, never from the code.
    for name, signer, kid, what in (
            ("p256_signature_under_ed25519_kid_fail", k.hz_p256, k.hz_ed, "its P-256 key, carrying its Ed25519 kid"),
            ("ed25519_signature_under_p256_kid_fail", k.hz_ed, k.hz_p256, "its Ed25519 key, carrying its P-256 kid"),
            ("sm2_signature_under_p256_kid_fail", k.hz_sm2, k.hz_p256, "its SM2 key, carrying its P-256 kid"),
            ("p256_signature_under_sm2_kid_fail", k.hz_p256, k.hz_sm2, "its P-256 key, carrying its SM2 kid")):
        fail(name, f"signed with the city's {what} (the try-every-algorithm trap)",
             mint.sign(mint.claims(f"sig-{name}", HANGZHOU, tier=Tier.OUTSTANDING, issued=ISSUED), signer,
                       kid=kid.kid), "signature", "CC_SIGNATURE_INVALID", spec="SPEC 4.3")
    confused = mint.claims("sig-alg-field", HANGZHOU, tier=Tier.OUTSTANDING, issued=ISSUED)
    named = mint.sign(confused, k.hz_p256, kid=k.hz_ed.kid)
    fail("envelope_names_algorithm_fail", "an extra envelope field naming \"p256\" and a P-256 signature under the "
         "Ed25519 kid", mint.sign(confused, k.hz_p256, kid=k.hz_ed.kid, envelope=named.envelope + field(4, b"p256")),
         "signature", "CC_SIGNATURE_INVALID", spec="SPEC 4.3, 2.4")
    fail("other_city_key_fail", "a code naming Hangzhou signed with the Quzhou key (and its kid)",
         mint.issue("sig-city", k.qz_ed, HANGZHOU, issued=ISSUED), "city", "CC_CITY_MISMATCH", spec="SPEC 8.2 V6")
    for name, key in (("ed25519", k.hz_ed), ("p256", k.hz_p256), ("sm2", k.hz_sm2)):
        fail(f"{name}_without_context_fail", f"{name} over the payload alone, without b\"CC1\\x00\"",
             mint.sign(mint.claims(f"sig-ctx-{name}", HANGZHOU, issued=ISSUED), key, context=b""), "signature",
             "CC_SIGNATURE_INVALID", spec="SPEC 4.1, 4.8")
    fail("presentation_context_fail", "Ed25519 over b\"CP1\\x00\" + payload (another format's context)",
         mint.sign(mint.claims("sig-ctx-cp1", HANGZHOU, issued=ISSUED), k.hz_ed, context=b"CP1\x00"), "signature",
         "CC_SIGNATURE_INVALID", spec="SPEC 4.8")
    # Point encodings: a keys part may list an EC key's SPKI with the point compressed; the kid is over the
    # SPKI as listed.
    for alg, key in (("p256", k.hz_p256_compressed), ("sm2", k.hz_sm2_compressed)):
        claims = mint.claims(f"sig-{alg}-compressed", HANGZHOU, issued=ISSUED)
        listed_kid = kid_for_spki(compressed_spki(key))
        ok(f"{alg}_compressed_spki_valid", f"a {alg} key listed with a compressed point; the code carries the kid "
           "of that SPKI", mint.sign(claims, key, kid=listed_kid), spec=keys_spec)
        fail(f"{alg}_compressed_spki_uncompressed_kid_fail", f"the same {alg} key's code carrying the kid of its "
             "uncompressed SPKI, which the keys part does not list", mint.sign(claims, key), "key", "CC_KEY_UNKNOWN",
             spec=keys_spec)
    # Key windows: a key verifies codes issued inside [not_before, not_after), and before revoked_at.
    window = "SPEC 4.7, 8.2 V7"

    def key_case(name: str, description: str, key: Any, issued: int, ttl: int, *, valid: bool) -> None:
        built = mint.issue(f"sig-{name}", key, HANGZHOU, issued=issued, ttl=ttl)
        if valid:
            ok(name, description, built, spec=window)
        else:
            fail(name, description, built, "key_window", "CC_KEY_NOT_VALID", spec=window)

    key_case("key_before_window_fail", "issued a second before the retired key's window opened",
             k.hz_retired, T0 - 730 * DAY - 1, 800 * DAY, valid=False)
    key_case("key_window_start_valid", "issued at the exact second the retired key's window opened",
             k.hz_retired, T0 - 730 * DAY, 800 * DAY, valid=True)
    key_case("retired_key_inside_window_valid", "a printed code issued 40 days ago with the key retired 30 days ago",
             k.hz_retired, T0 - 40 * DAY, 365 * DAY, valid=True)
    key_case("key_window_last_second_valid", "issued a second before the retired key's window closed",
             k.hz_retired, T0 - 30 * DAY - 1, 60 * DAY, valid=True)
    key_case("key_window_end_exclusive_fail", "issued at the exact second the retired key's window closed",
             k.hz_retired, T0 - 30 * DAY, 60 * DAY, valid=False)
    key_case("retired_key_after_window_fail", "issued now with the key retired 30 days ago", k.hz_retired, ISSUED,
             TTL, valid=False)
    key_case("key_not_yet_valid_fail", "signed with the published next key, 30 days before its window opens",
             k.hz_next, ISSUED, TTL, valid=False)
    key_case("revoked_key_before_revocation_valid", "issued 20 days ago with the key revoked 10 days ago (codes "
             "issued before the revocation stand)", k.hz_revoked, T0 - 20 * DAY, 60 * DAY, valid=True)
    key_case("revoked_key_at_revocation_fail", "issued at the second the key was revoked", k.hz_revoked,
             T0 - 10 * DAY, 60 * DAY, valid=False)
    key_case("revoked_key_after_revocation_fail", "issued now with the key revoked 10 days ago", k.hz_revoked,
             ISSUED, TTL, valid=False)


def time_layer(w: VectorWriter) -> None:
    k, mint = w.keys, w.mint
    spec = "SPEC 8.2 V12, 9.4"
    built = mint.issue("time-base", k.hz_ed, HANGZHOU, issued=ISSUED)
    expires = ISSUED + TTL

    def fail(name: str, description: str, code: Built, stage: str, error: str, at: int | str,
             case_spec: str = spec) -> None:
        w.verify("time", name, description, code, spec=case_spec, at=at, stage=stage, errors=(error,))

    w.verify("time", "at_issue_time_valid", "the clock at the second of issue", built, spec=spec, at=ISSUED)
    fail("before_issue_fail", "the clock one second before issue", built, "validity", "CC_NOT_YET_VALID", ISSUED - 1)
    w.verify("time", "last_second_valid", "the clock one second before expiry", built, spec=spec, at=expires - 1)
    fail("at_expiry_fail", "the clock at the second of expiry (the window is half-open)", built, "validity",
         "CC_EXPIRED", expires)
    fail("day_after_expiry_fail", "the clock a day after expiry", built, "validity", "CC_EXPIRED", expires + DAY)
    w.verify("time", "zone_offset_valid", "the clock given in UTC+8, one second before expiry", built, spec=spec,
             at=_utc8(expires - 1))
    fail("zone_offset_expired_fail", "the clock given in UTC+8, at expiry", built, "validity", "CC_EXPIRED",
         _utc8(expires))
    w.verify("time", "printed_long_lived_valid", "a printed code valid for a year, 200 days into its life",
             mint.issue("time-printed", k.hz_ed, HANGZHOU, issued=T0 - 200 * DAY, ttl=366 * DAY), spec=spec)
    fail("issued_in_future_fail", "a code issued an hour after the clock",
         mint.issue("time-future", k.hz_ed, HANGZHOU, issued=T0 + 3600), "validity", "CC_NOT_YET_VALID", T0)
    last = mint.claims("time-9999", HANGZHOU, issued=ISSUED)
    last.expires_at = MAX_TIME_S
    w.verify("time", "expires_9999_valid", "a code expiring at 9999-12-31T23:59:59Z, the last second ISO 8601 shows",
             mint.sign(last, k.hz_ed), spec="SPEC 3.1, 9.3")
    claims = "SPEC 3.1, 9.3"
    after = mint.claims("time-after-9999", HANGZHOU, issued=ISSUED)
    after.expires_at = MAX_TIME_S + 1
    fail("expires_after_9999_fail", "a code expiring a second after 9999-12-31T23:59:59Z: refused cleanly as "
         "malformed, not a crash in a date library", mint.sign(after, k.hz_ed), "claims", "CC_MALFORMED", T0, claims)
    huge = mint.claims("time-int64-max", HANGZHOU, issued=ISSUED)
    huge.expires_at = 2**63 - 1
    fail("expires_int64_max_fail", "expires_at of 2^63 − 1", mint.sign(huge, k.hz_ed), "claims", "CC_MALFORMED", T0,
         claims)
    both = mint.issue("time-expired-revoked", k.hz_ed, HANGZHOU, issued=ISSUED, status_index=1234)
    fail("expired_and_revoked_fail", "revoked and also expired: the rules are ordered, expiry (rule 12) comes "
         "before the status entry (rule 14)", both, "validity", "CC_EXPIRED", expires + 60, "SPEC 8.2")


def presentation_layer(w: VectorWriter) -> None:
    k, mint = w.keys, w.mint
    spec = "SPEC 5.1, 5.4"
    by_stage = {"device_proof": "SPEC 5.4, 8.2 V9", "device_signature": "SPEC 5.1, 8.2 V10",
                "presentation_window": "SPEC 5.2, 8.2 V11", "envelope": "SPEC 2.4, 2.6", "claims": "SPEC 3.2, 8.2 V5",
                "signature": "SPEC 2.6, 8.2 V4", "validity": "SPEC 5.2, 8.2 V12", "status": "SPEC 8.2 V14, V15"}

    def bound(name: str, device: Any = None, **kwargs: Any) -> Built:
        return mint.issue(f"present-{name}", k.hz_ed, HANGZHOU, issued=ISSUED, device=device or k.device_p256,
                          **kwargs)

    def fail(name: str, description: str, code: Built | str, stage: str, error: str, **step: Any) -> None:
        w.verify("presentation", name, description, code, spec=by_stage[stage], stage=stage, errors=(error,), **step)

    p256 = bound("p256")
    w.verify("presentation", "p256_device_valid", "a code bound to a P-256 device key, presented by the device now",
             mint.present(p256, k.device_p256, at=T0), spec=spec)
    ed = bound("ed25519", k.device_ed)
    w.verify("presentation", "ed25519_device_valid", "a code bound to an Ed25519 device key, presented now",
             mint.present(ed, k.device_ed, at=T0), spec=spec)
    w.verify("presentation", "p256_code_key_p256_device_valid", "a P-256-signed code bound to a P-256 device",
             mint.present(mint.issue("present-p256-p256", k.hz_p256, HANGZHOU, issued=ISSUED, device=k.device_p256),
                          k.device_p256, at=T0), spec=spec)
    presented = mint.present(p256, k.device_p256, at=T0)
    flipped = presented.device_signature[:10] + bytes([presented.device_signature[10] ^ 1]) \
        + presented.device_signature[11:]
    fail("device_signature_tampered_fail", "one bit of the device's signature flipped",
         mint.presentation(p256.envelope, T0, flipped), "device_signature", "CC_DEVICE_SIGNATURE_INVALID")
    fail("device_signature_other_device_fail", "presented by another device (its own valid signature)",
         mint.presentation(p256.envelope, T0, mint.presentation_signature(p256, k.device_other, T0)),
         "device_signature", "CC_DEVICE_SIGNATURE_INVALID")
    fail("device_signature_other_time_fail", "a presentation saying T0 whose signature is over T0 − 1",
         mint.present(p256, k.device_p256, at=T0, sign_as=T0 - 1), "device_signature", "CC_DEVICE_SIGNATURE_INVALID")
    fail("device_signature_high_s_fail", "the device's P-256 signature with s replaced by n − s",
         mint.presentation(p256.envelope, T0, _s_negated(presented.device_signature, P256_N)), "device_signature",
         "CC_DEVICE_SIGNATURE_INVALID")
    edp = mint.present(ed, k.device_ed, at=T0)
    fail("device_signature_ed25519_tampered_fail", "one bit of an Ed25519 device signature flipped",
         mint.presentation(ed.envelope, T0, bytes([edp.device_signature[0] ^ 1]) + edp.device_signature[1:]),
         "device_signature", "CC_DEVICE_SIGNATURE_INVALID")
    # The window: ±30 s around the verifier's clock, inclusive.
    for delta, valid in ((-31, False), (-30, True), (30, True), (31, False)):
        side = "before" if delta < 0 else "after"
        name = f"presented_{abs(delta)}s_{side}_{'valid' if valid else 'fail'}"
        code = mint.present(p256, k.device_p256, at=T0 + delta)
        what = f"presented {abs(delta)} s {side} the verifier's clock"
        if valid:
            w.verify("presentation", name, f"{what}: the window's edge (inclusive)", code, spec="SPEC 5.2, 9.4")
        else:
            fail(name, f"{what}: outside the ±30 s window", code, "presentation_window", "CC_PRESENTATION_STALE")
    fail("bare_code_of_bound_code_fail", "the device-bound code shown bare as CC1: (a screenshot of the code itself)",
         p256, "device_proof", "CC_DEVICE_PROOF_REQUIRED")
    plain = mint.issue("present-plain", k.hz_ed, HANGZHOU, issued=ISSUED)
    fail("presentation_of_unbound_code_fail", "a CP1: presentation around a code that carries no device key",
         mint.presentation(plain.envelope, T0, mint.presentation_signature(plain, k.device_p256, T0)), "device_proof",
         "CC_MALFORMED")
    fields = [field(1, p256.envelope), field(2, T0), field(3, presented.device_signature)]
    fail("presentation_fields_out_of_order_fail", "the presentation's fields in reverse order",
         mint.presentation(b"", 0, b"", raw=b"".join(reversed(fields))), "envelope", "CC_MALFORMED")
    fail("presentation_signature_63_bytes_fail", "a device signature of 63 bytes",
         mint.presentation(p256.envelope, T0, presented.device_signature[:63]), "envelope", "CC_MALFORMED")
    fail("presentation_inner_code_tampered_fail", "the code inside the presentation tampered with (its signature "
         "flipped), presented with a valid device signature over it",
         _inner_tampered(w, p256), "signature", "CC_SIGNATURE_INVALID")
    claims = mint.claims("present-bad-device-key", HANGZHOU, issued=ISSUED, device=k.device_p256)
    claims.device_key.public_key = claims.device_key.public_key[:32]
    fail("device_key_32_byte_p256_fail", "a code whose P-256 device key has 32 bytes (compressed points have 33)",
         mint.sign(claims, k.hz_ed), "claims", "CC_MALFORMED")
    off_curve = mint.claims("present-off-curve", HANGZHOU, issued=ISSUED, device=k.device_p256)
    off_curve.device_key.public_key = b"\x02" + (1).to_bytes(32, "big")  # x = 1: x³ − 3x + b is no square mod p
    fake = mint.sign(off_curve, k.hz_ed)
    fail("device_key_not_a_point_fail", "a device key of 33 bytes that is no point of P-256: the device signature "
         "cannot verify", mint.presentation(fake.envelope, T0, mint.presentation_signature(fake, k.device_p256, T0)),
         "device_signature", "CC_DEVICE_SIGNATURE_INVALID")
    sm2_device = mint.claims("present-sm2-device", HANGZHOU, issued=ISSUED, device=k.device_p256)
    sm2_device.device_key.algorithm = 3  # type: ignore[assignment]
    fail("device_key_sm2_fail", "a code naming an SM2 device key (devices sign with Ed25519 or P-256)",
         mint.sign(sm2_device, k.hz_ed), "claims", "CC_MALFORMED")
    expired = bound("expired", ttl=30)
    fail("presented_expired_code_fail", "a fresh presentation of a code that expired 30 s before it",
         mint.present(expired, k.device_p256, at=ISSUED + 60), "validity", "CC_EXPIRED", at=ISSUED + 60)
    fail("presented_revoked_code_fail", "a fresh presentation of a revoked code (Hangzhou index 1234)",
         mint.present(bound("revoked", status_index=1234), k.device_p256, at=T0), "status", "CC_REVOKED")
    # Replay: one presentation per venue inside its window; the steps share --state.
    venue, other = "west-lake-gate-1", "lingyin-gate-2"
    once = mint.present(bound("replay"), k.device_p256, at=T0)
    w.case("presentation", "replayed_same_venue_fail", "the same presentation scanned twice at one venue: the second "
           "scan is a replay", [Step(once, venue=venue), Step(once, venue=venue, stage="replay",
                                                              errors=("CC_PRESENTATION_REPLAYED",))],
           spec="SPEC 5.3, 8.2 V15", state=True)
    w.case("presentation", "replayed_at_venue_with_slash_fail", "the same presentation scanned twice at a venue "
           "whose name has a slash (杭州/西湖-1): a venue is any text", [
               Step(once, venue="杭州/西湖-1"),
               Step(once, venue="杭州/西湖-1", stage="replay", errors=("CC_PRESENTATION_REPLAYED",))],
           spec="SPEC 5.3, 8.2 V15", state=True)
    w.case("presentation", "same_presentation_other_venue_valid", "the same presentation at two venues: each sees it "
           "once", [Step(once, venue=venue), Step(once, venue=other)], spec="SPEC 5.3, 8.2 V15", state=True)
    again = bound("replay-again")
    w.case("presentation", "fresh_presentation_same_venue_valid", "two presentations of one code a second apart at "
           "one venue: each is new", [Step(mint.present(again, k.device_p256, at=T0), venue=venue),
                                       Step(mint.present(again, k.device_p256, at=T0 + 1), venue=venue, at=T0 + 1)],
           spec="SPEC 5.3, 8.2 V15", state=True)


def _inner_tampered(w: VectorWriter, built: Built) -> str:
    flipped = bytes([built.signature[0] ^ 1]) + built.signature[1:]
    tampered = Built(built.claims, built.payload, built.kid, flipped, w.mint.wrap(built, signature=flipped))
    return w.mint.presentation(tampered.envelope, T0, w.mint.presentation_signature(tampered, w.keys.device_p256, T0))
