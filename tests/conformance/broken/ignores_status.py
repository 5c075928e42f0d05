#!/usr/bin/env python3
"""A verifier that never reads a code's entry in its city's status list."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("ignores_status")
