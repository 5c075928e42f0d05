"""The fuzz campaign in CI: a short run of every target, and the replay of every input that once crashed.

The short run is the real campaign (`python -m tests.fuzz`), a couple of thousand inputs a
target, two targets at a time. The replays judge each input kept in `regressions/<target>/`
in this process; an input whose bug lives in a file this suite's owners do not own is listed
in `regressions/known_failures.json` with where the bug is, and is expected to fail until
it is fixed there (strict: once it passes, the entry must go).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz._campaign import TARGET_NAMES, judge, open_runner, report, run
from tests.support.alliance import demo_template

pytestmark = pytest.mark.slow

RUNS = 2000
REGRESSIONS = Path(__file__).parent / "regressions"
KNOWN = json.loads((REGRESSIONS / "known_failures.json").read_text(encoding="utf-8"))["inputs"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def runners(workdir: Path) -> Iterator[dict[str, Any]]:
    """Each target's runner, set up once for all its kept inputs."""
    opened: dict[str, Any] = {}
    yield opened
    for runner in opened.values():
        runner.close()


def test_every_target_survives_a_short_campaign(workdir: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the dev extra: pip install -e '.[dev]'")
    results = run(list(TARGET_NAMES), runs=RUNS, workdir=workdir, demo=demo_template(), jobs=2, seed=20261201)
    summary = report(results, command=f"python -m tests.fuzz --target all --runs {RUNS} --jobs 2")
    for result in results:
        assert result.returncode == 0, summary
        assert result.inputs >= RUNS, summary
        assert result.cov_end is not None and result.cov_end > 0, summary
        assert not result.crashes, summary


def _cases() -> list[object]:
    cases: list[object] = []
    for path in sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file()):
        name = f"{path.parent.name}/{path.name}"
        known = KNOWN.get(name)
        marks = [pytest.mark.xfail(strict=True, reason=f"{known['where']}: {known['reason']}")] if known else []
        cases.append(pytest.param(path, id=name, marks=marks))
    return cases


@pytest.mark.parametrize("path", _cases())
def test_an_input_that_once_crashed_is_refused_cleanly(path: Path, workdir: Path, runners: dict[str, Any]) -> None:
    target = path.parent.name
    if target not in runners:
        runners[target] = open_runner(target, workdir=workdir, demo=demo_template())
    assert judge(runners[target], path.read_bytes())  # a label or a catalogue code: anything else raised


def test_every_known_failure_names_a_kept_input() -> None:
    for name, entry in KNOWN.items():
        assert (REGRESSIONS / name).is_file(), name
        assert entry["where"] and entry["reason"], name
