"""Writing the vectors: case folders, trust sets, the negative catalogue and the counts.

The layers (`_layers_code`, `_layers_trust`) describe cases as steps; `VectorWriter`
turns them into files in the format of `_format` and keeps the catalogue of every
case that must be refused, with the error it must give and the section of the spec
it tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import code_pb2
from citycredit.core import Tier

from ._codes import Built, Minter
from ._deterministic import SignatureBook
from ._fixtures import T0, Keys
from ._format import CHECK_STAGES, FORMAT, LAYERS, VERIFY_STAGES, stage_flags
from ._trustsets import Alliance

__all__ = ["Step", "VectorWriter", "iso"]

ADAPTER_SPEC = "SPEC 3.4 (the ladder; the schemes are DESIGN 5)"


def iso(epoch_s: int, tz: timezone = UTC) -> str:
    return datetime.fromtimestamp(epoch_s, tz).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Step:
    """One call in a case: the code, the trust set (by name), the clock, and what the answer must be.

    A refused step names its failing `stage` and the `errors` it may give (any of them);
    a `check` step gives the decision's fields in `result`.
    """

    code: Built | str | bytes
    trust: str = "main"
    at: int | str = T0
    command: str = "verify"
    offer: str | None = None
    venue: str | None = None
    stage: str | None = None
    errors: Sequence[str] = ()
    result: Mapping[str, Any] | None = None
    exit: int | None = None

    @property
    def text(self) -> bytes:
        code = self.code.code if isinstance(self.code, Built) else self.code
        return code if isinstance(code, bytes) else code.encode("utf-8")


@dataclass
class VectorWriter:
    out: Path
    book: SignatureBook
    keys: Keys
    mint: Minter
    negatives: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    trust_sets: dict[str, str] = field(default_factory=dict)

    # --- files ---------------------------------------------------------------------------------------

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def write_json(self, relative: str, doc: Any) -> Path:
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        # Stage flags on one line each: a vector reads better, and the repository stays small.
        text = _STAGES.sub(lambda m: " ".join(m.group(0).split()).replace("{ ", "{").replace(" }", "}"), text)
        return self.write(relative, text + "\n")

    def trust_set(self, name: str, alliance: Alliance, about: str, *, anchor: bytes | None = None,
                  after: Callable[[Path], None] | None = None) -> str:
        """Write trust-sets/<name>/ (once); `after` changes the written files (what a tamperer would do)."""
        if name in self.trust_sets:
            raise ValueError(f"trust set {name} is written twice")
        directory = self.out / "trust-sets" / name
        directory.mkdir(parents=True)
        alliance.write(directory, about=about, anchor=anchor)
        if after is not None:
            after(directory)
        self.trust_sets[name] = about
        return name

    # --- cases ---------------------------------------------------------------------------------------

    def case(self, layer: str, name: str, description: str, steps: Sequence[Step], *, spec: str,
             state: bool = False) -> None:
        """Write one case: its steps run in order (sharing one `--state` folder when `state`)."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer}")
        last = steps[-1]
        negative = last.stage is not None or (last.result is not None and last.result.get("eligible") is False)
        if negative != name.endswith("_fail"):
            raise ValueError(f"{layer}/{name}: a refused case's name ends in _fail, an accepted one's does not")
        if len(steps) > 1 and not state:
            raise ValueError(f"{layer}/{name}: steps share what they accept only through --state")
        folder = f"{layer}/{name}"
        if (self.out / folder).exists():
            raise ValueError(f"{folder} is written twice")
        texts = sorted({s.text for s in steps}, key=[s.text for s in steps].index)
        files = {text: "code.txt" if len(texts) == 1 else f"code-{i}.txt" for i, text in enumerate(texts, start=1)}
        for text, file in files.items():
            self.write(f"{folder}/{file}", text)
        doc: dict[str, Any] = {"format": FORMAT, "name": folder, "layer": layer, "description": description,
                               "spec": spec, "state": state,
                               "steps": [self._step(folder, s, files[s.text]) for s in steps]}
        built = next((s.code for s in reversed(steps) if isinstance(s.code, Built)), None)
        if built is not None:
            doc["artefacts"] = built.artefacts()
        self.write_json(f"{folder}/vector.json", doc)
        self.cases.append({"name": folder, "layer": layer, "negative": negative})
        if negative:
            expected = doc["steps"][-1]["expected"]
            said = list(last.errors) or [str(expected["result"].get("reason"))]
            self.negatives.append({"name": folder, "layer": layer, "stage": last.stage or "decision",
                                   "errors": said, "exit": expected["exit"], "spec": spec,
                                   "steps": len(steps), "description": description})

    def _step(self, folder: str, step: Step, file: str) -> dict[str, Any]:
        if step.trust not in self.trust_sets:
            raise ValueError(f"{folder}: no trust set {step.trust}")
        stages = CHECK_STAGES if step.command == "check" else VERIFY_STAGES
        failing = step.stage
        if step.command == "check" and failing is None and step.result is not None \
                and step.result.get("eligible") is False:
            failing = "decision"
        negative = failing is not None
        bundle_error = any(e.startswith("CC_BUNDLE_") or e == "CC_OFFER_UNKNOWN" for e in step.errors)
        exit_code = step.exit if step.exit is not None else 2 if bundle_error else 1 if negative else 0
        expected: dict[str, Any] = {"exit": exit_code, "stages": stage_flags(stages, failing)}
        if step.command == "verify":
            if negative:
                expected["result"] = {"valid": False, "error": list(step.errors)}
            else:
                assert isinstance(step.code, Built) and step.code.claims is not None
                expected["result"] = {"valid": True, **verified(step.code.claims)}
        else:
            result = dict(step.result or {})
            if step.errors:
                result["error"] = list(step.errors)
            expected["result"] = result
        doc: dict[str, Any] = {"command": step.command, "trust": f"../../trust-sets/{step.trust}",
                               "at": step.at if isinstance(step.at, str) else iso(step.at), "code": file}
        if step.offer is not None:
            doc["offer"] = step.offer
        if step.venue is not None:
            doc["venue"] = step.venue
        doc["expected"] = expected
        return doc

    def verify(self, layer: str, name: str, description: str, code: Built | str | bytes, *, spec: str,
               **step: Any) -> None:
        """A one-step verify case (`stage` and `errors` when it must be refused)."""
        self.case(layer, name, description, [Step(code, **step)], spec=spec)

    # --- the catalogue and the counts ------------------------------------------------------------------

    def finish(self, adapter_rows: int) -> None:
        negatives = sorted(self.negatives, key=lambda n: (LAYERS.index(n["layer"]), n["name"]))
        self.write_json("CATALOGUE.json", {
            "note": "Every negative case of the conformance vectors: what is wrong, what a verifier must say, "
                    "and the section of proto/SPEC.md it tests. Generated; do not edit.",
            "count": len(negatives), "cases": negatives})
        lines = ["# Negative catalogue", "",
                 f"{len(negatives)} cases that every implementation must refuse, the error it must give (any of "
                 "those listed), its exit code, and the section of `proto/SPEC.md` the case tests. Multi-step cases "
                 "are judged on every step; the line describes the last. Generated by "
                 "`python -m citycredit.conformance.generate`; do not edit.", ""]
        for layer in LAYERS:
            in_layer = [n for n in negatives if n["layer"] == layer]
            if not in_layer:
                continue
            lines += [f"## {layer} ({len(in_layer)})", "", "| case | stage | must say | exit | spec | what is wrong |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| `{n['name']}` | {n['stage']} | {' or '.join(n['errors'])} | "
                      f"{'' if n['exit'] is None else n['exit']} | {n['spec']} | {n['description']} |"
                      for n in in_layer]
            lines.append("")
        self.write("CATALOGUE.md", "\n".join(lines))
        counts = {layer: [0, 0] for layer in LAYERS}
        for case in self.cases:
            counts[case["layer"]][1 if case["negative"] else 0] += 1
        steps = sum(1 for _ in self.out.glob("*/*/vector.json"))
        table = ["| layer | positive | negative |", "|---|---|---|"]
        table += [f"| {layer} | {p} | {n} |" for layer, (p, n) in counts.items()]
        self.write("README.md", README_TEMPLATE.format(
            table="\n".join(table), total=len(self.cases), folders=steps, rows=adapter_rows,
            trust="\n".join(f"- `{name}`: {about.splitlines()[0]}" for name, about in sorted(self.trust_sets.items())),
            trust_count=len(self.trust_sets)))

    def adapter_case(self, name: str, negative: bool, description: str, error: str | None) -> None:
        self.cases.append({"name": name, "layer": "adapter", "negative": negative})
        if negative:
            self.negatives.append({"name": name, "layer": "adapter", "stage": "map", "errors": [error],
                                   "exit": None, "spec": ADAPTER_SPEC, "steps": 0, "description": description})


_STAGES = re.compile(r'"stages": \{[^{}]*\}')


def verified(claims: code_pb2.CreditCode) -> dict[str, Any]:
    """What `verify` must print for a valid code (verification_to_json's fields)."""
    return {"city": f"{claims.city:06d}", "tier": Tier(claims.tier).name, "band": claims.band,
            "issued_at": iso(claims.issued_at), "expires_at": iso(claims.expires_at), "code_id": claims.code_id.hex(),
            "holder": claims.holder.hex()}


README_TEMPLATE = """# Conformance vectors

Generated by `python -m citycredit.conformance.generate`; `--check` proves the committed files are
what the generator makes. Do not edit by hand. The protocol, the vector format and the runner are
described in `../README.md`; every case that must be refused is listed in `CATALOGUE.md` (and
`CATALOGUE.json`) with the error it must give and the section of `proto/SPEC.md` it tests.

{table}

{total} cases in all: {folders} case folders, the adapter tables counting one case per row ({rows} rows).

- `<layer>/<case>/vector.json`: the case's steps, each with its command, trust set, clock (`at`),
  code file (the code exactly as stored, no newline), optional offer and venue, and the expected
  answer with per-stage flags; `state: true` when the steps share one `--state` folder. A case whose
  name ends in `_fail` must be refused (its last step).
- `trust-sets/<name>/`: {trust_count} trust sets in the served layout (`anchor.json`, `metadata/`, `targets/`,
  `status/`), each with a README saying what is in it or wrong with it:
{trust}
- `keys/keys.json`: the test keys, their seeds and kids; `keys/signatures.json`: the recorded
  P-256 and SM2 signatures that make the vectors reproducible.
"""
