"""An in-process background job queue."""

from jobqueue.queue import Job, JobQueue, JobStatus
from jobqueue.worker import Worker

__all__ = ["Job", "JobQueue", "JobStatus", "Worker"]
