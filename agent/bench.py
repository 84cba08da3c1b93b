"""`be-agent bench TASKS.jsonl`: run the agent on SWE-bench-style tasks and judge each patch separately.

The driver (this module) decides what is left to do, hands work orders to an executor (agent.bench_exec:
local processes, or agent.bench_ray: Ray tasks on a cluster) and writes each outcome as it arrives: one line
in OUT/results.jsonl (appended and flushed at once, so a driver that is stopped or killed resumes where it
stopped: no finished task runs again), the patch in OUT/patches/, the agent run's page, trajectory and log
in OUT/runs/. OUT/report.md and OUT/report.html are rewritten from all results at the end, also after an
interruption.

Each worker does the same thing (agent.bench_worker.bench_one): repository, setup step, agent, sandboxed
judge. A result is refused (and recorded as an infrastructure failure) when its worker's judge is not the
driver's own, so every number in one report comes from one judge.

`--agent gold` and `--agent empty` replace the agent with the task's gold patch or an empty patch: they
check the judge and the task set, and they measure the bench's own cost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.bench_exec import Executor, LocalExecutor, Outcome
from agent.bench_options import ExecutorKind, RetryPolicy
from agent.bench_report import rate_line, render_report
from agent.bench_results import end_cut_line, latest, read_results, to_do
from agent.bench_tasks import RepoSources, load_tasks
from agent.bench_worker import MODEL_ENV_NAMES, BenchOptions, WorkOrder, judge_identity
from agent.errors import ExitCode, Interrupted, UsageError
from agent.terminal import printable
from agent.view_bench import run_label, save_bench_report

__all__ = ["BenchOptions", "ExecutorKind", "ExecutorOptions", "read_results", "run_bench", "store_outcome"]


@dataclass(frozen=True)
class ExecutorOptions:
    """How tasks are spread: the executor, and for Ray the cluster and what each task needs."""

    kind: ExecutorKind = "local"
    ray_address: str | None = None  # None: a local cluster started for the bench
    task_cpus: float = 1.0
    task_memory: int = 4 * 1024**3  # bytes

    def make(self, workers: int) -> Executor:
        if self.kind == "ray":
            from agent.bench_ray import RayExecutor  # Ray is imported only when asked for

            return RayExecutor(self.ray_address, workers, self.task_cpus, self.task_memory)
        return LocalExecutor(workers)


def store_outcome(out: Path, outcome: Outcome, own_judge: str) -> dict[str, Any]:
    """Write an outcome's patch and run files under OUT; return its row, pointing at them."""
    row: dict[str, Any] = dict(outcome["row"])
    label = run_label(str(row["instance_id"]), int(row.get("run", 1)))
    patches = out / "patches"
    patches.mkdir(parents=True, exist_ok=True)
    (patches / f"{label}.diff").write_text(str(outcome.get("patch") or ""), encoding="utf-8")
    row["patch_file"] = f"patches/{label}.diff"
    files = outcome.get("run_files") or {}
    if files:
        run_dir = out / "runs" / label
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if "/" not in name and name not in (".", ".."):
                (run_dir / name).write_text(str(text), encoding="utf-8")
        row["run_dir"] = str(run_dir.resolve())
    if "judge" in row and row["judge"] != own_judge:
        row.update(
            resolved=False,
            failure_kind="infra",
            exit_code=ExitCode.USAGE,
            failure=f"worker's judge ({row['judge']}) is not the driver's ({own_judge})",
        )
    return row


def _sources(tasks_file: Path, sources: RepoSources | None) -> RepoSources:
    base = RepoSources(tasks_file.resolve().parent)
    if sources is None:
        return base
    return replace(sources, tasks_dir=base.tasks_dir)


def run_bench(
    tasks_file: Path,
    options: BenchOptions,
    *,
    workers: int = 1,
    runs: int = 1,
    retry: RetryPolicy = "none",
    executor: ExecutorOptions | None = None,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Run every (task, run) not yet in OUT/results.jsonl (and with `retry="infra"` those whose result is an
    infrastructure failure); write the reports; return the current row of each (task, run) of this file.
    Progress goes to `console` when one is given (the command line gives stderr); nothing is printed
    otherwise."""
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if runs < 1:
        raise UsageError("--runs must be at least 1")
    executor = executor or ExecutorOptions()
    tasks = load_tasks(tasks_file)
    options = replace(
        options,
        sources=_sources(tasks_file, options.sources),
        work_dir=options.work_dir or (options.out / "work" if executor.kind == "local" else None),
        model_env={n: os.environ[n] for n in MODEL_ENV_NAMES if n in os.environ}
        if executor.kind == "ray"
        else {},
    )
    options.out.mkdir(parents=True, exist_ok=True)
    results_path = options.out / "results.jsonl"
    end_cut_line(results_path)
    wanted = [(t.instance_id, run) for run in range(1, runs + 1) for t in tasks]
    current = latest(read_results(results_path))
    todo = to_do(wanted, current, retry)
    by_id = {t.instance_id: t for t in tasks}
    orders = [WorkOrder(by_id[i].model_dump_json(), run, attempt) for (i, run), attempt in todo]
    console = console or Console(quiet=True)
    done = sum(1 for key in wanted if key in current)
    if done:
        retried = sum(1 for _, attempt in todo if attempt > 1)
        console.print(
            f"resuming: {done} of {len(wanted)} results already in {results_path}"
            + (f"; retrying {retried} infrastructure failure(s)" if retried else "")
        )
    own_judge = judge_identity()
    runner = executor.make(workers)
    try:
        # Workers start before the progress bar's refresh thread does: forking beside a running thread is unsafe.
        runner.start(orders, options)
        with (
            results_path.open("a", encoding="utf-8") as results,
            Progress(
                TextColumn("[bold]bench[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=False,
            ) as progress,
        ):
            bar = progress.add_task("", total=len(orders))
            resolved = 0
            for _order, outcome in runner.outcomes():
                row = store_outcome(options.out, outcome, own_judge)
                results.write(json.dumps(row) + "\n")
                results.flush()
                resolved += bool(row["resolved"])
                last = escape(printable(str(row["instance_id"]), one_line=True))
                progress.update(bar, advance=1, description=f"resolved {resolved}  last {last}")
    except KeyboardInterrupt:
        raise Interrupted("bench interrupted; run the same command again to resume") from None
    finally:
        runner.close()
        current = latest(read_results(results_path))
        rows = [current[key] for key in wanted if key in current]
        title = f"be-agent bench: {tasks_file.name} ({options.agent}" + (
            f", {options.settings.model})" if options.agent == "be-agent" else ")"
        )
        (options.out / "report.md").write_text(
            render_report(rows, title=title, judge=own_judge), encoding="utf-8"
        )
        save_bench_report(options.out, rows, title=title)
    if rows:
        console.print(rate_line(rows))
    return rows
