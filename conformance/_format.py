"""The vector format: what a vector folder holds and how its expected results read.

A vector is a folder with a `vector.json` (format `citycredit-vector/2`) and the files
it names, paths relative to the folder. A protocol vector has one or more `steps`, each
one call of the implementation (`verify` or `check`) with its trust set, clock, code and
expected answer; when `state` is true the steps share one `--state` folder, fresh for
the case, in order (a rollback, a replay). Adapter vectors hold a table of local
records and the rating each must map to.

A folder whose name ends in `_fail` expects its last step to be refused, and that
step's `expected.stages` say at which stage (dgc-testdata's EXPECTEDRESULTS flags:
true passed, false failed here, null not reached).
"""

from __future__ import annotations

import json
import os
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
    "Step",
    "Vector",
    "iter_cases",
    "load_vectors",
    "stage_flags",
    "vectors_root",
]

FORMAT = "citycredit-vector/2"

# Layers in the order the runner reports them.
LAYERS = ("decode", "signature", "time", "status", "trust", "presentation", "eligibility", "adapter")

# The stages a verifier passes a code through, in the order of the core's rules (proto/SPEC.md
# "Verification"): `trust` the trust set is accepted and fresh (rule 1, and everything that refuses
# a trust set when it is opened: signatures, thresholds, rollback); `length` … `envelope` the text
# decodes (rule 2); `key` a key has the kid (3); `signature` (4); `claims` the claims parse (5);
# `city` the key is the code's city's (6); `key_window` (7); `city_part` the city's part is fresh (8);
# `device_proof` a device-bound code comes in a presentation (9); `device_signature` (10);
# `presentation_window` (11); `validity` the code's own window (12); `status_list` the city's status
# list is held and fresh (13); `status` the code's entry is VALID (14); `replay` (15).
VERIFY_STAGES = ("trust", "length", "prefix", "base45", "envelope", "key", "signature", "claims", "city",
                 "key_window", "city_part", "device_proof", "device_signature", "presentation_window", "validity",
                 "status_list", "status", "replay")
# `check` adds the eligibility decision after a successful verification.
CHECK_STAGES = (*VERIFY_STAGES, "decision")


def stage_flags(stages: Sequence[str], failing: str | None) -> dict[str, bool | None]:
    """EXPECTEDRESULTS-style flags: stages before `failing` pass, it fails, later ones are not reached."""
    if failing is not None and failing not in stages:
        raise ValueError(f"unknown stage {failing!r}")
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
    return flags


def vectors_root() -> Path:
    """The vectors shipped with the kit."""
    return Path(__file__).resolve().parent / "vectors"


@dataclass(frozen=True)
class Step:
    """One call of the implementation: `command --trust DIR --at TIME [--offer ID] [--venue V] -- CODE`."""

    command: str  # "verify" or "check"
    trust: Path
    at: str
    code_path: Path
    expected: Mapping[str, Any]
    offer: str | None = None
    venue: str | None = None

    def code(self) -> bytes:
        """The code under test, exactly as stored (bytes: a vector may hold text that is not UTF-8)."""
        return self.code_path.read_bytes()

    def arguments(self, state: Path | None) -> list[str]:
        """The protocol's arguments for this step (the code as this process would receive it in argv)."""
        argv = [self.command, "--trust", str(self.trust), "--at", self.at]
        if self.offer is not None:
            argv += ["--offer", self.offer]
        if state is not None:
            argv += ["--state", str(state)]
        if self.venue is not None:
            argv += ["--venue", self.venue]
        return [*argv, "--", os.fsdecode(self.code())]


@dataclass(frozen=True)
class Case:
    """One thing to run and judge: a protocol vector (one or more steps), or one row of an adapter table."""

    name: str  # layer/case (adapter rows: adapter/<city>/<row>)
    layer: str
    kind: str  # "verify", "check" (the command of the last step) or "adapter"
    description: str
    negative: bool
    vector: Vector
    row: Mapping[str, Any] | None = None

    @property
    def steps(self) -> list[Step]:
        return self.vector.steps() if self.row is None else []

    @property
    def expected(self) -> Mapping[str, Any]:
        """The expected result of the row, or of the last step (the one the case is about)."""
        if self.row is not None:
            found = self.row["expected"]
            assert isinstance(found, Mapping)
            return found
        return self.steps[-1].expected

    @property
    def spec(self) -> str:
        return str(self.vector.doc.get("spec", ""))


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
        """"adapter" for a table, else the command of the last step."""
        if "steps" not in self.doc:
            return str(self.doc["command"])
        return str(self.doc["steps"][-1]["command"])

    @property
    def state(self) -> bool:
        """Whether the steps share a `--state` folder (fresh for each run of the case)."""
        return bool(self.doc.get("state", False))

    def file(self, relative: str) -> Path:
        return (self.path / relative).resolve()

    def steps(self) -> list[Step]:
        return [Step(command=s["command"], trust=self.file(s["trust"]), at=s["at"], code_path=self.file(s["code"]),
                     expected=s["expected"], offer=s.get("offer"), venue=s.get("venue"))
                for s in self.doc.get("steps", [])]

    def cases(self) -> list[Case]:
        if self.command == "adapter":
            return [Case(name=f"{self.name}/{row['name']}", layer=self.layer, kind="adapter",
                         description=row["description"], negative=row["name"].endswith("_fail"), vector=self,
                         row=row) for row in self.doc["cases"]]
        return [Case(name=self.name, layer=self.layer, kind=self.command, description=self.doc["description"],
                     negative=self.name.endswith("_fail"), vector=self)]


def load_vectors(root: Path | None = None) -> list[Vector]:
    """Every vector under `root` (default: the shipped vectors), sorted by layer and name."""
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
