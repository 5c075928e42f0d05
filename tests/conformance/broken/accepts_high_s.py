#!/usr/bin/env python3
"""A verifier that takes a P-256 signature (r, n − s) for (r, s), for codes and device signatures."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("accepts_high_s")
