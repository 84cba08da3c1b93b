"""The agent loop on its own, driven by a scripted in-process model: how each way of ending is told (the
outcome's `ending`, never its text), what the finish gate lets through, and what the model is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.errors import ModelAPIError
from agent.finish_gate import FinishGate
from agent.loop import REPEAT_STOP, AgentLoop, Limits, LoopOutcome
from agent.model import Usage
from agent.pricing import PriceOverride, Pricing
from agent.retry import DeadlineReached
from agent.scripted_model import ScriptedModel, Step, call, text, turn
from agent.settings import DEFAULT_MODEL
from agent.trajectory import Trajectory, read_records
from tools.base import ToolResult
from tools.test_report import TestReport

FINISH_SPEC = {"name": "finish", "input_schema": {"type": "object"}}
REPORT = {"summary": "Fix add()", "contract": "add(a, b) returns a + b", "tests": "test_add"}
BUGGY = {"t.py::a": "passed", "t.py::bug": "failed"}
FIXED = {"t.py::a": "passed", "t.py::bug": "passed"}


def report(outcomes: dict[str, str]) -> TestReport:
    failing = any(o in ("failed", "error") for o in outcomes.values())
    return TestReport.model_validate({"command": "pytest", "outcomes": outcomes, "exit_code": int(failing)})


class Workbench:
    """The tools a scripted model drives: `edit` changes the tree, `run_tests` reports the next outcomes."""

    def __init__(self, results: list[dict[str, str]]):
        self.version = 0
        self.results = list(results)

    def fingerprint(self) -> str:
        return str(self.version)

    def tools(self) -> list[Any]:
        bench = self

        class Edit:
            name = "edit"

            def spec(self) -> dict[str, Any]:
                return {"name": self.name, "input_schema": {"type": "object"}}

            def __call__(self, params: dict[str, Any]) -> ToolResult:
                bench.version += 1
                return ToolResult(f"edited {params.get('path', '?')}")

        class RunTests:
            name = "run_tests"

            def spec(self) -> dict[str, Any]:
                return {"name": self.name, "input_schema": {"type": "object"}}

            def __call__(self, params: dict[str, Any]) -> ToolResult:
                done = report(bench.results.pop(0))
                return ToolResult(f"exit {done.exit_code}", data={"report": done.model_dump()})

        return [Edit(), RunTests()]


def run_loop(
    tmp_path: Path,
    script: list[Step],
    *,
    baseline: dict[str, str] = BUGGY,
    runs: list[dict[str, str]] | None = None,
    limits: Limits | None = None,
    pricing: Pricing | None = None,
    model_name: str = "scripted",
) -> tuple[LoopOutcome, ScriptedModel, Path]:
    bench = Workbench(runs or [])
    model = ScriptedModel(script, model_name)
    trajectory = tmp_path / "trajectory.jsonl"
    loop = AgentLoop(
        model,
        bench.tools(),
        "system",
        gate=FinishGate(report(baseline)),
        finish_spec=FINISH_SPEC,
        limits=limits or Limits(),
        trajectory=Trajectory(trajectory),
        worktree_fingerprint=bench.fingerprint,
        pricing=pricing,
    )
    return loop.run("the task"), model, trajectory


def results_shown(model: ScriptedModel, request: int) -> list[dict[str, Any]]:
    """The tool results the model was shown in its `request`-th query (1-based)."""
    content: list[dict[str, Any]] = model.requests[request - 1][-1]["content"]
    return content


FIX_THEN_FINISH: list[Step] = [
    turn(text("I will fix add()."), call("edit", "1", path="calc.py")),
    turn(call("run_tests", "2")),
    turn(call("finish", "3", **REPORT)),
]


def test_an_accepted_finish_ends_the_loop_as_finished_with_the_report(tmp_path: Path):
    outcome, model, trajectory = run_loop(tmp_path, FIX_THEN_FINISH, runs=[FIXED])
    assert (outcome.ending, outcome.reason) == ("finished", "the model called finish")
    assert outcome.by_the_model and outcome.judged and outcome.conclusive
    assert outcome.state.steps == 3 and outcome.state.report == REPORT and not outcome.state.gave_up
    assert results_shown(model, 3)[0]["is_error"] is False
    kinds = [r["type"] for r in read_records(trajectory)]
    assert kinds == ["model", "tool", "model", "tool", "model", "tool"]


def test_a_refused_finish_is_a_tool_error_the_model_reads_and_the_loop_goes_on(tmp_path: Path):
    script = [
        turn(call("edit", "1", path="calc.py")),
        turn(call("finish", "2", **REPORT)),  # no full run since the edit
        turn(call("run_tests", "3")),
        turn(call("finish", "4", **REPORT)),
    ]
    outcome, model, _ = run_loop(tmp_path, script, runs=[FIXED])
    [refused] = results_shown(model, 3)
    assert refused["is_error"] is True
    assert refused["content"].startswith("finish refused at step 2. No full test run since your last edit")
    assert outcome.ending == "finished" and outcome.state.steps == 4


def test_finishing_while_the_target_still_fails_is_refused_naming_it(tmp_path: Path):
    script = [turn(call("edit", "1")), turn(call("run_tests", "2")), turn(call("finish", "3", **REPORT))]
    outcome, model, _ = run_loop(tmp_path, script, runs=[BUGGY])
    assert outcome.ending == "script_ended"
    [refused] = results_shown(model, 4)
    assert refused["is_error"] is True and "t.py::bug" in refused["content"]


def test_giving_up_ends_the_loop_inconclusive_with_the_model_s_reason(tmp_path: Path):
    script = [turn(call("finish", "1", gave_up=True, reason="the spec contradicts itself"))]
    outcome, _, _ = run_loop(tmp_path, script)
    assert outcome.ending == "gave_up"
    assert outcome.reason == "the model gave up: the spec contradicts itself"
    assert outcome.by_the_model and outcome.judged and not outcome.conclusive


def test_a_turn_without_tool_calls_ends_the_loop(tmp_path: Path):
    outcome, _, _ = run_loop(tmp_path, [turn(text("All done, I think."))])
    assert outcome.ending == "ended_turn" and outcome.by_the_model and outcome.conclusive
    assert outcome.reason == "the model ended its turn without calling finish"


def test_the_step_limit_ends_the_loop_before_asking_again(tmp_path: Path):
    script: list[Step] = [turn(call("edit", str(n), path=f"f{n}.py")) for n in range(5)]
    outcome, model, _ = run_loop(tmp_path, script, limits=Limits(max_steps=2))
    assert (outcome.ending, outcome.reason) == ("max_steps", "max steps (2) reached")
    assert len(model.requests) == 2 and outcome.state.steps == 2
    assert not outcome.by_the_model and outcome.judged and outcome.conclusive


def test_the_cost_limit_ends_the_loop_once_the_spending_reaches_it(tmp_path: Path):
    costly = Usage(input=1_000_000)  # $3 at the price below
    script: list[Step] = [turn(call("edit", str(n), path=f"f{n}.py"), usage=costly) for n in range(5)]
    pricing = Pricing({"scripted": PriceOverride(input=3.0, output=15.0)})
    outcome, model, _ = run_loop(tmp_path, script, limits=Limits(max_cost=5.0), pricing=pricing)
    assert outcome.ending == "max_cost" and len(model.requests) == 2
    assert outcome.reason == "cost limit $5.00 reached ($6.00 spent)"
    assert outcome.state.cost == pytest.approx(6.0)


def test_the_cost_limit_applies_with_the_price_database_s_price(tmp_path: Path):
    script: list[Step] = [
        turn(call("edit", str(n), path=f"f{n}.py"), usage=Usage(input=1000)) for n in range(3)
    ]
    outcome, model, _ = run_loop(tmp_path, script, limits=Limits(max_cost=0.0001), model_name=DEFAULT_MODEL)
    assert outcome.ending == "max_cost" and len(model.requests) == 1
    assert outcome.reason.startswith("cost limit $0.00 reached")
    assert outcome.state.price_source is not None and (outcome.state.cost or 0) > 0


def test_the_run_s_deadline_inside_the_model_s_retries_is_the_time_limit(tmp_path: Path):
    script: list[Step] = [DeadlineReached("the API kept answering 529 (overloaded)")]
    outcome, _, _ = run_loop(tmp_path, script, limits=Limits(max_time=300))
    assert outcome.ending == "max_time" and outcome.judged
    assert outcome.reason == "time limit 300 s reached: the API kept answering 529 (overloaded)"


def test_a_model_api_failure_is_an_outcome_that_carries_the_error(tmp_path: Path):
    failure = ModelAPIError("the model API answered 401: invalid x-api-key")
    outcome, _, _ = run_loop(tmp_path, [turn(call("edit", "1")), failure])
    assert outcome.ending == "model_error" and outcome.error is failure
    assert outcome.reason == "the model API answered 401: invalid x-api-key"
    assert not outcome.judged and outcome.state.steps == 2


def test_a_script_that_runs_out_ends_the_loop_inconclusive(tmp_path: Path):
    outcome, _, _ = run_loop(tmp_path, [turn(call("edit", "1"))])
    assert outcome.ending == "script_ended" and not outcome.conclusive and outcome.judged
    assert outcome.reason == "the script has no turn 2: it holds 1"


def test_the_same_call_repeated_earns_a_note_then_ends_the_loop(tmp_path: Path):
    same: list[Step] = [turn(call("run_tests", str(n))) for n in range(REPEAT_STOP + 1)]
    outcome, model, trajectory = run_loop(tmp_path, same, runs=[BUGGY] * (REPEAT_STOP + 1))
    assert outcome.ending == "stuck" and outcome.reason == "stuck repeating the same run_tests call 4 times"
    assert len(model.requests) == REPEAT_STOP
    [third] = results_shown(model, 4)
    assert "this is the 3rd identical run_tests call in a row" in third["content"]
    tools = [r for r in read_records(trajectory) if r["type"] == "tool"]
    assert len(tools) == REPEAT_STOP - 1  # the call that ends the run is not run into the record


def test_an_unknown_tool_and_a_malformed_input_are_errors_the_model_reads(tmp_path: Path):
    script = [
        turn(
            call("rm_rf", "1"), {"type": "tool_use", "id": "2", "name": "edit", "input": ["not", "an object"]}
        ),
        turn(call("finish", "3", gave_up=True, reason="no tools")),
    ]
    outcome, model, _ = run_loop(tmp_path, script)
    unknown, malformed = results_shown(model, 2)
    assert (
        unknown["is_error"]
        and unknown["content"] == "unknown tool 'rm_rf'; the tools are: edit, run_tests, finish"
    )
    assert malformed["is_error"] and malformed["content"] == "tool input must be a JSON object, got list"
    assert outcome.ending == "gave_up"


def test_a_narrowed_test_run_does_not_count_as_the_full_run_after_an_edit(tmp_path: Path):
    script = [
        turn(call("edit", "1")),
        turn(call("run_tests", "2", tests=["t.py::bug"])),
        turn(call("finish", "3", **REPORT)),
    ]
    _, model, _ = run_loop(tmp_path, script, runs=[{"t.py::bug": "passed"}])
    [refused] = results_shown(model, 4)
    assert "was narrowed to some tests and counts only for those" in refused["content"]
