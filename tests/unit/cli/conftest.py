from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from citycredit._cli.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.out)  # type: ignore[no-any-return]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Runs the CLI in-process, as a user would type it, and captures exit code and output."""

    def run(*argv: str) -> Run:
        try:
            code = main(["--no-color", *argv])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "alliance"
    assert main(["demo", "init", "--dir", str(home)]) == 0
    return home
