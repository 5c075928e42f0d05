"""Issuer conformance: call a city's issuing command and check the codes it makes.

Protocol: the runner appends `--city CITY` and one local record to the command
(`--score N`, `--grade G`, or `--colour C` with `--<flag>` for each defining flag
that is true, e.g. `--honours`, `--bad-record`) and reads one CC1 string, or a
JSON object with a `code` field, from stdout. A record the city's scheme refuses
must be refused: a non-zero exit and no code.
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
from citycredit.core import BASE45_ALPHABET, Tier, decode_envelope, parse_claims

from ._report import Check, Report
from .generate import adapter_rows

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


def _run(argv: Sequence[str], probe: _Probe, city: int, policy: IssuerPolicy) -> None:
    full = [*argv, "--city", str(city), *probe.args]
    try:
        proc = subprocess.run(full, capture_output=True, timeout=policy.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        probe.problem = f"timed out after {policy.timeout_s:g} s"
        return
    except OSError as exc:
        probe.problem = f"cannot run the issuer: {exc}"
        return
    probe.exit_code = proc.returncode
    probe.output = (proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace"))[:500]
    if proc.returncode == 0:
        probe.code = _parse_code(proc.stdout.decode("utf-8", "replace"))


def check_issuer(argv: Sequence[str], *, city: str | int, bundle: Path, anchor: Path | None = None,
                 scheme_file: Path | None = None, policy: IssuerPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> Report:
    """Issue a code for every band edge of the city's scheme (and records it must refuse), then check them."""
    policy = policy or IssuerPolicy()
    report = Report(title="issuer conformance", subject=" ".join(argv))
    checks = report.checks
    try:
        scheme = load_scheme_file(scheme_file) if scheme_file else load_registry().resolve_city(str(city))
        verifier = Verifier.from_bundle_file(bundle, anchor=anchor, clock=clock)
    except Exception as exc:
        checks.append(Check("setup", "scheme and bundle", "fail", getattr(exc, "message", str(exc))))
        return report
    doc = scheme.describe()
    report.facts += [("city", f"{scheme.city} {scheme.name_en}"), ("scheme", f"{scheme.scheme_id} v{scheme.version}"),
                     ("bundle", f"version {verifier.version}"), ("max ttl", f"{policy.max_ttl_s} s")]
    probes = _probes(doc)
    started = clock()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda p: _run(argv, p, scheme.city, policy), probes))
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


def _code_checks(issued: list[tuple[_Probe, Any]], verifier: Any, city: int, policy: IssuerPolicy,
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
    kids = verifier.snapshot.keys_by_kid
    add("kid", "the kid names a key of this city in the trust bundle",
        [f"{p.name}: kid {k.hex()} " + ("is not in the bundle" if k not in kids else "belongs to another city")
         for p, _ in issued if p.code and ((k := _kid(p.code)) not in kids or all(c.city != city for c in kids[k]))],
        "every kid is a key of this city")
    failures = []
    for probe, _ in issued:
        try:
            verifier.verify(probe.code, at=int(finished))
        except Exception as exc:
            failures.append(f"{probe.name}: {getattr(exc, 'code', '')} {getattr(exc, 'message', exc)}")
    add("verifies", "the code verifies against the bundle now (signature, key window, revocation)", failures,
        "every code verifies")
    plausible = []
    for probe, c in issued:
        if c.city != city:
            plausible.append(f"{probe.name}: city {c.city}")
        if len(c.code_id) != 16:
            plausible.append(f"{probe.name}: code id of {len(c.code_id)} bytes")
        if not 8 <= len(c.holder) <= 32:
            plausible.append(f"{probe.name}: holder pseudonym of {len(c.holder)} bytes")
        if not started - policy.skew_s <= c.issued_at <= finished + policy.skew_s:
            plausible.append(f"{probe.name}: issued_at {c.issued_at} is not now")
        bits = verifier.snapshot.status_bits(city)
        if bits is not None and c.status_index >= bits.size:
            plausible.append(f"{probe.name}: status index {c.status_index} beyond the list of {bits.size}")
    add("claims", "claims are present and plausible (city, code id, pseudonym, issue time, status index)",
        plausible, "city, code id, pseudonym, issue time and status index are plausible")
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
    return code.startswith("CC1:") and all(ch in BASE45_ALPHABET for ch in code)


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
