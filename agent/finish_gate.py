"""The gate the model's `finish` call must pass. The run's verdict comes later, from the harness's own runs;
the gate only stops a model from ending early or on a broken tree, and tells it what to do instead.

`finish` is refused (with a text naming the tests and the next step) when: the report does not parse; there
was an edit and no full test run after it; the last full run timed out, gave no per-test results (for a
runner that gives them), or is red (for one that does not); a test that passed at baseline no longer passes
or a new failure appeared; any target test (agent/targets.py) still fails, which includes finishing without
any change while the targets fail at baseline; `fixes_tests` names a test that did not fail at baseline;
nothing failed at baseline and the change adds no test; migration files are in the diff and the report's
migrations section is empty; a changed file's name is not UTF-8 (it cannot be committed); the change edits
the target tests themselves. `gave_up: true` with a reason is always accepted (the run then ends
not_fixed); refusal texts suggest it once `max_refusals` refusals have happened. Without any edit the
baseline stands as the last full run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from agent import targets as tg
from agent.report import migrations_check
from agent.test_files import is_test_module
from agent.verdict import describe_regressions, name_ids, new_failures, regressions
from agent.workspace import unrepresentable_names
from tools.finish import FinishReport
from tools.test_report import TestReport


class FinishGate:
    def __init__(
        self,
        baseline: TestReport,
        *,
        named: Iterable[str] = (),
        in_force: Iterable[str] = (),
        requested: Iterable[str] = (),
        task_ids: Iterable[str] = (),
        flaky: Iterable[str] = (),
        structured_runner: bool = True,
        max_refusals: int = 2,
        changed_paths: Callable[[], Iterable[str]] | None = None,
        edited_targets: Callable[[list[str]], list[str]] | None = None,
    ):
        self.baseline = baseline
        self.named = list(named)
        self.in_force = list(in_force)
        self.requested = list(requested)
        self.task_ids = list(task_ids)
        self.flaky = set(flaky)
        self.structured_runner = structured_runner
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

    def targets(self, claimed: Iterable[str] = ()) -> tg.Targets:
        return tg.choose(
            named=self.named,
            in_force=self.in_force,
            requested=self.requested,
            task_ids=self.task_ids,
            claimed=claimed,
            baseline=self.baseline,
            flaky=self.flaky,
        )

    def problems(self, report: FinishReport | None = None) -> list[str]:
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
        if run.timed_out:
            return ["The last full test run timed out; make the suite finish in time and run it again."]
        if not run.structured:
            if self.structured_runner:
                return [
                    f"The last full test run gave no per-test results (exit code {run.exit_code}), so it "
                    "cannot show that the tests pass: make the suite run to the end, then run it again."
                ]
            if not run.green:
                return [
                    f"The last full test run fails (exit code {run.exit_code}); the whole suite must pass."
                ]
            return []
        found: list[str] = []
        broke = regressions(self.baseline, run, self.flaky)
        if broke:
            found.append(f"Tests that passed at baseline no longer pass: {describe_regressions(broke, run)}.")
        new = new_failures(self.baseline, run, self.flaky)
        if new:
            found.append(f"The last run has failures the baseline did not have: {name_ids(new)}.")
        found += self._target_problems(run, report.fixes_tests if report else [])
        return found

    def _target_problems(self, run: TestReport, claimed: list[str]) -> list[str]:
        follow_up = self.targets().source == "follow-up"
        if claimed and not self.named and not self.task_ids and not follow_up:
            wrong = tg.claim_problems(claimed, self.baseline)
            if wrong:
                return [
                    f"`fixes_tests` names tests that did not fail at baseline: {name_ids(wrong)}. List only "
                    "tests that failed before your change (their ids from the baseline run), or leave it out."
                ]
        targets = self.targets(claimed)
        if targets.source == "added tests":
            changed = list(self.changed_paths()) if self.changed_paths is not None else None
            if changed is not None and not any(is_test_module(p) for p in changed):
                return [
                    "No test failed at baseline, so this run is judged by the tests your change adds: add a "
                    "test that fails on the original code and passes with your change, run the full suite, "
                    "then finish."
                ]
            return []
        failing = tg.not_passing(targets, run)
        if not failing:
            return []
        text = (
            f"The tests this run is judged by ({tg.describe(targets)}) still fail in your last full run"
            f"{' (the baseline: you changed nothing yet)' if self.last_run is None else ''}: "
            f"{name_ids(failing)}. Change the code until they pass, then run the full suite with run_tests."
        )
        if targets.source == "baseline failures":
            text += (
                " If some of them failed before for reasons unrelated to the task, list the ones your change "
                "fixes in `fixes_tests`; the others are then reported as already failing."
            )
        return [text]

    def check(self, finish_input: Mapping[str, Any], step: int) -> str | None:
        """None to accept `finish`; otherwise the error text for the model."""
        if finish_input.get("gave_up"):
            if not str(finish_input.get("reason") or "").strip():
                return "finish with gave_up: true needs a `reason`: say what blocks you and what you tried."
            return None
        try:
            report = FinishReport.model_validate(finish_input)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "input"
            return f"finish refused: the report's `{where}` is not valid ({first['msg']}); fix it and call finish again."
        found = self.problems(report)
        if self.changed_paths is not None:
            changed = list(self.changed_paths())
            migration_problem = migrations_check(report, changed)
            if migration_problem:
                found.append(migration_problem)
            names = unrepresentable_names(changed)
            if names:
                found.append(f"{names}: rename or remove those files with bash.")
        targets = self.targets(report.fixes_tests)
        edited = self.edited_targets(targets.names) if self.edited_targets is not None else []
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
