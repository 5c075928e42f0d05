"""The README's walk-through and merchant snippet run as written: documentation that cannot drift."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(heading: str, language: str) -> str:
    section = README[README.index(heading):]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block after {heading!r}"
    return match.group(1)


@pytest.mark.slow
def test_walk_through_and_merchant_snippet(tmp_path: Path) -> None:
    script = block_after("## A first walk through", "sh").replace("source .venv/bin/activate", "")
    script += '\nstatus=$?\nprintf "%s" "$CODE" > code.txt\nexit $status\n'
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NO_COLOR": "1"}
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert "Traceback" not in run.stderr, run.stderr
    out = run.stdout
    assert "VALID  330100" in out and "EXCELLENT (优秀)" in out and "钱江分·优秀" in out
    assert "ELIGIBLE  quzhou-parking-discount-10" in out and "same-city treatment (hangzhou-quzhou)" in out
    assert '"reason": "NO_AGREEMENT"' in out
    assert run.returncode == 1  # the last command: a negative verdict

    snippet = block_after("## Merchants: verify offline in Python", "python")
    merchant = subprocess.run(
        [sys.executable, "-c", "scanned_text = open('code.txt').read()\n" + snippet],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert merchant.returncode == 0, merchant.stderr
    lines = merchant.stdout.splitlines()
    assert lines[0].startswith("330100 EXCELLENT 钱江分·优秀")
    assert lines[1] == "True None True"
