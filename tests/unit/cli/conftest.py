"""Running the CLI in-process as a user types it, against copies of the session's demo alliance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from citycredit._cli.main import main

from tests.support.alliance import demo_copy


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Runs the CLI in-process and captures its exit code and output (argparse's exits included)."""

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
    """A demo alliance shared by the tests that only read it (verify, check, offers, trust show)."""
    return demo_copy(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private copy of the demo alliance for a test that changes it (issue, revoke, keys, ceremonies)."""
    return demo_copy(tmp_path)
