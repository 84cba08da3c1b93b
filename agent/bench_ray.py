"""The `ray` executor: every bench task is a Ray task on a cluster, with its CPU and memory needs declared.

Ray is an optional extra (`pip install 'backend-engineer-agent[ray]'`): it is imported here and nowhere
else, when a bench asks for `--executor ray`. The cluster is the one at `--ray-address` (`auto` finds a
local one; an existing connection of this process is used as it is), or, without an address, a local
cluster started for this bench with `workers x task_cpus` CPUs and stopped when the bench ends. Every node
needs be-agent installed (the same version: each result names its judge, and the driver refuses results from
another); local paths in the task file (the mirror directory, plain source trees) must be readable at the
same path on every node; git URLs are cloned by each node into its own work directory.

Tasks are not retried by Ray (`max_retries=0`): a task whose worker died comes back as an infrastructure
failure, and `--retry infra` decides. When the driver stops (interrupted, or killed: Ray then ends the
job's tasks), what finished is in results.jsonl and the next bench resumes from there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent.bench_exec import Outcome, lost
from agent.bench_worker import BenchOptions, WorkOrder, bench_one
from agent.errors import UsageError


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray would report usage over the network
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray: pip install 'backend-engineer-agent[ray]' (or pip install ray)"
        ) from None
    return ray


@dataclass
class RayExecutor:
    address: str | None
    workers: int
    task_cpus: float = 1.0
    task_memory: int = 4 * 1024**3  # bytes; the sandbox's own memory limit per command

    def __post_init__(self) -> None:
        self._ray = _ray()
        self._owns_cluster = False
        self._refs: dict[Any, WorkOrder] = {}

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=max(1, round(self.workers * self.task_cpus)),
                    include_dashboard=False,
                    log_to_driver=False,
                )
                self._owns_cluster = True
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            hint = ""
            if self.address and not os.environ.get("RAY_AUTH_MODE"):
                hint = " (a cluster with token authentication, Ray's default, needs RAY_AUTH_MODE=token here)"
            raise UsageError(f"cannot connect to {where}: {str(exc).splitlines()[0]}{hint}") from None

    def start(self, orders: Sequence[WorkOrder], options: BenchOptions) -> None:
        self._connect()
        remote = self._ray.remote(bench_one).options(
            num_cpus=self.task_cpus, memory=self.task_memory, max_retries=0, name="be-agent-bench-task"
        )
        shared = self._ray.put(options)  # once, not once per task
        self._refs = {remote.remote(order, shared): order for order in orders}

    def outcomes(self) -> Iterator[tuple[WorkOrder, Outcome]]:
        ray = self._ray
        pending = list(self._refs)
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                order = self._refs.pop(ref)
                try:
                    yield order, ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died, its node was lost, out of memory
                    yield order, lost(order, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")

    def close(self) -> None:
        ray = self._ray
        for ref in list(self._refs):
            with contextlib.suppress(Exception):  # already finished or gone: nothing left to stop
                ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns_cluster:
            ray.shutdown()
            self._owns_cluster = False
