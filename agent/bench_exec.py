"""Where bench tasks run: `local` (a pool of processes on this machine) or `ray` (Ray tasks on a cluster).

Both take the same work orders and hand back outcomes (agent.bench_worker.bench_one's) one at a time, as
each task finishes, in whatever order they finish. A task whose worker died without an outcome (a crashed
or killed process, a node lost) comes back as an infrastructure failure of that task, never as a model's
failure and never as the end of the bench. Neither executor retries on its own: retries are the user's
decision (`--retry infra`), so a rate is never quietly made of second attempts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from agent.bench_tasks import BenchTask
from agent.bench_worker import BenchOptions, WorkOrder, bench_one, new_row
from agent.errors import ExitCode

Outcome = dict[str, Any]


class Executor(Protocol):
    def start(self, orders: Sequence[WorkOrder], options: BenchOptions) -> None:
        """Hand every order to the workers (before any progress display starts its thread)."""
        ...

    def outcomes(self) -> Iterator[tuple[WorkOrder, Outcome]]:
        """Each order's outcome as it finishes."""
        ...

    def close(self) -> None:
        """Stop what is still running and release the workers (also after an interruption)."""
        ...


def lost(order: WorkOrder, why: str) -> Outcome:
    """The outcome of an order whose worker ended without one: an infrastructure failure."""
    row = new_row(BenchTask.model_validate_json(order.task_json), order)
    row.update(failure_kind="infra", exit_code=ExitCode.INTERNAL, failure=f"worker: {why}")
    row.pop("judge")  # no judge ran
    return {"row": row, "patch": "", "run_files": {}}


@dataclass
class LocalExecutor:
    """A process pool on this machine; `workers` tasks at once."""

    workers: int

    def __post_init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[Outcome], WorkOrder] = {}

    def start(self, orders: Sequence[WorkOrder], options: BenchOptions) -> None:
        self._pool = ProcessPoolExecutor(max_workers=min(self.workers, max(len(orders), 1)))
        self._futures = {self._pool.submit(bench_one, order, options): order for order in orders}

    def outcomes(self) -> Iterator[tuple[WorkOrder, Outcome]]:
        pending = set(self._futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                order = self._futures[future]
                try:
                    yield order, future.result()
                except Exception as exc:  # the worker process died (BrokenProcessPool) or could not unpickle
                    yield order, lost(order, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
