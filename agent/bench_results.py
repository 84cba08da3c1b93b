"""OUT/results.jsonl: one line per finished (task, run, attempt), appended as each finishes; what is left to do.

Rules a reader can check:
- the file is only ever appended to; a line an interruption cut short is ignored (that task runs again);
- a result belongs to (instance_id, run); when there are several (a retry), the last line wins;
- a (task, run) with a result is never run again, except with `retry="infra"` when its result is an
  infrastructure failure (`failure_kind == "infra"`): a model's failure stays as it was judged;
- rows written before runs and failure kinds existed read as run 1, and as an infrastructure failure when
  the agent failed with an error (their failure text starts with "agent error" or "agent crashed").
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.bench_options import RetryPolicy

ResultKey = tuple[str, int]


def _normalized(row: dict[str, Any]) -> dict[str, Any]:
    row.setdefault("run", 1)
    row.setdefault("attempt", 1)
    if "failure_kind" not in row:
        failure = str(row.get("failure", ""))
        if row.get("resolved"):
            row["failure_kind"] = ""
        elif failure.startswith(("agent error", "agent crashed")):
            row["failure_kind"] = "infra"
        else:
            row["failure_kind"] = "model"
    return row


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every row of a results.jsonl in file order; a line cut short by an interruption is ignored."""
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("instance_id"), str):
                rows.append(_normalized(row))
    return rows


def key_of(row: dict[str, Any]) -> ResultKey:
    return str(row["instance_id"]), int(row.get("run", 1))


def latest(rows: Iterable[dict[str, Any]]) -> dict[ResultKey, dict[str, Any]]:
    """The current result of each (task, run): the last line written for it."""
    current: dict[ResultKey, dict[str, Any]] = {}
    for row in rows:
        current[key_of(row)] = row
    return current


def to_do(
    wanted: Sequence[ResultKey], current: dict[ResultKey, dict[str, Any]], retry: RetryPolicy
) -> list[tuple[ResultKey, int]]:
    """(task, run) pairs to run now, each with its attempt number, in the order of `wanted`."""
    todo = []
    for key in wanted:
        row = current.get(key)
        if row is None:
            todo.append((key, 1))
        elif retry == "infra" and row.get("failure_kind") == "infra":
            todo.append((key, int(row.get("attempt", 1)) + 1))
    return todo


def end_cut_line(path: Path) -> None:
    """End a line an interruption cut short, so the next row starts on a line of its own."""
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a", encoding="utf-8") as results:
            results.write("\n")


@dataclass(frozen=True)
class RunRates:
    """The resolve rate of each run, and their mean and spread."""

    rates: tuple[float, ...]  # per run, in run order, as fractions
    infra: int  # results that are infrastructure failures (counted as not resolved)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.rates) if self.rates else 0.0

    @property
    def stdev(self) -> float | None:
        """The sample standard deviation across runs; None with fewer than two runs."""
        return statistics.stdev(self.rates) if len(self.rates) > 1 else None


def run_rates(rows: Sequence[dict[str, Any]]) -> RunRates:
    by_run: dict[int, list[bool]] = {}
    for row in rows:
        by_run.setdefault(int(row.get("run", 1)), []).append(row.get("resolved") is True)
    rates = tuple(sum(done) / len(done) for _, done in sorted(by_run.items()) if done)
    return RunRates(rates, sum(1 for r in rows if r.get("failure_kind") == "infra"))
