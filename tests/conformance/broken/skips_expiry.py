#!/usr/bin/env python3
"""A verifier that never checks whether a code has expired."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("skips_expiry")
