"""One retry policy for model calls: exponential backoff with jitter, `retry-after` honoured, a time budget.

Budget semantics: `budget` is the wall time, counted from the start of the first attempt, within which a new
attempt may still START. Before each wait the policy checks `elapsed + wait`; if that would pass the budget
it gives up at once instead of sleeping (so it never sleeps past the budget only to give up). The attempt in
flight is bounded separately by the request timeout, so the worst case for one call is `budget +
request_timeout`; with transient errors that answer quickly (a 529 takes milliseconds) a call ends within the
budget.

A `deadline` (the run's `--max-time`, as a `time.monotonic()` value) bounds the retries the same way: no
wait ends after it, and when it is what stops them the error is `DeadlineReached`, so the caller can end
the run as a time limit rather than as an API failure. A failure may also carry its own `max_attempts`
(a host name that does not resolve is not worth two minutes of retries).

The caller signals "retry me" by raising `TransientFailure`; anything else propagates unchanged on the first
occurrence. This module knows nothing about the SDK: `agent.anthropic_model` maps SDK errors onto it.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from agent.errors import ModelAPIError

T = TypeVar("T")


class TransientFailure(Exception):
    """A failure worth retrying. `label` reads well after "model API ", e.g. "overloaded (529)".
    `max_attempts` caps the attempts (this one included) while this failure repeats."""

    def __init__(
        self,
        label: str,
        detail: str = "",
        *,
        retry_after: float | None = None,
        max_attempts: int | None = None,
    ):
        super().__init__(f"{label}: {detail}" if detail else label)
        self.label = label
        self.detail = detail
        self.retry_after = retry_after
        self.max_attempts = max_attempts


class DeadlineReached(ModelAPIError):
    """The retries were cut short by the run's deadline (`--max-time`), not by their own budget."""


@dataclass(frozen=True)
class RetryEvent:
    """Reported to `on_retry` before each wait."""

    attempt: int  # the attempt that just failed (1-based)
    reason: str  # e.g. "overloaded (529)"
    detail: str
    wait_s: float  # how long the policy will now sleep
    elapsed_s: float  # since the first attempt started
    retry_after: float | None  # what the server asked for, if anything


@dataclass
class RetryPolicy:
    budget: float = 120.0  # seconds; see the module docstring
    base: float = 1.0  # first backoff
    cap: float = 30.0  # longest backoff (a server's retry-after may ask for more and is obeyed)
    jitter: float = 0.25  # each backoff is scaled by a random factor in [1 - jitter, 1]

    def backoff(self, failed_attempts: int) -> float:
        delay: float = min(self.cap, self.base * 2.0 ** (failed_attempts - 1))
        return delay * (1 - self.jitter * random.random())

    def wait_for(self, failure: BaseException | None, failed_attempts: int) -> float:
        if (
            isinstance(failure, TransientFailure)
            and failure.retry_after is not None
            and failure.retry_after >= 0
        ):
            return failure.retry_after
        return self.backoff(failed_attempts)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(millis) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"


def call_with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[RetryEvent], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> tuple[T, int]:
    """Run `attempt` until it returns; return (its result, number of attempts made).

    Raises ModelAPIError naming the last transient failure, how long the retries lasted and how many attempts
    were made, once the budget would be exceeded or the failure's own attempts are used up; DeadlineReached
    when the wait would pass `deadline`. Non-transient exceptions propagate at once.
    """
    attempts = 0
    started = time.monotonic()
    stopped_by: list[str] = []

    def counted() -> T:
        nonlocal attempts
        attempts += 1
        return attempt()

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        return policy.wait_for(failure, state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None:
            return
        failure = state.outcome.exception() if state.outcome else None
        assert isinstance(failure, TransientFailure)
        on_retry(
            RetryEvent(
                attempt=state.attempt_number,
                reason=failure.label,
                detail=failure.detail,
                wait_s=state.upcoming_sleep,
                elapsed_s=time.monotonic() - started,
                retry_after=failure.retry_after,
            )
        )

    def stop(state: RetryCallState) -> bool:
        failure = state.outcome.exception() if state.outcome else None
        cap = failure.max_attempts if isinstance(failure, TransientFailure) else None
        if cap is not None and state.attempt_number >= cap:
            stopped_by.append("attempts")
            return True
        next_start = time.monotonic() + state.upcoming_sleep
        if next_start - started >= policy.budget:
            stopped_by.append("budget")
            return True
        if deadline is not None and next_start >= deadline:
            stopped_by.append("deadline")
            return True
        return False

    retrying = Retrying(
        retry=retry_if_exception_type(TransientFailure),
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(counted), attempts
    except TransientFailure as failure:
        elapsed = time.monotonic() - started
        why = stopped_by[-1] if stopped_by else "budget"
        limit = {
            "budget": f"retry budget {_format_seconds(policy.budget)} s",
            "attempts": f"at most {failure.max_attempts} attempts for this failure",
            "deadline": "the run's --max-time came first",
        }[why]
        message = (
            f"model API {failure.label} for {_format_seconds(elapsed)} s; gave up after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} ({limit})"
        )
        if failure.retry_after is not None and elapsed + failure.retry_after >= policy.budget:
            message += f"; the API asked to wait {_format_seconds(failure.retry_after)} s more"
        if failure.detail:
            message += f": {failure.detail}"
        raise (DeadlineReached if why == "deadline" else ModelAPIError)(message) from None
