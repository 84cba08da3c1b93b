import pytest
from jobqueue import JobStatus, Worker
from tests.conftest import drain


def test_jobs_run_in_order(queue):
    seen = []
    queue.enqueue("echo", {"n": 1})
    queue.enqueue("echo", {"n": 2})
    Worker(queue, {"echo": lambda p: seen.append(p["n"])}).run_until_idle()
    assert seen == [1, 2]


def test_delayed_job_waits(queue, clock):
    seen = []
    queue.enqueue("echo", {"n": 1}, delay=30)
    worker = Worker(queue, {"echo": lambda p: seen.append(p["n"])})
    assert worker.run_once() is False
    clock.advance(30)
    assert worker.run_once() is True
    assert seen == [1]


def test_successful_job_is_done(queue):
    job_id = queue.enqueue("noop")
    Worker(queue, {"noop": lambda p: None}).run_until_idle()
    assert queue.get(job_id).status is JobStatus.DONE
    assert queue.get(job_id).attempts == 1


def test_failure_then_success_is_retried(queue, clock):
    calls = []

    def flaky(payload):
        calls.append(clock.now)
        if len(calls) == 1:
            raise ConnectionError("smtp down")

    job_id = queue.enqueue("mail")
    worker = Worker(queue, {"mail": flaky})
    drain(worker, clock)
    assert queue.get(job_id).status is JobStatus.DONE
    assert len(calls) == 2
    assert calls[1] > calls[0]


def test_duplicate_key_while_pending_returns_same_job(queue):
    first = queue.enqueue("charge", {"cents": 500}, idempotency_key="order-1")
    assert queue.enqueue("charge", {"cents": 500}, idempotency_key="order-1") == first
    assert len(queue.pending()) == 1


def test_different_keys_are_different_jobs(queue):
    assert queue.enqueue("charge", idempotency_key="a") != queue.enqueue("charge", idempotency_key="b")


def test_max_attempts_must_be_positive(queue):
    with pytest.raises(ValueError):
        queue.enqueue("noop", max_attempts=0)
