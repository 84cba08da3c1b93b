"""Keep a conversation inside the model's context window by eliding old tool outputs.

Token counts here are estimates: one token per 4 characters of the compact JSON a request would carry.
Source code and logs often tokenize denser than that (about 3 characters a token), so `messages_budget`
leaves headroom; a request that still overflows comes back as ContextOverflowError and the loop then calls
`compact_harder`.

Eliding replaces a `tool_result`'s content with a short note that says the call happened and how much output
it had, so the tool_use/tool_result pairing the API requires stays intact and the model knows it can re-run
the command. All functions are pure: they return new lists and never modify their input.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHARS_PER_TOKEN = 4
DEFAULT_CONTEXT_WINDOW = 200_000  # tokens; the standard window of current Claude models
ELIDED_PREFIX = "[output of this "


def estimate_tokens(obj: Any) -> int:
    """About one token per 4 characters of compact JSON (a plain string counts its own length)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def messages_budget(
    window_tokens: int = DEFAULT_CONTEXT_WINDOW,
    *,
    system: Any = None,
    tools: Any = None,
    max_tokens: int = 8192,
    headroom: float = 0.8,
) -> int:
    """Tokens the messages may use: a `headroom` share of the window after the response, minus the prefix."""
    prefix = (estimate_tokens(system) if system else 0) + (estimate_tokens(tools) if tools else 0)
    return max(0, int((window_tokens - max_tokens) * headroom) - prefix)


def _is_elided(block: dict[str, Any]) -> bool:
    content = block.get("content")
    return isinstance(content, str) and content.startswith(ELIDED_PREFIX)


def _output_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(b.get("text", "")) if b.get("type") == "text" else len(json.dumps(b)) for b in content)
    return 0


def _tool_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            for block in content:
                if block.get("type") == "tool_use":
                    names[block.get("id", "")] = block.get("name", "tool")
    return names


def _results(messages: list[dict[str, Any]], indices: range) -> list[tuple[int, int]]:
    """(message index, block index) of every not-yet-elided tool_result in those messages, oldest first."""
    found = []
    for i in indices:
        content = messages[i].get("content")
        if messages[i].get("role") == "user" and isinstance(content, list):
            found += [
                (i, j)
                for j, block in enumerate(content)
                if block.get("type") == "tool_result" and not _is_elided(block)
            ]
    return found


def _elide(
    messages: list[dict[str, Any]],
    targets: list[tuple[int, int]],
    names: dict[str, str],
    *,
    until_tokens: int | None = None,
) -> list[dict[str, Any]]:
    messages = list(messages)
    total = estimate_tokens(messages)
    for i, j in targets:
        if until_tokens is not None and total <= until_tokens:
            break
        content = list(messages[i]["content"])
        block = content[j]
        name = names.get(block.get("tool_use_id", ""), "tool")
        note = (
            f"{ELIDED_PREFIX}{name} call elided to fit the context window; "
            f"{_output_chars(block.get('content')):,} characters]"
        )
        content[j] = {**block, "content": note}
        total += estimate_tokens(content[j]) - estimate_tokens(block)
        messages[i] = {**messages[i], "content": content}
    return messages


def fit_to_window(
    messages: list[dict[str, Any]], *, budget_tokens: int, keep_last: int = 6
) -> list[dict[str, Any]]:
    """The conversation with its oldest tool outputs elided until it fits in `budget_tokens` (estimated).

    The first message (the task) and the last `keep_last` messages are never changed, so the result can
    still be over budget; the caller then relies on ContextOverflowError and `compact_harder`.
    """
    if estimate_tokens(messages) <= budget_tokens:
        return list(messages)
    end = max(1, len(messages) - keep_last)
    return _elide(
        messages, _results(messages, range(1, end)), _tool_names(messages), until_tokens=budget_tokens
    )


def compact_harder(messages: list[dict[str, Any]], *, keep_outputs: int = 2) -> list[dict[str, Any]]:
    """For after a ContextOverflowError: elide every tool output except the last `keep_outputs`, wherever
    they are (the first message excepted). Returns an equal list when there is nothing left to elide."""
    targets = _results(messages, range(1, len(messages)))
    keep = max(0, keep_outputs)
    return _elide(messages, targets[: len(targets) - keep] if keep else targets, _tool_names(messages))
