"""be-agent and mini-swe-agent on the same shell steps, step by step, in one process run.

The steps are a recorded session's tool calls as shell commands (bench/shell_steps.py). be-agent runs them
through `run_task` (the real loop, bash tool, sandbox, change detection, trajectory and logs) with an
in-process scripted model; mini-swe-agent runs them through its `LocalEnvironment.execute` in a worker
process (bench/mini_side.py), each on its own copy of the same repository.

The two alternate: when be-agent's loop asks the scripted model for step N, the model first has
mini-swe-agent execute step N, then answers with the same command. Load from elsewhere on the machine so
hits both sides alike. What is timed, model time excluded on both sides:
- be-agent: from the model's answer for step N to the loop's request for step N+1 (everything the harness
  does for one step: the sandboxed command, change detection, bookkeeping, trajectory, logs, context);
- mini-swe-agent: its `execute` call.
"""

from __future__ import annotations

import cProfile
import math
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import RunRequest
from agent.demo import DEMO_TASK, make_demo_repo
from agent.model import ModelTurn, ScriptEnded
from agent.run import run_task
from agent.trajectory import read_records
from bench.mini_side import MiniWorker

EXTRA_FILES_PER_DIR = 100
TEST_COMMAND = "python3 -m pytest"


def add_small_files(repo: Path, count: int) -> None:
    """Commit `count` more small Python modules to `repo`, 100 to a directory, as a large codebase has."""
    for number in range(count):
        folder = repo / "vendor" / f"pkg_{number // EXTRA_FILES_PER_DIR:04d}"
        if number % EXTRA_FILES_PER_DIR == 0:
            folder.mkdir(parents=True)
        (folder / f"mod_{number:05d}.py").write_text(f'"""Module {number}."""\n\nVALUE = {number}\n')
    for args in (["add", "-A"], ["commit", "-q", "-m", f"{count} more small files"]):
        subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            env={
                "PATH": "/usr/bin:/bin",
                "GIT_AUTHOR_NAME": "bench",
                "GIT_AUTHOR_EMAIL": "bench@example.invalid",
                "GIT_COMMITTER_NAME": "bench",
                "GIT_COMMITTER_EMAIL": "bench@example.invalid",
            },
        )


def make_bench_repo(dest: Path, extra_files: int) -> Path:
    make_demo_repo(dest)
    if extra_files:
        add_small_files(dest, extra_files)
    return dest


@dataclass
class StepPair:
    step: int
    command: str
    mini_s: float  # nan when mini-swe-agent was not measured
    mini_exit: int | None
    ours_s: float = 0.0
    ours_exit: int | None = None


@dataclass
class InterleavedModel:
    """Answers step N with a `bash` call of `steps[N-1]`, after mini-swe-agent has executed that step; then
    ends the run. Notes when each answer left and each request came, so the harness's time between them is
    known."""

    steps: Sequence[str]
    mini: MiniWorker | None  # None: be-agent alone
    mini_checkout: Path
    name: str = "bench-scripted"
    profiler: cProfile.Profile | None = None  # profiles the harness's time between answer and request
    pairs: list[StepPair] = field(default_factory=list)
    _answered_at: float | None = None

    def query(
        self,
        *,
        system: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        deadline: float | None = None,
    ) -> ModelTurn:
        asked_at = time.perf_counter()
        if self.profiler is not None and self._answered_at is not None:
            self.profiler.disable()
        if self._answered_at is not None and self.pairs:
            self.pairs[-1].ours_s = asked_at - self._answered_at
        number = len(self.pairs) + 1
        if number > len(self.steps):
            raise ScriptEnded("the bench's steps are done")
        command = self.steps[number - 1]
        if self.mini is None:
            self.pairs.append(StepPair(number, command, math.nan, None))
        else:
            done = self.mini.execute(command, self.mini_checkout)
            self.pairs.append(StepPair(number, command, done.seconds, done.returncode))
        call = {
            "type": "tool_use",
            "id": f"toolu_bench_{number:03d}",
            "name": "bash",
            "input": {"command": command},
        }
        if self.profiler is not None:
            self.profiler.enable()
        self._answered_at = time.perf_counter()
        return ModelTurn(content=[call], stop_reason="tool_use", model=self.name)


def run_round(
    repo: Path,
    steps: Sequence[str],
    mini: MiniWorker | None,
    work: Path,
    *,
    sandbox: str,
    profiler: cProfile.Profile | None = None,
) -> list[StepPair]:
    """One interleaved pass over `steps`: be-agent on a run of `repo`, mini-swe-agent on a clone of it."""
    mini_checkout = work / "mini-checkout"
    subprocess.run(["git", "clone", "-q", str(repo), str(mini_checkout)], check=True, capture_output=True)
    model = InterleavedModel(steps, mini, mini_checkout, profiler=profiler)
    try:
        result = run_task(
            RunRequest(
                repo=repo,
                task=DEMO_TASK,
                test_cmd=TEST_COMMAND,
                max_steps=len(steps) + 2,
                sandbox=sandbox,  # type: ignore[arg-type]
                state_dir=work / "state",
                quiet=True,
                fetch_back=False,
            ),
            model=model,
        )
        tool_records = [r for r in read_records(Path(result.trajectory)) if r.get("type") == "tool"]
        for pair, record in zip(model.pairs, tool_records, strict=True):
            pair.ours_exit = (record.get("data") or {}).get("exit_code")
    finally:
        shutil.rmtree(mini_checkout, ignore_errors=True)
        shutil.rmtree(work / "state", ignore_errors=True)
    return model.pairs


@dataclass
class SizeFigures:
    label: str
    files: int
    pairs: list[StepPair] = field(default_factory=list)

    def median_ms(self, side: str) -> float:
        return statistics.median(getattr(p, f"{side}_s") for p in self.pairs) * 1000

    def p90_ms(self, side: str) -> float:
        ordered = sorted(getattr(p, f"{side}_s") for p in self.pairs)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] * 1000

    def agreeing(self) -> int:
        return sum(p.ours_exit == p.mini_exit for p in self.pairs)


def tracked_files(repo: Path) -> int:
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True)
    return listed.stdout.count(b"\0")


def compare_harnesses(
    repos: Sequence[tuple[str, Path]],
    steps: Sequence[str],
    mini: MiniWorker | None,
    work: Path,
    *,
    rounds: int,
    sandbox: str,
    profiler: cProfile.Profile | None = None,
) -> list[SizeFigures]:
    """`rounds` passes over every repository in turn (small, large, small, large...), so that a change in
    the machine's load shows in both sizes and both harnesses."""
    figures = [SizeFigures(label, tracked_files(repo)) for label, repo in repos]
    for _ in range(rounds):
        for (_label, repo), size in zip(repos, figures, strict=True):
            size.pairs += run_round(repo, steps, mini, work, sandbox=sandbox, profiler=profiler)
    return figures


TARGET_RATIO = 1.5  # be-agent / mini-swe-agent, per step
TARGET_FLAT = 1.3  # be-agent large repository / small repository


def print_side_by_side(figures: Sequence[SizeFigures], *, mini_version: str | None, sandbox: str) -> None:
    measured = mini_version is not None
    print(
        f"Harness time per step, model excluded, {len(figures[0].pairs)} steps per repository: be-agent "
        f"({sandbox} sandbox; run_task with an in-process scripted model) vs "
        + (
            f"mini-swe-agent {mini_version} (LocalEnvironment.execute)"
            if measured
            else "mini-swe-agent: not measured"
        )
    )
    header = (
        f"{'repository':<24} {'files':>6} {'mini med':>9} {'be med':>9} {'ratio':>6} "
        f"{'mini p90':>9} {'be p90':>9}  exit codes agree"
    )
    print(header)
    print("-" * len(header))
    for size in figures:
        mini_med, ours_med = size.median_ms("mini"), size.median_ms("ours")
        ratio = f"{ours_med / mini_med:5.2f}x" if measured else f"{'-':>6}"
        agree = f"{size.agreeing()}/{len(size.pairs)}" if measured else "-"
        print(
            f"{size.label:<24} {size.files:>6} {mini_med:>6.1f} ms {ours_med:>6.1f} ms {ratio} "
            f"{size.p90_ms('mini'):>6.1f} ms {size.p90_ms('ours'):>6.1f} ms  {agree}"
        )
    small, large = figures[0], figures[-1]
    flat = large.median_ms("ours") / small.median_ms("ours")
    verdicts = [f"be-agent {large.label} / {small.label}: {flat:.2f}x (target <= {TARGET_FLAT}x)"]
    if measured:
        worst = max(size.median_ms("ours") / size.median_ms("mini") for size in figures)
        verdicts.append(f"be-agent / mini-swe-agent, worst size: {worst:.2f}x (target <= {TARGET_RATIO}x)")
    print("; ".join(verdicts))
