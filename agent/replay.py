"""Replay: feed a recorded run's model turns back through the real loop, tools and sandbox.

No API key is needed. The replayed tool results are compared with the recorded ones; timings and the run's
own paths are normalised away first, so only real differences are reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.config import RunRequest, RunResult
from agent.errors import UsageError
from agent.model import ModelTurn, Usage
from agent.scripted_model import ScriptedModel
from agent.trajectory import format_problem, read_trajectory
from sandbox.base import SandboxMode

NOT_A_TRAJECTORY = "not a be-agent trajectory"
USAGE_FIELDS = frozenset(Usage().as_dict())


class ReplayModel(ScriptedModel):
    """A Model that answers with the recorded assistant turns, in order.

    When the run asks for a turn the recording does not have, the replay has diverged: the run ends
    gracefully (ScriptEnded: inconclusive, not fixed) and `diverged` says how."""

    def __init__(self, turns: list[dict[str, Any]], name: str):
        super().__init__([_turn_of(record, name) for record in turns], name)
        self._recorded = len(turns)
        self.diverged: str | None = None

    def ended(self) -> str:
        self.diverged = (
            f"replay diverged: the run asked for model turn {self._recorded + 1}, "
            f"but the recording has only {self._recorded}"
        )
        return self.diverged


def _turn_of(record: dict[str, Any], name: str) -> ModelTurn:
    usage = Usage(**{k: int(v) for k, v in (record.get("usage") or {}).items() if k in USAGE_FIELDS})
    return ModelTurn(
        content=record["content"],
        stop_reason=record.get("stop_reason"),
        usage=usage,
        model=name,
        attempts=1,
        latency_s=0.0,
    )


@dataclass
class ReplayOutcome:
    result: RunResult
    differences: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.differences and self.result.exit_code == 0 else self.result.exit_code


_DURATION = re.compile(r"\d+(?:\.\d+)?\s?(?:ms|s)\b")


def normalise(text: str, roots: list[str]) -> str:
    for root in roots:
        if root:
            text = text.replace(root, "<checkout>")
    return _DURATION.sub("<t>", text)


def _not_a_trajectory(why: str) -> UsageError:
    return UsageError(f"{NOT_A_TRAJECTORY}: {why}")


def _check_start(start: dict[str, Any], line: int) -> None:
    problem = format_problem(start)
    if problem:
        raise UsageError(problem)
    for key in ("repo", "task", "base"):
        if not isinstance(start.get(key), str) or not start[key]:
            raise _not_a_trajectory(f"the start record (line {line}) has no {key!r}")
    named = start.get("named_tests")
    if named is not None and not (isinstance(named, list) and all(isinstance(t, str) for t in named)):
        raise _not_a_trajectory(
            f"the start record (line {line}) has named_tests that are not a list of names"
        )


def _model_record_problem(record: dict[str, Any]) -> str | None:
    content = record.get("content")
    if not isinstance(content, list) or not content:
        return "has no content"
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return "has a content block that is not an object with a type"
        if block["type"] == "tool_use" and not (
            isinstance(block.get("id"), str) and isinstance(block.get("name"), str)
        ):
            return "has a tool call without an id and a name"
    usage = record.get("usage")
    if usage is not None and not (
        isinstance(usage, dict)
        and all(
            isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in usage.items()
            if k in USAGE_FIELDS
        )
    ):
        return "has usage that is not token counts"
    return None


@dataclass
class Recording:
    start: dict[str, Any]
    turns: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    cut_off_line: int | None = None


def load_recording(path: Path) -> Recording:
    """The trajectory's start record, model turns and tool results; UsageError when it is not one."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory: give the trajectory.jsonl file inside a run directory")
    if not path.is_file():
        raise UsageError(f"trajectory not found: {path}")
    try:
        read = read_trajectory(path)
    except UnicodeDecodeError:
        raise _not_a_trajectory(f"{path} is not UTF-8 text") from None
    except ValueError as exc:
        raise _not_a_trajectory(f"{path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read trajectory {path}: {exc.strerror or exc}") from None
    start_line, start = next(((n, r) for n, r in read.records if r.get("type") == "start"), (0, None))
    if start is None:
        raise _not_a_trajectory(f"{path} has no start record")
    _check_start(start, start_line)
    turns = []
    for number, record in read.records:
        if record.get("type") == "model":
            problem = _model_record_problem(record)
            if problem:
                raise _not_a_trajectory(f"the model record on line {number} {problem}")
            turns.append(record)
    tools = [r for _, r in read.records if r.get("type") == "tool"]
    return Recording(start, turns, tools, read.cut_off_line)


def compare(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]], roots: list[str]) -> list[str]:
    differences = []
    for index, (old, new) in enumerate(zip(recorded, replayed, strict=False), 1):
        where = f"step {old.get('step')} {old.get('name')}"
        if (old.get("name"), old.get("input")) != (new.get("name"), new.get("input")):
            differences.append(f"{where}: tool call {index} differs")
        elif bool(old.get("is_error")) != bool(new.get("is_error")):
            differences.append(
                f"{where}: recorded is_error={old.get('is_error')}, replayed {new.get('is_error')}"
            )
        elif normalise(str(old.get("content")), roots) != normalise(str(new.get("content")), roots):
            differences.append(f"{where}: result text differs")
    if len(recorded) != len(replayed):
        differences.append(f"{len(recorded)} tool calls recorded, {len(replayed)} replayed")
    return differences


def _request_for(
    start: dict[str, Any],
    turns: list[dict[str, Any]],
    *,
    repo: Path | None,
    sandbox: SandboxMode,
    state_dir: Path,
    quiet: bool,
) -> RunRequest:
    try:
        return RunRequest(
            repo=repo or Path(start["repo"]),
            task=start["task"],
            task_untrusted=bool(start.get("task_untrusted")),
            base=start["base"],
            test_cmd=start.get("test_cmd"),
            model=start.get("model") or "replay",
            provider=start.get("provider") or "anthropic",  # its prices are that provider's
            named_tests=start.get("named_tests") or [],
            max_steps=len(turns) + 1,
            sandbox=sandbox,
            state_dir=state_dir,
            quiet=quiet,
        )
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise _not_a_trajectory(f"the start record does not describe a run ({problem})") from None


def _ignore(_: str) -> None:
    pass


def _workdir_of(trajectory: Path) -> str:
    start = load_recording(trajectory).start
    return str(start.get("workdir") or "")


def _longest_first(paths: list[str]) -> list[str]:
    """A path that contains another is replaced first, so neither is left half-replaced."""
    return sorted({p for p in paths if p}, key=len, reverse=True)


def replay(
    path: Path,
    *,
    repo: Path | None,
    sandbox: SandboxMode,
    state_dir: Path,
    quiet: bool = True,
    warn: Callable[[str], None] = _ignore,
) -> ReplayOutcome:
    """Replay the recording at `path`; prints nothing (a cut-off recording is said through `warn`)."""
    from agent.run import run_task

    recording = load_recording(path)
    if recording.cut_off_line is not None:
        warn(
            f"line {recording.cut_off_line} of {path} is incomplete (the run was cut off "
            f"while writing it); replaying the complete lines before it"
        )
    request = _request_for(
        recording.start, recording.turns, repo=repo, sandbox=sandbox, state_dir=state_dir, quiet=quiet
    )

    model = ReplayModel(recording.turns, request.model)
    result = run_task(request, model=model)
    replayed_tools = load_recording(Path(result.trajectory)).tools
    roots = [str(Path(result.run_dir) / "checkout"), str(Path(result.run_dir) / "scratch")]
    start = recording.start
    old_root = str(Path(start.get("run_dir", "")) / "checkout") if start.get("run_dir") else ""
    # where each sandbox showed the checkout: the repository's path (recordings before it was: /workspace)
    workdirs = [str(start.get("workdir") or "/workspace"), _workdir_of(Path(result.trajectory))]
    differences = compare(recording.tools, replayed_tools, [*roots, old_root, *_longest_first(workdirs)])
    if model.diverged:
        differences.insert(0, model.diverged)
    return ReplayOutcome(result, differences, compared=min(len(recording.tools), len(replayed_tools)))
