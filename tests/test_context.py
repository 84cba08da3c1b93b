"""Eliding old tool outputs keeps the conversation in the window without breaking the API's rules."""

from __future__ import annotations

import copy
from typing import Any

from agent.context import (
    compact_harder,
    estimate_tokens,
    fit_to_window,
    messages_budget,
)
from tests.standin import validate


def conversation(steps: int, output_chars: int = 4000) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Fix it. " * 200}]}
    ]
    for i in range(steps):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"step {i}"},
                    {"type": "tool_use", "id": f"t{i}", "name": "bash", "input": {"command": f"cat file{i}"}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": f"t{i}",
                        "content": f"line {i}\n" * (output_chars // 7),
                    }
                ],
            }
        )
    return messages


def results(messages: list[dict[str, Any]]) -> list[str]:
    return [
        b["content"]
        for m in messages
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]


def test_under_budget_is_returned_unchanged() -> None:
    messages = conversation(3)
    assert fit_to_window(messages, budget_tokens=10**6) == messages


def test_oldest_outputs_are_elided_first_until_under_budget() -> None:
    messages = conversation(12)
    before = copy.deepcopy(messages)
    budget = estimate_tokens(messages) - 3000
    fitted = fit_to_window(messages, budget_tokens=budget, keep_last=6)
    assert messages == before  # input untouched
    assert estimate_tokens(fitted) <= budget
    outputs = results(fitted)
    elided = [o.startswith("[output of this") for o in outputs]
    assert elided[:3] == [True, True, True] and not any(elided[3:])  # a prefix of the oldest ones only
    original = len(results(messages)[0])
    assert (
        outputs[0] == f"[output of this bash call elided to fit the context window; {original:,} characters]"
    )
    assert fitted[0] == messages[0] and fitted[-6:] == messages[-6:]
    assert validate({"model": "m", "max_tokens": 1, "messages": fitted}, context_window=None) is None


def test_first_message_and_recent_messages_are_never_touched() -> None:
    messages = conversation(4)
    fitted = fit_to_window(messages, budget_tokens=1, keep_last=4)
    assert fitted[0] == messages[0] and fitted[-4:] == messages[-4:]
    assert [o.startswith("[output") for o in results(fitted)] == [True, True, False, False]
    assert fit_to_window(messages, budget_tokens=1, keep_last=100) == messages


def test_is_error_and_pairing_are_kept_and_list_content_is_counted() -> None:
    messages = conversation(1) + conversation(1)[1:]
    messages[2]["content"][0] = {
        "type": "tool_result",
        "tool_use_id": "t0",
        "is_error": True,
        "content": [{"type": "text", "text": "x" * 1234}],
    }
    messages[3]["content"][1]["id"] = "t1"
    messages[4]["content"][0]["tool_use_id"] = "t1"
    fitted = fit_to_window(messages, budget_tokens=1, keep_last=2)
    block = fitted[2]["content"][0]
    assert block == {
        "type": "tool_result",
        "tool_use_id": "t0",
        "is_error": True,
        "content": "[output of this bash call elided to fit the context window; 1,234 characters]",
    }


def test_compact_harder_keeps_only_the_last_outputs_and_is_idempotent() -> None:
    messages = conversation(8)
    compacted = compact_harder(messages, keep_outputs=2)
    flags = [o.startswith("[output") for o in results(compacted)]
    assert flags == [True] * 6 + [False] * 2
    assert estimate_tokens(compacted) < estimate_tokens(messages) / 3
    assert compact_harder(compacted, keep_outputs=2) == compacted
    assert all(o.startswith("[output") for o in results(compact_harder(messages, keep_outputs=0)))
    assert validate({"model": "m", "max_tokens": 1, "messages": compacted}, context_window=None) is None


def test_messages_budget_leaves_room_for_prefix_and_response() -> None:
    system = [{"type": "text", "text": "x" * 4000}]
    prefix = estimate_tokens(system)
    assert 1000 <= prefix <= 1010
    assert (
        messages_budget(200_000, system=system, max_tokens=8192, headroom=0.8) == int(191_808 * 0.8) - prefix
    )
    assert messages_budget(1000, max_tokens=8192) == 0
