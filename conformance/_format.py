"""The vector format: what a vector folder holds and how its expected result reads.

A vector is a folder with a `vector.json` (format `citycredit-vector/1`) and the
files it names, paths relative to the folder. Verify and check vectors run one
protocol command each; adapter vectors hold a table of local records and the
rating each must map to. A folder whose name ends in `_fail` expects a negative
outcome, and its `expected.stages` say at which stage (dgc-testdata's
EXPECTEDRESULTS flags: true passed, false failed here, null not reached).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHECK_STAGES",
    "FORMAT",
    "LAYERS",
    "VERIFY_STAGES",
    "Case",
    "Vector",
    "iter_cases",
    "load_vectors",
    "stage_flags",
    "vectors_root",
]

FORMAT = "citycredit-vector/1"

# Layers in the order the runner reports them.
LAYERS = ("decode", "signature", "time", "revocation", "bundle", "adapter", "eligibility")

# The stages a verifier passes a code through, in order. `bundle`: the trust bundle is
# accepted (threshold, rollback, freshness); `length` … `envelope`: the CC1 string;
# `key`: the kid names a key in the bundle; `signature`; `claims`: the signed payload is a
# well-formed CreditCode; `city`: the key belongs to the city the code names;
# `key_window`: the key was valid when the code was issued; `validity`: the clock is inside
# the code's window; `revocation`: neither the status list nor a holder cut-off revokes it.
VERIFY_STAGES = ("bundle", "length", "prefix", "base45", "envelope", "key", "signature", "claims", "city",
                 "key_window", "validity", "revocation")
# `check` adds the eligibility decision after a successful verification.
CHECK_STAGES = (*VERIFY_STAGES, "decision")


def stage_flags(stages: Sequence[str], failing: str | None) -> dict[str, bool | None]:
    """EXPECTEDRESULTS-style flags: stages before `failing` pass, it fails, later ones are not reached."""
    flags: dict[str, bool | None] = {}
    reached = True
    for stage in stages:
        if not reached:
            flags[stage] = None
        elif stage == failing:
            flags[stage] = False
            reached = False
        else:
            flags[stage] = True
    if failing is not None and failing not in stages:
        raise ValueError(f"unknown stage {failing!r}")
    return flags


def vectors_root() -> Path:
    """The vectors shipped with the kit."""
    return Path(__file__).resolve().parent / "vectors"


@dataclass(frozen=True)
class Case:
    """One thing to run and judge: a verify or check vector, or one row of an adapter table."""

    name: str  # layer/case (adapter rows: adapter/<city>/<row>)
    layer: str
    kind: str  # "verify", "check" or "adapter"
    description: str
    negative: bool
    vector: Vector
    row: Mapping[str, Any] | None = None

    @property
    def expected(self) -> Mapping[str, Any]:
        found = self.row["expected"] if self.row is not None else self.vector.doc["expected"]
        assert isinstance(found, Mapping)
        return found


@dataclass(frozen=True)
class Vector:
    """A vector folder and its `vector.json`."""

    path: Path
    doc: Mapping[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    @property
    def layer(self) -> str:
        return str(self.doc["layer"])

    @property
    def command(self) -> str:
        return str(self.doc["command"])

    def file(self, relative: str) -> Path:
        return (self.path / relative).resolve()

    def code(self) -> str:
        """The code under test, exactly as stored (no newline is added or stripped)."""
        return self.file(self.doc["input"]["code"]).read_bytes().decode("utf-8")

    def cases(self) -> list[Case]:
        if self.command == "adapter":
            return [Case(name=f"{self.name}/{row['name']}", layer=self.layer, kind="adapter",
                         description=row["description"], negative=row["name"].endswith("_fail"), vector=self,
                         row=row) for row in self.doc["cases"]]
        return [Case(name=self.name, layer=self.layer, kind=self.command, description=self.doc["description"],
                     negative=self.name.endswith("_fail"), vector=self)]


def load_vectors(root: Path | None = None) -> list[Vector]:
    """Every vector under `root` (default: the shipped vectors), sorted by name."""
    root = root or vectors_root()
    found = []
    for doc_path in sorted(root.glob("*/*/vector.json")):
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(f"{doc_path}: not a {FORMAT} vector")
        found.append(Vector(doc_path.parent, doc))
    return sorted(found, key=lambda v: (LAYERS.index(v.layer) if v.layer in LAYERS else len(LAYERS), v.name))


def iter_cases(vectors: Sequence[Vector], layers: Sequence[str] | None = None) -> Iterator[Case]:
    for vector in vectors:
        if layers and vector.layer not in layers:
            continue
        yield from vector.cases()
