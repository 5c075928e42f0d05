"""Onboarding reports: every check, pass or fail, and why, as Markdown or self-contained HTML.

A city office attaches one to its application, so the report stands alone: no
scripts, no external styles, every piece of text from an implementation escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ._runner import RunResult

__all__ = ["Check", "Report", "markdown_escape", "render_html", "render_markdown", "report_for_run", "write_report"]

_LABELS = {"pass": "PASS", "fail": "FAIL", "known": "KNOWN FAILURE", "fixed": "FIXED (remove from known failures)",
           "skip": "SKIPPED"}


@dataclass(frozen=True)
class Check:
    """One line of a report. `status` is pass, fail, known, fixed or skip."""

    section: str
    name: str
    status: str
    why: str = ""
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "known", "skip")


@dataclass
class Report:
    title: str
    subject: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def sections(self) -> list[tuple[str, list[Check]]]:
        found: dict[str, list[Check]] = {}
        for check in self.checks:
            found.setdefault(check.section, []).append(check)
        return list(found.items())


def report_for_run(result: RunResult, *, title: str = "citycredit conformance report") -> Report:
    layers = result.by_layer()
    facts = [("implementation", result.implementation),
             ("result", "all cases pass" if result.ok else f"{len(result.failures())} case(s) fail"),
             ("cases", str(len(result.outcomes))), ("run time", f"{result.seconds:.1f} s")]
    facts += [(f"layer {layer}", ", ".join(f"{n} {status}" for status, n in counts.items() if n))
              for layer, counts in layers.items()]
    checks = []
    for outcome in result.outcomes:
        why = "; ".join(outcome.problems)
        if outcome.known_reason and outcome.status == "known":
            why = f"known failure: {outcome.known_reason}" + (f" ({why})" if why else "")
        spec = outcome.case.spec
        description = f"{outcome.case.description} ({spec})" if spec else outcome.case.description
        checks.append(Check(outcome.case.layer, outcome.case.name, outcome.status, why, description))
    checks += [Check("known failures", name, "fail", "listed in the known failures file but no such case exists")
               for name in result.stale_known_failures]
    return Report(title=title, subject=result.implementation, facts=facts, checks=checks)


# --- Markdown --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def markdown_escape(text: str) -> str:
    """Text that Markdown shows as written: special characters escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def render_markdown(report: Report) -> str:
    e = markdown_escape
    verdict = "PASS" if report.ok else "FAIL"
    lines = [f"# {e(report.title)}", "", f"**{verdict}**: {e(report.subject)}", "",
             f"Generated {report.generated_at.isoformat().replace('+00:00', 'Z')}.", "",
             "| | |", "|---|---|"]
    lines += [f"| {e(k)} | {e(v)} |" for k, v in report.facts]
    failing = [c for c in report.checks if not c.ok]
    if failing:
        lines += ["", "## Failures", ""]
        lines += [f"- **{e(c.name)}** ({e(c.section)}): {e(c.why)}" for c in failing]
    for section, checks in report.sections():
        passed = sum(1 for c in checks if c.status == "pass")
        lines += ["", f"## {e(section)} ({passed}/{len(checks)} pass)", "", "| check | result | what | why |",
                  "|---|---|---|---|"]
        lines += [f"| {e(c.name)} | {_LABELS.get(c.status, c.status)} | {e(c.description)} | {e(c.why)} |"
                  for c in checks]
    return "\n".join(lines) + "\n"


# --- HTML ------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}.pass{color:#116b1a;font-weight:600}.fail,.fixed{color:#b00020;
font-weight:700}.known{color:#8a5a00;font-weight:600}.skip{color:#666}.verdict{font-size:1.2em;padding:.4em .8em;
display:inline-block;border-radius:4px}.verdict.pass{background:#e5f5e7}.verdict.fail{background:#fde8eb}
code{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
"""


def render_html(report: Report) -> str:
    e = html.escape
    verdict = "pass" if report.ok else "fail"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(report.title)}</h1>",
             f'<p class="verdict {verdict}">{verdict.upper()}: {e(report.subject)}</p>',
             f"<p>Generated {e(report.generated_at.isoformat().replace('+00:00', 'Z'))}.</p>",
             "<table>"]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in report.facts]
    parts.append("</table>")
    failing = [c for c in report.checks if not c.ok]
    if failing:
        parts.append("<h2>Failures</h2><ul>")
        parts += [f"<li><code>{e(c.name)}</code> ({e(c.section)}): {e(c.why)}</li>" for c in failing]
        parts.append("</ul>")
    for section, checks in report.sections():
        passed = sum(1 for c in checks if c.status == "pass")
        parts.append(f"<h2>{e(section)} ({passed}/{len(checks)} pass)</h2>")
        parts.append("<table><tr><th>check</th><th>result</th><th>what</th><th>why</th></tr>")
        parts += [f'<tr><td><code>{e(c.name)}</code></td><td class="{e(c.status)}">'
                  f"{e(_LABELS.get(c.status, c.status))}</td><td>{e(c.description)}</td><td>{e(c.why)}</td></tr>"
                  for c in checks]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: Report, path: Path) -> None:
    """Markdown for .md, HTML for .html/.htm."""
    suffix = path.suffix.lower()
    if suffix == ".md":
        text = render_markdown(report)
    elif suffix in (".html", ".htm"):
        text = render_html(report)
    else:
        raise ValueError(f"{path.name}: a report is .md or .html")
    path.write_text(text, encoding="utf-8")


def merge(reports: Sequence[Report], *, title: str, subject: str) -> Report:
    """One report from several (an application: adapter, issuer and verifier checks together)."""
    merged = Report(title=title, subject=subject)
    for report in reports:
        merged.facts += [(f"{report.title}: {k}", v) for k, v in report.facts]
        merged.checks += report.checks
    return merged
