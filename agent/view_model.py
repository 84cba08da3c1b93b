"""What a run page shows, read from a run's files: the trajectory, result.json and change.diff.

Every input is hostile (a trajectory may come from someone else's workflow artifact): reading never raises
on bad content and never hangs. Only regular files are read, each up to a byte limit; a line that is not a
JSON object, a record of an unknown kind and a field of the wrong type are skipped and counted; numbers are
coerced to bounded ints and floats; phases come from a fixed set. Strings are kept as they are: escaping is
the renderer's job (agent.view_html), and it escapes everything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.model import Usage
from agent.phases import PHASES
from agent.pricing import cost_usd
from agent.trajectory import format_problem

MAX_TRAJECTORY_BYTES = 16 * 1024**2
MAX_RESULT_BYTES = 4 * 1024**2
MAX_DIFF_BYTES = 8 * 1024**2
MAX_STEPS = 2_000  # steps beyond this are counted, not shown
MAX_INT = 10**15
RECORD_KINDS = frozenset({"start", "baseline", "model", "tool", "note", "final", "end"})


def as_int(value: Any) -> int:
    """A count from untrusted JSON: an int in [0, MAX_INT], anything else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return int(min(max(value, 0), MAX_INT))


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= MAX_INT else None


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class ToolCall:
    """One tool call and its result; `result` is None when the trajectory has no tool record for it."""

    id: str
    name: str
    input: Any = None
    result: str | None = None
    is_error: bool = False
    duration_s: float | None = None

    @property
    def refused(self) -> bool:
        """`finish` answered with an error: the finish gate refused it."""
        return self.name == "finish" and self.result is not None and self.is_error


@dataclass
class Step:
    number: int
    phase: str = "unknown"  # one of PHASES, or "unknown"
    texts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float | None = None
    attempts: int = 0
    stop_reason: str = ""
    model: str = ""

    @property
    def tokens(self) -> int:
        u = self.usage
        return u.input + u.output + u.cache_read + u.cache_write

    @property
    def cache_share(self) -> float | None:
        """Of the prompt tokens, the share read from the cache."""
        prompt = self.usage.input + self.usage.cache_read + self.usage.cache_write
        return self.usage.cache_read / prompt if prompt else None

    @property
    def refusals(self) -> int:
        return sum(1 for c in self.calls if c.refused)


@dataclass
class RunView:
    start: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)  # the baseline record's `report` (TestReport)
    baseline_flaky: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # harness notes outside any step
    result: dict[str, Any] = field(default_factory=dict)  # result.json, else the `end` record
    diff: str | None = None
    problems: list[str] = field(default_factory=list)  # what is missing or was skipped, said on the page
    steps_not_shown: int = 0

    @property
    def task(self) -> str:
        return as_str(self.start.get("task"))

    @property
    def refusals(self) -> int:
        return sum(s.refusals for s in self.steps)


@dataclass
class _Builder:
    view: RunView = field(default_factory=RunView)
    by_number: dict[int, Step] = field(default_factory=dict)
    calls: dict[str, ToolCall] = field(default_factory=dict)
    end: dict[str, Any] = field(default_factory=dict)
    unknown_kinds: int = 0
    malformed: int = 0

    def step(self, number: int) -> Step | None:
        if number in self.by_number:
            return self.by_number[number]
        if len(self.view.steps) >= MAX_STEPS:
            self.view.steps_not_shown += 1
            return None
        step = self.by_number[number] = Step(number)
        self.view.steps.append(step)
        return step

    def add(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind not in RECORD_KINDS:
            self.unknown_kinds += 1
        elif kind == "start":
            self.view.start = record
        elif kind == "baseline":
            self.view.baseline = as_dict(record.get("report"))
            flaky = record.get("flaky")
            self.view.baseline_flaky = (
                [t for t in flaky if isinstance(t, str)] if isinstance(flaky, list) else []
            )
        elif kind == "model":
            self._model(record)
        elif kind == "tool":
            self._tool(record)
        elif kind == "note":
            self._note(record)
        elif kind == "end":
            self.end = record

    def _model(self, record: dict[str, Any]) -> None:
        step = self.step(as_int(record.get("step")))
        if step is None:
            return
        phase = record.get("phase")
        step.phase = phase if isinstance(phase, str) and phase in PHASES else "unknown"
        usage = as_dict(record.get("usage"))
        step.usage = Usage(
            **{k: as_int(usage.get(k)) for k in ("input", "output", "cache_read", "cache_write")}
        )
        step.model = as_str(record.get("model")) or as_str(self.view.start.get("model"))
        # a cost the harness recorded wins, unknown included (it knew the provider and the user's prices);
        # a trajectory from before costs were recorded gets the price database's
        recorded = as_float(record.get("cost_usd"))
        step.cost_usd = recorded if "cost_usd" in record else cost_usd(step.model, step.usage)
        step.latency_s = as_float(record.get("latency_s"))
        step.attempts = as_int(record.get("attempts"))
        step.stop_reason = as_str(record.get("stop_reason"))
        content = record.get("content")
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                self.malformed += 1
            elif block.get("type") == "text":
                step.texts.append(as_str(block.get("text")))
            elif block.get("type") == "tool_use":
                call = ToolCall(
                    id=as_str(block.get("id")), name=as_str(block.get("name")), input=block.get("input")
                )
                step.calls.append(call)
                if call.id:
                    self.calls[call.id] = call

    def _tool(self, record: dict[str, Any]) -> None:
        call_id = as_str(record.get("id"))
        call = self.calls.get(call_id) if call_id else None
        if call is None or call.result is not None:
            # a result without its call (the model record was lost): show it on its own
            step = self.step(as_int(record.get("step")))
            if step is None:
                return
            call = ToolCall(id=call_id, name=as_str(record.get("name")), input=record.get("input"))
            step.calls.append(call)
        content = record.get("content")
        call.result = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        call.is_error = record.get("is_error") is True
        call.duration_s = as_float(record.get("duration_s"))

    def _note(self, record: dict[str, Any]) -> None:
        text = as_str(record.get("text"))
        if "step" in record:
            step = self.step(as_int(record.get("step")))
            if step is not None:
                step.notes.append(text)
                return
        self.view.notes.append(text)


def read_bounded(path: Path, limit: int, what: str, problems: list[str]) -> str | None:
    """A regular file's text, at most `limit` bytes of it; None (and a problem said) when it cannot be read.
    A FIFO or a device is never opened: reading one could hang or never end."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        problems.append(f"{what} could not be read: {exc.strerror or exc}")
        return None
    if len(data) > limit:
        problems.append(
            f"{what} is larger than {limit // 1024**2} MiB: only its first {limit // 1024**2} MiB are shown"
        )
        data = data[:limit]
        data = data[: data.rfind(b"\n") + 1] or data  # whole lines only: the cut is ours, not a crash's
    return data.decode("utf-8", errors="replace")


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def build_view(
    trajectory_text: str, *, result: dict[str, Any] | None = None, diff: str | None = None
) -> RunView:
    """The view of a trajectory's text (JSON lines) plus, when known, the run's result and diff."""
    builder = _Builder()
    view = builder.view
    lines = trajectory_text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = _json_object(line)
        if record is None:
            if number == len(lines) and not trajectory_text.endswith("\n"):
                view.problems.append(
                    f"the trajectory's last line ({number}) was cut off mid-write and is left out"
                )
            else:
                builder.malformed += 1
            continue
        builder.add(record)
    if builder.malformed:
        view.problems.append(
            f"{builder.malformed} line(s) or block(s) of the trajectory were malformed and are left out"
        )
    if builder.unknown_kinds:
        view.problems.append(f"{builder.unknown_kinds} record(s) of an unknown kind were ignored")
    if view.steps_not_shown:
        view.problems.append(
            f"only the first {MAX_STEPS} steps are shown ({view.steps_not_shown} more records)"
        )
    if not view.start:
        view.problems.append(
            "the trajectory has no start record: the task and the run's settings are unknown"
        )
    elif problem := format_problem(view.start):
        view.problems.append(f"{problem}: shown as far as this page understands it")
    view.result = result if result else builder.end
    if not view.result:
        view.problems.append("the run has no result: it did not finish (killed, or still running)")
    view.diff = diff
    return view


def load_run(path: Path, *, result: dict[str, Any] | None = None) -> RunView:
    """The view of a run directory or of a trajectory file, with result.json and change.diff from the same
    directory when they are there (`result` replaces result.json: a run writes its page before that file).
    Raises FileNotFoundError when there is neither a trajectory nor a result."""
    problems: list[str] = []
    folder = path if path.is_dir() else path.parent
    trajectory = path / "trajectory.jsonl" if path.is_dir() else path
    text = read_bounded(trajectory, MAX_TRAJECTORY_BYTES, "the trajectory", problems)
    if result is None:
        result_text = read_bounded(folder / "result.json", MAX_RESULT_BYTES, "result.json", problems)
        result = _json_object(result_text) if result_text is not None else None
        if result_text is not None and result is None:
            problems.append("result.json is not a JSON object and is left out")
    if text is None and result is None:
        raise FileNotFoundError(f"no trajectory.jsonl or result.json in {folder}")
    diff = read_bounded(folder / "change.diff", MAX_DIFF_BYTES, "change.diff", problems)
    view = build_view(text or "", result=result, diff=diff)
    if text is None:
        view.problems.insert(0, "the trajectory is missing: only the result is shown")
    view.problems[:0] = problems
    return view
