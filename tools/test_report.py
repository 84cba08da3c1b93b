"""The harness's record of one test run: what `run_tests` shows the model and what the verdict compares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.pytest_guard import GuardRecord

Outcome = Literal["passed", "failed", "error", "skipped"]


class TestReport(BaseModel):
    __test__ = False  # not a pytest test class

    command: str
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    # test id (for pytest the exact node id, e.g. "tests/test_x.py::test_name[a b]") -> outcome
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    # test id -> trimmed failure message (assertion line, exception type, most relevant frames)
    messages: dict[str, str] = Field(default_factory=dict)
    structured: bool = True  # False when the runner was unknown and only raw output is available
    raw_tail: str = ""  # the end of the raw output, for unknown runners and collection errors
    # without per-test results: the counts from the runner's own summary line (coarse: never evidence)
    summary_counts: dict[str, int] | None = None
    guard: GuardRecord | None = None  # the runtime check's record, in the harness's own pytest runs
    junit_sha256: str | None = None  # of the JUnit report as the harness read it

    def ids_with(self, *outcomes: Outcome) -> list[str]:
        return sorted(t for t, o in self.outcomes.items() if o in outcomes)

    @property
    def failing(self) -> list[str]:
        return self.ids_with("failed", "error")

    def counts(self) -> dict[str, int]:
        c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for o in self.outcomes.values():
            c[o] += 1
        return c

    @property
    def green(self) -> bool:
        """Everything ran and nothing failed."""
        if self.timed_out:
            return False
        if self.structured:
            return not self.failing and self.exit_code in (0, 5) if self.outcomes else self.exit_code == 0
        return self.exit_code == 0

    @property
    def coarse(self) -> bool:
        """The counts come from the runner's summary line, not from per-test results."""
        return not self.outcomes and self.summary_counts is not None

    def brief(self) -> dict[str, object]:
        """The compact form used in results: counts (`coarse` when read from the runner's summary line) and
        failing ids."""
        counts = {**self.counts(), **(self.summary_counts or {})} if self.coarse else self.counts()
        return {
            **counts,
            "coarse": self.coarse,
            "failing": self.failing,
            "timed_out": self.timed_out,
            "exit_code": self.exit_code,
        }
