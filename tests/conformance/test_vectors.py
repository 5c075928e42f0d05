"""The vectors are data made by a reproducible generator, and they say what they mean."""

from __future__ import annotations

import json

import pytest
from citycredit.conformance import LAYERS, iter_cases, load_vectors, vectors_root
from citycredit.conformance._format import CHECK_STAGES, VERIFY_STAGES
from citycredit.conformance.generate import check, main

VECTORS = load_vectors()


def test_generate_check_is_clean() -> None:
    assert check(vectors_root()) == []


def test_generate_check_notices_an_edit(tmp_path, capsys) -> None:
    import shutil

    copy = tmp_path / "vectors"
    shutil.copytree(vectors_root(), copy)
    code = copy / "time" / "at_expiry_fail" / "code.txt"
    code.write_text(code.read_text() + "A")
    (copy / "decode" / "stray.txt").write_text("x")
    assert main(["--check", "--out", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "differs: time/at_expiry_fail/code.txt" in err
    assert "not generated: decode/stray.txt" in err


def test_a_recorded_p256_signature_that_does_not_verify_fails_the_check(tmp_path) -> None:
    import shutil

    copy = tmp_path / "vectors"
    shutil.copytree(vectors_root(), copy)
    book = copy / "keys" / "p256-signatures.json"
    doc = json.loads(book.read_text())
    first = doc["signatures"][0]
    first["signature"] = ("00" if not first["signature"].startswith("00") else "11") + first["signature"][2:]
    book.write_text(json.dumps(doc))
    problems = check(copy)
    assert problems and "does not verify" in problems[0]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector_is_consistent(vector) -> None:
    doc = vector.doc
    assert vector.layer in LAYERS
    assert doc["name"] == f"{vector.path.parent.name}/{vector.path.name}"
    assert doc["description"].strip()
    if vector.command == "adapter":
        for row in doc["cases"]:
            assert row["description"].strip()
            assert row["name"].endswith("_fail") == ("error" in row["expected"])
        return
    expected = doc["expected"]
    negative = vector.name.endswith("_fail")
    flags = expected["stages"]
    assert list(flags) == list(CHECK_STAGES if vector.command == "check" else VERIFY_STAGES)
    failed = [stage for stage, flag in flags.items() if flag is False]
    assert len(failed) == (1 if negative else 0)
    if negative:
        at = list(flags).index(failed[0])
        assert all(flag is True for flag in list(flags.values())[:at])
        assert all(flag is None for flag in list(flags.values())[at + 1:])
        assert expected["exit"] in (1, 2)
    else:
        assert expected["exit"] == 0
    for key in ("bundle", "anchor"):
        assert vector.file(doc["context"][key]).is_file()
    assert vector.file(doc["input"]["code"]).is_file()


def test_the_negative_catalogue_has_every_negative_case_with_a_description() -> None:
    catalogue = json.loads((vectors_root() / "CATALOGUE.json").read_text(encoding="utf-8"))
    negatives = {c.name for c in iter_cases(VECTORS) if c.negative}
    assert {entry["name"] for entry in catalogue["cases"]} == negatives
    protocol_negatives = [e for e in catalogue["cases"] if e["layer"] != "adapter"]
    assert len(protocol_negatives) >= 40
    assert all(entry["description"].strip() and entry["errors"] for entry in catalogue["cases"])
    assert (vectors_root() / "CATALOGUE.md").read_text(encoding="utf-8").count("\n| `") == len(negatives)


def test_every_layer_has_vectors() -> None:
    layers = {v.layer for v in VECTORS}
    assert layers >= {"decode", "signature", "time", "revocation", "bundle", "adapter"}


def test_every_member_city_has_an_adapter_table() -> None:
    from citycredit.adapters import load_registry

    tables = {v.doc["context"]["city"] for v in VECTORS if v.command == "adapter"}
    assert tables == {s.city for s in load_registry().schemes()}


def test_cli_layers_match_the_kit() -> None:
    from citycredit._cli import conformance as cli

    assert cli.LAYERS == LAYERS
