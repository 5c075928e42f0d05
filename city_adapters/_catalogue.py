"""Offer catalogues as data: `catalogue/demo.json` is the demonstration alliance.

Each offer in a catalogue file may quote the local record at its threshold
(`"local_threshold": {"score": 875}`); the portable `min_tier` it states must be
what the host city's scheme gives for that record, which the tests check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from citycredit.core import Agreement, Offer, from_json
from citycredit.errors import InvalidArgumentError

__all__ = ["catalogue_document", "demo_catalogue", "load_catalogue"]

THRESHOLD_KEY = "local_threshold"


def catalogue_document(path: Path | Traversable | None = None) -> dict[str, Any]:
    """The raw catalogue file (the bundled demo when `path` is None)."""
    source = path if path is not None else resources.files("citycredit.adapters.catalogue") / "demo.json"
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidArgumentError(f"{source.name}: cannot read the catalogue: {err}") from None
    if not (isinstance(doc, dict) and isinstance(doc.get("offers"), list)
            and isinstance(doc.get("agreements"), list)):
        raise InvalidArgumentError(f"{source.name}: a catalogue is an object with offers and agreements lists")
    return doc


def load_catalogue(path: Path | Traversable) -> tuple[list[Offer], list[Agreement]]:
    """Offers and agreements from a catalogue file; raises InvalidArgumentError."""
    return _parse(catalogue_document(path))


def demo_catalogue() -> tuple[list[Offer], list[Agreement]]:
    """The demonstration alliance's offers and agreements (Quzhou 134N, Hangzhou, Wenzhou, Xiamen …)."""
    return _parse(catalogue_document())


def _parse(doc: Mapping[str, Any]) -> tuple[list[Offer], list[Agreement]]:
    offers = []
    for entry in doc["offers"]:
        if not isinstance(entry, Mapping):
            raise InvalidArgumentError("each offer is a JSON object")
        offers.append(from_json(Offer, {k: v for k, v in entry.items() if k != THRESHOLD_KEY}))
    return offers, [from_json(Agreement, a) for a in doc["agreements"]]
