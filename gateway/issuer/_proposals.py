"""Agreement proposals in a city office's inbox: read them, say who signed, sign for the city, publish.

A proposal is the file `citycredit agreement propose` writes (`citycredit-agreement-proposal/1`: the
agreement's role metadata, unsigned at first, and its part file). The cities it binds pass it from
office to office; each adds its authority signature (`CityOffice.cosign`, in the city's key store). Once
every city has signed, any of them may publish it to the gateway, which accepts it only through the
delegation the governance made for it. Who signed is read from the signatures themselves, checked against
each city's authority key in the trust set: a name in the file proves nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import offer_pb2
from citycredit.core import Agreement, VerifyingKey, agreement_path, from_proto, iso, tuf_key
from citycredit.errors import InvalidArgumentError, NotFoundError
from google.protobuf.message import DecodeError
from tuf.api.metadata import Metadata, Targets
from tuf.api.serialization import DeserializationError

__all__ = ["PROPOSAL_FORMAT", "Inbox", "Proposal", "parse"]

PROPOSAL_FORMAT = "citycredit-agreement-proposal/1"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Proposal:
    name: str
    agreement: Agreement
    role: bytes
    files: Mapping[str, bytes]

    def document(self) -> dict[str, Any]:
        """The file as the CLI writes it (to pass on to the next city)."""
        return {"format": PROPOSAL_FORMAT, "id": self.agreement.id, "role": self.role.decode(),
                "files": {p: d.hex() for p, d in sorted(self.files.items())}}

    def signed_by(self, authorities: Mapping[int, VerifyingKey]) -> list[int]:
        """The cities of the agreement whose authority key made a valid signature over the role."""
        metadata: Metadata[Targets] = Metadata.from_bytes(self.role)
        out = []
        for city in sorted(self.agreement.cities):
            key = authorities.get(city)
            if key is None:
                continue
            tuf = tuf_key(key)
            signature = metadata.signatures.get(tuf.keyid)
            try:
                if signature is not None:
                    tuf.verify_signature(signature, metadata.signed_bytes)
                    out.append(city)
            except Exception:  # securesystemslib raises several types for a bad or foreign signature
                continue
        return out

    def to_json(self, authorities: Mapping[int, VerifyingKey]) -> dict[str, Any]:
        a = self.agreement
        signed = self.signed_by(authorities)
        categories = ", ".join(sorted(c.value for c in a.categories)) or "every category that is not local-only"
        window = f"from {iso(a.not_before_s)}" + (f" until {iso(a.not_after_s)}" if a.not_after_s else ", open-ended")
        summary = [a.title or a.id, f"categories: {categories}", window]
        return {"name": self.name, "agreement_id": a.id, "summary": summary,
                "cities": [f"{c:06d}" for c in sorted(a.cities)], "signed_by": [f"{c:06d}" for c in signed],
                "complete": set(signed) == set(a.cities)}


def parse(name: str, doc: object) -> Proposal:
    """A proposal from its JSON; a clear InvalidArgumentError for anything else."""
    if not _NAME.fullmatch(name):
        raise InvalidArgumentError("a proposal's name is lowercase letters, digits, '.', '_' or '-' (at most 64)")
    if not isinstance(doc, dict) or doc.get("format") != PROPOSAL_FORMAT:
        raise InvalidArgumentError(f"a proposal is a {PROPOSAL_FORMAT} document (citycredit agreement propose)")
    agreement_id, role, files = doc.get("id"), doc.get("role"), doc.get("files")
    if not isinstance(agreement_id, str) or not isinstance(role, str) or not isinstance(files, dict):
        raise InvalidArgumentError("a proposal has its agreement id, role metadata and files")
    try:
        parts = {str(p): bytes.fromhex(d) for p, d in files.items()}
        Metadata.from_bytes(role.encode())
        message = offer_pb2.Agreement.FromString(parts[agreement_path(agreement_id)])
    except (ValueError, TypeError, KeyError, DecodeError, DeserializationError) as exc:
        raise InvalidArgumentError(f"the proposal {name!r} is malformed: {exc}") from None
    agreement = from_proto(Agreement, message)
    if agreement.id != agreement_id:
        raise InvalidArgumentError(f"the proposal names agreement {agreement_id!r} but its file holds {agreement.id!r}")
    return Proposal(name=name, agreement=agreement, role=role.encode(), files=parts)


class Inbox:
    """The office's inbox folder: one JSON file per proposal; published ones move to `published/`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json") if _NAME.fullmatch(p.stem))

    def load(self, name: str) -> Proposal:
        path = self.folder / f"{name}.json"
        if not _NAME.fullmatch(name) or not path.is_file():
            raise NotFoundError(f"no proposal {name!r} in this office's inbox")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"the proposal {name!r} cannot be read: {exc}") from None
        return parse(name, doc)

    def readable(self) -> list[Proposal]:
        """Every proposal that parses (a broken file is skipped here and reported when opened by name)."""
        out = []
        for name in self.names():
            try:
                out.append(self.load(name))
            except (InvalidArgumentError, NotFoundError):
                continue
        return out

    def save(self, proposal: Proposal) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{proposal.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(proposal.document(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def archive(self, name: str) -> None:
        done = self.folder / "published"
        done.mkdir(parents=True, exist_ok=True)
        os.replace(self.folder / f"{name}.json", done / f"{name}.json")
