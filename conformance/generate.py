"""Generate the conformance vectors.

    python -m citycredit.conformance.generate            # rewrite conformance/vectors/
    python -m citycredit.conformance.generate --check    # regenerate into a temporary folder and diff

Everything is fixed: keys come from seeds, the clock is `T0`, code ids, status indexes
and holder pseudonyms come from the case names, every TUF role has a fixed expiry,
status lists are zlib streams written by the generator's own encoder, and P-256 and
SM2 signatures come from `keys/signatures.json` (see `_deterministic`). Running the
generator twice gives the same bytes; `--check` fails when the committed vectors
differ from what this file says they are.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._codes import Minter
from ._deterministic import SignatureBook
from ._fixtures import MARKED_INDEXES, T0, Keys, lite_alliance, main_alliance, offers_alliance
from ._format import vectors_root
from ._layers_code import decode_layer, presentation_layer, signature_layer, time_layer
from ._layers_trust import adapter_layer, eligibility_layer, status_layer, trust_layer
from ._writer import VectorWriter

__all__ = ["BOOK_PATH", "T0", "check", "generate", "main"]

BOOK_PATH = "keys/signatures.json"


def _write_all(out: Path, book: SignatureBook) -> None:
    keys = Keys()
    w = VectorWriter(out=out, book=book, keys=keys, mint=Minter(book, avoid_indexes=MARKED_INDEXES))
    w.write_json("keys/keys.json", keys.document())
    w.trust_set("main", main_alliance(keys), "The trust set the code vectors verify against: Hangzhou with code "
                "keys of every algorithm and in every state, Quzhou, Jiaxing (P-256 only), and status lists with "
                "entries of every value.")
    w.trust_set("offers", offers_alliance(keys), "The eligibility vectors' trust set: five member cities with "
                "offers and agreements (Xiamen without a tier policy), keys and status lists as in `main`.")
    lite = lite_alliance(keys)
    w.trust_set("lite", lite, "A small trust set (Hangzhou and Quzhou, one key each, agreement hz-qz) that the "
                "status and trust vectors change one thing at a time.")
    decode_layer(w)
    signature_layer(w)
    time_layer(w)
    status_layer(w, lite)
    trust_layer(w, lite)
    presentation_layer(w)
    eligibility_layer(w, lite)
    rows = adapter_layer(w)
    w.write(BOOK_PATH, book.dump())
    w.finish(rows)


def generate(out: Path, *, book_from: Path | None = None) -> None:
    """Write every vector into `out` (which is emptied first), reusing signatures recorded in `book_from`."""
    book = SignatureBook.load((book_from or out) / BOOK_PATH)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _write_all(out, book)


def _differences(left: Path, right: Path) -> list[str]:
    files_left = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    files_right = {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    diffs = [f"missing: {p}" for p in sorted(files_right - files_left)]
    diffs += [f"not generated: {p}" for p in sorted(files_left - files_right)]
    diffs += [f"differs: {p}" for p in sorted(files_left & files_right)
              if not filecmp.cmp(left / p, right / p, shallow=False)]
    return diffs


def check(vectors: Path) -> list[str]:
    """Regenerate into a temporary folder; the differences from `vectors` (empty when clean)."""
    with tempfile.TemporaryDirectory(prefix="citycredit-vectors-") as tmp:
        fresh = Path(tmp) / "vectors"
        try:
            generate(fresh, book_from=vectors)
        except ValueError as exc:  # a recorded signature that no longer verifies
            return [str(exc)]
        return _differences(vectors, fresh)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citycredit.conformance.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="regenerate into a temporary folder and diff")
    parser.add_argument("--out", type=Path, default=None, help="the vectors folder (default: the shipped one)")
    args = parser.parse_args(argv)
    out = args.out or vectors_root()
    if args.check:
        diffs = check(out)
        for line in diffs:
            print(line, file=sys.stderr)
        print(f"{out}: {'clean' if not diffs else f'{len(diffs)} difference(s)'}", file=sys.stderr)
        return 1 if diffs else 0
    generate(out, book_from=out)
    print(f"wrote {sum(1 for p in out.rglob('*') if p.is_file())} files to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
