"""The kit's public surface changes only on purpose."""

from __future__ import annotations

import citycredit.conformance as kit


def test_exported_members() -> None:
    assert sorted(kit.__all__) == sorted([
        "LAYERS", "Case", "Check", "Implementation", "IssuerPolicy", "Outcome", "Report", "RunResult", "Step",
        "Vector", "check_adapter", "check_issuer", "iter_cases", "load_known_failures", "load_vectors",
        "reference_implementation", "render_html", "render_markdown", "report_for_run", "run_cases", "run_vectors",
        "vectors_root", "write_report"])
    assert all(hasattr(kit, name) for name in kit.__all__)
