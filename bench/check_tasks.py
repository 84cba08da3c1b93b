"""Check the judge against each task's own answers: the gold patch must resolve it, the empty patch must not.

    .venv/bin/python bench/check_tasks.py [TASKS.jsonl] [--workers N]

Prints one row per task and exits 1 when any task disagrees.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from agent.bench_tasks import BenchTask, RepoSources, load_tasks, prepare_repo  # noqa: E402
from agent.judge import Evaluation, evaluate  # noqa: E402

DEFAULT_TASKS = Path(__file__).resolve().parent / "tasks" / "tasks.jsonl"


def check_one(task: BenchTask, repo: Path) -> tuple[Evaluation, Evaluation]:
    return evaluate(task, task.patch, repo=repo), evaluate(task, "", repo=repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="?", type=Path, default=DEFAULT_TASKS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    tasks = load_tasks(args.tasks)
    table = Table("instance", "F2P", "P2P", "gold", "empty", "ok", title=f"judge check: {args.tasks}")
    bad = gold_resolved = empty_resolved = 0
    with tempfile.TemporaryDirectory() as cache, ProcessPoolExecutor(args.workers) as pool:
        sources = RepoSources(args.tasks.resolve().parent)
        repos = {task.repo: prepare_repo(sources.locate(task.repo), Path(cache)) for task in tasks}
        futures = [pool.submit(check_one, task, repos[task.repo]) for task in tasks]
        for task, future in zip(tasks, futures, strict=True):
            gold, empty = future.result()
            ok = gold.resolved and not empty.resolved
            bad += not ok
            gold_resolved += gold.resolved
            empty_resolved += empty.resolved
            table.add_row(
                task.instance_id,
                str(len(task.FAIL_TO_PASS)),
                str(len(task.PASS_TO_PASS)),
                "resolved" if gold.resolved else f"NOT resolved: {gold.reason}",
                "resolved" if empty.resolved else "not resolved",
                "yes" if ok else "NO",
            )
    console = Console(width=160)
    console.print(table)
    total = len(tasks)
    console.print(
        f"gold patches resolved: {gold_resolved}/{total} ({100 * gold_resolved / total:.0f}%); "
        f"empty patches resolved: {empty_resolved}/{total} ({100 * empty_resolved / total:.0f}%); "
        f"judged correctly: {total - bad}/{total}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
