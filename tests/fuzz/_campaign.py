"""The campaign: prepare a work folder, run each target's libFuzzer process, report what they found.

The report gives, per target, the inputs tried (libFuzzer's count of executed inputs), the
crashes (distinct signatures and how often each was hit, with the saved inputs), the
coverage at the start (after the seeds) and at the end (libFuzzer's `cov`: instrumented
edges of citycredit's bytecode; `ft`: features), and the most frequent outcomes. The exit
status is 0 when nothing crashed, 1 when something did (or a target failed to run), 2 on
a usage error.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Result", "judge", "main", "open_runner", "replay", "run"]

ROOT = Path(__file__).resolve().parents[2]
TARGET_NAMES = ("text", "envelope", "claims", "status", "trust", "grant", "offers", "rest", "issuer")
MAX_LEN = {"text": 1100, "envelope": 900, "claims": 700, "status": 4096, "trust": 16384, "grant": 1024,
           "offers": 4096, "rest": 16384, "issuer": 4096}
INSTALL_HINT = ("atheris is not installed in this environment: pip install -e '.[dev]' (it is in the dev extra) "
                "or pip install atheris")

_STAT = re.compile(r"#(\d+)\s+(INITED|DONE)\s+cov: (\d+) ft: (\d+) corp: (\d+)")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_FINAL = re.compile(r"stat::(\w+):\s+(\d+)")


@dataclass
class Result:
    """What one target's run gave."""

    target: str
    returncode: int
    inputs: int = 0
    seconds: float = 0.0
    cov_start: int | None = None
    cov_end: int | None = None
    ft_start: int | None = None
    ft_end: int | None = None
    corpus_start: int | None = None
    corpus_end: int | None = None
    new_units: int = 0
    crashes: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    log: str = ""

    @property
    def crash_count(self) -> int:
        return sum(int(c["count"]) for c in self.crashes.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "inputs": self.inputs, "seconds": self.seconds, "returncode": self.returncode,
                "crashes": self.crash_count, "distinct_crashes": list(self.crashes.values()),
                "coverage": {"start": self.cov_start, "end": self.cov_end, "new": _new(self.cov_start, self.cov_end)},
                "features": {"start": self.ft_start, "end": self.ft_end, "new": _new(self.ft_start, self.ft_end)},
                "corpus": {"start": self.corpus_start, "end": self.corpus_end, "new_units": self.new_units},
                "outcomes": self.outcomes, "log": self.log}


def _new(start: int | None, end: int | None) -> int | None:
    return None if start is None or end is None else end - start


def _parse(result: Result, output: str, stats_path: Path) -> None:
    for match in _STAT.finditer(output):
        run, stage, cov, ft, corp = match.groups()
        if stage == "INITED":
            result.cov_start, result.ft_start, result.corpus_start = int(cov), int(ft), int(corp)
        else:
            result.cov_end, result.ft_end, result.corpus_end = int(cov), int(ft), int(corp)
            result.inputs = int(run)
    done = _DONE.search(output)
    if done:
        result.inputs = int(done.group(1))
    finals = dict(_FINAL.findall(output))
    if "number_of_executed_units" in finals:
        result.inputs = int(finals["number_of_executed_units"])
    result.new_units = int(finals.get("new_units_added", 0))
    if stats_path.is_file():
        stats = json.loads(stats_path.read_text())
        result.crashes = stats.get("crashes", {})
        result.outcomes = stats.get("outcomes", {})
        result.inputs = max(result.inputs, int(stats.get("inputs", 0)))


def _command(target: str, workdir: Path, runs: int, seed: int | None, max_time_s: int | None) -> list[str]:
    corpus, seeds = workdir / "corpus" / target, workdir / "seeds" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = workdir / "crashes" / target / "libfuzzer"
    artifacts.mkdir(parents=True, exist_ok=True)
    flags = [f"-runs={runs}", f"-max_len={MAX_LEN[target]}", "-rss_limit_mb=4096", "-timeout=120",
             "-print_final_stats=1", "-print_pcs=0", f"-artifact_prefix={artifacts}/", "-len_control=0"]
    if seed is not None:
        flags.append(f"-seed={seed}")
    if max_time_s:
        flags.append(f"-max_total_time={max_time_s}")
    return [sys.executable, "-m", "tests.fuzz._worker", target, str(workdir), *flags, str(corpus), str(seeds)]


def run(targets: list[str], *, runs: int, workdir: Path, demo: Path | None = None, jobs: int = 1,
        seed: int | None = None, max_time_s: int | None = None, echo: bool = False) -> list[Result]:
    """Run each target for `runs` inputs (or `max_time_s`), `jobs` at a time; the results in target order."""
    from tests.fuzz._seeds import prepare

    workdir.mkdir(parents=True, exist_ok=True)
    if demo is None:
        demo = _demo(workdir)
    prepare(workdir, demo=demo)
    env = {k: v for k, v in os.environ.items() if k != "CITYCREDIT_KEYSTORE_PASSPHRASE"}
    env["CITYCREDIT_FUZZ_RUNS"] = str(runs)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    pending = list(targets)
    running: dict[str, tuple[subprocess.Popen[str], Path, float]] = {}
    results: dict[str, Result] = {}
    while pending or running:
        while pending and len(running) < jobs:
            target = pending.pop(0)
            (workdir / "stats" / f"{target}.json").unlink(missing_ok=True)
            log_path = workdir / "logs" / f"{target}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("w") as log:
                process = subprocess.Popen(_command(target, workdir, runs, seed, max_time_s), cwd=ROOT, env=env,
                                           stdout=log, stderr=subprocess.STDOUT, text=True)
            running[target] = (process, log_path, time.monotonic())
            if echo:
                print(f"fuzz: {target} started ({log_path})", file=sys.stderr, flush=True)
        time.sleep(0.2)
        for target, (process, log_path, started) in list(running.items()):
            if process.poll() is None:
                continue
            del running[target]
            output = log_path.read_text(errors="replace")
            result = Result(target, process.returncode, seconds=round(time.monotonic() - started, 1),
                            log=str(log_path))
            _parse(result, output, workdir / "stats" / f"{target}.json")
            results[target] = result
            if echo:
                print(f"fuzz: {target} done: {result.inputs} inputs, {result.crash_count} crashes, "
                      f"exit {process.returncode}", file=sys.stderr, flush=True)
    return [results[t] for t in targets]


def open_runner(target: str, *, workdir: Path, demo: Path | None = None) -> Any:
    """A target set up in this process (no instrumentation), over a prepared work folder."""
    from tests.fuzz._seeds import prepare
    from tests.fuzz._targets import TARGETS

    workdir.mkdir(parents=True, exist_ok=True)
    prepare(workdir, demo=demo or _demo(workdir))
    return TARGETS[target].build(workdir)


def judge(runner: Any, data: bytes) -> str:
    """An input's outcome: a label, or the code of the catalogue error it was refused with; a crash raises."""
    from citycredit.errors import CityCreditError

    try:
        return str(runner.one(data))
    except CityCreditError as exc:
        return exc.code


def replay(target: str, inputs: list[bytes], *, workdir: Path, demo: Path | None = None) -> list[str]:
    """Judge each input in this process (no fuzzing): its outcome, or the crash it causes, raised with its
    traceback (what `--replay` shows)."""
    runner = open_runner(target, workdir=workdir, demo=demo)
    try:
        return [judge(runner, data) for data in inputs]
    finally:
        runner.close()


def _demo(workdir: Path) -> Path:
    """A demo alliance of the work folder's own (made once: about 10 s of key generation)."""
    from citycredit._demo import init_demo

    source = workdir / "source" / "demo"
    if not (source / "anchor.json").is_file():
        init_demo(source, now_s=int(time.time()))
    return source


def report(results: list[Result], *, command: str) -> str:
    lines = [f"$ {command}", "",
             f"{'target':<10}{'inputs':>10}{'seconds':>9}{'exec/s':>8}{'crashes':>9}   coverage (edges)  "
             f"features          corpus (+new)"]
    for r in results:
        rate = r.inputs / r.seconds if r.seconds else 0

        def span(start: int | None, end: int | None) -> str:
            return f"{start}->{end} (+{_new(start, end)})" if start is not None and end is not None else "n/a"

        lines.append(f"{r.target:<10}{r.inputs:>10}{r.seconds:>9.1f}{rate:>8.0f}{r.crash_count:>9}   "
                     f"{span(r.cov_start, r.cov_end):<18}{span(r.ft_start, r.ft_end):<18}"
                     f"{r.corpus_end if r.corpus_end is not None else 'n/a'} (+{r.new_units})")
    total = sum(r.inputs for r in results)
    crashes = sum(r.crash_count for r in results)
    lines.append(f"{'total':<10}{total:>10}{sum(r.seconds for r in results):>9.1f}{'':>8}{crashes:>9}")
    for r in results:
        top = ", ".join(f"{k} {v}" for k, v in list(r.outcomes.items())[:6])
        lines.append(f"  {r.target}: {top}")
        if r.returncode != 0:
            lines.append(f"  {r.target}: the process exited {r.returncode}; see {r.log}")
        for entry in r.crashes.values():
            lines.append(f"  CRASH {r.target}: {entry['signature']} at {entry['where']} ({entry['count']}x), "
                         f"inputs: {', '.join(entry['inputs'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="all", help=f"all, or some of: {', '.join(TARGET_NAMES)} (comma-separated)")
    parser.add_argument("--runs", type=float, default=10_000, help="inputs per target (1e6 is accepted)")
    parser.add_argument("--max-time", type=int, default=None, help="stop each target after this many seconds")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the demo alliance, seeds, corpus, crashes and logs go (kept; default: a new "
                             "temporary folder)")
    parser.add_argument("--demo", type=Path, default=None, help="a demo alliance to start from (copied, not changed)")
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer's random seed (default: a new one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--replay", nargs="+", type=Path, metavar="FILE",
                        help="judge these inputs of --target (one target) in this process, with tracebacks")
    args = parser.parse_args(argv)
    if args.list:
        print(ast.get_docstring(ast.parse((Path(__file__).parent / "_targets.py").read_text())))
        return 0
    names = list(TARGET_NAMES) if args.target == "all" else [t.strip() for t in args.target.split(",") if t.strip()]
    unknown = sorted(set(names) - set(TARGET_NAMES))
    if unknown or not names:
        parser.error(f"unknown target {', '.join(unknown) or '(none)'}; choose from {', '.join(TARGET_NAMES)}")
    if args.replay:
        if len(names) != 1:
            parser.error("--replay takes one --target")
        folder = args.workdir or Path(tempfile.mkdtemp(prefix="citycredit-fuzz-"))
        for path, outcome in zip(args.replay, replay(names[0], [p.read_bytes() for p in args.replay],
                                                     workdir=folder.resolve(), demo=args.demo), strict=True):
            print(f"{path}: {outcome}")
        return 0
    if importlib.util.find_spec("atheris") is None:
        print(f"fuzz: {INSTALL_HINT}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="citycredit-fuzz-"))
    command = " ".join(["python -m tests.fuzz", *(argv if argv is not None else sys.argv[1:])])
    results = run(names, runs=int(args.runs), workdir=workdir.resolve(), demo=args.demo, jobs=max(1, args.jobs),
                  seed=args.seed, max_time_s=args.max_time, echo=not args.json)
    if args.json:
        print(json.dumps({"command": command, "workdir": str(workdir), "results": [r.to_json() for r in results]},
                         indent=1, ensure_ascii=False))
    else:
        print(report(results, command=command))
        print(f"\nwork folder: {workdir}")
    return 0 if all(r.ok for r in results) else 1
