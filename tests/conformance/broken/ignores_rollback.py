#!/usr/bin/env python3
"""A verifier that never reads what --state holds, so an older trust set or status list is accepted."""

from _protocol import main_with

if __name__ == "__main__":
    main_with("ignores_rollback")
