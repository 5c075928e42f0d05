"""One interface over every private key and secret of citycredit, with two backends.

A city's signing keys and pseudonym secret, a governance member's key and the gateway's online
keys all sit behind `KeyStore` (DESIGN 7)::

    from citycredit.core import Algorithm
    from citycredit.keystore import open_store

    with open_store("file:/srv/city/keys", passphrase=...) as store:   # or pkcs11:/usr/lib/...so?token=LABEL
        signer = store.create_key("city-330100-2026", Algorithm.P256)
        signature = signer.sign(data)                                  # 64 raw bytes, low-S for P-256
        pseudonym = store.create_secret("holder").mac(b"...")          # HMAC-SHA256; the secret stays inside

`EncryptedFileStore` seals each key in a 0600 file under a scrypt-derived key (ChaCha20-Poly1305);
`Pkcs11Store` keeps them as sensitive, non-extractable objects on a token (the `hsm` extra).
"""

from citycredit.keystore._file import EncryptedFileStore
from citycredit.keystore._open import open_store, passphrase_from_env
from citycredit.keystore._pkcs11 import Pkcs11Store
from citycredit.keystore._store import KeyStore, Mac, Signer

__all__ = ["EncryptedFileStore", "KeyStore", "Mac", "Pkcs11Store", "Signer", "open_store", "passphrase_from_env"]
