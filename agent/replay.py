"""Replay: feed a recorded run's model turns back through the real loop, tools and sandbox.

No API key is needed. The replayed tool results are compared with the recorded ones; timings and the run's
own paths are normalised away first, so only real differences are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import RunRequest, RunResult
from agent.errors import ModelAPIError, UsageError
from agent.model import ModelTurn, Usage
from agent.trajectory import read_records


class ReplayModel:
    """A Model that answers with the recorded assistant turns, in order."""

    def __init__(self, turns: list[dict[str, Any]], name: str):
        self.name = name
        self._turns = list(turns)
        self._next = 0

    def query(self, *, system: list[dict[str, Any]], tools: list[dict[str, Any]],
              messages: list[dict[str, Any]]) -> ModelTurn:
        if self._next >= len(self._turns):
            raise ModelAPIError(f"replay diverged: the run asked for model turn {self._next + 1}, "
                                f"but the recording has only {len(self._turns)}")
        record = self._turns[self._next]
        self._next += 1
        usage = Usage(**{k: int(v) for k, v in (record.get("usage") or {}).items() if k in Usage().as_dict()})
        return ModelTurn(content=record["content"], stop_reason=record.get("stop_reason"), usage=usage,
                         model=self.name, attempts=1, latency_s=0.0)


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


def load_recording(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    if not path.is_file():
        raise UsageError(f"trajectory not found: {path}")
    try:
        records = list(read_records(path))
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot read trajectory: {exc}") from None
    start = next((r for r in records if r.get("type") == "start"), None)
    if start is None:
        raise UsageError(f"{path} has no start record: not a be-agent trajectory")
    turns = [r for r in records if r.get("type") == "model"]
    tools = [r for r in records if r.get("type") == "tool"]
    return start, turns, tools


def compare(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]], roots: list[str]) -> list[str]:
    differences = []
    for index, (old, new) in enumerate(zip(recorded, replayed, strict=False), 1):
        where = f"step {old.get('step')} {old.get('name')}"
        if (old.get("name"), old.get("input")) != (new.get("name"), new.get("input")):
            differences.append(f"{where}: tool call {index} differs")
        elif bool(old.get("is_error")) != bool(new.get("is_error")):
            differences.append(f"{where}: recorded is_error={old.get('is_error')}, replayed {new.get('is_error')}")
        elif normalise(str(old.get("content")), roots) != normalise(str(new.get("content")), roots):
            differences.append(f"{where}: result text differs")
    if len(recorded) != len(replayed):
        differences.append(f"{len(recorded)} tool calls recorded, {len(replayed)} replayed")
    return differences


def replay(path: Path, *, repo: Path | None, sandbox: str, state_dir: Path, quiet: bool = True) -> ReplayOutcome:
    from agent.run import run_task

    start, turns, recorded_tools = load_recording(path)
    request = RunRequest(
        repo=repo or Path(start["repo"]), task=start["task"], task_untrusted=bool(start.get("task_untrusted")),
        base=start["base"], test_cmd=start.get("test_cmd"), model=start.get("model") or "replay",
        named_tests=start.get("named_tests") or [], max_steps=len(turns) + 1, sandbox=sandbox,  # type: ignore[arg-type]
        state_dir=state_dir, quiet=quiet)
    result = run_task(request, model=ReplayModel(turns, request.model))
    _, _, replayed_tools = load_recording(Path(result.trajectory))
    roots = [str(Path(result.run_dir) / "checkout"), str(Path(result.run_dir) / "scratch")]
    old_root = str(Path(start.get("run_dir", "")) / "checkout") if start.get("run_dir") else ""
    return ReplayOutcome(result, compare(recorded_tools, replayed_tools, [*roots, old_root]),
                         compared=min(len(recorded_tools), len(replayed_tools)))
