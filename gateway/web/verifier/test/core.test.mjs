// Unit tests of the TypeScript core: Base45, canonical decoding, status bits, key formats.
// Run: node --test gateway/web/verifier/test/
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeCrypto from "node:crypto";
import { deflateSync } from "node:zlib";
import { loadCore } from "./_load.mjs";

const core = await loadCore();
const { b45decode, b45encode, CityCreditError } = core;
const bytes = (...xs) => Uint8Array.from(xs);
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const codeOf = (fn) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CityCreditError, `not a catalogue error: ${e}`);
    return e.code;
  }
  return null;
};

// --- Base45 (RFC 9285) ---------------------------------------------------------------------------------

test("Base45 round-trips and matches RFC 9285's examples", () => {
  assert.equal(b45encode(new TextEncoder().encode("AB")), "BB8");
  assert.equal(b45encode(new TextEncoder().encode("Hello!!")), "%69 VD92EX0");
  assert.equal(b45encode(new TextEncoder().encode("base-45")), "UJCLQE7W581");
  assert.deepEqual(new TextDecoder().decode(b45decode("QED8WEX0")), "ietf!");
  for (let n = 0; n < 64; n++) {
    const data = nodeCrypto.randomBytes(n);
    assert.deepEqual(Buffer.from(b45decode(b45encode(data))), data);
  }
});

test("Base45 refuses bad lengths, characters and group values, as the reference words them", () => {
  assert.throws(() => b45decode("ABCD"), /cannot be 4 characters long \(length mod 3 is 1\)/);
  assert.throws(() => b45decode("ab"), /'a' is not a Base45 character/);
  assert.throws(() => b45decode("AÄ"), /non-ASCII/);
  assert.throws(() => b45decode(":::"), /larger than 65535/);
  assert.throws(() => b45decode("::"), /final Base45 pair is larger than 255/);
  assert.equal(codeOf(() => b45decode("a")), "CC_BASE45");
});

// --- the envelope: strict, canonical ---------------------------------------------------------------

const envelope = (payload, kid = new Uint8Array(8).fill(7), sig = new Uint8Array(64).fill(9)) =>
  Uint8Array.from([0x0a, payload.length, ...payload, 0x12, kid.length, ...kid, 0x1a, sig.length, ...sig]);

test("decodeText checks length first, then prefix, then Base45, then the envelope", () => {
  assert.equal(codeOf(() => core.decodeText("CC1:" + "0".repeat(1021))), "CC_TOO_LONG");
  assert.equal(codeOf(() => core.decodeText("XX1:" + "0".repeat(1000))), "CC_PREFIX");
  assert.equal(codeOf(() => core.decodeText("CC1:abc")), "CC_BASE45");
  assert.equal(codeOf(() => core.decodeText("CC1:")), "CC_MALFORMED");
  // 1,024 code points is the limit, whatever their UTF-16 length.
  assert.equal(codeOf(() => core.decodeText("CC1:" + "😀".repeat(1020))), "CC_BASE45");
  const ok = core.decodeText("CC1:" + b45encode(envelope(bytes(1, 2, 3))));
  assert.deepEqual([...ok.payload], [1, 2, 3]);
});

test("an envelope must be its canonical encoding", () => {
  const good = envelope(bytes(1, 2, 3));
  assert.doesNotThrow(() => core.decodeText("CC1:" + b45encode(good)));
  const swapped = Uint8Array.from([...good.subarray(5, 15), ...good.subarray(0, 5), ...good.subarray(15)]);
  assert.match(String(catchIt(() => core.decodeText("CC1:" + b45encode(swapped)))), /not canonically encoded/);
  const trailing = Uint8Array.from([...good, 0x00]);
  assert.equal(codeOf(() => core.decodeText("CC1:" + b45encode(trailing))), "CC_MALFORMED");
  // A non-minimal varint for a length.
  const longLen = Uint8Array.from([0x0a, 0x83, 0x00, 1, 2, 3, ...good.subarray(5)]);
  assert.match(String(catchIt(() => core.decodeText("CC1:" + b45encode(longLen)))), /not canonically encoded/);
  // Unknown fields are kept after the known ones: canonical there, not before them.
  const unknownAfter = Uint8Array.from([...good, 0x78, 0x01]);
  assert.doesNotThrow(() => core.decodeText("CC1:" + b45encode(unknownAfter)));
  const unknownBefore = Uint8Array.from([0x78, 0x01, ...good]);
  assert.equal(codeOf(() => core.decodeText("CC1:" + b45encode(unknownBefore))), "CC_MALFORMED");
  // A known field number with the wrong wire type is an unknown field to the reference's runtime.
  const wrongWire = Uint8Array.from([...good, 0x08, 0x01]);
  assert.doesNotThrow(() => core.decodeText("CC1:" + b45encode(wrongWire)));
});

function catchIt(fn) {
  try {
    fn();
  } catch (e) {
    return e.message;
  }
  return "";
}

// --- status lists --------------------------------------------------------------------------------------

test("status entries are two bits, least significant first; beyond the list reads REVOKED", () => {
  const data = new Uint8Array(131072 / 4);
  data[0] = 0b11_10_01_00; // entries 0..3: VALID, REVOKED, SUSPENDED, reserved
  data[1] = 0b00_00_00_10; // entry 4 SUSPENDED
  const list = { size: 131072, data };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => core.statusAt(list, i)), [0, 1, 2, 3, 2, 0]);
  assert.equal(core.statusAt(list, 131072), 1);
  assert.equal(core.statusAt(list, 2 ** 32 - 1), 1);
});

test("status lists inflate with a bound and refuse trailing data, truncation and bad checksums", () => {
  const raw = new Uint8Array(32768).fill(0x41);
  const z = new Uint8Array(deflateSync(raw, { level: 9 }));
  assert.deepEqual(core.inflateBounded(z, raw.length), raw);
  assert.throws(() => core.inflateBounded(z, raw.length - 1), /length does not match/);
  assert.throws(() => core.inflateBounded(z, raw.length + 1), /length does not match/);
  assert.throws(() => core.inflateBounded(Uint8Array.from([...z, 0]), raw.length), /length does not match/);
  assert.throws(() => core.inflateBounded(z.subarray(0, z.length - 2), raw.length), /length does not match/);
  const badSum = Uint8Array.from(z);
  badSum[badSum.length - 1] ^= 1;
  assert.throws(() => core.inflateBounded(badSum, raw.length), /not valid zlib data/);
  assert.throws(() => core.inflateBounded(bytes(1, 2, 3), 10), /not valid zlib data/);
  // A zip bomb: 100 MB of zeros is refused after the declared size, not inflated.
  const bomb = new Uint8Array(deflateSync(new Uint8Array(100 * 1024 * 1024)));
  assert.throws(() => core.inflateBounded(bomb, 32768), /length does not match/);
});

// --- key formats ---------------------------------------------------------------------------------------

test("kid is the first 8 bytes of SHA-256 over the SPKI DER", () => {
  const { publicKey } = nodeCrypto.generateKeyPairSync("ed25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const want = nodeCrypto.createHash("sha256").update(spki).digest().subarray(0, 8);
  assert.deepEqual(Buffer.from(core.kidForSpki(spki)), want);
});

test("SPKI parsing is strict about algorithm, curve and encoding", () => {
  const ed = nodeCrypto.generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  const p = nodeCrypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
  const k1 = nodeCrypto.generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey.export({ format: "der", type: "spki" });
  assert.equal(core.parseSpki(core.Algorithm.ED25519, new Uint8Array(ed)).length, 32);
  assert.equal(core.parseSpki(core.Algorithm.P256, new Uint8Array(p)).length, 65);
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.P256, new Uint8Array(ed))), "CC_INVALID_ARGUMENT");
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.ED25519, new Uint8Array(p))), "CC_INVALID_ARGUMENT");
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.P256, new Uint8Array(k1))), "CC_INVALID_ARGUMENT");
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.ED25519, Uint8Array.from([...ed, 0]))), "CC_INVALID_ARGUMENT");
  const offCurve = Uint8Array.from(p);
  offCurve[offCurve.length - 1] ^= 1;
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.P256, offCurve)), "CC_INVALID_ARGUMENT");
  // SM2: ecPublicKey with the SM2 curve OID (1.2.156.10197.1.301); the point must be on that curve.
  const sm2 = hex("3059301306072a8648ce3d020106082a811ccf5501822d03420004f350ab48e87742725878cbb239815af3d88322f39fd1a2" +
    "8718f541baab61979b2440ff7947235ef032ef176537544cbf568de6f7b1b67e59cd3e23a9f97b649d");
  assert.equal(core.parseSpki(core.Algorithm.SM2, sm2).length, 65);
  assert.equal(codeOf(() => core.parseSpki(core.Algorithm.P256, sm2)), "CC_INVALID_ARGUMENT");
});

test("P-256 signatures are raw r||s with 0 < r < n and 0 < s <= n/2; SM2 has no low-S rule", async () => {
  const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const data = new TextEncoder().encode("CC1\0payload");
  for (const provider of [core.nodeProvider, core.nobleProvider, core.webCryptoProvider]) {
    const key = await core.verifyingKey(provider, core.Algorithm.P256, spki);
    let sig;
    do sig = new Uint8Array(nodeCrypto.sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" }));
    while (BigInt("0x" + Buffer.from(sig.subarray(32)).toString("hex")) > core.P256_N >> 1n);
    assert.equal(await key.verify(sig, data), true, provider.name);
    const high = Uint8Array.from(sig);
    const s = core.P256_N - BigInt("0x" + Buffer.from(sig.subarray(32)).toString("hex"));
    high.set(Buffer.from(s.toString(16).padStart(64, "0"), "hex"), 32);
    assert.equal(await key.verify(high, data), false, `${provider.name}: high S is refused`);
    assert.equal(await key.verify(new Uint8Array(64), data), false);
    assert.equal(await key.verify(sig.subarray(0, 63), data), false);
  }
  assert.equal(core.inRangeRS(Uint8Array.from([...new Uint8Array(31), 1, ...hex("ff".repeat(32))]), core.SM2_N, false), false);
  const sHigh = (core.SM2_N - 1n).toString(16).padStart(64, "0");
  assert.equal(core.inRangeRS(Uint8Array.from([...new Uint8Array(31), 1, ...hex(sHigh)]), core.SM2_N, false), true);
});

test("Ed25519 verifies under every provider and refuses S >= L (no malleability)", async () => {
  const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync("ed25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  const data = new TextEncoder().encode("CC1\0payload");
  const sig = new Uint8Array(nodeCrypto.sign(null, data, privateKey));
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const sBig = BigInt("0x" + Buffer.from(sig.subarray(32)).reverse().toString("hex")) + L;
  const malleable = Uint8Array.from(sig);
  malleable.set(Buffer.from(sBig.toString(16).padStart(64, "0"), "hex").reverse(), 32);
  for (const provider of [core.nodeProvider, core.nobleProvider, core.webCryptoProvider]) {
    const key = await core.verifyingKey(provider, core.Algorithm.ED25519, spki);
    assert.equal(await key.verify(sig, data), true, provider.name);
    assert.equal(await key.verify(malleable, data), false, `${provider.name}: S + L is refused`);
    const other = Uint8Array.from(data);
    other[0] ^= 1;
    assert.equal(await key.verify(sig, other), false);
  }
});

test("times read as the reference reads them", () => {
  assert.equal(core.parseTimeS("2026-11-18T11:06:40Z"), 1795000000);
  assert.equal(core.parseTimeS("2026-11-18T19:06:40+08:00"), 1795000000);
  assert.equal(core.parseTimeS("2026-11-18T19:06:40.999+08:00"), 1795000000);
  assert.equal(core.parseTimeS("2026-11-18"), 1794931200); // 00:00 in UTC+8
  assert.equal(codeOf(() => core.parseTimeS("2026-11-18T11:06:40")), "CC_INVALID_ARGUMENT");
  assert.equal(core.iso(1795000000), "2026-11-18T11:06:40Z");
  assert.equal(core.periodKey("week", core.parseTimeS("2026-01-01T00:00:00+08:00")), "2026-W01");
  assert.equal(core.periodKey("week", core.parseTimeS("2027-01-01T00:00:00+08:00")), "2026-W53");
  assert.equal(core.periodKey("day", core.parseTimeS("2026-11-18T23:30:00Z")), "2026-11-19");
});
