"""Run the vectors against an implementation of the CLI protocol and judge each answer.

An implementation is a command line (`Implementation.argv`). A case runs its steps in
order, each one call of the implementation in a subprocess with a timeout, sharing one
fresh `--state` folder when the case has state; cases run several at a time on a
thread pool. Each answer (exit code and JSON) is compared with the step's expected
result, and a case stops at its first step that does not conform. Adapter tables run
in process against the scheme registry (they are not part of the verify/check
protocol). Known failures come from a data file; one that passes is reported as an
error so that the file shrinks as fixes land.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from citycredit.adapters import load_registry

from ._format import LAYERS, Case, Step, Vector, iter_cases, load_vectors

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Implementation",
    "Outcome",
    "RunResult",
    "judge_adapter_row",
    "load_known_failures",
    "reference_implementation",
    "run_cases",
    "run_vectors",
]

DEFAULT_TIMEOUT_S = 30.0
KNOWN_FAILURES_FORMAT = "citycredit-known-failures/1"
_KNOWN_FAILURES = Path(__file__).resolve().parent / "known_failures.json"
_OUTPUT_LIMIT = 2000  # characters of stdout/stderr kept for a report
# A step's outcome before it is given its case.
_NO_CASE = Case(name="", layer="", kind="", description="", negative=False, vector=Vector(Path(), {}))


@dataclass(frozen=True)
class Implementation:
    """A command speaking the protocol: `argv + ["verify", ...]`.

    `main`, when given, is called in this process instead (`main(argv[1:]) -> exit code`,
    printing on sys.stdout), one case at a time: the reference CLI run that way skips
    interpreter start-up, which makes the test suite quick; the subprocess is the real thing.
    """

    name: str
    argv: tuple[str, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    env: Mapping[str, str] | None = None
    main: Callable[[list[str]], int] | None = None
    main_argv: tuple[str, ...] = ()  # what `main` gets before the protocol's arguments
    # The project's own CLI: its known failures file applies, and the adapter tables run in process.
    reference: bool = False


def reference_implementation(*, timeout_s: float = DEFAULT_TIMEOUT_S,
                             main: Callable[[list[str]], int] | None = None) -> Implementation:
    """The project's own CLI, `citycredit --json`, run with this interpreter (or, given its `main`, in process)."""
    return Implementation(name="citycredit (reference)", argv=(sys.executable, "-m", "citycredit._cli", "--json"),
                          timeout_s=timeout_s, main=main, main_argv=("--json",), reference=True)


@dataclass
class Outcome:
    """What happened to one case. `status`: pass, fail, known (a known failure still failing),
    fixed (a known failure that now passes: an error) or skip."""

    case: Case
    status: str
    problems: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    known_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "known", "skip")


@dataclass
class RunResult:
    implementation: str
    outcomes: list[Outcome]
    seconds: float
    stale_known_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and not self.stale_known_failures

    def by_layer(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for outcome in self.outcomes:
            row = table.setdefault(outcome.case.layer, {"pass": 0, "fail": 0, "known": 0, "fixed": 0, "skip": 0})
            row[outcome.status] += 1
        order = {layer: i for i, layer in enumerate(LAYERS)}
        return dict(sorted(table.items(), key=lambda item: order.get(item[0], len(order))))

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "implementation": self.implementation,
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "layers": self.by_layer(),
            "failures": [{"case": o.case.name, "status": o.status, "problems": o.problems} for o in self.failures()],
            "stale_known_failures": self.stale_known_failures,
        }


def load_known_failures(path: Path | None = None) -> dict[str, str]:
    """Case name → reason, from a `citycredit-known-failures/1` file (the shipped one by default)."""
    path = path or _KNOWN_FAILURES
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != KNOWN_FAILURES_FORMAT:
        raise ValueError(f"{path}: not a {KNOWN_FAILURES_FORMAT} file")
    known = {}
    for entry in doc["failures"]:
        if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
            raise ValueError(f"{path}: known failure {entry.get('case')!r} needs a reason")
        known[entry["case"]] = entry["reason"]
    return known


# --- judging ---------------------------------------------------------------------------------------


def _instant(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _parse_stdout(stdout: str) -> tuple[dict[str, Any] | None, str | None]:
    text = stdout.strip()
    if not text:
        return None, "printed nothing on stdout"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"stdout is not one JSON object ({exc.msg})"
    if not isinstance(doc, dict):
        return None, "stdout is JSON but not an object"
    return doc, None


def _error_code(value: object) -> str | None:
    """`error` as the protocol has it: {code, message}; a bare code string is read too."""
    if isinstance(value, Mapping):
        code = value.get("code")
        return code if isinstance(code, str) else None
    return value if isinstance(value, str) else None


_INSTANTS = ("issued_at", "expires_at")


def judge_protocol(step: Step, exit_code: int, stdout: str) -> list[str]:
    """Everything wrong with one verify/check answer (empty when it conforms)."""
    expected = step.expected
    want = expected["result"]
    problems = []
    if exit_code != expected["exit"]:
        problems.append(f"exit code {exit_code}, expected {expected['exit']}")
    doc, why = _parse_stdout(stdout)
    errors = want.get("error") or []
    if doc is None:
        problems.append(why or "no JSON")
        return problems
    if errors:
        got = _error_code(doc.get("error"))
        if got not in errors:
            problems.append(f"error {got!r}, expected {' or '.join(errors)}")
    if expected["exit"] == 2:
        return problems  # a refused trust set or a bad offer id: nothing more is owed
    for key, value in want.items():
        if key == "error":
            continue
        got_value = doc.get(key)
        if key in _INSTANTS:
            if _instant(got_value) is None or _instant(got_value) != _instant(value):
                problems.append(f"{key} {got_value!r}, expected {value!r}")
        elif got_value != value:
            problems.append(f"{key} {got_value!r}, expected {value!r}")
    if step.command == "verify" and want.get("valid") is True and doc.get("error") is not None:
        problems.append(f"error {doc.get('error')!r} on a valid code")
    return problems


def judge_adapter_row(row: Mapping[str, Any], rate: Callable[[Mapping[str, Any]], tuple[str, str]]) -> list[str]:
    """Compare a mapping function's answer for one adapter row. `rate` returns (tier name, band)
    or raises an exception carrying a catalogue `code`."""
    expected = row["expected"]
    try:
        tier, band = rate(row["record"])
    except Exception as exc:
        code = getattr(exc, "code", type(exc).__name__)
        if "error" in expected:
            return [] if code == expected["error"] else [f"error {code}, expected {expected['error']}"]
        return [f"refused with {code}: {exc}; expected {expected['tier']} ({expected['band']})"]
    if "error" in expected:
        return [f"mapped to {tier} ({band}); expected the error {expected['error']}"]
    problems = []
    if tier != expected["tier"]:
        problems.append(f"tier {tier}, expected {expected['tier']}")
    if band != expected["band"]:
        problems.append(f"band {band!r}, expected {expected['band']!r}")
    return problems


# --- running ---------------------------------------------------------------------------------------


_IN_PROCESS = threading.Lock()


def _call_in_process(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with _IN_PROCESS, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, stdout.getvalue(), stderr.getvalue()


def _run_step(step: Step, state: Path | None, implementation: Implementation) -> tuple[Outcome, list[str]]:
    """One call of the implementation and what is wrong with its answer."""
    args = step.arguments(state)
    argv = [*implementation.argv, *args]
    started = time.perf_counter()
    if implementation.main is not None:
        code, out, err = _call_in_process(implementation.main, [*implementation.main_argv, *args])
    else:
        env = None if implementation.env is None else {**os.environ, **implementation.env}
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=implementation.timeout_s, env=env, check=False)
        except subprocess.TimeoutExpired:
            return Outcome(_NO_CASE, "fail", argv=argv, seconds=time.perf_counter() - started), [
                f"timed out after {implementation.timeout_s:g} s"]
        except OSError as exc:
            return Outcome(_NO_CASE, "fail", argv=argv), [f"cannot run the implementation: {exc}"]
        code, out, err = proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    problems = judge_protocol(step, code, out)
    return Outcome(_NO_CASE, "fail" if problems else "pass", argv=argv, exit_code=code, stdout=out[:_OUTPUT_LIMIT],
                   stderr=err[:_OUTPUT_LIMIT], seconds=time.perf_counter() - started), problems


def _run_protocol_case(case: Case, implementation: Implementation) -> Outcome:
    """Run a case's steps in order, with one fresh `--state` folder when the case has state; stop at the first
    step that does not conform."""
    steps = case.steps
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="citycredit-case-") as tmp:
        state = Path(tmp) / "state" if case.vector.state else None
        if state is not None:
            state.mkdir()
        for number, step in enumerate(steps, start=1):
            last, problems = _run_step(step, state, implementation)
            seconds += last.seconds
            if problems:
                if len(steps) > 1:
                    problems = [f"step {number} of {len(steps)}: {p}" for p in problems]
                break
    return dataclasses.replace(last, case=case, status="fail" if problems else "pass", problems=problems,
                               seconds=seconds)


def _adapter_rater(schemes_dir: Path | None) -> Callable[[Case], list[str]]:
    registry = load_registry(schemes_dir)

    def run(case: Case) -> list[str]:
        context = case.vector.doc["context"]
        scheme = registry.resolve_city(context["city"])
        if (scheme.scheme_id, scheme.version) != (context["scheme_id"], context["version"]):
            return [f"the registry has {scheme.scheme_id} v{scheme.version}; the vectors pin "
                    f"{context['scheme_id']} v{context['version']}"]

        def rate(record: Mapping[str, Any]) -> tuple[str, str]:
            rating = scheme.map(record)
            return rating.tier.name, rating.band

        assert case.row is not None
        return judge_adapter_row(case.row, rate)

    return run


class _Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream, self.done, self.failed = total, stream, 0, 0
        self.tty = bool(stream and stream.isatty())
        self._last_tenth = -1

    def step(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.ok else 1
        if self.stream is None or not self.total:
            return
        width = 30
        filled = width * self.done // self.total
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} cases, {self.failed} failed"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        elif (tenth := 10 * self.done // self.total) != self._last_tenth:
            self._last_tenth = tenth
            print(line, file=self.stream, flush=True)


def run_cases(cases: Sequence[Case], implementation: Implementation, *, jobs: int | None = None,
              known_failures: Mapping[str, str] | None = None, schemes_dir: Path | None = None,
              run_adapters: bool = True, progress: TextIO | None = None) -> RunResult:
    """Run `cases` and judge each; see the module docstring."""
    started = time.perf_counter()
    known = dict(known_failures or {})
    progress_bar = _Progress(len(cases), progress)
    adapter_run: Callable[[Case], list[str]] | None = None
    if run_adapters and any(c.kind == "adapter" for c in cases):
        try:
            adapter_run = _adapter_rater(schemes_dir)
        except ImportError:
            adapter_run = None

    def one(case: Case) -> Outcome:
        if case.kind == "adapter":
            if adapter_run is None:
                outcome = Outcome(case, "skip", ["adapter tables are checked in process, not through the "
                                                 "verify/check protocol"])
            else:
                problems = adapter_run(case)
                outcome = Outcome(case, "fail" if problems else "pass", problems)
        else:
            outcome = _run_protocol_case(case, implementation)
        reason = known.get(case.name)
        if reason is not None and outcome.status != "skip":
            outcome.known_reason = reason
            if outcome.status == "fail":
                outcome.status = "known"
            else:
                outcome.status = "fixed"
                outcome.problems = [f"listed as a known failure ({reason}) but it passes: "
                                    "remove it from the known failures file"]
        return outcome

    workers = max(1, jobs or min(8, 2 * (os.cpu_count() or 2)))
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(one, cases):
            outcomes.append(outcome)
            progress_bar.step(outcome)
    names = {c.name for c in cases}
    stale = sorted(name for name in known if name not in names and _in_selection(name, cases))
    return RunResult(implementation.name, outcomes, time.perf_counter() - started, stale)


def _in_selection(name: str, cases: Iterable[Case]) -> bool:
    """Whether a known failure's layer was run at all (a filtered run cannot call it stale)."""
    layer = name.split("/", 1)[0]
    return any(c.layer == layer for c in cases)


def run_vectors(implementation: Implementation | None = None, *, vectors: Path | None = None,
                layers: Sequence[str] | None = None, known_failures: Mapping[str, str] | None = None,
                jobs: int | None = None, schemes_dir: Path | None = None,
                progress: TextIO | None = None) -> RunResult:
    """Load the vectors and run them (against the reference by default)."""
    implementation = implementation or reference_implementation()
    if known_failures is None and implementation.reference:
        known_failures = load_known_failures()
    cases = list(iter_cases(load_vectors(vectors), layers))
    return run_cases(cases, implementation, jobs=jobs, known_failures=known_failures, schemes_dir=schemes_dir,
                     run_adapters=implementation.reference or schemes_dir is not None, progress=progress)
