"""Shared pieces of the conformance tests: the reference CLI in this process, the broken verifiers."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from citycredit._cli import main as cli
from citycredit.conformance import Implementation, reference_implementation

BROKEN = Path(__file__).parent / "broken"
# The CLI builds its parser on every call; the in-process runs build it once (the parse is what is tested).
_PARSER = functools.cache(cli.build_parser)


def reference_main(argv: list[str]) -> int:
    """`citycredit main`, with its parser built once."""
    with mock.patch.object(cli, "build_parser", _PARSER):
        return cli.main(argv)


def broken_module(name: str) -> Any:
    """A module of broken/ (the scripts import each other by bare name, as they do when run)."""
    if str(BROKEN) not in sys.path:
        sys.path.insert(0, str(BROKEN))
    return importlib.import_module(name)


def broken(flaw: str) -> Implementation:
    """A deliberately broken verifier (broken/<flaw>.py), called in this process."""
    main: Callable[[list[str]], int] = (broken_module("always_valid").serve if flaw == "always_valid"
                                        else functools.partial(broken_module("_protocol").serve, flaws=[flaw]))
    return Implementation(name=flaw, argv=(sys.executable, str(BROKEN / f"{flaw}.py")), main=main)


@pytest.fixture(scope="session")
def reference() -> Implementation:
    return reference_implementation(main=reference_main)
