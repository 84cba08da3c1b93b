"""The finish gate and the harness's verdict, decided from test reports alone."""

from __future__ import annotations

from collections.abc import Mapping

from agent.verdict import FinishGate, flaky_tests, judge, resolve_named, verification_block
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


GREEN = {"t.py::a": "passed", "t.py::b": "passed"}


# --- the finish gate ---------------------------------------------------------------------------------------


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


def test_finish_without_any_edit_stands_on_the_baseline() -> None:
    assert FinishGate(report(GREEN)).check(REPORT, 1) is None


def test_new_failures_are_refused_but_failures_the_baseline_had_are_not() -> None:
    baseline = report({"t.py::a": "passed", "t.py::old": "failed"})
    gate = FinishGate(baseline)
    gate.note_edit(1)
    gate.note_tests(2, report({"t.py::a": "passed", "t.py::old": "failed", "t.py::new": "error"}))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "failures the baseline did not have: t.py::new" in refusal
    assert "t.py::old" not in refusal
    gate.note_edit(4)
    gate.note_tests(5, report({"t.py::a": "passed", "t.py::old": "failed", "t.py::new": "passed"}))
    assert gate.check(REPORT, 6) is None


def test_a_timed_out_run_cannot_finish() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(1)
    gate.note_tests(2, report(GREEN, timed_out=True))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "timed out" in refusal


def test_unstructured_runner_output_is_compared_by_exit_code() -> None:
    gate = FinishGate(report({}, structured=False, exit_code=0))
    gate.note_edit(1)
    gate.note_tests(2, report({}, structured=False, exit_code=2))
    refusal = gate.check(REPORT, 3)
    assert refusal is not None and "exit code 2" in refusal


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


def test_gave_up_is_accepted_even_before_any_refusal() -> None:
    gate = FinishGate(report(GREEN))
    gate.note_edit(1)
    assert gate.check({"gave_up": True, "reason": "cannot reproduce"}, 2) is None
    assert gate.refusals == 0


def test_schema_change_needs_a_migrations_section() -> None:
    paths = ["app/models.py", "alembic/versions/0002_add_email.py"]
    gate = FinishGate(report(GREEN), changed_paths=lambda: paths)
    gate.note_edit(1)
    gate.note_tests(2, report(GREEN))
    refusal = gate.check({**REPORT, "migrations": "none"}, 3)
    assert refusal is not None and "alembic/versions/0002_add_email.py" in refusal
    assert gate.check({**REPORT, "migrations": "0002 adds users.email; downgrade drops it"}, 4) is None


# --- the verdict -------------------------------------------------------------------------------------------


def test_named_tests_passing_with_no_regression_is_fixed() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed", "t.py::other": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::other": "failed"})
    verdict = judge(baseline, final, ["t.py::bug"])
    assert verdict.status == "fixed", verdict.reason
    assert verdict.newly_passing == ["t.py::bug"] and verdict.regressions == []


def test_a_change_that_breaks_a_passing_test_is_not_fixed_and_names_it() -> None:
    baseline = report({"t.py::a": "passed", "t.py::gone": "passed", "t.py::bug": "failed"})
    final = report({"t.py::a": "failed", "t.py::bug": "passed"})
    verdict = judge(baseline, final, [])
    assert verdict.status == "not_fixed"
    assert verdict.regressions == ["t.py::a", "t.py::gone"] and verdict.missing == ["t.py::gone"]
    assert "t.py::a (failed)" in verdict.reason and "t.py::gone (missing)" in verdict.reason


def test_without_named_tests_the_baseline_failures_are_the_targets() -> None:
    baseline = report({"t.py::a": "passed", "t.py::x": "failed", "t.py::y": "error"})
    verdict = judge(baseline, report({"t.py::a": "passed", "t.py::x": "passed", "t.py::y": "failed"}))
    assert verdict.status == "not_fixed" and verdict.still_failing == ["t.py::y"]
    assert "t.py::y" in verdict.reason
    assert judge(baseline, report({k: "passed" for k in baseline.outcomes})).status == "fixed"


def test_named_tests_missing_or_skipped_do_not_pass() -> None:
    baseline = report({"t.py::a": "passed", "t.py::s": "failed"})
    final = report({"t.py::a": "passed", "t.py::s": "skipped"})
    verdict = judge(baseline, final, ["t.py::s", "t.py::never_written"])
    assert verdict.status == "not_fixed"
    assert verdict.still_failing == ["t.py::never_written", "t.py::s"]


def test_a_named_test_may_be_a_file_or_a_parametrised_prefix() -> None:
    outcomes = {"t.py::p[1]": "passed", "t.py::p[2]": "failed", "u.py::z": "passed"}
    assert resolve_named("t.py::p", outcomes) == ["t.py::p[1]", "t.py::p[2]"]
    assert resolve_named("u.py", outcomes) == ["u.py::z"]
    verdict = judge(report({"u.py::z": "passed"}), report(outcomes), ["t.py::p"])
    assert verdict.status == "not_fixed" and verdict.still_failing == ["t.py::p[2]"]


def test_a_new_failing_test_keeps_the_change_from_being_fixed() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed", "t.py::added": "failed"})
    verdict = judge(baseline, final, ["t.py::bug"])
    assert verdict.status == "not_fixed" and verdict.new_failing == ["t.py::added"]


def test_feature_task_on_a_green_baseline_needs_an_added_passing_test() -> None:
    baseline = report(GREEN)
    same = judge(baseline, report(GREEN))
    assert same.status == "not_fixed" and "adds no passing test" in same.reason
    added = judge(baseline, report({**GREEN, "t.py::feature": "passed"}))
    assert added.status == "fixed" and added.added_passing == ["t.py::feature"]


def test_flaky_baseline_tests_are_reported_and_never_regressions() -> None:
    first = report({"t.py::a": "passed", "t.py::coin": "passed", "t.py::bug": "failed"})
    second = report({"t.py::a": "passed", "t.py::coin": "failed", "t.py::bug": "failed"})
    flaky = flaky_tests(first, second)
    assert flaky == ["t.py::coin"]
    final = report({"t.py::a": "passed", "t.py::coin": "failed", "t.py::bug": "passed"})
    verdict = judge(first, final, [], flaky=flaky)
    assert verdict.status == "fixed", verdict.reason
    assert verdict.regressions == [] and verdict.flaky == ["t.py::coin"]
    block = verification_block(first, final, verdict, None)
    assert block["flaky"] == ["t.py::coin"] and block["regressions"] == []


def test_a_timed_out_baseline_run_is_reported_and_its_missing_tests_are_not_regressions() -> None:
    baseline = report({"t.py::a": "passed"}, timed_out=True)  # cut short: t.py::b never reported
    final = report({"t.py::a": "passed", "t.py::b": "passed"})
    verdict = judge(baseline, final, [])
    assert verdict.status == "fixed", verdict.reason
    assert verdict.baseline_timed_out and verdict.regressions == []
    block = verification_block(baseline, final, verdict, None)
    assert block["baseline"]["timed_out"] is True and block["regressions"] == []


def test_a_test_that_timed_out_at_baseline_is_reported_as_such() -> None:
    baseline = report(
        {"t.py::a": "passed", "t.py::hang": "failed"}, messages={"t.py::hang": "Failed: Timeout >2.0s"}
    )
    final = report({"t.py::a": "passed", "t.py::hang": "passed"})
    verdict = judge(baseline, final, [])
    assert verdict.status == "fixed" and verdict.timed_out_tests == ["t.py::hang"]
    assert verdict.regressions == []


def test_flakiness_ignores_tests_a_timed_out_run_never_reached() -> None:
    full = report({"t.py::a": "passed", "t.py::b": "passed"})
    cut = report({"t.py::a": "passed"}, timed_out=True)
    assert flaky_tests(full, cut) == []
    assert flaky_tests(full, report({"t.py::a": "passed"})) == ["t.py::b"]


def test_a_final_run_that_timed_out_is_not_fixed() -> None:
    verdict = judge(report({"t.py::bug": "failed"}), report({"t.py::bug": "passed"}, timed_out=True))
    assert verdict.status == "not_fixed" and "timed out" in verdict.reason


def test_verification_block_has_the_documented_keys() -> None:
    baseline = report({"t.py::a": "passed", "t.py::bug": "failed"})
    final = report({"t.py::a": "passed", "t.py::bug": "passed"})
    block = verification_block(baseline, final, judge(baseline, final, []), None)
    assert {"baseline", "final", "regressions", "added_tests", "added_tests_fail_on_base", "flaky"} <= set(
        block
    )
    assert block["baseline"]["failing"] == ["t.py::bug"] and block["final"]["failed"] == 0
    assert block["added_tests"] == [] and block["added_tests_fail_on_base"] is None


def test_a_named_test_that_is_flaky_passing_now_is_not_a_fix():
    baseline = report({"t.py::ok": "passed", "t.py::flip": "failed"})
    final = report({"t.py::ok": "passed", "t.py::flip": "passed"})
    verdict = judge(baseline, final, ["t.py::flip"], flaky=["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "flaky" in verdict.reason and "t.py::flip" in verdict.reason


def test_when_every_baseline_failure_is_flaky_a_green_run_is_not_a_fix():
    baseline = report({"t.py::ok": "passed", "t.py::flip": "failed"})
    final = report({"t.py::ok": "passed", "t.py::flip": "passed"})
    verdict = judge(baseline, final, flaky=["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "only tests failing at baseline are flaky" in verdict.reason


def test_a_real_target_beside_a_flaky_one_still_counts():
    baseline = report({"t.py::bug": "failed", "t.py::flip": "failed"})
    final = report({"t.py::bug": "passed", "t.py::flip": "passed"})
    assert judge(baseline, final, ["t.py::bug", "t.py::flip"], flaky=["t.py::flip"]).status == "fixed"


def test_fixing_a_module_that_failed_to_import_is_judged_by_its_tests_now():
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


def test_a_test_still_failing_in_a_module_that_failed_to_import_keeps_it_not_fixed():
    baseline = report({"tests/test_mod.py": "error"})
    final = report({"tests/test_mod.py::test_f": "passed", "tests/test_mod.py::test_g": "failed"})
    verdict = judge(baseline, final)
    assert verdict.status == "not_fixed"
    assert verdict.still_failing == ["tests/test_mod.py::test_g"]


def test_the_gate_does_not_call_tests_of_a_module_that_failed_to_import_new_failures():
    gate = FinishGate(report({"tests/test_mod.py": "error", "t.py::ok": "passed"}))
    gate.note_edit(1)
    gate.note_tests(2, report({"tests/test_mod.py::test_f": "failed", "t.py::ok": "passed"}))
    assert not any("did not have" in p for p in gate.problems())


def test_named_tests_that_already_passed_before_the_change_are_not_evidence():
    baseline = report({"t.py::flip": "passed", "t.py::ok": "passed"})
    final = report({"t.py::flip": "passed", "t.py::ok": "passed"})
    verdict = judge(baseline, final, ["t.py::flip"])
    assert verdict.status == "not_fixed"
    assert "already passed before the change" in verdict.reason
