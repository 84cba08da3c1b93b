"""The rendered report (Markdown and terminal), the migrations rule, and the phase tags of steps."""

from __future__ import annotations

from typing import Any

from agent.config import RunResult
from agent.phases import PhaseTagger, action, summarise, tag_step, writes_files
from agent.report import (
    migration_files,
    migrations_check,
    render_markdown_report,
    render_terminal_summary,
)

FIELDS = {
    "summary": "Reject negative transfer amounts.",
    "contract": "POST /transfers takes amount > 0; returns 422 otherwise; no write happens on rejection.",
    "validation_and_authz": "amount validated in the schema; only the account owner may transfer",
    "error_handling": ["422 with field errors", "DB errors roll back the transaction"],
    "migrations": "",
    "risky_operations": "none",
    "trade_offs": "Validation lives in the schema, not the service.",
    "tests": "tests/test_transfers.py::test_negative_amount_rejected",
    "gave_up": False,
    "reason": "",
}
VERIFICATION: dict[str, Any] = {
    "baseline": {
        "passed": 10,
        "failed": 1,
        "error": 0,
        "skipped": 1,
        "failing": ["tests/test_t.py::test_neg"],
        "timed_out": False,
        "exit_code": 1,
    },
    "final": {
        "passed": 12,
        "failed": 0,
        "error": 0,
        "skipped": 1,
        "failing": [],
        "timed_out": False,
        "exit_code": 0,
    },
    "regressions": [],
    "missing": [],
    "added_tests": ["tests/test_t.py::test_negative_amount_rejected"],
    "added_tests_fail_on_base": True,
    "flaky": ["tests/test_t.py::test_clock"],
}


def test_markdown_report_has_every_section_and_the_harness_verdict() -> None:
    text = render_markdown_report(
        FIELDS,
        VERIFICATION,
        status="fixed",
        reason="The 1 target test(s) now pass.",
        phases={"read": 4, "contract": 1, "implement": 3, "verify": 2},
    )
    for title in (
        "## Summary",
        "## Contract",
        "## Validation and authorization",
        "## Error and failure handling",
        "## Migrations and rollback",
        "## Risky operations",
        "## Trade-offs",
        "## Tests added or changed",
        "## Verification by the harness",
    ):
        assert title in text
    assert "- DB errors roll back the transaction" in text
    assert "**Verdict: fixed** — The 1 target test(s) now pass." in text
    assert (
        "| baseline | 10 | 1 | 0 | 1 | no |" in text
        and "| final (original tests, on the change) | 12 | 0 | 0 | 1 | no |" in text
    )
    assert "Regressions: none" in text
    assert "fails on the original code" in text and "`tests/test_t.py::test_negative_amount_rejected`" in text
    assert "Flaky at baseline (not counted as regressions): `tests/test_t.py::test_clock`" in text
    assert "read 4, contract 1, implement 3, verify 2" in text


def test_markdown_report_names_regressions_and_a_give_up() -> None:
    verification = {
        **VERIFICATION,
        "regressions": ["t.py::a", "t.py::b"],
        "missing": ["t.py::b"],
        "added_tests": [],
        "added_tests_fail_on_base": None,
    }
    text = render_markdown_report(
        {**FIELDS, "gave_up": True, "reason": "needs a product decision"},
        verification,
        status="not_fixed",
        reason="2 tests broke.",
    )
    assert "## The agent gave up\n\nneeds a product decision" in text
    assert "Regressions: `t.py::a`, `t.py::b` (missing)" in text
    assert "no test added or changed" in text
    assert "**Verdict: not fixed**" in text


def test_terminal_summary_is_short_and_carries_the_verdict() -> None:
    result = RunResult(
        status="fixed",
        reason="The 1 target test(s) now pass.",
        branch="be-agent/neg-1a2b",
        commit="0123456789abcdef",
        verification=VERIFICATION,
        report=FIELDS,
        phases={"read": 4, "contract": 1, "implement": 3, "verify": 2},
        run_dir="/runs/x",
    )
    text = render_terminal_summary(result)
    lines = text.splitlines()
    assert lines[0] == "FIXED: The 1 target test(s) now pass."
    assert "tests: baseline 10 passed, 1 failed, 0 errors, 1 skipped" in text
    assert "final    12 passed, 0 failed" in text
    assert "regressions: none" in text
    assert "summary: Reject negative transfer amounts." in text
    assert "branch: be-agent/neg-1a2b (0123456789ab)" in text
    assert len(lines) <= 12


def test_terminal_summary_of_an_error_run_without_verification() -> None:
    text = render_terminal_summary(RunResult(status="error", reason="bubblewrap cannot start"))
    assert text.startswith("ERROR: bubblewrap cannot start") and "baseline not run" in text


def test_migration_files_are_found_across_frameworks() -> None:
    diff = [
        "alembic/versions/3f2a_add_email.py",
        "app/migrations/0004_order_status.py",
        "app/migrations/__init__.py",
        "db/migrate/20240101_add_index.rb",
        "db/schema.rb",
        "sql/V3__users.sql",
        "prisma/schema.prisma",
        "app/models.py",
        "tests/fixtures/seed.sql",
        "README.md",
    ]
    assert migration_files(diff) == [
        "alembic/versions/3f2a_add_email.py",
        "app/migrations/0004_order_status.py",
        "db/migrate/20240101_add_index.rb",
        "db/schema.rb",
        "prisma/schema.prisma",
        "sql/V3__users.sql",
    ]


def test_migrations_section_must_be_filled_when_the_schema_changes() -> None:
    diff = ["app/migrations/0004_order_status.py", "app/models.py"]
    empties: tuple[Any, ...] = ("", "  ", "None.", "n/a", "-", None, [])
    for empty in empties:
        problem = migrations_check({**FIELDS, "migrations": empty}, diff)
        assert problem is not None and "app/migrations/0004_order_status.py" in problem
    assert (
        migrations_check({**FIELDS, "migrations": "0004 adds orders.status; reverse drops it"}, diff) is None
    )
    assert migrations_check(FIELDS, ["app/models.py"]) is None


def call(name: str, **params: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "x", "name": name, "input": params}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def test_tool_calls_map_to_phases() -> None:
    editor = "str_replace_based_edit_tool"
    assert action(editor, {"command": "view", "path": "app/x.py"}) == "read"
    assert action(editor, {"command": "str_replace", "path": "app/x.py"}) == "implement"
    assert action(editor, {"command": "create", "path": "tests/test_x.py"}) == "verify"
    assert action("run_tests", {}) == "verify"
    assert action("finish", {}) == "verify"
    for command, phase in [
        ("ls -la && grep -rn 'def add' app", "read"),
        ("cat app/x.py > /dev/null 2>&1", "read"),
        ("git log --oneline | head", "read"),
        ("python -m pytest -q 2>&1 | tail", "verify"),
        ("sed -i 's/a/b/' app/x.py", "implement"),
        ("rm app/old.py", "implement"),
        ("cat > tests/test_y.py <<'EOF'\nimport os\nos.remove('rm x')\nEOF", "verify"),
        ("printf 'x' >> app/y.py", "implement"),
        ("echo grep 'a > b' f", "read"),
    ]:
        assert action("bash", {"command": command}) == phase, command
    assert writes_files("bash", {"command": "git apply fix.patch"})
    assert not writes_files("bash", {"command": "git diff HEAD"})


def test_steps_are_tagged_in_method_order_and_summarised() -> None:
    tagger = PhaseTagger()
    turns = [
        [text("Let me look around."), call("bash", command="ls")],
        [
            text(
                "Contract: input amount must be positive; invariants: balance never negative; "
                "failure modes: 422."
            ),
            call("str_replace_based_edit_tool", command="view", path="app/t.py"),
        ],
        [
            text("Now I write the fix."),
            call("str_replace_based_edit_tool", command="str_replace", path="app/t.py"),
        ],
        [
            text("A test that reproduces it."),
            call("str_replace_based_edit_tool", command="create", path="tests/test_t.py"),
        ],
        [call("run_tests")],
        [text("Reading the log once more."), call("bash", command="cat app/t.py")],
        [call("finish", summary="done")],
    ]
    tags = [tagger.tag(turn) for turn in turns]
    assert tags == ["read", "contract", "implement", "verify", "verify", "read", "verify"]
    assert summarise(tags) == {"read": 2, "contract": 1, "implement": 1, "verify": 3}


def test_a_text_only_turn_before_any_edit_is_contract() -> None:
    assert tag_step([], [text("I will treat missing ids as 404.")]) == "contract"
    assert tag_step([], [text("ok")], edited_before=True, previous="implement") == "implement"


def test_summarise_always_lists_all_phases() -> None:
    assert summarise([]) == {"read": 0, "contract": 0, "implement": 0, "verify": 0}


def test_the_commit_body_cannot_close_unrelated_issues_on_merge():
    from agent.report import render_markdown_report

    body = render_markdown_report(
        {"summary": "Fixes #12 and closes owner/repo#3; see fix #abc"}, {}, status="fixed"
    )
    assert "Fixes issue `#12`" in body and "closes issue `owner/repo#3`" in body
    assert "fix #abc" in body  # not an issue reference: left alone
