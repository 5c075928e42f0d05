"""The fuzz targets: what each one feeds its input to, and what counts as a crash there.

A target's `one(data)` returns a label for what became of the input ("valid", a REST
status …) or raises: a `CityCreditError` is a refusal (the expected answer to bad input),
anything else is a crash, as is a `Finding` (a broken round trip, a 5xx answer, a 4xx that
is not a catalogue problem, an error logged with a traceback). Targets that check a
signature re-sign what the fuzzer changed with the real key (`resign` in the input's
first byte), so that the checks after the signature see hostile input too.

    text      CC1:/CP1: text through decode_text, b45decode and verify_code
    envelope  SignedCreditCode / Presentation bytes, Base45-wrapped, through verify_code
    claims    CreditCode payloads signed with a real city key (inside a presentation when device-bound),
              through verify_code, the JSON and protobuf shapes of the result and eligibility
    status    StatusListUpdate bytes (whole lists and deltas, re-signed or not) through open_status_update
    trust     the TUF files of a real alliance through open_trust: one file replaced as bytes, or a part
              (a city's keys, offers or policy, the membership, an agreement) re-signed and published
    grant     SignedPart(MerchantGrant) bytes through open_merchant_grant
    offers    offer, agreement, decision and benefit JSON through from_json, their round trips and decide
    rest      every gateway operation with a body (and those with parameters), through the real ASGI app
    issuer    every operation of a city's issuer with a body, through its real ASGI app
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import code_pb2, status_pb2, trust_pb2
from citycredit.core import (
    CITY_PARTS,
    MEMBERSHIP_PATH,
    MERCHANT_CONTEXT,
    SIGNING_CONTEXT,
    STATUS_CONTEXT,
    Agreement,
    Benefit,
    Catalogue,
    Decision,
    MemoryReplayCache,
    Offer,
    Repository,
    Tier,
    TrustFiles,
    VerifiedCode,
    agreement_path,
    agreement_role,
    b45decode,
    b45encode,
    city_part_path,
    city_role,
    decode_text,
    from_json,
    from_proto,
    open_merchant_grant,
    open_status_update,
    open_trust,
    presentation_message,
    publish,
    sign_metadata,
    sign_part,
    to_json,
    to_proto,
    verification_from_json,
    verification_from_proto,
    verification_to_json,
    verification_to_proto,
    verify_code,
)
from citycredit.errors import CityCreditError, error_for_code
from google.protobuf.message import DecodeError
from tuf.api.metadata import Metadata, TargetFile, Targets

from tests.fuzz._context import CITIES, Context
from tests.fuzz._mutate import mutate_frame, mutate_json_text
from tests.fuzz._rest import GATEWAY_OPS, ISSUER_OPS, Answer, Frame, Op, call

__all__ = ["TARGETS", "Finding", "Runner", "Target"]

HANGZHOU, QUZHOU = CITIES["hangzhou"], CITIES["quzhou"]
PROBLEM_JSON = "application/problem+json"
JSON_KINDS: tuple[type, ...] = (Offer, Agreement, Decision, Benefit)
# Keys the JSON mutator adds: those of the documents and request bodies the seeds hold.
JSON_KEYS = ("id", "city", "venue", "category", "min_tier", "benefit", "kind", "value", "quota", "uses", "period",
             "valid_from", "valid_until", "visitors", "title_zh", "title_en", "cities", "categories", "not_before",
             "not_after", "eligible", "reason", "offer_id", "tier", "code", "codes", "at", "role", "files",
             "holders", "root", "targets", "signed", "resident", "password", "algorithm", "public_key",
             "audience", "holder_ref", "local_record", "score", "ttl_s", "device_key", "device_algorithm",
             "merchant_id", "name", "venues", "status", "holder", "quota_remaining", "detail", "error_code")


def _mutate_bytes(data: bytes, max_size: int) -> bytes:
    """libFuzzer's own byte mutation (atheris is imported only where inputs are mutated: replays need none)."""
    import atheris

    return bytes(atheris.Mutate(data, max_size))


class Finding(Exception):
    """A crash that is no exception of the code under test: a broken invariant or a bad answer."""

    def __init__(self, kind: str, detail: str, origin: BaseException | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.origin = origin


class Runner:
    """One target set up over a work folder; `one` judges an input."""

    mutator: Callable[[bytes, int, int], bytes] | None = None

    def one(self, data: bytes) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Target:
    name: str
    build: Callable[[Path], Runner]


# --- helpers ------------------------------------------------------------------------------------------


def _check_result(result: VerifiedCode) -> str:
    """What a shell does with a verified code: its times, its JSON and protobuf shapes, both ways."""
    _ = result.issued_at, result.expires_at
    doc = verification_to_json(result)
    again = verification_to_json(verification_from_json(json.loads(json.dumps(doc))))
    if again != doc:
        raise Finding("roundtrip", f"verification JSON {doc} came back as {again}")
    proto = verification_to_json(verification_from_proto(verification_to_proto(result)))
    if proto != doc:
        raise Finding("roundtrip", f"verification protobuf {doc} came back as {proto}")
    return "valid"


def _refusal_shape(error: CityCreditError) -> None:
    """A refusal carries a catalogue code that maps back onto its own class."""
    if type(error_for_code(error.code, error.message)) is not type(error):
        raise Finding("catalogue", f"{type(error).__name__} has code {error.code}, which maps to another class")


def _lenient(message: Any, data: bytes) -> Any | None:
    try:
        message.ParseFromString(data)
    except DecodeError:
        return None
    return message


# --- decoders -----------------------------------------------------------------------------------------


class _Decoder(Runner):
    keys = True  # whether the target re-signs, and so needs the cities' and the gateway's keys

    def __init__(self, workdir: Path) -> None:
        self.ctx = Context.load(workdir, keys=self.keys)

    def verified(self, text: str | bytes, *, venue: str = "fuzz") -> VerifiedCode:
        try:
            result = verify_code(self.ctx.snapshot, text, now_s=self.ctx.now_s, grace_s=0, venue=venue,
                                 replay=MemoryReplayCache())
        except CityCreditError as exc:
            _refusal_shape(exc)
            raise
        _check_result(result)
        return result

    def verify(self, text: str | bytes) -> str:
        self.verified(text)
        return "valid"

    def close(self) -> None:
        self.ctx.close()


class TextRunner(_Decoder):
    keys = False

    def one(self, data: bytes) -> str:
        for text in (data, data.decode("utf-8", "replace")):
            with contextlib.suppress(CityCreditError):
                decode_text(text)
        with contextlib.suppress(CityCreditError):
            b45decode(data[4:].decode("latin-1"))
        return self.verify(data.decode("utf-8", "replace"))


class EnvelopeRunner(_Decoder):
    keys = False

    def one(self, data: bytes) -> str:
        prefix = "CP1:" if data[:1] and data[0] & 1 else "CC1:"
        return self.verify(prefix + b45encode(data[1:]))


class ClaimsRunner(_Decoder):
    """Claims signed with a real key of the city they name (inside a presentation when device-bound)."""

    def one(self, data: bytes) -> str:
        selector, payload = (data[0], data[1:]) if data else (0, b"")
        parsed = _lenient(code_pb2.CreditCode(), payload)
        signer = self.ctx.code_signer(parsed.city if parsed is not None else HANGZHOU, selector & 0x7F)
        envelope = code_pb2.SignedCreditCode(payload=payload, kid=signer.kid,
                                             signature=signer.signer.sign(SIGNING_CONTEXT + payload))
        raw = envelope.SerializeToString(deterministic=True)
        text = "CC1:" + b45encode(raw)
        if parsed is not None and parsed.HasField("device_key") and not selector & 0x80:
            at = self.ctx.now_s - (selector & 0x3F)
            presentation = code_pb2.Presentation(code=raw, presented_at=at,
                                                 signature=self.ctx.device.sign(presentation_message(raw, at)))
            text = "CP1:" + b45encode(presentation.SerializeToString(deterministic=True))
        result = self.verified(text)
        catalogue = self.ctx.snapshot.catalogue
        for offer in catalogue.offers:
            if offer.city == result.audience:
                for used in (0, 2, 10**6):
                    decision = catalogue.decide(holder=result, offer_id=offer.id, now_s=self.ctx.now_s,
                                                used_in_period=used)
                    _roundtrip(Decision, decision)
        return "valid device-bound" if result.device_bound else "valid"


class StatusRunner(_Decoder):
    """First byte: 1 re-signs the head with the city's status key, 2 gives the list held before."""

    def one(self, data: bytes) -> str:
        mode, body = (data[0], data[1:]) if data else (0, b"")
        update = _lenient(status_pb2.StatusListUpdate(), body)
        city = HANGZHOU
        if update is not None and update.WhichOneof("update") is not None:
            signed = update.list.head if update.WhichOneof("update") == "list" else update.delta.head
            head = _lenient(status_pb2.StatusListHead(), signed.body)
            if head is not None and head.city in self.ctx.snapshot.cities:
                city = head.city
            if mode & 1 and city in self.ctx.status_signers:
                signed.CopyFrom(sign_part(signed.body, self.ctx.status_signers[city], STATUS_CONTEXT))
                body = update.SerializeToString(deterministic=True)
        previous = self.ctx.status_lists.get(city) if mode & 2 else None
        result = open_status_update(body, city=city, status_keys=self.ctx.snapshot.cities[city].status_keys,
                                    previous=previous, now_s=self.ctx.now_s, grace_s=0)
        if len(result.data) != result.size // 4:
            raise Finding("invariant", f"a list of {result.size} entries holds {len(result.data)} bytes")
        for index in (0, 1, result.size - 1, result.size, 2**40):
            if result.status(index) not in (0, 1, 2, 3):
                raise Finding("invariant", f"entry {index} has status {result.status(index)}")
        _ = result.bitmap().count(1)
        return "valid"


class TrustRunner(_Decoder):
    """First byte: the mode (0 a file replaced, 1 a part re-signed and published, 2 a file replaced while the
    accepted snapshot is held, 3 a newer root offered); second: which file or part."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        files = self.ctx.files
        self.names = ["root", "timestamp", "snapshot", "targets", *sorted(files.roles),
                      *sorted(files.targets_files)]
        self.parts: list[tuple[str, str]] = [(city_role(c), city_part_path(c, p))
                                             for c in CITIES.values() for p in CITY_PARTS]
        self.parts += [("targets", MEMBERSHIP_PATH), (agreement_role("hangzhou-quzhou"),
                                                      agreement_path("hangzhou-quzhou"))]
        self.repository = Repository.from_files(files)
        self.governance = self.ctx.governance_signers()

    def one(self, data: bytes) -> str:
        mode, which, content = (data[0] % 4, data[1], data[2:]) if len(data) >= 2 else (0, 0, data)
        files = self.ctx.files
        previous = None
        if mode == 1:
            files = self._published(*self.parts[which % len(self.parts)], content)
        elif mode == 3:
            files = dataclasses.replace(files, newer_roots=(content,))
        else:
            files = self._replaced(self.names[which % len(self.names)], content)
            previous = self.ctx.snapshot if mode == 2 else None
        snapshot = open_trust(files, now_s=self.ctx.now_s, grace_s=0, previous=previous, anchor=self.ctx.anchor)
        catalogue = snapshot.catalogue
        _ = snapshot.keys_by_kid, snapshot.version, [to_json(o) for o in catalogue.offers]
        for trust in snapshot.cities.values():
            for key in trust.code_keys:
                _ = key.key
        return "valid"

    def _replaced(self, name: str, content: bytes) -> TrustFiles:
        files = self.ctx.files
        if name in ("root", "timestamp", "snapshot", "targets"):
            return dataclasses.replace(files, **{name: content})
        if name in files.roles:
            return dataclasses.replace(files, roles={**files.roles, name: content})
        return dataclasses.replace(files, targets_files={**files.targets_files, name: content})

    def _published(self, role: str, path: str, content: bytes) -> TrustFiles:
        """The repository with `path` replaced by `content`, listed by its role, signed as its owners would."""
        files = self.ctx.files
        data = files.targets if role == "targets" else files.roles[role]
        metadata: Metadata[Targets] = Metadata.from_bytes(data)
        metadata.signed.targets[path] = TargetFile.from_data(path, content)
        metadata.signed.version += 1
        if role == "targets":
            signers = self.governance
        elif role.startswith("agreement-"):
            signers = [self.ctx.authority_signers[c] for c in (HANGZHOU, QUZHOU)]
        else:
            signers = [self.ctx.authority_signers[int(role.removeprefix("city-"))]]
        signed = sign_metadata(metadata, signers)
        assert self.ctx.gateway_signers is not None
        snapshot_signer, timestamp_signer = self.ctx.gateway_signers
        published = publish(self.repository, snapshot_signer=snapshot_signer, timestamp_signer=timestamp_signer,
                            now_s=self.ctx.now_s, targets=signed if role == "targets" else None,
                            roles=None if role == "targets" else {role: signed}, files={path: content})
        return published.files(trusted_root_version=self.ctx.anchor.version)


class GrantRunner(_Decoder):
    """First byte: 1 re-signs the grant with the key its city signs such grants with."""

    def one(self, data: bytes) -> str:
        mode, body = (data[0], data[1:]) if data else (0, b"")
        part = _lenient(trust_pb2.SignedPart(), body)
        if mode & 1 and part is not None:
            grant = _lenient(trust_pb2.MerchantGrant(), part.body)
            city = grant.city if grant is not None and grant.city in CITIES.values() else HANGZHOU
            signer = self.ctx.authority_signers[city] if grant is not None and grant.office else \
                self.ctx.status_signers[city]
            body = sign_part(part.body, signer, MERCHANT_CONTEXT).SerializeToString(deterministic=True)
        snapshot = self.ctx.snapshot
        grant = open_merchant_grant(body, status_keys={c: t.status_keys for c, t in snapshot.cities.items()},
                                    authorities=snapshot.authorities)
        return "office" if grant.office else "merchant"


def _roundtrip(kind: type, value: Any) -> None:
    doc = to_json(value)
    back = from_json(kind, json.loads(json.dumps(doc)))
    if back != value:
        raise Finding("roundtrip", f"{kind.__name__} JSON {doc} came back as {back!r}")
    if kind is not Decision:
        again = from_proto(kind, to_proto(value))
        if again != value:
            raise Finding("roundtrip", f"{kind.__name__} protobuf of {value!r} came back as {again!r}")


class OffersRunner(Runner):
    """First byte: the kind (offer, agreement, decision, benefit); then its JSON."""

    def __init__(self, workdir: Path) -> None:
        self.ctx = Context.load(workdir, keys=False)
        now = self.ctx.now_s

        def holder(city: int, audience: int, tier: Tier) -> VerifiedCode:
            return VerifiedCode(city=city, tier=tier, band="示范", issued_at_s=now - 60, expires_at_s=now + 3600,
                                code_id=bytes(16), holder=bytes(12), status_index=0, kid=bytes(8), policy_version=1,
                                audience=audience)

        self.holders = [holder(c, a, t) for c in (HANGZHOU, QUZHOU) for a in (HANGZHOU, QUZHOU)
                        for t in (Tier.RESTRICTED, Tier.GOOD, Tier.OUTSTANDING)]

    def mutator(self, data: bytes, max_size: int, seed: int) -> bytes:  # type: ignore[override]
        rng = random.Random(seed)
        kind, text = (data[:1] or b"\0"), data[1:]
        if rng.random() < 0.05:
            kind = bytes([rng.randrange(4)])
        return kind + mutate_json_text(text, max_size - 1, rng, _mutate_bytes, JSON_KEYS)

    def one(self, data: bytes) -> str:
        kind = JSON_KINDS[data[0] % len(JSON_KINDS)] if data else Offer
        try:
            doc = json.loads(data[1:])
        except (ValueError, RecursionError):
            return "not json"
        value = from_json(kind, doc)
        _roundtrip(kind, value)
        snapshot = self.ctx.snapshot
        if kind is Offer:
            offers = [value, *(o for o in snapshot.catalogue.offers if o.id != value.id)]
            catalogue = Catalogue.build(offers=offers, agreements=snapshot.agreements, members=snapshot.members)
            self._decide(catalogue, value.id)
        elif kind is Agreement:
            catalogue = Catalogue.build(offers=snapshot.catalogue.offers, agreements=[*snapshot.agreements, value],
                                        members=snapshot.members)
            for offer in catalogue.offers:
                if offer.city in value.cities:
                    self._decide(catalogue, offer.id)
        return kind.__name__.lower()

    def _decide(self, catalogue: Catalogue, offer_id: str) -> None:
        for holder in self.holders:
            for used in (0, 1, 10**9):
                for now in (self.ctx.now_s, 0, 253402300799):
                    _roundtrip(Decision, catalogue.decide(holder=holder, offer_id=offer_id, now_s=now,
                                                          used_in_period=used))


# --- REST ---------------------------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Error records of the code under test (an unhandled error is logged before its 500)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _RestRunner(Runner):
    ops: tuple[Op, ...] = ()
    rounds_every = 250

    def __init__(self, workdir: Path, name: str) -> None:
        source = workdir / "demo"
        self.home = workdir / "homes" / name / "demo"
        shutil.rmtree(self.home.parent, ignore_errors=True)
        shutil.copytree(source, self.home)
        for clock in ("clock.json", "device.pem"):
            shutil.copy(workdir / clock, self.home.parent / clock)
        self.loop = asyncio.new_event_loop()
        self.errors = _ErrorLog()
        for logger in ("citycredit", "asyncio", "uvicorn", "fastapi"):
            logging.getLogger(logger).addHandler(self.errors)
        self.count = 0
        self.credentials: dict[str, str] = {}

    def mutator(self, data: bytes, max_size: int, seed: int) -> bytes:  # type: ignore[override]
        return mutate_frame(data, max_size, seed, _mutate_bytes, operations=len(self.ops), keys=JSON_KEYS)

    def app(self) -> Any:
        raise NotImplementedError

    def rounds(self) -> None:
        """What the servers' timers would do now and then."""

    def one(self, data: bytes) -> str:
        frame = Frame.parse(data)
        op = self.ops[frame.op % len(self.ops)]
        credentials = dict(self.credentials)
        credentials["other"] = credentials["office" if op.auth != "office" else "merchant"]
        self.errors.records.clear()
        try:
            answer = call(self.loop, self.app(), op, frame, credentials)
        except TimeoutError:
            raise Finding("hang", f"{op.method} {op.path} did not answer within 60 s") from None
        self.count += 1
        if self.count % self.rounds_every == 0:
            self.rounds()
        self._judge(op, answer)
        return f"{op.name} {answer.status}"

    def _judge(self, op: Op, answer: Answer) -> None:
        where = f"{op.method} {op.path}"
        if self.errors.records:
            record = self.errors.records[0]
            exc = record.exc_info[1] if record.exc_info else None
            raise Finding("logged error", f"{where} logged {record.getMessage()!r}: {exc!r}", exc) from exc
        if answer.status >= 500:
            raise Finding("5xx", f"{where} answered {answer.status}: {answer.body[:300]!r}")
        if b"Traceback" in answer.body or b'File "' in answer.body:
            raise Finding("traceback", f"{where} answered {answer.status} with a traceback")
        if 400 <= answer.status < 500:
            media = answer.headers.get("content-type", "").partition(";")[0]
            try:
                problem = json.loads(answer.body)
            except ValueError:
                problem = None
            if media != PROBLEM_JSON or not isinstance(problem, dict) or problem.get("status") != answer.status:
                raise Finding("contract", f"{where} answered {answer.status} as {media!r}: {answer.body[:200]!r}")
            code = problem.get("code")
            if not isinstance(code, str) or error_for_code(code).code != code:
                raise Finding("contract", f"{where} answered {answer.status} with code {code!r}")
            if answer.status == 405 and not answer.headers.get("allow"):
                raise Finding("contract", f"{where} answered 405 without Allow")

    def close(self) -> None:
        for logger in ("citycredit", "asyncio", "uvicorn", "fastapi"):
            logging.getLogger(logger).removeHandler(self.errors)
        self.loop.close()


_UNLIMITED = {"rate_per_s": 1e9, "rate_burst": 10**9, "client_rate_per_s": 1e9, "client_rate_burst": 10**9}


class GatewayRunner(_RestRunner):
    ops = GATEWAY_OPS

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "rest")
        from citycredit.gateway.testing import InMemoryGateway

        self.gateway = InMemoryGateway(self.home, **_UNLIMITED)
        tokens = json.loads((self.home / "credentials.json").read_text())["cities"]
        self.credentials = {"merchant": tokens[f"{QUZHOU:06d}"]["merchant"]["token"],
                            "office": tokens[f"{HANGZHOU:06d}"]["city_office"]["token"],
                            "other_city": tokens[f"{CITIES['wenzhou']:06d}"]["city_office"]["token"]}
        self._app = self.gateway.app

    def app(self) -> Any:
        return self._app

    def rounds(self) -> None:
        replica = self.gateway.replica
        replica.refresh_round()
        replica.log_round()

    def close(self) -> None:
        super().close()
        self.gateway.close()


class IssuerRunner(_RestRunner):
    """Hangzhou's issuer, offline (it follows its home's repository and uploads nothing)."""

    ops = ISSUER_OPS

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "issuer")
        from citycredit.gateway.issuer import IssuerConfig, IssuerService
        from citycredit.gateway.issuer._app import build_issuer_app

        passphrases = json.loads((self.home / "passphrases.json").read_text())
        config = IssuerConfig(home=self.home, city="hangzhou", keystore_passphrase=passphrases["cities/hangzhou/keys"],
                              gateway=None, rate_per_s=1e9, rate_burst=10**9, session_ttl_s=86400)
        self.service = IssuerService(config)
        self.service.start()
        self._app = build_issuer_app(self.service)
        tokens = json.loads((self.home / "credentials.json").read_text())["cities"]
        session = self.service.sign_in({"resident": "hangzhou-4", "password": "demo"})
        self.credentials = {"holder": session["token"], "office": tokens[f"{HANGZHOU:06d}"]["city_office"]["token"],
                            "merchant": tokens[f"{HANGZHOU:06d}"]["merchant"]["token"],
                            "other_city": tokens[f"{QUZHOU:06d}"]["city_office"]["token"]}

    def app(self) -> Any:
        return self._app

    def rounds(self) -> None:
        self.service.round()

    def close(self) -> None:
        super().close()
        self.service.close()


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("text", TextRunner),
    Target("envelope", EnvelopeRunner),
    Target("claims", ClaimsRunner),
    Target("status", StatusRunner),
    Target("trust", TrustRunner),
    Target("grant", GrantRunner),
    Target("offers", OffersRunner),
    Target("rest", GatewayRunner),
    Target("issuer", IssuerRunner),
)}
