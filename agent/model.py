"""The model protocol: one call in, one assistant turn out. Implementations live beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Usage:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def add(self, other: Usage) -> None:
        self.input += other.input
        self.output += other.output
        self.cache_read += other.cache_read
        self.cache_write += other.cache_write

    def as_dict(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
        }


@dataclass
class ModelTurn:
    """One assistant message: content blocks as plain dicts (`text`, `tool_use`), as the API returned them."""

    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    attempts: int = 1  # HTTP attempts it took, retries included
    latency_s: float = 0.0


class ScriptEnded(Exception):
    """A scripted model (a replay, the bench's steps, a test's script) has no turn left to give. The loop
    ends its run as `script_ended`: inconclusive, never fixed, no branch."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Model(Protocol):
    name: str

    def query(
        self,
        *,
        system: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        deadline: float | None = None,
    ) -> ModelTurn:
        """Send one request; raise agent.errors.ModelAPIError (or ContextOverflowError) when it cannot.
        `deadline` (a `time.monotonic()` value) is when the run must stop: no retry waits past it
        (agent.retry.DeadlineReached). A scripted model with no turn left raises ScriptEnded."""
        ...
