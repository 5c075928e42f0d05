#!/usr/bin/env python3
"""A verifier that trusts the code's algorithm: when the kid's key fails, it tries the city's keys of every
other algorithm."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("any_algorithm")
