"""Workers run handlers for claimed jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jobqueue.queue import JobQueue

Handler = Callable[[dict[str, Any]], None]


class Worker:
    def __init__(self, queue: JobQueue, handlers: Mapping[str, Handler]):
        self.queue = queue
        self.handlers = dict(handlers)

    def run_once(self) -> bool:
        """Run one due job, if any; return whether a job ran."""
        job = self.queue.claim()
        if job is None:
            return False
        handler = self.handlers[job.name]
        try:
            handler(job.payload)
        except Exception as exc:  # a handler's failure is the job's failure, never the worker's
            self.queue.fail(job.id, f"{type(exc).__name__}: {exc}")
        else:
            self.queue.complete(job.id)
        return True

    def run_until_idle(self) -> int:
        """Run due jobs until none is due; return how many ran."""
        count = 0
        while self.run_once():
            count += 1
        return count
