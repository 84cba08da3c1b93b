"""`be-agent bench TASKS.jsonl`: run the agent on SWE-bench-style tasks and judge each patch separately.

Every task runs in a worker process: the agent works in its own checkout and hands back a diff; the judge
(agent.judge.evaluate) applies that diff to a fresh checkout, adds the task's test_patch and runs the listed
tests. One line per finished task is appended to OUT/results.jsonl as soon as it finishes, so an interrupted
bench resumes where it stopped; OUT/report.md and OUT/report.html are rewritten from all results at the end.

`--agent gold` and `--agent empty` replace the agent with the task's gold patch or an empty patch: they
check the judge and the task set, and they measure the bench's own cost.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.bench_tasks import BenchTask, load_tasks, prepare_repo
from agent.config import build_request
from agent.errors import AgentError, Interrupted, UsageError
from agent.judge import evaluate
from agent.settings import RunSettings
from agent.terminal import printable
from agent.view_bench import save_bench_report

AgentKind = Literal["be-agent", "gold", "empty"]


@dataclass(frozen=True)
class BenchOptions:
    out: Path
    agent: AgentKind = "be-agent"
    settings: RunSettings = field(default_factory=RunSettings)  # its state_dir is not used: runs live in OUT
    eval_timeout: float = 600.0


def _run_agent(task: BenchTask, repo: Path, options: BenchOptions) -> tuple[str, dict[str, Any]]:
    """The agent's patch for `task` and what it cost."""
    if options.agent == "gold":
        return task.patch, {"agent_status": "gold"}
    if options.agent == "empty":
        return "", {"agent_status": "empty"}
    from agent.run import run_task  # the agent stack loads only when an agent really runs

    request = build_request(
        options.settings,
        repo=repo,
        task=task.problem_statement,
        base=task.base_commit,
        test_cmd=task.test_cmd,
        fetch_back=False,
        keep=True,
        quiet=True,
        state_dir=options.out / "state",
    )
    result = run_task(request)
    patch = (
        Path(result.diff).read_text(encoding="utf-8") if result.diff and Path(result.diff).is_file() else ""
    )
    return patch, {
        "agent_status": result.status,
        "agent_reason": result.reason,
        "steps": result.steps,
        "tokens": result.tokens,
        "cost_usd": result.cost_usd,
        "price_source": result.price_source,
        "model_latency_s": round(result.model_latency_s, 3),
        "harness_s": round(result.duration_s - result.model_latency_s, 3),
        "run_dir": result.run_dir,
    }


def bench_one(task_json: str, repo: str, options: BenchOptions) -> dict[str, Any]:
    """Solve and judge one task; always returns a result row (agent failures become its failure reason)."""
    task = BenchTask.model_validate_json(task_json)
    started = time.monotonic()
    row: dict[str, Any] = {
        "instance_id": task.instance_id,
        "resolved": False,
        "steps": 0,
        "tokens": {},
        "tokens_total": 0,
        "cost_usd": None,
        "wall_s": 0.0,
        "harness_s": None,
        "failure": "",
    }
    try:
        patch, stats = _run_agent(task, Path(repo), options)
    except Interrupted:
        raise
    except AgentError as exc:
        patch, stats = "", {"agent_status": "error", "agent_reason": exc.message}
        row["failure"] = f"agent error: {exc.message}"
    except Exception as exc:  # one broken task must not end the bench
        patch, stats = "", {"agent_status": "error", "agent_reason": repr(exc)}
        row["failure"] = f"agent crashed: {exc!r}"
    row.update(stats)
    row["tokens_total"] = sum(row["tokens"].values())
    patches = options.out / "patches"
    patches.mkdir(parents=True, exist_ok=True)
    (patches / f"{task.instance_id}.diff").write_text(patch, encoding="utf-8")
    if not row["failure"]:
        verdict = evaluate(
            task, patch, repo=Path(repo), timeout=options.eval_timeout, sandbox=options.settings.sandbox
        )
        row["resolved"] = verdict.resolved
        row["failure"] = "" if verdict.resolved else ("empty patch" if not patch.strip() else verdict.reason)
        row["eval_s"] = round(verdict.duration_s, 3)
        row["tests"] = verdict.outcomes
        row["test_infrastructure"] = verdict.test_infrastructure
    row["wall_s"] = round(time.monotonic() - started, 3)
    return row


def read_results(path: Path) -> list[dict[str, Any]]:
    """Rows of a results.jsonl; a line cut short by an interruption is ignored (that task runs again)."""
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "instance_id" in row:
                rows.append(row)
    return rows


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_report(rows: list[dict[str, Any]], *, title: str) -> str:
    total = len(rows)
    resolved = sum(1 for r in rows if r.get("resolved"))
    costs = [r["cost_usd"] for r in rows if r.get("cost_usd") is not None]
    harness = [r["harness_s"] for r in rows if r.get("harness_s") is not None]
    walls = [r["wall_s"] for r in rows]
    lines = [
        f"# {title}",
        "",
        "| tasks | resolved | resolve rate | total cost | cost per task | tokens | median wall s | median harness s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {total} | {resolved} | {100 * resolved / total if total else 0:.1f}% | "
        f"{_money(sum(costs)) if costs else '-'} | {_money(sum(costs) / len(costs)) if costs else '-'} | "
        f"{sum(r.get('tokens_total', 0) for r in rows)} | "
        f"{_seconds(statistics.median(walls)) if walls else '-'} | "
        f"{_seconds(statistics.median(harness)) if harness else '-'} |",
        "",
        f"Prices: {', '.join(sorted({str(r['price_source']) for r in rows if r.get('price_source')})) or 'unknown'}. "
        "Harness time is wall time minus model latency. A task is resolved only when every FAIL_TO_PASS and",
        "every PASS_TO_PASS test passes on a fresh checkout with the patch and the task's test_patch applied.",
        "A patch that changes test files, conftests or pytest configuration is marked: review it before",
        "trusting its resolve.",
        "",
        "| instance | resolved | steps | tokens | cost | wall s | harness s | failure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda row: row["instance_id"]):
        failure = str(r.get("failure", "")).replace("|", "\\|").replace("\n", " ")[:160]
        if r.get("test_infrastructure"):
            touched = ", ".join(r["test_infrastructure"][:5]).replace("|", "\\|")
            failure = f"{failure} (patch touches test infrastructure: {touched})".strip()
        lines.append(
            f"| {r['instance_id']} | {'yes' if r.get('resolved') else 'no'} | {r.get('steps', 0)} | "
            f"{r.get('tokens_total', 0)} | {_money(r.get('cost_usd'))} | {_seconds(r.get('wall_s'))} | "
            f"{_seconds(r.get('harness_s'))} | {failure} |"
        )
    return "\n".join(lines) + "\n"


def run_bench(
    tasks_file: Path, options: BenchOptions, *, workers: int = 1, console: Console | None = None
) -> list[dict[str, Any]]:
    """Run every task not yet in OUT/results.jsonl; write report.md; return the rows of this task file.
    Progress goes to `console` when one is given (the command line gives stderr); nothing is printed
    otherwise."""
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    tasks = load_tasks(tasks_file)
    options.out.mkdir(parents=True, exist_ok=True)
    results_path = options.out / "results.jsonl"
    done = {row["instance_id"] for row in read_results(results_path)}
    if (
        results_path.is_file()
        and results_path.stat().st_size
        and not results_path.read_bytes().endswith(b"\n")
    ):
        with results_path.open("a", encoding="utf-8") as results:
            results.write("\n")  # end a line an interruption cut short, so the next row starts cleanly
    todo = [t for t in tasks if t.instance_id not in done]
    repos = {t.repo: prepare_repo(t.repo, options.out / "repos") for t in todo}
    console = console or Console(quiet=True)
    if done:
        console.print(
            f"resuming: {len(done & {t.instance_id for t in tasks})} of {len(tasks)} tasks already done"
        )
    # Workers start before the progress bar's refresh thread does: forking beside a running thread is unsafe.
    pool = ProcessPoolExecutor(max_workers=min(workers, max(len(todo), 1)))
    futures: dict[Future[dict[str, Any]], BenchTask] = {
        pool.submit(bench_one, t.model_dump_json(), str(repos[t.repo]), options): t for t in todo
    }
    try:
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
            bar = progress.add_task("", total=len(todo))
            resolved = 0
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    row = future.result()
                    results.write(json.dumps(row) + "\n")
                    results.flush()
                    resolved += bool(row["resolved"])
                    last = escape(printable(str(row["instance_id"]), one_line=True))
                    progress.update(bar, advance=1, description=f"resolved {resolved}  last {last}")
    except KeyboardInterrupt:
        raise Interrupted("bench interrupted; run the same command again to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        wanted = {t.instance_id for t in tasks}
        rows = [r for r in read_results(results_path) if r["instance_id"] in wanted]
        title = f"be-agent bench: {tasks_file.name} ({options.agent}" + (
            f", {options.settings.model})" if options.agent == "be-agent" else ")"
        )
        (options.out / "report.md").write_text(render_report(rows, title=title), encoding="utf-8")
        save_bench_report(options.out, rows, title=title)
    return rows
