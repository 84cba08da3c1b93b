import pytest
from jobqueue import JobQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(clock):
    return JobQueue(clock=clock, base_delay=1.0, max_delay=60.0)


def drain(worker, clock, *, limit=100):
    """Run jobs, jumping the clock to each next due time, until nothing is pending."""
    for _ in range(limit):
        worker.run_until_idle()
        due = worker.queue.next_run_at()
        if due is None:
            return
        clock.now = max(clock.now, due)
    raise AssertionError("queue did not drain")
