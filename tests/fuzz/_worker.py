"""One target's libFuzzer process (the campaign starts one per target; libFuzzer runs one target per process).

    python -m tests.fuzz._worker TARGET WORKDIR [libFuzzer flags and corpus folders]

The package under test (`citycredit`) is imported inside atheris' import hook, so its
bytecode reports coverage; nothing of it may be imported before (this module imports only
the standard library and atheris at the top). Every input is judged by the target; a crash
is kept under WORKDIR/crashes/TARGET/ (at most a few inputs per distinct crash) and fuzzing
goes on. WORKDIR/stats/TARGET.json holds the running counts (libFuzzer ends the process
with exit(), so they are written as they change, not at the end).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import atheris

__all__ = ["Recorder", "main", "signature"]

KEEP_PER_CRASH = 3
_ROOT = str(Path(__file__).resolve().parents[2])


def signature(exc: BaseException) -> tuple[str, str]:
    """(a short name for the crash, where it happened): the same bug found twice has the same signature."""
    kind = getattr(exc, "kind", None)
    origin = getattr(exc, "origin", None)  # a Finding about an exception the code under test logged
    frames = traceback.extract_tb((origin or exc).__traceback__)
    ours = [f for f in frames if f.filename.startswith(_ROOT) and "/tests/fuzz/" not in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{os.path.relpath(where.filename, _ROOT)}:{where.lineno}" if where else "?"
    if kind is not None:  # a Finding: its kind and the first words of what it saw
        return f"{kind}: {str(exc).partition(': ')[2][:90]}", place
    return f"{type(exc).__name__}: {str(exc)[:90]}", place


class Recorder:
    """Runs the target on each input, counts outcomes, keeps crashes."""

    def __init__(self, target: str, workdir: Path, runner: Any, refusal: type[BaseException]) -> None:
        self.target = target
        self.runner = runner
        self.refusal = refusal
        self.crash_dir = workdir / "crashes" / target
        self.stats_path = workdir / "stats" / f"{target}.json"
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        self.inputs = 0
        self.labels: collections.Counter[str] = collections.Counter()
        self.crashes: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self.flushed = self.started
        # libFuzzer's -runs: from one before the last input on, every input is written out.
        self.expected = int(os.environ.get("CITYCREDIT_FUZZ_RUNS", "0") or 0)

    def __call__(self, data: bytes) -> None:
        self.inputs += 1
        try:
            label = self.runner.one(data)
        except self.refusal as exc:
            label = getattr(exc, "code", type(exc).__name__)
        except Exception as exc:  # the point of the campaign: anything else is a crash, kept with its input
            label = "CRASH"
            self._crash(data, exc)
        if len(self.labels) < 500 or label in self.labels:
            self.labels[label] += 1
        now = time.monotonic()
        if now - self.flushed > 2.0 or (self.expected and self.inputs >= self.expected - 1):
            self.flush(now)

    def _crash(self, data: bytes, exc: Exception) -> None:
        name, where = signature(exc)
        key = hashlib.sha1(f"{name}@{where}".encode()).hexdigest()[:12]
        entry = self.crashes.setdefault(key, {"signature": name, "where": where, "count": 0, "inputs": []})
        entry["count"] += 1
        if len(entry["inputs"]) < KEEP_PER_CRASH:
            folder = self.crash_dir / key
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"input-{hashlib.sha1(data).hexdigest()[:16]}"
            path.write_bytes(data)
            entry["inputs"].append(str(path))
            trace = "".join(traceback.format_exception(exc))
            origin = getattr(exc, "origin", None)
            if origin is not None:
                trace += "\nwhat the code under test logged:\n" + "".join(traceback.format_exception(origin))
            (folder / "README.txt").write_text(f"{name}\nat {where}\n\n{trace}\ninput (first 300 bytes): "
                                               f"{data[:300]!r}\n")
        self.flush(time.monotonic())

    def flush(self, now: float) -> None:
        self.flushed = now
        doc = {"target": self.target, "inputs": self.inputs, "seconds": round(now - self.started, 1),
               "crashes": self.crashes, "outcomes": dict(self.labels.most_common(40))}
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
        tmp.replace(self.stats_path)


def main() -> None:
    target_name, workdir = sys.argv[1], Path(sys.argv[2])
    with atheris.instrument_imports(include=["citycredit"]):
        import citycredit.core
        from citycredit.errors import CityCreditError

        if target_name in ("rest", "issuer"):
            import citycredit.gateway.issuer._app
            import citycredit.gateway.testing  # noqa: F401
        from tests.fuzz._targets import TARGETS

    target = TARGETS[target_name]
    runner = target.build(workdir)
    recorder = Recorder(target_name, workdir, runner, CityCreditError)
    recorder.flush(time.monotonic())
    mutator = runner.mutator
    args = [sys.argv[0], *sys.argv[3:]]
    if mutator is not None:

        def mutate(data: bytes, max_size: int, seed: int) -> bytes:
            try:
                return mutator(data, max_size, seed)
            except Exception:  # a bug of the harness's mutator must not end the campaign: mutate as bytes
                return atheris.Mutate(data, max_size)

        atheris.Setup(args, recorder, custom_mutator=mutate)
    else:
        atheris.Setup(args, recorder)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
