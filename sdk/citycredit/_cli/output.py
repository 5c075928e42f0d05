"""Terminal output: coloured when attached to a terminal, plain otherwise, JSON on request."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

_CODES = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}


class Output:
    def __init__(self, *, color: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        return "".join(f"\033[{_CODES[s]}m" for s in styles) + text + "\033[0m"

    def line(self, text: str = "") -> None:
        print(text, file=self.stream)

    def ok(self, text: str) -> None:
        self.line(self.paint("✔ ", "green", "bold") + text)

    def fail(self, text: str) -> None:
        self.line(self.paint("✘ ", "red", "bold") + text)

    def field(self, name: str, value: object) -> None:
        self.line(f"  {self.paint(f'{name:<12}', 'dim')} {value}")

    def json(self, doc: Any) -> None:
        print(json.dumps(doc, ensure_ascii=False, sort_keys=False), file=self.stream)

    def error(self, code: str, message: str) -> None:
        """One line on stderr: the catalogue code and the message, never a traceback."""
        err = sys.stderr
        painted = self.paint(f"error {code}", "red", "bold") if err.isatty() and self.color else f"error {code}"
        print(f"{painted}: {message}", file=err)
