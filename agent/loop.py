"""The agent loop: ask the model, run the tools it calls, append the results, repeat until it finishes.

The message list *is* the trajectory of the conversation. `AgentLoop.run` returns a `LoopOutcome`: how the
loop ended (`Ending`: the model finished, gave up or stopped calling tools; a limit; repeating itself; the
model's script ran out; the model API failed) and why, in one sentence. Callers branch on `ending`, never
on the text. Only an interruption or a failure below the loop (the sandbox) leaves it as an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.context import compact_harder, estimate_tokens, fit_to_window, messages_budget
from agent.errors import ContextOverflowError, ModelAPIError
from agent.finish_gate import FinishGate
from agent.logs import bind_step, get_logger, redact_secret_values
from agent.model import Model, ModelTurn, ScriptEnded, Usage
from agent.phases import PhaseTagger
from agent.pricing import Pricing
from agent.retry import DeadlineReached
from agent.trajectory import Trajectory
from tools.base import Tool, ToolResult
from tools.paths import without_surrogates
from tools.time_bound import call_within

FINISH = "finish"
REPEAT_WARN = 3  # identical consecutive calls that earn a note
REPEAT_STOP = 4  # and that end the run
log = get_logger("be-agent.loop")


@dataclass
class Limits:
    max_steps: int = 50
    max_cost: float | None = None
    max_time: float | None = None  # seconds, counted from `started`
    started: float | None = None  # time.monotonic() when the run began; None: when the loop began
    host_tool_time: float | None = None  # seconds one call of a tool that runs on the host may take


Ending = Literal[
    "finished",  # finish accepted by the gate
    "gave_up",  # finish with gave_up: true
    "ended_turn",  # the model answered without calling any tool
    "max_steps",
    "max_cost",
    "max_time",
    "disk_limit",  # the run's files outgrew --disk-limit: the change is not even looked at
    "stuck",  # the same call repeated REPEAT_STOP times
    "script_ended",  # a scripted model (a replay, the bench) has no more turns: nothing can be judged
    "model_error",  # the model API failed for good (after its retries); `error` says how
]
BY_THE_MODEL: frozenset[Ending] = frozenset({"finished", "gave_up", "ended_turn"})


@dataclass
class LoopState:
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    model_latency: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    gave_up: bool = False
    phases: list[str] = field(default_factory=list)
    last_tool: str = ""
    price_source: str | None = None  # where the model's prices come from; None: the cost is unknown


@dataclass(frozen=True)
class LoopOutcome:
    """How the loop ended, why (one sentence for the run's result), and the conversation's totals."""

    ending: Ending
    reason: str
    state: LoopState
    error: ModelAPIError | None = None  # the failure, when `ending` is "model_error"

    @property
    def by_the_model(self) -> bool:
        """The model ended the run itself (finish, giving up, or a turn without tool calls)."""
        return self.ending in BY_THE_MODEL

    @property
    def judged(self) -> bool:
        """Whether the change is looked at, committed and verified at all."""
        return self.ending not in ("disk_limit", "model_error")

    @property
    def conclusive(self) -> bool:
        """Whether the change may be found fixed: never once the model gave up (even in a turn that then
        ended otherwise), nor when a script ran out."""
        return self.ending != "script_ended" and not self.state.gave_up


@dataclass(frozen=True)
class _Stop:
    ending: Ending
    reason: str


def host_call_bound(limits: Limits, elapsed_s: float) -> tuple[float, str] | None:
    """How long a host-side tool call may take now, and the limit that says so (None: unbounded)."""
    bounds: list[tuple[float, str]] = []
    if limits.host_tool_time is not None:
        bounds.append(
            (limits.host_tool_time, f"one tool call may take at most {_seconds(limits.host_tool_time)}")
        )
    if limits.max_time is not None:
        bounds.append(
            (
                max(0.0, limits.max_time - elapsed_s),
                f"the run's time limit of {_seconds(limits.max_time)} was reached",
            )
        )
    return min(bounds, key=lambda b: b[0]) if bounds else None


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _api_block(block: dict[str, Any]) -> dict[str, Any]:
    """Only the fields the API accepts back in an assistant message."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": block.get("input", {})}
    return {k: v for k, v in block.items() if k != "cache_control"}


class AgentLoop:
    def __init__(
        self,
        model: Model,
        tools: list[Tool],
        system: str,
        *,
        gate: FinishGate,
        finish_spec: dict[str, Any],
        limits: Limits,
        trajectory: Trajectory,
        worktree_fingerprint: Callable[[], str],
        on_step: Callable[[LoopState], None] | None = None,
        pricing: Pricing | None = None,
        disk_check: Callable[[], str | None] | None = None,
    ):
        self.model = model
        self.tools = {t.name: t for t in tools}
        self.tool_specs = [t.spec() for t in tools] + [finish_spec]
        self.system = [{"type": "text", "text": system}]
        # what the messages may use of the window once the tools, the system prompt and the reply are counted
        self.context_budget = messages_budget(system=self.system, tools=self.tool_specs)
        self.gate = gate
        self.limits = limits
        self.trajectory = trajectory
        self.fingerprint = worktree_fingerprint
        self.on_step = on_step
        self.disk_check = disk_check  # after each tool call: None, or why the run is over its disk quota
        self._stop_after_results: _Stop | None = None
        self.pricing = pricing or Pricing()
        self.state = LoopState(price_source=self.pricing.source(model.name))
        self.messages: list[dict[str, Any]] = []
        self._last_call: str | None = None
        self._repeats = 0
        self._started = limits.started if limits.started is not None else time.monotonic()
        self._deadline = None if limits.max_time is None else self._started + limits.max_time
        self._phases = PhaseTagger()
        self._request: dict[str, Any] = {}
        self._step_cost: float | None = None

    def run(self, first_message: str) -> LoopOutcome:
        """Drive the conversation until it ends; the outcome says how and why."""
        self.messages = [{"role": "user", "content": [{"type": "text", "text": first_message}]}]
        self._tree = self.fingerprint()
        try:
            return self._converse()
        except ModelAPIError as exc:
            return LoopOutcome("model_error", exc.message, self.state, error=exc)

    def _converse(self) -> LoopOutcome:
        while True:
            over = self._over_limit()
            if over:
                return self._ended(over)
            self.state.steps += 1
            bind_step(self.state.steps)
            turn = self._query()
            if isinstance(turn, _Stop):
                return self._ended(turn)
            self.messages.append({"role": "assistant", "content": [_api_block(b) for b in turn.content]})
            calls = [b for b in turn.content if b.get("type") == "tool_use"]
            phase = self._phases.tag(turn.content)
            self.state.phases.append(phase)
            self.trajectory.write(
                "model",
                step=self.state.steps,
                phase=phase,
                request=self._request,
                content=turn.content,
                stop_reason=turn.stop_reason,
                usage=turn.usage.as_dict(),
                latency_s=round(turn.latency_s, 3),
                attempts=turn.attempts,
                model=turn.model or self.model.name,
                cost_usd=self._step_cost,  # priced with the run's prices (provider, the user's)
            )
            if not calls:
                self._notify()
                return self._ended(_Stop("ended_turn", "the model ended its turn without calling finish"))
            results = []
            for call in calls:
                done = self._execute(call)
                if isinstance(done, _Stop):
                    return self._ended(done)
                results.append(done)
            self.messages.append({"role": "user", "content": results})
            self._notify()
            if self._stop_after_results is not None:
                return self._ended(self._stop_after_results)
            if self.state.report:
                if self.state.gave_up:
                    why = self.state.report.get("reason") or "no reason given"
                    return self._ended(_Stop("gave_up", f"the model gave up: {why}"))
                return self._ended(_Stop("finished", "the model called finish"))

    def _ended(self, stop: _Stop) -> LoopOutcome:
        return LoopOutcome(stop.ending, stop.reason, self.state)

    def _notify(self) -> None:
        if self.on_step:
            self.on_step(self.state)

    def _over_limit(self) -> _Stop | None:
        s, lim = self.state, self.limits
        if s.steps >= lim.max_steps:
            return _Stop("max_steps", f"max steps ({lim.max_steps}) reached")
        if lim.max_cost is not None and s.cost is not None and s.cost >= lim.max_cost:
            return _Stop("max_cost", f"cost limit ${lim.max_cost:.2f} reached (${s.cost:.2f} spent)")
        if lim.max_time is not None and time.monotonic() - self._started >= lim.max_time:
            return _Stop("max_time", f"time limit {lim.max_time:.0f} s reached")
        return None

    def _query(self) -> ModelTurn | _Stop:
        """The model's next turn, or why there is none (the run's time is up, the script ran out); a model
        API failure leaves as ModelAPIError."""
        messages = fit_to_window(self.messages, budget_tokens=self.context_budget)
        self._request = {
            "messages": len(messages),
            "estimated_tokens": estimate_tokens(messages),
            "elided": messages != self.messages,
        }
        try:
            try:
                turn = self._ask(messages)
            except ContextOverflowError as exc:
                compacted = compact_harder(messages)
                if compacted == messages:
                    raise
                self.trajectory.write(
                    "note", step=self.state.steps, text=f"context overflow, compacting: {exc}"
                )
                turn = self._ask(compacted)
        except DeadlineReached as exc:
            assert self.limits.max_time is not None
            return _Stop("max_time", f"time limit {self.limits.max_time:g} s reached: {exc}")
        except ScriptEnded as exc:
            return _Stop("script_ended", exc.reason)
        self.state.usage.add(turn.usage)
        self.state.model_latency += turn.latency_s
        step_cost = self._step_cost = self.pricing.cost(self.model.name, turn.usage)
        self.state.cost = (
            None if step_cost is None or self.state.cost is None else self.state.cost + step_cost
        )
        return turn

    def _ask(self, messages: list[dict[str, Any]]) -> ModelTurn:
        return self.model.query(
            system=self.system, tools=self.tool_specs, messages=messages, deadline=self._deadline
        )

    def _execute(self, call: dict[str, Any]) -> dict[str, Any] | _Stop:
        name, params, call_id = call.get("name", ""), call.get("input") or {}, call["id"]
        started = time.monotonic()
        if not isinstance(params, dict):
            result = ToolResult(
                f"tool input must be a JSON object, got {type(params).__name__}", is_error=True
            )
        elif name == FINISH:
            result = self._finish(params)
        elif name in self.tools:
            result = self._run_tool(self.tools[name], params)
        else:
            known = ", ".join([*self.tools, FINISH])
            result = ToolResult(f"unknown tool {name!r}; the tools are: {known}", is_error=True)
        self.state.last_tool = name
        log.info(
            "tool_call", tool=name, is_error=result.is_error, duration_s=round(time.monotonic() - started, 3)
        )
        watched = self._watch_repeats(name, params, result)
        if isinstance(watched, _Stop):
            return watched
        result = watched
        self.trajectory.write(
            "tool",
            step=self.state.steps,
            id=call_id,
            name=name,
            input=params,
            content=result.content,
            is_error=result.is_error,
            duration_s=round(time.monotonic() - started, 4),
            data={k: v for k, v in result.data.items() if k != "report"},
        )
        # defence in depth: the sandbox keeps secrets out, and this keeps any that slip in from the model
        return {
            "type": "tool_result",
            "tool_use_id": call_id,
            "content": without_surrogates(redact_secret_values(result.content)),
            "is_error": result.is_error,
        }

    def _run_tool(self, tool: Tool, params: dict[str, Any]) -> ToolResult:
        if self._stop_after_results is not None:
            return ToolResult("not run: the run is ending (see the result before this one)", is_error=True)
        result = self._call_bounded(tool, params)
        over_quota = self.disk_check() if self.disk_check is not None else None
        if over_quota:
            log.warning("disk_limit_exceeded", tool=tool.name, detail=over_quota)
            self._stop_after_results = _Stop("disk_limit", f"disk limit exceeded: {over_quota}")
            result = ToolResult(
                f"{result.content}\n\n[harness: {over_quota}. The run ends now, not fixed.]",
                is_error=True,
                data=result.data,
            )
        tree = self.fingerprint()
        if tree != self._tree:
            self._tree = tree
            self.gate.note_edit(self.state.steps)
        report = result.data.get("report")
        if report is not None and tool.name == "run_tests":
            from tools.test_report import TestReport

            self.gate.note_tests(
                self.state.steps, TestReport.model_validate(report), full=not params.get("tests")
            )
        return result

    def _call_bounded(self, tool: Tool, params: dict[str, Any]) -> ToolResult:
        """A tool that runs on the host (`runs_on_host`) is cut when its call outlasts the time one call may
        take or the time the run has left; sandboxed tools are bounded by the sandbox's own timeouts. A call
        the tool says is `quick` (its work bounded by small inputs) runs here, without the child process that
        makes cutting possible (forking costs more than such a call)."""
        if not getattr(tool, "runs_on_host", False):
            return tool(params)
        bound = host_call_bound(self.limits, time.monotonic() - self._started)
        quick = getattr(tool, "quick", None)  # the tool can tell a call whose work its small inputs bound
        if bound is None or (callable(quick) and quick(params)):
            return tool(params)
        seconds, why = bound
        result = call_within(tool, params, seconds)
        if result is None:
            log.warning("tool_call_cut", tool=tool.name, seconds=round(seconds, 3), why=why)
            return ToolResult(
                f"[harness] this {tool.name} call was stopped after {_seconds(seconds)}: {why}. Its work may be "
                "unfinished; a file it was writing may be incomplete, so view it before going on, and try "
                "a smaller step.",
                is_error=True,
            )
        return result

    def _finish(self, params: dict[str, Any]) -> ToolResult:
        refusal = self.gate.check(params, self.state.steps)
        if refusal:
            return ToolResult(refusal, is_error=True)
        self.state.report = params
        self.state.gave_up = bool(params.get("gave_up"))
        return ToolResult(
            "finish accepted; the harness will now run the tests itself and decide the verdict."
        )

    def _watch_repeats(self, name: str, params: dict[str, Any], result: ToolResult) -> ToolResult | _Stop:
        key = name + json.dumps(params, sort_keys=True, default=str)
        self._repeats = self._repeats + 1 if key == self._last_call else 1
        self._last_call = key
        if self._repeats >= REPEAT_STOP:
            return _Stop("stuck", f"stuck repeating the same {name} call {self._repeats} times")
        if self._repeats == REPEAT_WARN:
            note = (
                f"\n\n[harness: this is the {REPEAT_WARN}rd identical {name} call in a row. Repeating it will"
                " not change the result; try a different approach. A 4th identical call ends the run.]"
            )
            return ToolResult(result.content + note, is_error=result.is_error, data=result.data)
        return result
