"""The pages' words for the error catalogue stay those of sdk/citycredit/errors.py: every code there has
its Chinese and English in gateway/web/src/lib/messages.ts, the English being the catalogue's title and
the Chinese its title_zh wherever the catalogue has one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from citycredit.core import Reason
from citycredit.errors import CityCreditError, all_errors

MESSAGES = Path(__file__).resolve().parents[3] / "gateway" / "web" / "src" / "lib" / "messages.ts"
_STRING = r'"((?:[^"\\]|\\.)*)"'


def _table(name: str) -> dict[str, tuple[str, str]]:
    text = MESSAGES.read_text(encoding="utf-8")
    body = re.search(rf"export const {name}: Record<string, Pair> = \{{(.*?)\n\}};", text, re.S)
    assert body is not None, f"messages.ts has no table {name}"
    pairs = re.findall(rf"([A-Z0-9_]+): \[{_STRING},\s*{_STRING}\]", body.group(1))
    return {code: (json.loads(f'"{zh}"'), json.loads(f'"{en}"')) for code, zh, en in pairs}


def test_every_catalogue_code_has_its_words() -> None:
    table = _table("ERRORS")
    catalogue = {**all_errors(), CityCreditError.code: CityCreditError}
    assert set(table) == set(catalogue), "messages.ts ERRORS and sdk/citycredit/errors.py list different codes"
    for code, cls in catalogue.items():
        zh, en = table[code]
        assert en == cls.title, code
        if "title_zh" in cls.__dict__ or cls is CityCreditError:
            assert zh == cls.title_zh, code
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{code} has no Chinese"


def test_every_decision_reason_is_explained() -> None:
    table = _table("REASONS")
    assert {r.value for r in Reason} <= set(table), "a decision reason has no words in messages.ts REASONS"
