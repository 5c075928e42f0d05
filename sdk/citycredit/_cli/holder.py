"""`citycredit holder device-key`: a device key pair, as the holder's phone makes one (for tests and tills)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from citycredit._cli.output import Output
from citycredit._files import write_private, write_public
from citycredit.core import Algorithm, SigningKey, VerifyingKey, device_key
from citycredit.errors import InvalidArgumentError

__all__ = ["load_device_key", "register"]


def register(subparsers: Any) -> None:
    holder = subparsers.add_parser("holder", help="the holder's side: device keys")
    sub = holder.add_subparsers(dest="holder_command", metavar="ACTION", required=True)
    new = sub.add_parser("device-key", help="make a device key pair: K (private, 0600) and K.pub")
    new.add_argument("--out", required=True, help="the private key file K; the public key goes to K.pub")
    new.add_argument("--alg", default="p256", choices=["p256", "ed25519"], help="P-256 (every browser) or Ed25519")
    new.set_defaults(handler=_new)


def _new(args: argparse.Namespace, out: Output) -> int:
    path = Path(args.out)
    if path.exists():
        raise InvalidArgumentError(f"{path} exists; refusing to overwrite a key")
    key = SigningKey.generate(Algorithm.from_slug(args.alg))
    write_private(path, key.to_pem())
    raw = device_key(key)
    public = {"format": "citycredit-device-key/1", "algorithm": key.algorithm.slug, "spki": key.spki.hex(),
              "raw": raw.public_key.hex()}
    write_public(path.with_name(path.name + ".pub"), (json.dumps(public, indent=2) + "\n").encode())
    out.ok(f"{key.algorithm.slug} device key {path} (public: {path.name}.pub)")
    return 0


def load_device_key(path: Path) -> Any:
    """A device key file: the private PEM (a `SigningKey`), or a `.pub` file (a `VerifyingKey`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}") from None
    if data.lstrip().startswith(b"{"):
        try:
            doc = json.loads(data)
            return VerifyingKey(algorithm=Algorithm.from_slug(doc["algorithm"]), spki=bytes.fromhex(doc["spki"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(f"{path} is not a device public key file: {exc}") from None
    for algorithm in (Algorithm.P256, Algorithm.ED25519):
        try:
            return SigningKey.from_pem(data, algorithm)
        except InvalidArgumentError:
            continue
    raise InvalidArgumentError(f"{path} is neither a P-256 nor an Ed25519 private key")
