"""The harness decides whether a change is fixed, and the gate the model's `finish` call must pass.

Every decision here is made from the harness's own test runs (`TestReport`), never from what the model says.
Test ids are compared exactly (for pytest, node ids); a named test may also be a file or a test's prefix
(`tests/test_x.py`, `tests/test_x.py::test_a` for all of `test_a[...]`).
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from agent.report import migrations_check
from agent.test_files import is_test_infrastructure as is_test_infrastructure
from agent.test_files import is_test_module as is_test_module
from agent.test_files import is_test_path as is_test_path
from agent.workspace import git
from tools.test_report import TestReport

VerdictStatus = Literal["fixed", "not_fixed"]
TestRunner = Callable[[Path, list[str]], TestReport]

_FAILING = ("failed", "error")
_TIMEOUT_MESSAGE = re.compile(r"\btimeout\s*\(?>|\btimed out\b|pytest-timeout", re.IGNORECASE)
_NAMES_SHOWN = 10


def name_ids(ids: Iterable[str], limit: int = _NAMES_SHOWN) -> str:
    """`a, b, c and 4 more`: ids for a sentence, bounded."""
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return f"{shown} and {len(ids) - limit} more" if len(ids) > limit else shown


def flaky_tests(first: TestReport, second: TestReport) -> list[str]:
    """Tests whose outcome differed between two baseline runs of the same code.

    A test missing from one run counts only when neither run timed out (a timed-out run is simply cut short).
    """
    ids = set(first.outcomes) & set(second.outcomes)
    differing = {t for t in ids if first.outcomes[t] != second.outcomes[t]}
    if not first.timed_out and not second.timed_out:
        differing |= set(first.outcomes) ^ set(second.outcomes)
    return sorted(differing)


def timed_out_tests(report: TestReport) -> list[str]:
    """Failing tests whose message says the test itself hit a timeout (e.g. pytest-timeout)."""
    return sorted(t for t in report.failing if _TIMEOUT_MESSAGE.search(report.messages.get(t, "")))


def resolve_named(name: str, outcomes: Mapping[str, str]) -> list[str]:
    """The ids a named test stands for: itself, or every id under it as a file, class or parametrisation."""
    if name in outcomes:
        return [name]
    return sorted(t for t in outcomes if t.startswith((name + "::", name + "[")))


def _regressions(baseline: TestReport, run: TestReport, flaky: set[str]) -> list[str]:
    return sorted(
        t
        for t, o in baseline.outcomes.items()
        if o == "passed" and t not in flaky and run.outcomes.get(t) != "passed"
    )


def _ancestors(test_id: str) -> list[str]:
    """The ids that contain `test_id`: its file, its classes, and the test without its parameters."""
    parts = test_id.split("::")
    found = ["::".join(parts[:i]) for i in range(1, len(parts))]
    if "[" in test_id:
        found.append(test_id[: test_id.index("[")])
    return found


def _failed_as_a_whole(test_id: str, baseline: TestReport) -> bool:
    """The test's file or class failed at baseline (e.g. a collection error), so it had no outcome of its own."""
    return any(baseline.outcomes.get(a) in _FAILING for a in _ancestors(test_id))


def _new_failures(baseline: TestReport, run: TestReport, flaky: set[str]) -> list[str]:
    """Failing now, and neither failing nor passing at baseline (new tests, or tests skipped before)."""
    return sorted(
        t
        for t, o in run.outcomes.items()
        if o in _FAILING
        and t not in flaky
        and baseline.outcomes.get(t) not in (*_FAILING, "passed")
        and not _failed_as_a_whole(t, baseline)
    )


def _describe_regressions(regressions: list[str], run: TestReport) -> str:
    return name_ids(f"{t} ({run.outcomes.get(t, 'missing')})" for t in regressions)


@dataclass
class Verdict:
    status: VerdictStatus
    reason: str  # one sentence
    regressions: list[str] = field(default_factory=list)  # passed at baseline, not passing now
    missing: list[str] = field(default_factory=list)  # the regressions absent from the final run
    newly_passing: list[str] = field(default_factory=list)  # failed at baseline, pass now
    still_failing: list[str] = field(default_factory=list)  # targets (named or baseline-failing) not passing
    new_failing: list[str] = field(default_factory=list)  # not failing at baseline (or absent), failing now
    added_passing: list[str] = field(default_factory=list)  # absent at baseline, passing now
    flaky: list[str] = field(default_factory=list)  # differed between baseline runs; never regressions
    timed_out_tests: list[str] = field(default_factory=list)  # timed out at baseline
    baseline_timed_out: bool = False
    edited_targets: list[str] = field(default_factory=list)  # target tests whose own code the change edits
    change_tests_failing: list[str] = field(default_factory=list)  # the change's own tests that fail

    @property
    def fixed(self) -> bool:
        return self.status == "fixed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "regressions": self.regressions,
            "missing": self.missing,
            "newly_passing": self.newly_passing,
            "still_failing": self.still_failing,
            "new_failing": self.new_failing,
            "added_passing": self.added_passing,
            "flaky": self.flaky,
            "timed_out_tests": self.timed_out_tests,
            "baseline_timed_out": self.baseline_timed_out,
            "edited_targets": self.edited_targets,
            "change_tests_failing": self.change_tests_failing,
        }


def judge(
    baseline: TestReport,
    final: TestReport,
    named_tests: Iterable[str] = (),
    *,
    flaky: Iterable[str] = (),
    added_tests: Iterable[str] = (),
    edited: Iterable[str] = (),
    change_tests: TestReport | None = None,
) -> Verdict:
    """The verdict on `final` (the harness's fresh full run of the change) against `baseline`.

    `fixed` needs: the targets pass (the named tests, or when none are named the tests that failed at
    baseline; a missing target is not passing), no baseline-passing test stops passing (missing ones
    included), and no test that was not failing at baseline fails now. When nothing is named and the
    baseline was green, this is a feature task: the final run must be green and the change must add at
    least one passing test. Flaky tests are neither targets nor regressions unless named.
    `added_tests` are ids the caller knows were added or changed (see `added_tests_check`).
    """
    flaky_set = set(flaky)
    named = list(named_tests)
    passed_now = {t for t, o in final.outcomes.items() if o == "passed"}
    regressions = _regressions(baseline, final, flaky_set)
    added_passing = sorted(
        {t for t in passed_now if t not in baseline.outcomes}
        | {t for t in added_tests if t in passed_now}
        | {
            t
            for t, o in (change_tests.outcomes if change_tests else {}).items()
            if o == "passed" and t not in baseline.outcomes
        }
    )
    if named:
        still_failing: list[str] = []
        for name in named:
            ids = resolve_named(name, final.outcomes)
            still_failing += [name] if not ids else [t for t in ids if t not in passed_now]
    else:
        # a file that failed to import at baseline has a file-level id; now its tests have their own ids
        still_failing = []
        for failed in baseline.failing:
            ids = resolve_named(failed, final.outcomes)
            if failed not in flaky_set:
                still_failing += [failed] if not ids else [t for t in ids if t not in passed_now]
    verdict = Verdict(
        status="not_fixed",
        reason="",
        regressions=regressions,
        missing=[t for t in regressions if t not in final.outcomes],
        newly_passing=sorted(t for t in baseline.failing if t in passed_now),
        still_failing=sorted(set(still_failing)),
        new_failing=_new_failures(baseline, final, flaky_set),
        added_passing=added_passing,
        flaky=sorted(flaky_set),
        timed_out_tests=timed_out_tests(baseline),
        baseline_timed_out=baseline.timed_out,
        edited_targets=sorted(edited),
        change_tests_failing=sorted(
            t for t in (change_tests.failing if change_tests else []) if t not in flaky_set
        ),
    )
    verdict.status, verdict.reason = _decide(verdict, baseline, final, named)
    return verdict


def _decide(
    v: Verdict, baseline: TestReport, final: TestReport, named: list[str]
) -> tuple[VerdictStatus, str]:
    if final.timed_out:
        return "not_fixed", "The final test run timed out, so the change could not be verified."
    if v.edited_targets:
        return "not_fixed", (
            f"The change edits the test(s) it is judged by ({name_ids(v.edited_targets)}); "
            "the original tests must pass unchanged."
        )
    if v.regressions:
        return "not_fixed", (
            f"{len(v.regressions)} test(s) that passed at baseline no longer pass: "
            f"{_describe_regressions(v.regressions, final)}."
        )
    if v.change_tests_failing:
        return "not_fixed", f"Tests the change adds or edits fail: {name_ids(v.change_tests_failing)}."
    if v.still_failing:
        what = "named" if named else "baseline-failing"
        hint = "" if final.structured else " (the test runner's output could not be read per test)"
        return "not_fixed", (
            f"{len(v.still_failing)} {what} test(s) still do not pass{hint}: {name_ids(v.still_failing)}."
        )
    if v.new_failing:
        return "not_fixed", f"Tests that were not failing at baseline now fail: {name_ids(v.new_failing)}."
    if named:
        # a named test that is flaky, or that already passed before the change, shows nothing about it
        ids = [t for name in named for t in resolve_named(name, final.outcomes)]
        solid = [t for t in ids if t not in v.flaky and baseline.outcomes.get(t) != "passed"]
        if not solid:
            return "not_fixed", (
                f"The named tests ({name_ids(ids)}) are flaky or already passed before the "
                "change: passing now is not evidence of a fix."
            )
        return "fixed", f"The {len(named)} target test(s) now pass and no baseline-passing test broke."
    targets = [t for t in baseline.failing if t not in v.flaky]
    if targets:
        return "fixed", f"The {len(targets)} target test(s) now pass and no baseline-passing test broke."
    if baseline.failing:
        return "not_fixed", (
            f"The only tests failing at baseline are flaky ({name_ids(baseline.failing)}): a "
            "green run now is not evidence of a fix."
        )
    if not final.green:
        return "not_fixed", "The final test run is not green."
    if baseline.green:
        if not v.added_passing:
            return "not_fixed", (
                "The suite was already green at baseline and the change adds no passing "
                "test, so nothing shows the task was done."
            )
        return "fixed", f"The suite is green and the change adds {len(v.added_passing)} passing test(s)."
    why = "timed out" if baseline.timed_out else "failed"
    return "fixed", f"The baseline run {why} without naming failing tests; the final run is green."


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


def edited_targets(checkout: Path, base_commit: str, targets: Iterable[str]) -> list[str]:
    """Target tests whose own definition the change edits (body, decorators, parameters, or the class that
    holds them). A fix makes the original test pass; a test rewritten to pass proves nothing.
    Only Python test functions are checked; a target that is a whole file is not."""
    from tools.paths import read_bytes

    edited = []
    for target in targets:
        path, _, rest = target.partition("::")
        if not rest or not path.endswith(".py"):
            continue
        names = [n.split("[", 1)[0] for n in rest.split("::")]
        base = git(checkout, "show", f"{base_commit}:{path}", check=False)
        if base.returncode != 0:
            continue  # not in the base commit: not an original test
        before = _definition(base.stdout, names)
        if before is None:
            continue
        try:  # never follow a link the model planted: read it as the editor would
            now_text = read_bytes(checkout, checkout / path).decode("utf-8", "replace")
        except Exception:
            edited.append(target)
            continue
        if _definition(now_text, names) != before:
            edited.append(target)
    return sorted(edited)


class FinishGate:
    """Decides whether the model's `finish` call is accepted.

    It is refused (with an error text saying why and what to do) when: there was an edit and no full test
    run after it; the last full run timed out or has failures the baseline did not have; a test that passed
    at baseline no longer passes; migration files are in the diff and the report's migrations section is
    empty. `gave_up: true` with a reason is always accepted (the run then ends not_fixed); refusal texts
    suggest it once `max_refusals` refusals have happened. Without any edit the baseline stands as the
    last full run.
    """

    def __init__(
        self,
        baseline: TestReport,
        *,
        flaky: Iterable[str] = (),
        max_refusals: int = 2,
        changed_paths: Callable[[], Iterable[str]] | None = None,
        edited_targets: Callable[[], list[str]] | None = None,
    ):
        self.baseline = baseline
        self.flaky = set(flaky)
        self.max_refusals = max_refusals
        self.changed_paths = changed_paths
        self.edited_targets = edited_targets
        self.last_edit_step: int | None = None
        self.last_run: tuple[int, TestReport] | None = None  # the last FULL run
        self.last_narrowed_step: int | None = None
        self.refusals = 0

    def note_edit(self, step: int) -> None:
        self.last_edit_step = step

    def note_tests(self, step: int, report: TestReport, *, full: bool = True) -> None:
        """Record a run_tests call; a run narrowed to some tests (`full=False`) does not count as a full run."""
        if full:
            self.last_run = (step, report)
        else:
            self.last_narrowed_step = step

    def problems(self) -> list[str]:
        """Why finishing now would be refused; empty when it would be accepted."""
        if self.last_edit_step is not None and (
            self.last_run is None or self.last_run[0] < self.last_edit_step
        ):
            narrowed = ""
            if self.last_narrowed_step is not None and self.last_narrowed_step >= self.last_edit_step:
                narrowed = (
                    f" Your run at step {self.last_narrowed_step} was narrowed to some tests and counts "
                    "only for those."
                )
            return [
                f"No full test run since your last edit at step {self.last_edit_step}: call run_tests with "
                f"no `tests` argument after your last edit.{narrowed}"
            ]
        run = self.last_run[1] if self.last_run else self.baseline
        found: list[str] = []
        if run.timed_out:
            found.append("The last full test run timed out; make the suite finish in time and run it again.")
        if not run.structured:
            if self.baseline.green and not run.green:
                found.append(f"The suite passed at baseline and now fails (exit code {run.exit_code}).")
        else:
            regressions = _regressions(self.baseline, run, self.flaky)
            if regressions:
                found.append(
                    "Tests that passed at baseline no longer pass: "
                    f"{_describe_regressions(regressions, run)}."
                )
            new = _new_failures(self.baseline, run, self.flaky)
            if new:
                found.append(f"The last run has failures the baseline did not have: {name_ids(new)}.")
        return found

    def check(self, finish_input: Mapping[str, Any], step: int) -> str | None:
        """None to accept `finish`; otherwise the error text for the model."""
        if finish_input.get("gave_up"):
            if not str(finish_input.get("reason") or "").strip():
                return "finish with gave_up: true needs a `reason`: say what blocks you and what you tried."
            return None
        found = self.problems()
        if self.changed_paths is not None:
            migration_problem = migrations_check(finish_input, self.changed_paths())
            if migration_problem:
                found.append(migration_problem)
        edited = self.edited_targets() if self.edited_targets is not None else []
        if edited:
            found.append(
                f"You changed the test(s) the task is judged by: {name_ids(edited)}. The harness judges "
                "a fix by the original tests, so revert your edits to them and fix the code instead."
            )
        if not found:
            return None
        self.refusals += 1
        text = f"finish refused at step {step}. " + " ".join(found)
        if self.refusals >= self.max_refusals:
            text += (
                " If you cannot resolve this, call finish with gave_up: true and a `reason`; the run "
                "will end as not fixed."
            )
        else:
            text += " Fix the cause, run the full suite with run_tests, then call finish again."
        return text


@dataclass
class AddedTestsResult:
    """Tests the change added or changed, run against the base code with the change's tests copied in."""

    files: list[str] = field(default_factory=list)  # changed test modules that were run
    added_tests: list[str] = field(default_factory=list)  # ids collected from them on the change
    fail_on_base: bool | None = None
    failing_on_base: list[str] = field(default_factory=list)
    note: str = ""
    on_base: TestReport | None = None
    on_change: TestReport | None = None


def _git(repo: Path, *args: str) -> str:
    return git(repo, *args).stdout


def changed_files(checkout: Path, base_commit: str) -> list[str]:
    """Files of the working tree that differ from `base_commit` (untracked ones included, deleted ones not)."""
    tracked = _git(checkout, "diff", "--name-only", "--no-renames", "--diff-filter=d", "-z", base_commit)
    untracked = _git(checkout, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({p for p in (tracked + untracked).split("\0") if p})


def changed_test_files(checkout: Path, base_commit: str) -> list[str]:
    return [p for p in changed_files(checkout, base_commit) if is_test_path(p)]


def _is_bytecode(path: str) -> bool:
    return path.endswith((".pyc", ".pyo")) or "__pycache__" in PurePosixPath(path).parts


def _ids_in(report: TestReport, files: list[str]) -> list[str]:
    return sorted(t for t in report.outcomes if t.split("::", 1)[0] in files)


def _base_copy_with_tests(checkout: Path, base_commit: str, test_paths: list[str], scratch: Path) -> None:
    """`scratch` becomes the base commit with the change's test files copied over it.

    A plain clone on the host, never `git worktree`: the checkout's .git is read-only inside the sandbox and
    must not gain worktree records.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    git(scratch, "clone", "--no-hardlinks", "--no-checkout", "--quiet", "--template=", str(checkout), ".")
    has_base = git(scratch, "cat-file", "-e", f"{base_commit}^{{commit}}", check=False).returncode == 0
    if not has_base:
        _git(scratch, "fetch", "--quiet", "--no-tags", str(checkout), base_commit)
    _git(scratch, "checkout", "--quiet", "--detach", base_commit)
    from tools.base import ToolInputError
    from tools.paths import read_bytes

    for rel in test_paths:
        # read as the editor does, following no link at any level of the path: a link the model planted
        # (to the file or to a directory above it) could otherwise copy a host file into the tree
        try:
            data = read_bytes(checkout, checkout / rel)
        except (ToolInputError, OSError):
            continue  # deleted, a link, or not a regular file: nothing to copy
        target = scratch / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def added_tests_check(
    checkout: Path,
    base_commit: str,
    changed: Iterable[str] | None,
    run: TestRunner,
    *,
    final: TestReport | None = None,
    scratch_root: Path | None = None,
    keep: bool = False,
) -> AddedTestsResult:
    """Run the tests the change added or changed against the base code.

    `changed` are the paths that differ from `base_commit` (None: ask git); the test files among them
    (`is_test_path`) are copied over a scratch copy of the base commit, and the test modules among those
    are run there with `run(path, files)`, which runs the given tests (file paths or ids) in the tree at
    `path` and returns a report; the caller decides how (sandboxed or not). The ids on the change come from
    `final` when it has them, else from a run in the checkout. `fail_on_base` is True when at least one of
    those ids does not pass on base (failing, erroring or absent, e.g. an import of the new code fails) and
    all pass on the change; False otherwise; None when the change touches no test module.
    """
    paths = changed_files(checkout, base_commit) if changed is None else changed
    test_files = sorted(
        p for p in set(paths) if is_test_path(p) and not _is_bytecode(p) and (checkout / p).is_file()
    )
    modules = [p for p in test_files if is_test_module(p)]
    if not modules:
        return AddedTestsResult(note="the change adds or changes no test module")
    on_change = final if final is not None and _ids_in(final, modules) else run(checkout, modules)
    ids = _ids_in(on_change, modules)
    result = AddedTestsResult(files=modules, added_tests=ids, on_change=on_change)
    scratch = Path(tempfile.mkdtemp(prefix="be-agent-base-", dir=scratch_root))
    try:
        _base_copy_with_tests(checkout, base_commit, test_files, scratch / "tree")
        on_base = run(scratch / "tree", modules)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    result.on_base = on_base
    if ids:
        result.failing_on_base = [t for t in ids if on_base.outcomes.get(t) != "passed"]
        failing_on_base = bool(result.failing_on_base)
        all_pass_on_change = all(on_change.outcomes[t] == "passed" for t in ids)
    else:  # the runner gave no per-test ids: judge the files as a whole by exit status
        failing_on_base = not on_base.green
        all_pass_on_change = on_change.green
    if on_base.timed_out:
        result.note = "the run on the base code timed out"
    if not all_pass_on_change:
        result.fail_on_base = False
        result.note = "some added or changed tests do not pass on the change, so they reproduce nothing"
    else:
        result.fail_on_base = failing_on_base
    return result


def verification_block(
    baseline: TestReport,
    final: TestReport | None,
    verdict: Verdict | None = None,
    added: AddedTestsResult | None = None,
    *,
    flaky: Iterable[str] = (),
    change_tests: TestReport | None = None,
) -> dict[str, Any]:
    """The `verification` object of the JSON result."""
    block: dict[str, Any] = {
        "baseline": baseline.brief(),
        "final": final.brief() if final is not None else None,
        "regressions": verdict.regressions if verdict else [],
        "missing": verdict.missing if verdict else [],
        "still_failing": verdict.still_failing if verdict else [],
        "added_tests": added.added_tests if added else [],
        "added_tests_fail_on_base": added.fail_on_base if added else None,
        "flaky": verdict.flaky if verdict else sorted(set(flaky)),
        "timed_out_tests": verdict.timed_out_tests if verdict else timed_out_tests(baseline),
        "edited_targets": verdict.edited_targets if verdict else [],
        # the change's own test modules, run as the change has them (`final` runs the original tests)
        "change_tests": change_tests.brief() if change_tests is not None else None,
    }
    if added is not None and added.note:
        block["added_tests_note"] = added.note
    return block
