"""The conformance kit: vectors, runner, adapter and issuer checks, onboarding reports.

    from citycredit.conformance import run_vectors, report_for_run, write_report

    result = run_vectors()                      # the shipped vectors against `citycredit --json`
    write_report(report_for_run(result), Path("report.html"))

The protocol an implementation speaks, and the vector format, are described in the
kit's README; the vectors are regenerated with `python -m citycredit.conformance.generate`.
"""

from ._adapter import check_adapter
from ._format import LAYERS, Case, Step, Vector, iter_cases, load_vectors, vectors_root
from ._issuer import IssuerPolicy, check_issuer
from ._report import Check, Report, render_html, render_markdown, report_for_run, write_report
from ._runner import (
    Implementation,
    Outcome,
    RunResult,
    load_known_failures,
    reference_implementation,
    run_cases,
    run_vectors,
)

__all__ = [
    "LAYERS",
    "Case",
    "Check",
    "Implementation",
    "IssuerPolicy",
    "Outcome",
    "Report",
    "RunResult",
    "Step",
    "Vector",
    "check_adapter",
    "check_issuer",
    "iter_cases",
    "load_known_failures",
    "load_vectors",
    "reference_implementation",
    "render_html",
    "render_markdown",
    "report_for_run",
    "run_cases",
    "run_vectors",
    "vectors_root",
    "write_report",
]
