"""The run's decide stage on its own (agent/run.py `decide_run`, pure): the harness's verdict, then how the
model's work ended. The other stages are exercised through `run_task` by the end-to-end modules."""

from __future__ import annotations

import pytest

from agent import targets as tg
from agent.loop import Ending, LoopOutcome, LoopState
from agent.run import decide_run
from agent.verdict import Evidence
from agent.verify import Verified
from tools.test_report import TestReport

BUGGY = {"t.py::a": "passed", "t.py::bug": "failed"}
FIXED = {"t.py::a": "passed", "t.py::bug": "passed"}
FIXED_REASON = "The 1 target test(s) now pass (failing at baseline) and no baseline-passing test broke."
BROKEN_REASON = "1 test(s) that passed at baseline no longer pass: t.py::a (failed)."


def report(outcomes: dict[str, str]) -> TestReport:
    failing = any(o in ("failed", "error") for o in outcomes.values())
    return TestReport.model_validate({"command": "pytest", "outcomes": outcomes, "exit_code": int(failing)})


def verified(final: dict[str, str]) -> Verified:
    baseline = report(BUGGY)
    targets = tg.choose(baseline=baseline)
    return Verified(Evidence(baseline=baseline, final=report(final), targets=targets))


def ended(ending: Ending, reason: str, *, gave_up: bool = False) -> LoopOutcome:
    return LoopOutcome(ending, reason, LoopState(gave_up=gave_up))


def test_a_verified_fix_the_model_finished_is_fixed_for_the_verdict_s_reason():
    decision = decide_run(ended("finished", "the model called finish"), verified(FIXED))
    assert (decision.status, decision.reason) == ("fixed", FIXED_REASON)
    assert decision.verdict.target_ids == ["t.py::bug"]
    assert decision.verification.targets == ["t.py::bug"] and decision.verification.regressions == []


def test_a_verified_fix_left_by_a_limit_is_fixed_and_says_the_limit_first():
    decision = decide_run(ended("max_steps", "max steps (30) reached"), verified(FIXED))
    assert (decision.status, decision.reason) == ("fixed", f"max steps (30) reached; {FIXED_REASON}")


@pytest.mark.parametrize(
    "ending, why, gave_up",
    [
        ("gave_up", "the model gave up: stuck", True),
        (
            "script_ended",
            "replay diverged: the run asked for model turn 9, but the recording has only 8",
            False,
        ),
    ],
)
def test_giving_up_or_leaving_a_script_is_never_fixed_even_when_the_tests_pass(
    ending: Ending, why: str, gave_up: bool
):
    decision = decide_run(ended(ending, why, gave_up=gave_up), verified(FIXED))
    assert (decision.status, decision.reason) == ("not_fixed", f"{why}; {FIXED_REASON}")
    assert decision.verdict.status == "fixed"  # the verdict itself stands, for the record


def test_a_model_that_gave_up_in_a_turn_that_then_got_stuck_is_not_fixed():
    decision = decide_run(
        ended("stuck", "stuck repeating the same bash call 4 times", gave_up=True), verified(FIXED)
    )
    assert decision.status == "not_fixed"


def test_a_change_that_breaks_a_test_is_not_fixed_and_how_the_work_ended_comes_first():
    decision = decide_run(
        ended("finished", "the model called finish"), verified({"t.py::a": "failed", "t.py::bug": "passed"})
    )
    assert (decision.status, decision.reason) == ("not_fixed", f"the model called finish; {BROKEN_REASON}")
    assert decision.verification.regressions == ["t.py::a"]
