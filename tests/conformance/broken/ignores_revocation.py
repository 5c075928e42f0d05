#!/usr/bin/env python3
"""A verifier that never consults the status lists or holder cut-offs."""

import functools

from _protocol import main_with, verify

if __name__ == "__main__":
    main_with(functools.partial(verify, check_revocation=False))
