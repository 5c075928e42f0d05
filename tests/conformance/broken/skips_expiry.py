#!/usr/bin/env python3
"""A verifier that never checks whether a code has expired."""

import functools

from _protocol import main_with, verify

if __name__ == "__main__":
    main_with(functools.partial(verify, check_expiry=False))
