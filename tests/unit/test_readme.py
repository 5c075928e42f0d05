"""The README's walk-through and merchant snippet run as written, and say what they print: documentation that
cannot drift. The test reads the README's own code blocks, so it follows the text when the text changes:

- the first ```sh block under a heading with "walk through" runs command by command in a fresh folder;
  comment lines indented under a command (`#   ✔ VALID  330100 …`) are output that command must print
  (`...`/`…` stand for anything), and `(exit code N)` after them is its exit status (0 otherwise);
- the first ```python block under a heading with "Merchant" runs next, with `scanned_text` holding the
  first code the walk-through put in a shell variable; it must end without an error.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_MARK = "@@citycredit-readme-exit"


def block_under(heading: re.Pattern[str], language: str) -> str:
    """The first ```language block after the first heading matching `heading`, before the next heading."""
    title, fence, lines = "", None, []
    for line in README.splitlines():
        if fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == language and heading.search(title):
                return "\n".join(lines) + "\n"
            fence = None
        elif fence is not None:
            lines.append(line)
        elif re.match(r"#{1,6} ", line):  # a heading, outside any code block
            title = line
    raise AssertionError(f"the README has no {language} block under a heading matching {heading.pattern!r}")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


def steps(script: str) -> list[Step]:
    """Commands (continuation lines joined) with the output lines documented under each."""
    found: list[Step] = []
    pending = ""
    for line in script.splitlines():
        stripped = line.strip()
        if pending:
            pending += "\n" + line
            if not stripped.endswith("\\"):
                found.append(Step(pending))
                pending = ""
            continue
        comment = re.match(r"#\s{2,}(\S.*)$", stripped)
        if comment and found:
            text = comment.group(1)
            exit_code = re.search(r"\(exit code (\d+)\)\s*$", text)
            if exit_code:
                found[-1].exit_code = int(exit_code.group(1))
                text = text[:exit_code.start()].rstrip()
            found[-1].expected.append(text)
            continue
        if not stripped or stripped.startswith("#") or stripped.startswith("source "):
            continue  # the virtual environment is already on PATH here
        if stripped.endswith("\\"):
            pending = line
        else:
            found.append(Step(line))
    return found


def printed(expected: str, output: str) -> bool:
    """Whether `output` contains `expected`, its `...`/`…` standing for anything (fragments in order)."""
    position = 0
    for fragment in (f.strip() for f in re.split(r"\.\.\.|…", expected)):
        if not fragment:
            continue
        found = output.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def test_the_reader_of_the_readme_understands_its_conventions() -> None:
    parsed = steps('CODE="$(citycredit issue --x)"   # a note\ncitycredit verify "$CODE" \\\n  --home demo\n'
                   '#   ✔ VALID  330100\n#     tier   GOOD\n# a remark\ncheck --json\n#   {"eligible": false, ...}'
                   '   (exit code 1)\n')
    assert [s.command.split()[0] for s in parsed] == ['CODE="$(citycredit', "citycredit", "check"]
    assert parsed[1].expected == ["✔ VALID  330100", "tier   GOOD"] and parsed[1].exit_code == 0
    assert parsed[2].expected == ['{"eligible": false, ...}'] and parsed[2].exit_code == 1
    assert printed('{"eligible": false, ...}', '{"eligible": false, "reason": "X"}')
    assert not printed('{"eligible": true, ...}', '{"eligible": false, "reason": "X"}')


@pytest.mark.slow
def test_the_walk_through_and_the_merchant_snippet_run_as_written(tmp_path: Path) -> None:
    walk = steps(block_under(re.compile(r"walk.?through", re.I), "sh"))
    assert walk, "the walk-through has no commands"
    script = ["exec 2>&1"]
    for n, step in enumerate(walk):
        script += [step.command, f'echo "{_MARK} {n} $?"']
    script.append('for v in $(compgen -v); do case "${!v}" in CC1:*|CP1:*) printf "%s\\n" "${!v}";; esac; done '
                  '> codes.txt')
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NO_COLOR": "1"}
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    output = run.stdout
    assert "Traceback" not in output, output
    pieces = re.split(rf"^{_MARK} (\d+) (\d+)$", output, flags=re.M)
    outputs = {int(n): (text, int(code)) for text, n, code in zip(pieces[0::3], pieces[1::3], pieces[2::3],
                                                                  strict=False)}
    for n, step in enumerate(walk):
        assert n in outputs, f"the walk-through stopped before: {step.command}\n{output}"
        text, code = outputs[n]
        assert code == step.exit_code, f"{step.command!r} exited {code}, the README says {step.exit_code}:\n{text}"
        for line in step.expected:
            assert printed(line, text), f"{step.command!r} did not print {line!r}:\n{text}"

    snippet = block_under(re.compile(r"merchant", re.I), "python")
    codes = (tmp_path / "codes.txt").read_text().split()
    assert codes, "the walk-through kept no code in a shell variable for the merchant snippet"
    merchant = subprocess.run([sys.executable, "-c", f"scanned_text = {json.dumps(codes[0])}\n" + snippet],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert merchant.returncode == 0 and "Traceback" not in merchant.stderr, merchant.stderr
    assert merchant.stdout.strip(), "the merchant snippet printed nothing"
