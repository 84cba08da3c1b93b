"""The report handed back: the model's finish fields plus the harness's verification, as Markdown (commit
body, pull-request body) and as a short plain-text terminal summary. Also the migrations rule of the gate.

In the Markdown, the harness's verdict and counts come first; everything the model wrote (its sections, a
reason it gave) and every test id comes after or inside them only as inert text (`agent.inert`), so nothing
it wrote can ping, link, show an image, close an issue or hide the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel

from agent.config import RunResult
from agent.inert import defuse_closing_references as defuse_closing_references
from agent.inert import inert_code, inert_line, inert_markdown
from agent.test_files import is_test_path
from agent.verification import Verification

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("contract", "Contract"),
    ("validation_and_authz", "Validation and authorization"),
    ("error_handling", "Error and failure handling"),
    ("migrations", "Migrations and rollback"),
    ("risky_operations", "Risky operations"),
    ("trade_offs", "Trade-offs"),
    ("tests", "Tests added or changed"),
)
PHASE_ORDER = ("read", "contract", "implement", "verify")

_MIGRATION_DIRS = {"migrations", "migration", "migrate"}
_SCHEMA_FILES = {"schema.rb", "structure.sql", "schema.prisma", "schema.sql"}
# what a model writes when it means "there is nothing here"
_EMPTY_WORDS = re.compile(r"^\W*(none|n/?a|no|nothing|not applicable|no migrations?|-+)\W*$", re.IGNORECASE)
_TERMINAL_SUMMARY_CHARS = 300
MODEL_SECTION_CHARS = 6_000  # per section of the model's report in a commit or pull request body


def _fields(report: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
    if report is None:
        return {}
    return report.model_dump() if isinstance(report, BaseModel) else dict(report)


def _text(value: Any) -> str:
    """A report field as Markdown text: strings as is, lists as bullets, mappings as `key: value` bullets."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return "\n".join(f"- {k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, Iterable):
        return "\n".join(f"- {_text(v)}" for v in value)
    return str(value)


def is_blank(value: Any) -> bool:
    text = _text(value)
    return not text or bool(_EMPTY_WORDS.match(text))


def migration_files(diff_paths: Iterable[str]) -> list[str]:
    """Paths of a diff that change a database schema: migration directories (alembic/versions, Django and
    Rails migrations, Flyway db/migration), SQL files and schema dumps. Test files are not schema changes."""
    found = []
    for path in diff_paths:
        p = PurePosixPath(path)
        dirs = set(p.parts[:-1])
        if is_test_path(path) or p.name == "__init__.py":
            continue
        in_alembic = "alembic" in dirs and "versions" in dirs
        if in_alembic or dirs & _MIGRATION_DIRS or p.suffix == ".sql" or p.name in _SCHEMA_FILES:
            found.append(path)
    return sorted(found)


def migrations_check(report: Mapping[str, Any] | BaseModel, diff_paths: Iterable[str]) -> str | None:
    """An error text when the diff changes the schema but the report's migrations section is empty."""
    files = migration_files(diff_paths)
    if not files or not is_blank(_fields(report).get("migrations")):
        return None
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    return (
        f"The diff changes the database schema ({shown}) but the report's `migrations` section is empty: "
        "describe each migration, how to roll it back, and whether it locks or rewrites large tables."
    )


def _counts(brief: Mapping[str, Any] | None) -> str:
    if not brief:
        return "not run"
    text = (
        f"{brief.get('passed', 0)} passed, {brief.get('failed', 0)} failed, "
        f"{brief.get('error', 0)} errors, {brief.get('skipped', 0)} skipped"
    )
    text += " (coarse: the runner's own summary line, no per-test results)" if brief.get("coarse") else ""
    return text + (" (timed out)" if brief.get("timed_out") else "")


def _verification(verification: Mapping[str, Any] | Verification) -> Verification:
    if isinstance(verification, Verification):
        return verification
    return Verification.model_validate(dict(verification))


def _added_line(v: Verification) -> str:
    if v.added_tests_fail_on_base is None:
        return "no test added or changed"
    if v.added_tests_fail_on_base:
        return (
            f"{len(v.added_tests)} added or changed; at least one fails on the original code (a real "
            "reproduction)"
        )
    note = v.added_tests_note or "they pass on the original code too"
    return f"{len(v.added_tests)} added or changed; none shown to fail on the original code ({note})"


_TARGET_SOURCES = {
    "--tests": "named with --tests",
    "follow-up": "fixed by the earlier runs on this branch, or named in the comments",
    "task": "named in the task",
    "finish report": "named in the finish report",
    "baseline failures": "failing at baseline",
    "added tests": "added by the change, failing on the original code",
}


def _targets_line(v: Verification) -> str | None:
    if v.targets_source is None:
        return None
    where = _TARGET_SOURCES.get(v.targets_source, v.targets_source)
    return f"{_code_list(v.targets) or 'none'} ({where})"


def _code_list(ids: Iterable[str]) -> str:
    return ", ".join(inert_code(t) for t in ids)


def _phase_line(phases: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {phases.get(name, 0)}" for name in PHASE_ORDER)


def _model_section(value: Any) -> str:
    return inert_markdown(_text(value), limit=MODEL_SECTION_CHARS)


def render_markdown_report(
    report: Mapping[str, Any] | BaseModel | None,
    verification: Mapping[str, Any] | Verification,
    *,
    status: str,
    reason: str = "",
    phases: Mapping[str, int] | None = None,
) -> str:
    """The full report as Markdown: the harness's verification first, then the agent's own sections, inert."""
    fields = _fields(report)
    v = _verification(verification)
    out: list[str] = [
        "## Verification by the harness",
        "",
        # the reason can quote the model (a gave-up reason): inert, and after the verdict
        f"**Verdict: {status.replace('_', ' ')}**"
        + (f" — {inert_line(reason, limit=MODEL_SECTION_CHARS)}" if reason else ""),
        "",
    ]
    out += ["| run | passed | failed | errors | skipped | timed out |", "|---|---|---|---|---|---|"]
    rows = (
        ("baseline", v.baseline, "baseline"),
        ("final", v.final, "final (original tests, on the change)"),
        ("change_tests", v.change_tests, "the change's own test files"),
    )
    for key, b, label in rows:
        if b:
            out.append(
                f"| {label} | {b.get('passed', 0)} | {b.get('failed', 0)} | {b.get('error', 0)} | "
                f"{b.get('skipped', 0)} | {'yes' if b.get('timed_out') else 'no'} |"
            )
        elif key != "change_tests":
            out.append(f"| {label} | – | – | – | – | not run |")
    out.append("")
    targets = _targets_line(v)
    if targets:
        out.append(f"- Targets: {targets}")
    missing = set(v.missing)
    out.append(
        "- Regressions: "
        + (", ".join(inert_code(t) + (" (missing)" if t in missing else "") for t in v.regressions) or "none")
    )
    if v.still_failing:
        out.append(f"- Still failing: {_code_list(v.still_failing)}")
    if v.already_failing:
        out.append(f"- Still failing (already failing before): {_code_list(v.already_failing)}")
    out.append(f"- Tests added or changed: {_added_line(v)}")
    if v.added_tests:
        out.append(f"  {_code_list(v.added_tests)}")
    if v.flaky:
        out.append(f"- Flaky at baseline (not counted as regressions): {_code_list(v.flaky)}")
    if v.timed_out_tests:
        out.append(f"- Timed out at baseline: {_code_list(v.timed_out_tests)}")
    for finding in v.findings:
        out.append(f"- Finding: {inert_line(finding)}")  # it names files and tests the change chose
    if v.changed_config:
        out.append(
            f"- The change edits configuration that decides how files and tests are seen: "
            f"{_code_list(v.changed_config)} (the verdict ran the original test configuration)"
        )
    if v.binary_files:
        out.append(f"- Binary files in the change (review them separately): {_code_list(v.binary_files)}")
    if phases:
        out.append(f"- Steps by phase: {_phase_line(phases)}")
    out += [
        "",
        "## The agent's report",
        "",
        "_Written by the model and quoted as text; only the verification above is the harness's own._",
        "",
    ]
    if fields.get("gave_up"):
        out += ["### The agent gave up", "", _model_section(fields.get("reason")) or "(no reason given)", ""]
    for key, title in SECTIONS:
        out += [f"### {title}", "", _model_section(fields.get(key)) or "_None given._", ""]
    return "\n".join(out).rstrip() + "\n"


def render_terminal(
    report: Mapping[str, Any] | BaseModel | None,
    verification: Mapping[str, Any] | Verification,
    *,
    status: str,
    reason: str = "",
    phases: Mapping[str, int] | None = None,
) -> str:
    """A few plain lines for the terminal: verdict, test counts, regressions, reproduction, summary."""
    fields = _fields(report)
    v = _verification(verification)
    # one line whatever the reason holds: a model's reason cannot add lines that pass for the harness's
    lines = [f"{status.replace('_', ' ').upper()}: {' '.join(reason.split())}".rstrip(": ")]
    lines.append(f"tests: baseline {_counts(v.baseline)}")
    lines.append(f"       final    {_counts(v.final)} (the original tests, on the change)")
    if v.change_tests:
        lines.append(f"       change's own test files {_counts(v.change_tests)}")
    if v.targets_source is not None:
        where = _TARGET_SOURCES.get(v.targets_source, v.targets_source)
        lines.append(f"targets: {', '.join(v.targets) or 'none'} ({where})")
    lines.append("regressions: " + (", ".join(v.regressions) if v.regressions else "none"))
    if v.already_failing:
        lines.append("still failing (already failing before): " + ", ".join(v.already_failing))
    lines.append(f"added tests: {_added_line(v)}")
    if v.flaky:
        lines.append("flaky at baseline: " + ", ".join(v.flaky))
    if v.changed_config:
        lines.append("changed configuration: " + ", ".join(v.changed_config))
    if v.binary_files:
        lines.append("binary files: " + ", ".join(v.binary_files))
    summary = " ".join(_text(fields.get("summary")).split())
    if fields.get("gave_up"):
        summary = "gave up: " + " ".join(_text(fields.get("reason")).split())
    if summary:
        if len(summary) > _TERMINAL_SUMMARY_CHARS:
            summary = summary[: _TERMINAL_SUMMARY_CHARS - 1].rstrip() + "…"
        lines.append(f"summary: {summary}")
    if phases:
        lines.append(f"steps: {_phase_line(phases)}")
    return "\n".join(lines) + "\n"


def render_terminal_summary(result: RunResult) -> str:
    """The terminal summary of a finished run: the verdict lines, then where the branch and the run are."""
    import os

    text = render_terminal(
        result.report, result.verification, status=result.status, reason=result.reason, phases=result.phases
    )
    tokens = sum(result.tokens.values())
    cost = (
        "cost unknown (no price known for the model)"
        if result.cost_usd is None
        else f"${result.cost_usd:.4f} (prices: {result.price_source})"
    )
    text += f"usage: {result.steps} steps, {tokens:,} tokens, {cost}, {result.duration_s:.1f} s\n"
    if result.branch:
        text += f"branch: {result.branch}" + (f" ({result.commit[:12]})" if result.commit else "") + "\n"
    elif (
        result.diff
        and result.status != "fixed"
        and os.path.isfile(result.diff)
        and os.path.getsize(result.diff)
    ):
        text += f"no branch made; the change is in {result.diff}\n"
    if result.run_dir:
        text += f"run: {result.run_dir}\n"
    if result.page:
        text += f"page: {result.page}\n"
    return text
