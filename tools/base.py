"""What every tool returns and the shape every tool has."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolResult:
    """The text the model reads, whether it is an error, and structured data the harness keeps."""

    content: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class ToolInputError(Exception):
    """Raised inside a tool for a bad call; becomes an `is_error` result with this message."""


class Tool(Protocol):
    name: str

    def spec(self) -> dict[str, Any]:
        """The tool definition sent to the Messages API."""
        ...

    def __call__(self, params: dict[str, Any]) -> ToolResult: ...
