"""citycredit benchmarks: `python -m benchmarks [--quick] [--json out.json] [--only NAME ...]`.

Each module measures one concern against a baseline taken in the same run and
declares the figures it produces (see `benchmarks/README.md`).
"""
