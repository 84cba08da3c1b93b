"""A model that answers from a script, in process: replays, the bench's own steps, and unit tests of the loop.

It implements the `Model` protocol exactly as the API-backed model does: each `query` returns the next
scripted turn, or raises the scripted error (a `ModelAPIError`, say) in its place. With no turn left it
raises `ScriptEnded`, so the loop ends as `script_ended`: inconclusive, never fixed. Every request it was
sent is kept, for a test to read what the model was shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.model import ModelTurn, ScriptEnded, Usage

Step = ModelTurn | Exception


def turn(*content: dict[str, Any], usage: Usage | None = None) -> ModelTurn:
    """A turn of the given content blocks; `tool_use` as its stop reason when it calls a tool."""
    calls = any(block.get("type") == "tool_use" for block in content)
    return ModelTurn(list(content), "tool_use" if calls else "end_turn", usage=usage or Usage())


def call(name: str, call_id: str, **params: Any) -> dict[str, Any]:
    """A `tool_use` block."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": params}


def text(words: str) -> dict[str, Any]:
    """A `text` block."""
    return {"type": "text", "text": words}


class ScriptedModel:
    def __init__(self, script: Iterable[Step], name: str = "scripted"):
        self.name = name
        self._script = list(script)
        self._next = 0
        self.requests: list[list[dict[str, Any]]] = []  # the messages of every query, in order

    def query(
        self,
        *,
        system: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        deadline: float | None = None,
    ) -> ModelTurn:
        self.requests.append(messages)
        if self._next >= len(self._script):
            raise ScriptEnded(self.ended())
        step = self._script[self._next]
        self._next += 1
        if isinstance(step, Exception):
            raise step
        return step

    def ended(self) -> str:
        """Why the script has no turn for this query (the outcome's reason)."""
        return f"the script has no turn {self._next + 1}: it holds {len(self._script)}"
