"""The targets, the finish gate and the harness's verdict, decided from test reports alone (no git, no runs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent import targets as tg
from agent.finish_gate import FinishGate
from agent.verdict import (
    Evidence,
    Verdict,
    added_tests_result,
    decide,
    flaky_tests,
    resolve_named,
    verification,
)
from agent.verification import AddedTests
from tools.test_report import TestReport

REPORT = {"summary": "Fix add()", "contract": "add(a, b) returns a + b", "tests": "test_add"}


def report(
    outcomes: Mapping[str, str],
    *,
    timed_out: bool = False,
    messages: dict[str, str] | None = None,
    structured: bool = True,
    exit_code: int | None = None,
) -> TestReport:
    failing = any(o in ("failed", "error") for o in outcomes.values())
    code = exit_code if exit_code is not None else (None if timed_out else int(failing))
    return TestReport.model_validate(
        {
            "command": "pytest",
            "outcomes": outcomes,
            "timed_out": timed_out,
            "messages": messages or {},
            "structured": structured,
            "exit_code": code,
        }
    )


def judge(
    baseline: TestReport,
    final: TestReport | None,
    named: Iterable[str] = (),
    *,
    task_ids: Iterable[str] = (),
    claimed: Iterable[str] = (),
    flaky: Iterable[str] = (),
    change_tests: TestReport | None = None,
    added: AddedTests | None = None,
    findings: Iterable[str] = (),
    structured_runner: bool = True,
) -> Verdict:
    """What the verify stage does with the harness's runs, minus the runs."""
    targets = tg.choose(named=named, task_ids=task_ids, claimed=claimed, baseline=baseline, flaky=flaky)
    if targets.source == "added tests":
        names = added.failing_on_base if added is not None and added.fail_on_base else []
        targets = tg.Targets(source="added tests", names=names)
    return decide(
        Evidence(
            baseline=baseline,
            final=final,
            targets=targets,
            flaky=list(flaky),
            change_tests=change_tests,
            added=added,
            findings=list(findings),
            structured_runner=structured_runner,
        )
    )


GREEN = {"t.py::a": "passed", "t.py::b": "passed"}
BUGGY = {"t.py::a": "passed", "t.py::bug": "failed"}


# --- targets -----------------------------------------------------------------------------------------------


def test_test_ids_are_found_in_a_task_text():
    task = (
        "`tests/test_api.py::test_login[admin]` fails, and so does tests/test_api.py::TestUsers::test_create.\n"
        "See also docs/api.md and src/app.py (not tests). Mentioned twice: tests/test_api.py::TestUsers::test_create"
    )
    assert tg.ids_in_text(task) == [
        "tests/test_api.py::test_login[admin]",
        "tests/test_api.py::TestUsers::test_create",
    ]


def test_targets_come_from_the_first_source_that_names_any():
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::other": "failed"})
    choose = tg.choose
    assert choose(named=["t.py::x"], task_ids=["t.py::bug"], baseline=baseline).source == "--tests"
    from_task = choose(task_ids=["t.py::a", "t.py::bug"], claimed=["t.py::other"], baseline=baseline)
    assert (from_task.source, from_task.names) == ("task", ["t.py::bug"])  # t.py::a passed already
    claimed = choose(task_ids=["t.py::a"], claimed=["t.py::bug"], baseline=baseline)
    assert (claimed.source, claimed.names) == ("finish report", ["t.py::bug"])
    assert choose(claimed=["t.py::a"], baseline=baseline).source == "baseline failures"  # a bad claim
    failures = choose(baseline=baseline, flaky=["t.py::other"])
    assert (failures.source, failures.names) == ("baseline failures", ["t.py::bug"])
    assert choose(baseline=report(GREEN)).source == "added tests"


def test_a_claim_without_parameters_covers_every_parametrisation_and_must_have_failed():
    baseline = report({"t.py::p[1]": "passed", "t.py::p[2]": "failed", "t.py::ok": "passed"})
    assert tg.claim_problems(["t.py::p", "t.py::ok", "t.py::nope"], baseline) == ["t.py::ok", "t.py::nope"]
    collection_error = report({"tests/test_mod.py": "error"})
    assert tg.claim_problems(["tests/test_mod.py::test_f"], collection_error) == []


def test_a_named_test_may_be_a_file_or_a_parametrised_prefix() -> None:
    outcomes = {"t.py::p[1]": "passed", "t.py::p[2]": "failed", "u.py::z": "passed"}
    assert resolve_named("t.py::p", outcomes) == ["t.py::p[1]", "t.py::p[2]"]
    assert resolve_named("u.py", outcomes) == ["u.py::z"]
    verdict = judge(report({"u.py::z": "passed"}), report(outcomes), ["t.py::p"])
    assert verdict.status == "not_fixed" and verdict.still_failing == ["t.py::p[2]"]


# --- the finish gate ---------------------------------------------------------------------------------------


def test_finish_is_refused_while_a_target_fails_then_accepted_once_it_passes() -> None:
    gate = FinishGate(report(BUGGY))
    refusal = gate.check(REPORT, 1)  # no change at all: the baseline stands, and its target is red
    assert refusal is not None
    assert "still fail" in refusal and "t.py::bug" in refusal and "you changed nothing yet" in refusal
    assert "Change the code until they pass" in refusal
    gate.note_edit(2)
    gate.note_tests(3, report(BUGGY))
    assert "t.py::bug" in (gate.check(REPORT, 4) or "")
    gate.note_edit(5)
    gate.note_tests(6, report({"t.py::a": "passed", "t.py::bug": "passed"}))
    assert gate.check(REPORT, 7) is None


def test_a_known_unrelated_failure_does_not_block_a_finish_that_names_what_it_fixes() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::unrelated": "failed"})
    gate = FinishGate(baseline)
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::unrelated": "failed"}))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "t.py::unrelated" in refusal and "fixes_tests" in refusal
    assert gate.check({**REPORT, "fixes_tests": ["t.py::bug"]}, 4) is None


def test_fixes_tests_may_only_name_tests_that_failed_at_baseline() -> None:
    gate = FinishGate(report(BUGGY))
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::bug": "passed"}))
    refusal = gate.check({**REPORT, "fixes_tests": ["t.py::a"]}, 3)
    assert refusal is not None and "did not fail at baseline: t.py::a" in refusal
    assert gate.check({**REPORT, "fixes_tests": "t.py::bug"}, 4) is None  # one id as a string is fine


def test_named_targets_are_the_gate_s_targets_too() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::other": "failed"})
    gate = FinishGate(baseline, named=["t.py::bug"])
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::other": "failed"}))
    assert gate.check(REPORT, 3) is None
    task_gate = FinishGate(baseline, task_ids=["t.py::other"])
    task_gate.note_edit(1)
    task_gate.note_tests(2, report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::other": "failed"}))
    refusal = task_gate.check(REPORT, 3)
    assert refusal is not None and "named in the task" in refusal and "t.py::other" in refusal


def test_on_a_green_baseline_the_change_must_add_a_test() -> None:
    changed: list[str] = ["calc.py"]
    gate = FinishGate(report(GREEN), changed_paths=lambda: changed)
    gate.note_edit(1)
    gate.note_tests(2, report(GREEN))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "fails on the original code" in refusal
    changed.append("tests/test_calc.py")
    assert gate.check(REPORT, 4) is None


def test_finish_on_a_red_suite_is_refused_naming_the_broken_test() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(2)
    gate.note_tests(3, report({"t.py::a": "passed", "t.py::b": "failed"}))
    refusal = gate.check(REPORT, 4)
    assert refusal is not None
    assert "t.py::b (failed)" in refusal and "passed at baseline" in refusal
    assert gate.refusals == 1


def test_finish_needs_a_full_run_after_the_last_edit() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(2)
    gate.note_tests(3, report(GREEN))
    gate.note_edit(4)
    refusal = gate.check(REPORT, 5)
    assert refusal is not None and "last edit at step 4" in refusal
    gate.note_tests(6, report({"t.py::a": "passed"}), full=False)
    refusal = gate.check(REPORT, 7)
    assert refusal is not None and "narrowed" in refusal and "step 6" in refusal
    gate.note_tests(8, report(GREEN))
    assert gate.check(REPORT, 9) is None


def test_new_failures_are_refused() -> None:
    gate = FinishGate(report({"t.py::a": "passed", "t.py::old": "failed"}), named=["t.py::old"])
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::old": "passed", "t.py::new": "error"}))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "failures the baseline did not have: t.py::new" in refusal


def test_a_timed_out_run_cannot_finish() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(1)
    gate.note_tests(2, report(GREEN, timed_out=True))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "timed out" in refusal


def test_a_run_without_per_test_results_never_passes_the_gate_of_a_runner_that_gives_them() -> None:
    gate = FinishGate(report(BUGGY))
    gate.note_edit(1)
    gate.note_tests(2, report({}, structured=False, exit_code=0))  # e.g. os._exit(0) at import
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "no per-test results" in refusal


def test_a_runner_without_per_test_results_is_judged_by_exit_code() -> None:
    gate = FinishGate(report({}, structured=False, exit_code=0), structured_runner=False)
    gate.note_edit(1)
    gate.note_tests(2, report({}, structured=False, exit_code=2))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "exit code 2" in refusal
    gate.note_tests(4, report({}, structured=False, exit_code=0))
    assert gate.check(REPORT, 5) is None


def test_flaky_tests_do_not_block_finish() -> None:
    gate = FinishGate(report(GREEN), flaky=["t.py::b"])
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::b": "failed"}))
    assert gate.check(REPORT, 3) is None


def test_giving_up_is_accepted_with_a_reason_and_suggested_after_two_refusals() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(1)
    first = gate.check(REPORT, 2)
    second = gate.check(REPORT, 3)
    assert first is not None and "gave_up" not in first
    assert second is not None and "gave_up: true" in second and gate.refusals == 2
    no_reason = gate.check({**REPORT, "gave_up": True}, 4)
    assert no_reason is not None and "reason" in no_reason
    assert (
        gate.check({**REPORT, "gave_up": True, "reason": "the schema is owned by another service"}, 5) is None
    )


def test_gave_up_ends_the_run_even_while_the_targets_fail() -> None:
    gate = FinishGate(report(BUGGY))
    assert gate.check({"gave_up": True, "reason": "cannot reproduce"}, 1) is None
    assert gate.refusals == 0


def test_a_malformed_report_is_refused_with_the_field_named() -> None:
    gate = FinishGate(report(GREEN))
    refusal = gate.check({**REPORT, "fixes_tests": 3}, 1)
    assert refusal is not None and "`fixes_tests`" in refusal


def test_schema_change_needs_a_migrations_section() -> None:
    paths = ["app/models.py", "alembic/versions/0002_add_email.py", "tests/test_models.py"]
    gate = FinishGate(report(GREEN), changed_paths=lambda: paths)
    gate.note_edit(1)
    gate.note_tests(2, report(GREEN))
    refusal = gate.check({**REPORT, "migrations": "none"}, 3)
    assert refusal is not None and "alembic/versions/0002_add_email.py" in refusal
    assert gate.check({**REPORT, "migrations": "0002 adds users.email; downgrade drops it"}, 4) is None


def test_edits_to_the_target_tests_are_refused() -> None:
    seen: list[list[str]] = []

    def edited(names: list[str]) -> list[str]:
        seen.append(names)
        return ["t.py::bug"]

    gate = FinishGate(report(BUGGY), edited_targets=edited)
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::bug": "passed"}))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "You changed the test(s) the task is judged by: t.py::bug" in refusal
    assert seen == [["t.py::bug"]]


# --- the verdict -------------------------------------------------------------------------------------------


def test_named_tests_passing_with_no_regression_is_fixed() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::other": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::other": "failed"})
    verdict = judge(baseline, final, ["t.py::bug"])
    assert verdict.status == "fixed", verdict.reason
    assert verdict.newly_passing == ["t.py::bug"] and verdict.regressions == []
    assert verdict.already_failing == ["t.py::other"]
    assert "already failed before the change still fail" in verdict.reason


def test_a_known_unrelated_failure_does_not_block_the_fix_the_report_names() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::flaky_env": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::flaky_env": "failed"})
    assert judge(baseline, final).status == "not_fixed"  # without a claim every baseline failure counts
    verdict = judge(baseline, final, claimed=["t.py::bug"])
    assert verdict.status == "fixed", verdict.reason
    assert verdict.targets.source == "finish report" and verdict.target_ids == ["t.py::bug"]
    assert verdict.already_failing == ["t.py::flaky_env"]


def test_ids_in_the_task_are_the_targets() -> None:
    baseline = report(
        {"t.py::a": "passed", "t.py::bug[x]": "failed", "t.py::bug[y]": "failed", "u.py::z": "failed"}
    )
    final = report(
        {"t.py::a": "passed", "t.py::bug[x]": "passed", "t.py::bug[y]": "passed", "u.py::z": "failed"}
    )
    verdict = judge(baseline, final, task_ids=["t.py::bug"])
    assert verdict.status == "fixed", verdict.reason
    assert verdict.target_ids == ["t.py::bug[x]", "t.py::bug[y]"] and verdict.already_failing == ["u.py::z"]


def test_a_change_that_breaks_a_passing_test_is_not_fixed_and_names_it() -> None:
    baseline = report({"t.py::a": "passed", "t.py::gone": "passed", "t.py::bug": "failed"})
    final = report({"t.py::a": "failed", "t.py::bug": "passed"})
    verdict = judge(baseline, final)
    assert verdict.status == "not_fixed"
    assert verdict.regressions == ["t.py::a", "t.py::gone"] and verdict.missing == ["t.py::gone"]
    assert "t.py::a (failed)" in verdict.reason and "t.py::gone (missing)" in verdict.reason


def test_without_named_tests_the_baseline_failures_are_the_targets() -> None:
    baseline = report({"t.py::a": "passed", "t.py::x": "failed", "t.py::y": "error"})
    verdict = judge(baseline, report({"t.py::a": "passed", "t.py::x": "passed", "t.py::y": "failed"}))
    assert verdict.status == "not_fixed" and verdict.still_failing == ["t.py::y"]
    assert "failing at baseline" in verdict.reason and "t.py::y" in verdict.reason
    assert judge(baseline, report({k: "passed" for k in baseline.outcomes})).status == "fixed"


def test_named_tests_missing_or_skipped_do_not_pass() -> None:
    baseline = report({"t.py::a": "passed", "t.py::s": "failed"})
    final = report({"t.py::a": "passed", "t.py::s": "skipped"})
    verdict = judge(baseline, final, ["t.py::s", "t.py::never_written"])
    assert verdict.status == "not_fixed"
    assert verdict.still_failing == ["t.py::never_written", "t.py::s"]


def test_a_new_failing_test_keeps_the_change_from_being_fixed() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::added": "failed"})
    verdict = judge(baseline, final, ["t.py::bug"])
    assert verdict.status == "not_fixed" and verdict.new_failing == ["t.py::added"]


def _added(ids: list[str], failing_on_base: list[str]) -> AddedTests:
    return AddedTests(
        files=["t.py"], added_tests=ids, fail_on_base=bool(failing_on_base), failing_on_base=failing_on_base
    )


def test_on_a_green_baseline_the_added_tests_that_fail_on_the_base_are_the_targets() -> None:
    change = report({"t.py::feature": "passed", "t.py::guard": "passed"})
    verdict = judge(
        report(GREEN),
        report(GREEN),
        change_tests=change,
        added=_added(sorted(change.outcomes), ["t.py::feature"]),
    )
    assert verdict.status == "fixed", verdict.reason
    assert verdict.targets.source == "added tests" and verdict.target_ids == ["t.py::feature"]
    no_repro = judge(
        report(GREEN), report(GREEN), change_tests=change, added=_added(sorted(change.outcomes), [])
    )
    assert no_repro.status == "not_fixed" and "fails on the original code" in no_repro.reason
    no_test = judge(report(GREEN), report(GREEN))
    assert no_test.status == "not_fixed" and "adds no test" in no_test.reason


def test_a_repository_without_tests_is_fixed_by_a_reproducing_added_test() -> None:
    nothing = report({}, exit_code=5)  # pytest: no tests collected
    change = report({"tests/test_new.py::test_bug": "passed"})
    verdict = judge(
        nothing,
        report({}, exit_code=5),  # the verdict run has the original tests: none
        change_tests=change,
        added=_added(["tests/test_new.py::test_bug"], ["tests/test_new.py::test_bug"]),
    )
    assert verdict.status == "fixed", verdict.reason


def test_feature_tests_are_judged_on_the_change_s_own_run() -> None:
    change = report({"t.py::feature": "failed"})
    verdict = judge(report(GREEN), report(GREEN), change_tests=change, added=_added(["t.py::feature"], []))
    assert verdict.status == "not_fixed" and verdict.change_tests_failing == ["t.py::feature"]


def test_added_tests_reproduce_only_when_they_fail_on_base_and_pass_on_the_change() -> None:
    on_change = report({"t.py::new": "passed", "t.py::guard": "passed"})
    result = added_tests_result(["t.py"], on_change, report({"t.py::new": "failed", "t.py::guard": "passed"}))
    assert result.fail_on_base is True and result.failing_on_base == ["t.py::new"]
    import_error = added_tests_result(["t.py"], on_change, report({"t.py": "error"}))
    assert import_error.fail_on_base is True
    same = added_tests_result(["t.py"], on_change, report(dict(on_change.outcomes)))
    assert same.fail_on_base is False
    red = added_tests_result(["t.py"], report({"t.py::new": "failed"}), report({"t.py::new": "failed"}))
    assert red.fail_on_base is False and "do not pass on the change" in red.note
    blind = added_tests_result(["t.py"], on_change, report({}, structured=False, exit_code=1))
    assert blind.fail_on_base is False and "no per-test results" in blind.note
    assert added_tests_result([], on_change, on_change).fail_on_base is None


def test_findings_decide_before_any_test() -> None:
    verdict = judge(
        report(BUGGY),
        report({"t.py::a": "passed", "t.py::bug": "passed"}),
        findings=["ledger/__init__.py imports _pytest."],
    )
    assert verdict.status == "not_fixed" and verdict.reason == "ledger/__init__.py imports _pytest."


def test_no_change_is_not_fixed() -> None:
    verdict = judge(report(BUGGY), None)
    assert verdict.status == "not_fixed" and verdict.reason == "No change was made."


def test_a_final_run_without_per_test_results_is_never_a_pass() -> None:
    verdict = judge(report(BUGGY), report({}, structured=False, exit_code=0))
    assert verdict.status == "not_fixed" and "no per-test results" in verdict.reason


def test_a_runner_without_per_test_results_is_judged_by_exit_codes_and_says_so() -> None:
    red = report({}, structured=False, exit_code=1)
    green = report({}, structured=False, exit_code=0)
    verdict = judge(red, green, structured_runner=False)
    assert verdict.status == "fixed" and "exit codes only" in verdict.reason
    assert judge(red, red, structured_runner=False).status == "not_fixed"
    assert judge(red, green, ["t.py::x"], structured_runner=False).status == "not_fixed"


def test_flaky_baseline_tests_are_reported_and_never_regressions() -> None:
    first = report({"t.py::a": "passed", "t.py::coin": "passed", "t.py::bug": "failed"})
    second = report({"t.py::a": "passed", "t.py::coin": "failed", "t.py::bug": "failed"})
    flaky = flaky_tests(first, second)
    assert flaky == ["t.py::coin"]
    final = report({"t.py::a": "passed", "t.py::coin": "failed", "t.py::bug": "passed"})
    verdict = judge(first, final, flaky=flaky)
    assert verdict.status == "fixed", verdict.reason
    assert verdict.regressions == [] and verdict.flaky == ["t.py::coin"]


def test_a_timed_out_baseline_run_is_reported_and_its_missing_tests_are_not_regressions() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed"}, timed_out=True)
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::b": "passed"})
    verdict = judge(baseline, final)
    assert verdict.status == "fixed", verdict.reason
    assert verdict.baseline_timed_out and verdict.regressions == []


def test_a_test_that_timed_out_at_baseline_is_reported_as_such() -> None:
    baseline = report(
        {"t.py::a": "passed", "t.py::hang": "failed"}, messages={"t.py::hang": "Failed: Timeout >2.0s"}
    )
    final = report({"t.py::a": "passed", "t.py::hang": "passed"})
    verdict = judge(baseline, final)
    assert verdict.status == "fixed" and verdict.timed_out_tests == ["t.py::hang"]


def test_flakiness_ignores_tests_a_timed_out_run_never_reached() -> None:
    full = report({"t.py::a": "passed", "t.py::b": "passed"})
    cut = report({"t.py::a": "passed"}, timed_out=True)
    assert flaky_tests(full, cut) == []
    assert flaky_tests(full, report({"t.py::a": "passed"})) == ["t.py::b"]


def test_a_final_run_that_timed_out_is_not_fixed() -> None:
    verdict = judge(report({"t.py::bug": "failed"}), report({"t.py::bug": "passed"}, timed_out=True))
    assert verdict.status == "not_fixed" and "timed out" in verdict.reason


def test_a_named_test_that_is_flaky_passing_now_is_not_a_fix() -> None:
    baseline = report({"t.py::ok": "passed", "t.py::flip": "failed"})
    final = report({"t.py::ok": "passed", "t.py::flip": "passed"})
    verdict = judge(baseline, final, ["t.py::flip"], flaky=["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "flaky" in verdict.reason and "t.py::flip" in verdict.reason


def test_when_every_baseline_failure_is_flaky_a_green_run_is_not_a_fix() -> None:
    baseline = report({"t.py::ok": "passed", "t.py::flip": "failed"})
    final = report({"t.py::ok": "passed", "t.py::flip": "passed"})
    verdict = judge(baseline, final, flaky=["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "only tests failing at baseline are flaky" in verdict.reason


def test_a_real_target_beside_a_flaky_one_still_counts() -> None:
    baseline = report({"t.py::bug": "failed", "t.py::flip": "failed"})
    final = report({"t.py::bug": "passed", "t.py::flip": "passed"})
    assert judge(baseline, final, ["t.py::bug", "t.py::flip"], flaky=["t.py::flip"]).status == "fixed"


def test_fixing_a_module_that_failed_to_import_is_judged_by_its_tests_now() -> None:
    baseline = report({"tests/test_mod.py": "error", "tests/test_other.py::test_x": "passed"})
    final = report(
        {
            "tests/test_mod.py::test_f": "passed",
            "tests/test_mod.py::test_g[a b]": "passed",
            "tests/test_other.py::test_x": "passed",
        }
    )
    verdict = judge(baseline, final)
    assert verdict.status == "fixed", verdict.reason
    assert verdict.new_failing == []


def test_a_test_still_failing_in_a_module_that_failed_to_import_keeps_it_not_fixed() -> None:
    baseline = report({"tests/test_mod.py": "error"})
    final = report({"tests/test_mod.py::test_f": "passed", "tests/test_mod.py::test_g": "failed"})
    verdict = judge(baseline, final)
    assert verdict.status == "not_fixed"
    assert verdict.still_failing == ["tests/test_mod.py::test_g"]


def test_the_gate_does_not_call_tests_of_a_module_that_failed_to_import_new_failures() -> None:
    gate = FinishGate(report({"tests/test_mod.py": "error", "t.py::ok": "passed"}))
    gate.note_edit(1)
    gate.note_tests(2, report({"tests/test_mod.py::test_f": "failed", "t.py::ok": "passed"}))
    assert not any("did not have" in p for p in gate.problems())


def test_named_tests_that_already_passed_before_the_change_are_not_evidence() -> None:
    baseline = report({"t.py::flip": "passed", "t.py::ok": "passed"})
    final = report({"t.py::flip": "passed", "t.py::ok": "passed"})
    verdict = judge(baseline, final, ["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "already passed before the change" in verdict.reason


def test_verification_block_has_the_documented_keys() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::old": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::old": "failed"})
    evidence = Evidence(
        baseline=baseline, final=final, targets=tg.choose(claimed=["t.py::bug"], baseline=baseline)
    )
    block = verification(
        evidence, decide(evidence), changed_config=[".gitattributes"], binary_files=["logo.png"]
    ).as_json()
    assert {
        "baseline",
        "final",
        "regressions",
        "missing",
        "still_failing",
        "added_tests",
        "added_tests_fail_on_base",
        "flaky",
        "timed_out_tests",
        "edited_targets",
        "change_tests",
        "targets",
        "targets_source",
        "already_failing",
        "findings",
        "changed_config",
        "binary_files",
    } == set(block)
    assert block["baseline"]["failing"] == ["t.py::bug", "t.py::old"] and block["final"]["failed"] == 1
    assert block["targets"] == ["t.py::bug"] and block["targets_source"] == "finish report"
    assert block["already_failing"] == ["t.py::old"]
    assert block["added_tests"] == [] and block["added_tests_fail_on_base"] is None
