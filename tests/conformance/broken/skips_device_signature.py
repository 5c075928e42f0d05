#!/usr/bin/env python3
"""A verifier that accepts any device signature on a presentation."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("skips_device_signature")
