"""The vectors are data made by a reproducible generator, and they say what they mean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from citycredit.conformance import LAYERS, iter_cases, load_vectors, vectors_root
from citycredit.conformance._format import CHECK_STAGES, VERIFY_STAGES
from citycredit.conformance.generate import check, main
from citycredit.core import decode_text, parse_claims
from citycredit.errors import CodeError

VECTORS = load_vectors()
CASES = list(iter_cases(VECTORS))
PROTOCOL = [c for c in CASES if c.kind != "adapter"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vectors as the generator makes them now (from the committed signature book)."""
    from citycredit.conformance.generate import generate

    out = tmp_path_factory.mktemp("fresh") / "vectors"
    generate(out, book_from=vectors_root())
    return out


def test_generate_check_is_clean(fresh: Path) -> None:
    from citycredit.conformance.generate import _differences

    assert _differences(vectors_root(), fresh) == []


def test_generate_check_notices_an_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "vectors"
    shutil.copytree(vectors_root(), copy)
    code = copy / "time" / "at_expiry_fail" / "code.txt"
    code.write_text(code.read_text() + "A")
    (copy / "decode" / "stray.txt").write_text("x")
    (copy / "trust-sets" / "lite" / "README.md").unlink()
    assert main(["--check", "--out", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "differs: time/at_expiry_fail/code.txt" in err
    assert "not generated: decode/stray.txt" in err
    assert "missing: trust-sets/lite/README.md" in err


def test_a_recorded_signature_that_does_not_verify_fails_the_check(tmp_path: Path) -> None:
    copy = tmp_path / "vectors"
    (copy / "keys").mkdir(parents=True)
    book = vectors_root() / "keys" / "signatures.json"
    doc = json.loads(book.read_text())
    entry = next(e for e in doc["signatures"] if e["algorithm"] == "p256")
    entry["signature"] = ("00" if not entry["signature"].startswith("00") else "11") + entry["signature"][2:]
    (copy / "keys" / "signatures.json").write_text(json.dumps(doc))
    problems = check(copy)
    assert problems and "does not verify" in problems[0]


def test_the_signature_book_records_p256_and_sm2_only() -> None:
    doc = json.loads((vectors_root() / "keys" / "signatures.json").read_text())
    assert {e["algorithm"] for e in doc["signatures"]} == {"p256", "sm2"}
    assert {e["variant"] for e in doc["signatures"]} == {"", "sm2-id:" + b"citycredit".hex(), "sm2-no-z"}


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector_is_consistent(vector) -> None:
    doc = vector.doc
    assert vector.layer in LAYERS
    assert doc["name"] == f"{vector.path.parent.name}/{vector.path.name}"
    assert doc["description"].strip() and doc["spec"].strip()
    if vector.command == "adapter":
        for row in doc["cases"]:
            assert row["description"].strip()
            assert row["name"].endswith("_fail") == ("error" in row["expected"])
        return
    steps = vector.steps()
    assert steps and (len(steps) == 1 or vector.state), "several steps only with a shared --state"
    for step in steps:
        flags = step.expected["stages"]
        assert list(flags) == list(CHECK_STAGES if step.command == "check" else VERIFY_STAGES)
        failed = [stage for stage, flag in flags.items() if flag is False]
        assert len(failed) <= 1
        if failed:
            at = list(flags).index(failed[0])
            assert all(flag is True for flag in list(flags.values())[:at])
            assert all(flag is None for flag in list(flags.values())[at + 1:])
            assert step.expected["exit"] in (1, 2)
        else:
            assert step.expected["exit"] == 0
        assert (step.trust / "anchor.json").is_file() and (step.trust / "metadata" / "timestamp.json").is_file()
        assert step.code_path.is_file()
        assert not step.code().endswith((b"\n", b"\r")), "no code ends in a line ending (see the README)"
    last = steps[-1].expected["stages"]
    assert vector.name.endswith("_fail") == (False in last.values())


@pytest.mark.parametrize("case", [c for c in PROTOCOL if c.layer in ("decode", "signature", "time", "presentation")],
                         ids=lambda c: c.name)
def test_decode_stages_agree_with_the_core(case) -> None:
    """A code refused while decoding is refused by the core's decoder, with the error the vector names; any
    other code decodes, and one refused at `claims` has claims the core's parser refuses."""
    step = case.steps[-1]
    flags = step.expected["stages"]
    errors = step.expected["result"].get("error") or []
    decoding = ("length", "prefix", "base45", "envelope")
    text = step.code().decode("utf-8", "surrogateescape")
    if any(flags[s] is False for s in decoding):
        with pytest.raises(CodeError) as refused:
            decode_text(text)
        assert refused.value.code in errors
        return
    decoded = decode_text(text)
    envelope = getattr(decoded, "envelope", decoded)
    if flags["claims"] is False:
        with pytest.raises(CodeError) as refused:
            parse_claims(envelope.payload)
        assert refused.value.code in errors
    elif flags["claims"] is True:
        parse_claims(envelope.payload)


def test_the_negative_catalogue_has_every_negative_case_with_a_description_and_a_spec() -> None:
    catalogue = json.loads((vectors_root() / "CATALOGUE.json").read_text(encoding="utf-8"))
    negatives = {c.name for c in CASES if c.negative}
    assert {entry["name"] for entry in catalogue["cases"]} == negatives
    assert catalogue["count"] == len(negatives)
    assert len([e for e in catalogue["cases"] if e["layer"] != "adapter"]) >= 150
    assert all(entry["description"].strip() and entry["errors"] and entry["spec"] for entry in catalogue["cases"])
    assert (vectors_root() / "CATALOGUE.md").read_text(encoding="utf-8").count("\n| `") == len(negatives)


def test_the_readme_counts_every_case() -> None:
    readme = (vectors_root() / "README.md").read_text(encoding="utf-8")
    for layer in LAYERS:
        in_layer = [c for c in CASES if c.layer == layer]
        positive = sum(1 for c in in_layer if not c.negative)
        assert f"| {layer} | {positive} | {len(in_layer) - positive} |" in readme
    assert f"{len(CASES)} cases in all" in readme


def test_every_layer_has_vectors_and_every_rule_is_refused_somewhere() -> None:
    assert {v.layer for v in VECTORS} == set(LAYERS)
    refused = {s for c in PROTOCOL for step in c.steps for s, flag in step.expected["stages"].items() if flag is False}
    assert refused == set(CHECK_STAGES), set(CHECK_STAGES) - refused


def test_every_trust_set_is_used_and_described() -> None:
    used = {step.trust.name for c in PROTOCOL for step in c.steps}
    sets = {p.name for p in (vectors_root() / "trust-sets").iterdir()}
    assert used == sets
    for name in sets:
        assert (vectors_root() / "trust-sets" / name / "README.md").read_text(encoding="utf-8").startswith(
            f"# trust set `{name}`")


def test_multi_step_cases_cover_rollback_replay_and_rotation() -> None:
    stateful = {c.name for c in PROTOCOL if c.vector.state}
    assert {"status/list_rollback_fail", "trust/city_part_rollback_fail", "trust/rotation_then_old_root_fail",
            "presentation/replayed_same_venue_fail", "presentation/same_presentation_other_venue_valid",
            "status/reinstated_valid", "status/list_fork_fail"} <= stateful


def test_the_generator_writes_trust_sets_as_the_sdk_does(tmp_path: Path) -> None:
    """The generator writes the served layout itself (no fsync per file); it is the SDK's layout exactly."""
    from citycredit._trustdir import write_trust_dir
    from citycredit.conformance._fixtures import Keys, lite_alliance
    from citycredit.conformance._trustsets import served_files

    alliance = lite_alliance(Keys())
    write_trust_dir(tmp_path, alliance.repository, alliance.status_lists)
    written = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == served_files(alliance.repository, alliance.status_lists)


def test_every_member_city_has_an_adapter_table() -> None:
    from citycredit.adapters import load_registry

    tables = {v.doc["context"]["city"] for v in VECTORS if v.command == "adapter"}
    assert tables == {s.city for s in load_registry().schemes()}


def test_cli_layers_match_the_kit() -> None:
    from citycredit._cli import conformance as cli

    assert cli.LAYERS == LAYERS
