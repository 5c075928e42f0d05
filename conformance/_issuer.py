"""Issuer conformance: call a city's issuing command and check the codes it makes.

Protocol: the runner appends `--city CITY` and one local record to the command
(`--score N`, `--grade G`, or `--colour C` with `--<flag>` for each defining flag
that is true, e.g. `--honours`, `--bad-record`) and reads one CC1 string, or a
JSON object with a `code` field, from stdout. A record the city's scheme refuses
must be refused: a non-zero exit and no code. The records are the rows of the
city's adapter table (`_tables.adapter_rows`), and the codes are checked against
the trust set the city's keys are published in (`--trust DIR`, the served layout).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citycredit._verifier import Verifier
from citycredit.adapters import load_registry, load_scheme_file
from citycredit.core import BASE45_ALPHABET, CODE_PREFIX, HOLDER_BYTES, Tier, decode_envelope, is_city, parse_claims

from ._report import Check, Report
from ._tables import adapter_rows

__all__ = ["IssuerPolicy", "check_issuer"]

QR_VERSION_9_M_ALPHANUMERIC = 259  # characters a version-9 QR code holds at error correction M


@dataclass(frozen=True, kw_only=True)
class IssuerPolicy:
    """What the alliance asks of issued codes."""

    max_ttl_s: int = 300  # short-lived codes are the default holder binding (DESIGN 4)
    skew_s: int = 300  # how far issued_at may stand from the checker's clock
    timeout_s: float = 30.0
    max_qr_version: int = 9


@dataclass
class _Probe:
    name: str
    description: str
    args: list[str]
    expected: Mapping[str, Any]
    exit_code: int | None = None
    code: str | None = None
    output: str = ""
    problem: str | None = None

    @property
    def negative(self) -> bool:
        return "error" in self.expected


def _record_args(record: Mapping[str, Any], scheme_doc: Mapping[str, Any]) -> list[str] | None:
    """The protocol arguments for a local record, or None when the protocol cannot express it."""
    if set(record) == {"score"}:
        score = record["score"]
        return ["--score", str(score)] if isinstance(score, int) and not isinstance(score, bool) else None
    if set(record) == {"grade"}:
        return ["--grade", record["grade"]] if isinstance(record["grade"], str) and record["grade"] else None
    if set(record) == {"colour"} and isinstance(record["colour"], str):
        colour = next((c for c in scheme_doc.get("colours", []) if c.get("value") == record["colour"]), None)
        flags = [] if colour is None else [f"--{f.replace('_', '-')}" for f, v in colour.get("when", {}).items() if v]
        return ["--colour", record["colour"], *flags]
    return None


def _probes(scheme_doc: Mapping[str, Any]) -> list[_Probe]:
    probes = []
    for row in adapter_rows(scheme_doc):
        args = _record_args(row["record"], scheme_doc)
        if args is not None:
            probes.append(_Probe(row["name"], row["description"], args, row["expected"]))
    return probes


def _parse_code(stdout: str) -> str | None:
    text = stdout.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return None
        code = doc.get("code") if isinstance(doc, dict) else None
        return code if isinstance(code, str) else None
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else None


# An issuer called in this process instead of as a command: argv -> (exit code, stdout, stderr).
IssuerCall = Callable[[list[str]], tuple[int, str, str]]


def _subprocess(policy: IssuerPolicy) -> IssuerCall:
    def call(argv: list[str]) -> tuple[int, str, str]:
        proc = subprocess.run(argv, capture_output=True, timeout=policy.timeout_s, check=False)
        return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")

    return call


def _run(argv: Sequence[str], probe: _Probe, city: int, policy: IssuerPolicy, call: IssuerCall) -> None:
    full = [*argv, "--city", str(city), *probe.args]
    try:
        probe.exit_code, stdout, stderr = call(full)
    except subprocess.TimeoutExpired:
        probe.problem = f"timed out after {policy.timeout_s:g} s"
        return
    except OSError as exc:
        probe.problem = f"cannot run the issuer: {exc}"
        return
    probe.output = (stdout + stderr)[:500]
    if probe.exit_code == 0:
        probe.code = _parse_code(stdout)


def check_issuer(argv: Sequence[str], *, city: str | int, trust: Path, anchor: Path | None = None,
                 scheme_file: Path | None = None, policy: IssuerPolicy | None = None,
                 clock: Callable[[], float] = time.time, call: IssuerCall | None = None) -> Report:
    """Issue a code for every band edge of the city's scheme (and records it must refuse), then check them.

    `trust` is the trust set in the served layout; its pinned root is `anchor` (default: `anchor.json`
    in it, or in the folder above, as `Verifier.from_directory` looks for it). `call` runs the issuer
    in this process instead of as a command (quicker, for tests); it gets `argv` with the protocol's
    arguments appended.
    """
    policy = policy or IssuerPolicy()
    report = Report(title="issuer conformance", subject=" ".join(argv))
    checks = report.checks
    try:
        scheme = load_scheme_file(scheme_file) if scheme_file else load_registry().resolve_city(str(city))
        verifier = Verifier.from_directory(trust, anchor=anchor, clock=clock)
    except Exception as exc:
        checks.append(Check("setup", "scheme and trust set", "fail", getattr(exc, "message", str(exc))))
        return report
    doc = scheme.describe()
    report.facts += [("city", f"{scheme.city} {scheme.name_en}"), ("scheme", f"{scheme.scheme_id} v{scheme.version}"),
                     ("trust set", f"snapshot version {verifier.version}"), ("max ttl", f"{policy.max_ttl_s} s")]
    probes = _probes(doc)
    started = clock()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda p: _run(argv, p, scheme.city, policy, call or _subprocess(policy)), probes))
    finished = clock()

    issued: list[tuple[_Probe, Any]] = []  # (probe, claims) for codes that decoded
    for probe in probes:
        if probe.problem:
            checks.append(Check("issuing", probe.name, "fail", probe.problem, probe.description))
        elif probe.negative:
            ok = probe.exit_code != 0 and probe.code is None
            checks.append(Check("issuing", probe.name, "pass" if ok else "fail",
                                "refused" if ok else f"issued a code for a record the scheme refuses: {probe.output}",
                                probe.description))
        elif probe.code is None:
            checks.append(Check("issuing", probe.name, "fail",
                                f"exit {probe.exit_code}, no code on stdout: {probe.output.strip()[:200]}",
                                probe.description))
        else:
            why = None
            try:
                claims = parse_claims(decode_envelope(probe.code).payload)
            except Exception as exc:
                why = f"the code does not decode: {getattr(exc, 'message', exc)}"
            else:
                tier = Tier(claims.tier).name
                if (tier, claims.band) != (probe.expected["tier"], probe.expected["band"]):
                    why = f"tier {tier} ({claims.band}), the scheme says {probe.expected['tier']} " \
                          f"({probe.expected['band']})"
                issued.append((probe, claims))
            checks.append(Check("issuing", probe.name, "fail" if why else "pass",
                                why or f"{probe.expected['tier']} ({probe.expected['band']})", probe.description))
    checks.extend(_code_checks(issued, verifier, scheme.city, policy, started, finished))
    return report


def _code_checks(issued: list[tuple[_Probe, Any]], verifier: Verifier, city: int, policy: IssuerPolicy,
                 started: float, finished: float) -> list[Check]:
    if not issued:
        return [Check("codes", "codes issued", "fail", "no code was issued, nothing to check")]
    codes = [p.code for p, _ in issued if p.code]
    checks = []

    def add(name: str, what: str, problems: list[str], ok_why: str) -> None:
        checks.append(Check("codes", name, "fail" if problems else "pass", "; ".join(problems[:5]) or ok_why, what))

    add("format", "CC1: and Base45 in QR alphanumeric mode only",
        [f"{p.name}: not QR alphanumeric" for p, _ in issued if p.code and not _alphanumeric(p.code)],
        f"{len(codes)} codes")
    add("size", f"fits a version-{policy.max_qr_version} QR code at error correction M",
        [f"{p.name}: {why}" for p, _ in issued if p.code and (why := _qr_problem(p.code, policy.max_qr_version))],
        f"at most {max(map(len, codes))} characters")
    trust = verifier.snapshot.cities.get(city)
    kids = {k.kid for k in trust.code_keys} if trust is not None else set()
    add("kid", "the kid names a code key in the city's keys part",
        [f"{p.name}: kid {k.hex()} is not in the keys part of {city:06d}" for p, _ in issued
         if p.code and (k := _kid(p.code)) not in kids],
        "every kid is a code key of this city")
    failures = []
    for probe, _ in issued:
        try:
            verifier.verify(probe.code or "", at=int(finished))
        except Exception as exc:
            failures.append(f"{probe.name}: {getattr(exc, 'code', '')} {getattr(exc, 'message', exc)}")
    add("verifies", "the code verifies against the trust set now (signature, key window, status list)", failures,
        "every code verifies")
    status_list = verifier.snapshot.statuses.get(city)
    plausible = []
    for probe, c in issued:
        if c.city != city:
            plausible.append(f"{probe.name}: city {c.city}")
        if not c.audience or not is_city(c.audience):
            plausible.append(f"{probe.name}: no audience (the host city the code is for)")
        if len(c.code_id) != 16:
            plausible.append(f"{probe.name}: code id of {len(c.code_id)} bytes")
        if len(c.holder) != HOLDER_BYTES:
            plausible.append(f"{probe.name}: holder pseudonym of {len(c.holder)} bytes, not {HOLDER_BYTES}")
        if not started - policy.skew_s <= c.issued_at <= finished + policy.skew_s:
            plausible.append(f"{probe.name}: issued_at {c.issued_at} is not now")
        if status_list is None:
            plausible.append(f"{probe.name}: the trust set holds no status list of {city:06d}")
        elif c.status_index >= status_list.size:
            plausible.append(f"{probe.name}: status index {c.status_index} beyond the list of {status_list.size}")
    add("claims", "claims are present and plausible (city, audience, code id, 16-byte pseudonym, issue time, status "
        "index inside the city's list)", plausible,
        "city, audience, code id, pseudonym, issue time and status index are plausible")
    add("expiry policy", f"lifetime between 1 s and the policy's {policy.max_ttl_s} s",
        [f"{p.name}: lifetime {c.expires_at - c.issued_at} s" for p, c in issued
         if not 0 < c.expires_at - c.issued_at <= policy.max_ttl_s],
        f"lifetimes {sorted({c.expires_at - c.issued_at for _, c in issued})} s")
    ids = [c.code_id for _, c in issued]
    add("code ids", "every code has its own random 128-bit id",
        [f"{len(ids) - len(set(ids))} repeated code id(s)"] if len(set(ids)) != len(ids) else [],
        f"{len(ids)} distinct ids")
    indexes = [c.status_index for _, c in issued]
    add("status indexes", "status indexes are spread (random), not one shared or counted up",
        ["every code has the same status index"] if len(indexes) > 2 and len(set(indexes)) == 1 else
        ["status indexes count up one by one"] if len(indexes) > 3 and _consecutive(sorted(indexes)) else [],
        f"{len(set(indexes))} distinct indexes")
    return checks


def _alphanumeric(code: str) -> bool:
    return code.startswith(CODE_PREFIX) and all(ch in BASE45_ALPHABET for ch in code[len(CODE_PREFIX):])


def _kid(code: str) -> bytes:
    try:
        return decode_envelope(code).kid
    except Exception:
        return b""


def _qr_problem(code: str, max_version: int) -> str | None:
    try:
        import segno  # noqa: PLC0415 - optional: the qr extra; without it the length bound is checked
    except ImportError:
        if len(code) > QR_VERSION_9_M_ALPHANUMERIC:
            return f"{len(code)} characters, more than {QR_VERSION_9_M_ALPHANUMERIC}"
        return None
    try:
        qr = segno.make(code, error="m", mode="alphanumeric", boost_error=False)
    except Exception as exc:  # segno refuses data that fits no QR code
        return f"no QR code holds it: {exc}"
    if not isinstance(qr.version, int) or qr.version > max_version:
        return f"needs QR version {qr.version} at M ({len(code)} characters)"
    return None


def _consecutive(values: list[int]) -> bool:
    return all(b - a == 1 for a, b in itertools.pairwise(values))
