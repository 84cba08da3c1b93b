"""Jobs, their states, and the queue that schedules them."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass
class Job:
    id: int
    name: str
    payload: dict[str, Any]
    max_attempts: int
    run_at: float
    idempotency_key: str | None = None
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0  # how many times a worker has started it
    last_error: str | None = None
    history: list[float] = field(default_factory=list)  # when each attempt started


class JobQueue:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, base_delay: float = 1.0,
                 max_delay: float = 300.0):
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)

    def enqueue(self, name: str, payload: dict[str, Any] | None = None, *, delay: float = 0.0,
                max_attempts: int = 3, idempotency_key: str | None = None) -> int:
        """Add a job and return its id. With an idempotency key, repeating the call returns the same job."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if idempotency_key is not None:
            for job in self._jobs.values():
                if job.idempotency_key == idempotency_key and job.status is JobStatus.PENDING:
                    return job.id
        job = Job(next(self._ids), name, dict(payload or {}), max_attempts, self.clock() + delay,
                  idempotency_key)
        self._jobs[job.id] = job
        return job.id

    def get(self, job_id: int) -> Job:
        return self._jobs[job_id]

    def claim(self) -> Job | None:
        """The next due pending job (earliest run_at, then oldest), marked running; None when none is due."""
        now = self.clock()
        due = [j for j in self._jobs.values() if j.status is JobStatus.PENDING and j.run_at <= now]
        if not due:
            return None
        job = min(due, key=lambda j: (j.run_at, j.id))
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.history.append(now)
        return job

    def complete(self, job_id: int) -> None:
        job = self._jobs[job_id]
        job.status = JobStatus.DONE
        job.last_error = None

    def fail(self, job_id: int, error: str) -> None:
        """Record a failed attempt: schedule a retry, or make the job a dead letter when attempts run out."""
        job = self._jobs[job_id]
        job.last_error = error
        if job.attempts > job.max_attempts:
            job.status = JobStatus.DEAD
            return
        job.status = JobStatus.PENDING
        job.run_at = self.clock() + self.base_delay * 2 ** job.attempts

    def dead_letters(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.status is JobStatus.DEAD]

    def pending(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.status is JobStatus.PENDING]

    def next_run_at(self) -> float | None:
        """When the earliest pending job becomes due, or None when nothing is pending."""
        times = [j.run_at for j in self.pending()]
        return min(times) if times else None
