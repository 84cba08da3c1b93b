"""The harness decides whether a change is fixed: `decide(Evidence) -> Verdict`, a pure function.

Every input is the harness's own: its test runs (`TestReport`), the targets (agent/targets.py), and what its
checks of the change found. Nothing here runs git, reads files or asks the model. Test ids are compared
exactly (for pytest, node ids); a target may also be a file or an id without its parameters.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent import targets as tg
from agent.targets import Targets
from agent.test_files import is_test_infrastructure as is_test_infrastructure
from agent.test_files import is_test_module as is_test_module
from agent.test_files import is_test_path as is_test_path
from agent.verification import AddedTests, Verification
from tools.test_report import TestReport

VerdictStatus = Literal["fixed", "not_fixed"]

_FAILING = ("failed", "error")
_TIMEOUT_MESSAGE = re.compile(r"\btimeout\s*\(?>|\btimed out\b|pytest-timeout", re.IGNORECASE)
_NAMES_SHOWN = 10


def name_ids(ids: Iterable[str], limit: int = _NAMES_SHOWN) -> str:
    """`a, b, c and 4 more`: ids for a sentence, bounded."""
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return f"{shown} and {len(ids) - limit} more" if len(ids) > limit else shown


resolve_named = tg.resolve


def flaky_tests(first: TestReport, second: TestReport) -> list[str]:
    """Tests whose outcome differed between two runs of the same code.

    A test missing from one run counts only when neither run timed out (a timed-out run is simply cut short).
    """
    ids = set(first.outcomes) & set(second.outcomes)
    differing = {t for t in ids if first.outcomes[t] != second.outcomes[t]}
    if not first.timed_out and not second.timed_out:
        differing |= set(first.outcomes) ^ set(second.outcomes)
    return sorted(differing)


def disagreements(first: TestReport, again: TestReport | None, ids: Iterable[str]) -> list[str]:
    """Of `ids`, those a second run of the same code gave another outcome (absent ones do not count)."""
    if again is None:
        return []
    return sorted(t for t in ids if t in again.outcomes and again.outcomes[t] != first.outcomes.get(t))


def timed_out_tests(report: TestReport) -> list[str]:
    """Failing tests whose message says the test itself hit a timeout (e.g. pytest-timeout)."""
    return sorted(t for t in report.failing if _TIMEOUT_MESSAGE.search(report.messages.get(t, "")))


def regressions(baseline: TestReport, run: TestReport, flaky: Iterable[str]) -> list[str]:
    """Passed at baseline, not passing in `run` (missing included); flaky tests never count."""
    flaky_set = set(flaky)
    return sorted(
        t
        for t, o in baseline.outcomes.items()
        if o == "passed" and t not in flaky_set and run.outcomes.get(t) != "passed"
    )


def new_failures(baseline: TestReport, run: TestReport, flaky: Iterable[str]) -> list[str]:
    """Failing now, and neither failing nor passing at baseline (new tests, or tests skipped before)."""
    flaky_set = set(flaky)
    return sorted(
        t
        for t, o in run.outcomes.items()
        if o in _FAILING
        and t not in flaky_set
        and baseline.outcomes.get(t) not in (*_FAILING, "passed")
        and not tg.failed_as_a_whole(t, baseline)
    )


def describe_regressions(found: list[str], run: TestReport) -> str:
    return name_ids(f"{t} ({run.outcomes.get(t, 'missing')})" for t in found)


def _ids_in(report: TestReport, files: Iterable[str]) -> list[str]:
    wanted = set(files)
    return sorted(t for t in report.outcomes if t.split("::", 1)[0] in wanted)


def added_tests_result(
    modules: list[str], on_change: TestReport, on_base: TestReport, *, structured_runner: bool = True
) -> AddedTests:
    """Whether the change's test modules reproduce the problem: `fail_on_base` is True when at least one of
    their tests does not pass on the base code (failing, erroring or absent: an import of new code fails)
    and all of them pass on the change; False otherwise; None when there are no modules. For a runner
    without per-test results the files are judged as a whole by exit status; for one with them (pytest), a
    run that gave none shows nothing."""
    if not modules:
        return AddedTests(note="the change adds or changes no test module")
    ids = _ids_in(on_change, modules)
    result = AddedTests(files=sorted(modules), added_tests=ids, fail_on_base=False)
    if structured_runner and not (on_change.structured and on_base.structured):
        result.note = "a run of the change's tests gave no per-test results"
        return result
    if ids:
        result.failing_on_base = [t for t in ids if on_base.outcomes.get(t) != "passed"]
        fails_on_base = bool(result.failing_on_base)
        passes_on_change = all(on_change.outcomes[t] == "passed" for t in ids)
    elif structured_runner:
        fails_on_base = passes_on_change = False
    else:
        fails_on_base, passes_on_change = not on_base.green, on_change.green
    if on_base.timed_out:  # a hang on the original code is a reproduction too (the bug may be a hang)
        result.note = "the run on the base code timed out"
    if not passes_on_change:
        result.note = "some added or changed tests do not pass on the change, so they reproduce nothing"
    result.fail_on_base = fails_on_base and passes_on_change
    return result


class Evidence(BaseModel):
    """Everything the verdict is decided from; the harness gathered all of it itself."""

    baseline: TestReport
    final: TestReport | None  # the verdict run of the committed change; None when nothing changed
    targets: Targets  # for "added tests" the names are the added tests that fail on the base
    flaky: list[str] = Field(default_factory=list)
    change_tests: TestReport | None = None  # the change's own test modules, as the change has them
    added: AddedTests | None = None
    edited_targets: list[str] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)  # each one sentence: tampering, artefacts, ...
    structured_runner: bool = True  # the runner reports per test (pytest); else only exit codes count


class Verdict(BaseModel):
    status: VerdictStatus
    reason: str  # one or two sentences
    targets: Targets
    target_ids: list[str] = Field(default_factory=list)  # the targets as ids of the final run
    regressions: list[str] = Field(default_factory=list)  # passed at baseline, not passing now
    missing: list[str] = Field(default_factory=list)  # the regressions absent from the final run
    newly_passing: list[str] = Field(default_factory=list)  # failed at baseline, pass now
    still_failing: list[str] = Field(default_factory=list)  # targets not passing now
    already_failing: list[str] = Field(default_factory=list)  # failing before, not targets, still failing
    new_failing: list[str] = Field(default_factory=list)  # not failing at baseline (or absent), failing now
    added_passing: list[str] = Field(default_factory=list)  # absent at baseline, passing now
    flaky: list[str] = Field(default_factory=list)
    timed_out_tests: list[str] = Field(default_factory=list)  # timed out at baseline
    baseline_timed_out: bool = False
    edited_targets: list[str] = Field(default_factory=list)
    change_tests_failing: list[str] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)

    @property
    def fixed(self) -> bool:
        return self.status == "fixed"


def decide(e: Evidence) -> Verdict:
    """`fixed` needs: no finding against the change; the targets pass in the verdict run (a missing target
    is not passing); no baseline-passing test stops passing; no test that was not failing at baseline fails
    now; the change's own tests pass; and the passing targets show something (neither flaky nor already
    passing before the change). Failures the baseline already had outside the targets do not block."""
    baseline, final = e.baseline, e.final
    v = Verdict(
        status="not_fixed",
        reason="",
        targets=e.targets,
        flaky=sorted(set(e.flaky)),
        timed_out_tests=timed_out_tests(baseline),
        baseline_timed_out=baseline.timed_out,
        edited_targets=sorted(e.edited_targets),
        findings=list(e.findings),
    )
    if final is None:
        v.reason = "No change was made."
        return v
    passed_now = {t for t, o in final.outcomes.items() if o == "passed"}
    change_outcomes = e.change_tests.outcomes if e.change_tests else {}
    v.regressions = regressions(baseline, final, v.flaky)
    v.missing = [t for t in v.regressions if t not in final.outcomes]
    v.newly_passing = sorted(t for t in baseline.failing if t in passed_now)
    v.new_failing = new_failures(baseline, final, v.flaky)
    v.added_passing = sorted(
        {t for t in passed_now if t not in baseline.outcomes}
        | {t for t, o in change_outcomes.items() if o == "passed" and t not in baseline.outcomes}
    )
    v.change_tests_failing = sorted(
        t for t in (e.change_tests.failing if e.change_tests else []) if t not in v.flaky
    )
    if e.targets.source == "added tests":
        # the added tests are judged on the change's own run: the verdict run has the original tests only
        v.target_ids = sorted(e.targets.names)
        v.still_failing = [t for t in v.target_ids if change_outcomes.get(t) != "passed"]
    else:
        v.target_ids = tg.target_ids(e.targets, final)
        v.still_failing = tg.not_passing(e.targets, final)
    v.already_failing = tg.already_failing(e.targets, baseline, final)
    v.status, v.reason = _decide(v, e, final)
    return v


def _decide(v: Verdict, e: Evidence, final: TestReport) -> tuple[VerdictStatus, str]:
    if v.findings:
        return "not_fixed", " ".join(v.findings)
    if final.timed_out:
        return "not_fixed", "The final test run timed out, so the change could not be verified."
    if e.structured_runner and not final.structured:
        return "not_fixed", (
            "The final test run produced no per-test results, so nothing shows the targets pass "
            f"(exit code {final.exit_code})."
        )
    if e.structured_runner and e.change_tests is not None and not e.change_tests.structured:
        return "not_fixed", "The run of the change's own tests produced no per-test results."
    if v.edited_targets:
        return "not_fixed", (
            f"The change edits the test(s) it is judged by ({name_ids(v.edited_targets)}); "
            "the original tests must pass unchanged."
        )
    if v.regressions:
        return "not_fixed", (
            f"{len(v.regressions)} test(s) that passed at baseline no longer pass: "
            f"{describe_regressions(v.regressions, final)}."
        )
    if v.change_tests_failing:
        return "not_fixed", f"Tests the change adds or edits fail: {name_ids(v.change_tests_failing)}."
    if not final.structured:
        return _decide_by_exit_codes(e, final)
    if e.targets.source == "added tests" and not v.target_ids:
        return "not_fixed", _no_reproduction(e)
    if v.still_failing:
        return "not_fixed", (
            f"{len(v.still_failing)} target test(s) ({tg.describe(e.targets)}) still do not pass: "
            f"{name_ids(v.still_failing)}."
        )
    if v.new_failing:
        return "not_fixed", f"Tests that were not failing at baseline now fail: {name_ids(v.new_failing)}."
    solid = [t for t in v.target_ids if t not in v.flaky and e.baseline.outcomes.get(t) != "passed"]
    # added tests are shown to fail on the original code; a follow-up's targets were shown to fail before the
    # earlier runs on the branch, and what it must show is that they still pass
    if not solid and e.targets.source not in ("added tests", "follow-up"):
        return "not_fixed", (
            f"The target tests ({name_ids(v.target_ids)}) are flaky or already passed before the change: "
            "passing now is not evidence of a fix."
        )
    reason = (
        f"The {len(v.target_ids)} target test(s) now pass ({tg.describe(e.targets)}) and no "
        "baseline-passing test broke."
    )
    if e.targets.source == "added tests":
        reason = (
            f"The change adds {len(v.target_ids)} test(s) that fail on the original code and pass with the "
            "change, and no baseline-passing test broke."
        )
    if e.targets.source == "follow-up":
        reason = (
            f"The {len(v.target_ids)} target test(s) pass ({tg.describe(e.targets)}) and no "
            "baseline-passing test broke"
        )
        if e.added is not None and e.added.fail_on_base:
            reason += (
                f"; the change adds {len(e.added.failing_on_base)} test(s) that fail before it and pass "
                "with it."
            )
        else:
            reason += "; no test shows the requested change itself."
    if v.already_failing:
        reason += f" {len(v.already_failing)} test(s) that already failed before the change still fail."
    return "fixed", reason


def _no_reproduction(e: Evidence) -> str:
    why = "No test failed at baseline"
    flaky_failures = [t for t in e.baseline.failing if t in set(e.flaky)]
    if flaky_failures:
        why = f"The only tests failing at baseline are flaky ({name_ids(flaky_failures)})"
    added = e.added
    if added is None or added.fail_on_base is None:
        return f"{why} and the change adds no test, so nothing shows the task was done."
    note = f" ({added.note})" if added.note else ""
    return (
        f"{why} and none of the change's tests fails on the original code and passes with the change"
        f"{note}, so nothing shows the task was done."
    )


def _decide_by_exit_codes(e: Evidence, final: TestReport) -> tuple[VerdictStatus, str]:
    """A runner without per-test results (not pytest): only exit codes are known, and the verdict says so."""
    if not final.green:
        return "not_fixed", f"The final test run is not green (exit code {final.exit_code})."
    if e.targets.source in ("--tests", "follow-up", "task", "finish report"):
        return "not_fixed", (
            "The test runner gives no per-test results, so the named target tests cannot be shown to pass."
        )
    if not e.baseline.green:
        why = "timed out" if e.baseline.timed_out else "failed"
        return "fixed", f"The baseline run {why} and the final run is green (judged by exit codes only)."
    if e.added is not None and e.added.fail_on_base:
        return "fixed", (
            "The change's tests fail on the original code and the final run is green (judged by exit codes "
            "only)."
        )
    return "not_fixed", _no_reproduction(e)


def _definition(source: str, names: list[str]) -> str | None:
    """The syntax tree (as text, formatting and comments ignored) of the class or function at `names`."""
    try:
        body: list[ast.stmt] = ast.parse(source).body
    except SyntaxError:
        return "<unparseable>"
    node: ast.stmt | None = None
    for name in names:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    return ast.dump(node) if node is not None else None


def edited_definitions(before: str | None, now: str | None, target: str) -> bool:
    """Whether the change edits the definition of the Python test `target` (body, decorators, parameters,
    or the class that holds it). `before`/`now` are the file's text at the base and in the change (None:
    absent or unreadable)."""
    path, _, rest = target.partition("::")
    if not rest or not path.endswith(".py") or before is None:
        return False
    names = [n.split("[", 1)[0] for n in rest.split("::")]
    original = _definition(before, names)
    if original is None:
        return False
    return now is None or _definition(now, names) != original


def _brief(report: TestReport | None) -> dict[str, Any] | None:
    return dict(report.brief()) if report is not None else None


def verification(
    e: Evidence,
    verdict: Verdict | None,
    *,
    changed_config: Iterable[str] = (),
    binary_files: Iterable[str] = (),
) -> Verification:
    added = e.added
    return Verification(
        baseline=dict(e.baseline.brief()),
        final=_brief(e.final),
        regressions=verdict.regressions if verdict else [],
        missing=verdict.missing if verdict else [],
        still_failing=verdict.still_failing if verdict else [],
        added_tests=added.added_tests if added else [],
        added_tests_fail_on_base=added.fail_on_base if added else None,
        flaky=verdict.flaky if verdict else sorted(set(e.flaky)),
        timed_out_tests=verdict.timed_out_tests if verdict else timed_out_tests(e.baseline),
        edited_targets=verdict.edited_targets if verdict else [],
        change_tests=_brief(e.change_tests),
        added_tests_note=added.note if added else "",
        targets=verdict.target_ids if verdict else list(e.targets.names),
        targets_source=e.targets.source,
        already_failing=verdict.already_failing if verdict else [],
        findings=verdict.findings if verdict else list(e.findings),
        changed_config=sorted(changed_config),
        binary_files=sorted(binary_files),
    )
