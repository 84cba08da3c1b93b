"""AnthropicModel through the real SDK over real HTTP against the stand-in: parsing, retries, failures."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from agent.anthropic_model import AnthropicModel, with_cache_breakpoints
from agent.errors import ContextOverflowError, ModelAPIError, UsageError
from agent.retry import RetryEvent, RetryPolicy, parse_retry_after
from tests.standin import (
    StandinServer,
    drop,
    error,
    malformed,
    reply,
    stall,
    stream_error,
    tool_use,
    truncate,
)

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-sonnet-4-6"
SYSTEM = [{"type": "text", "text": "You fix bugs."}, {"type": "text", "text": "Repository guidance."}]
TOOLS = [
    {"name": "run_tests", "description": "run the tests", "input_schema": {"type": "object"}},
    {"name": "finish", "description": "finish", "input_schema": {"type": "object"}},
]
MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Fix the failing test."}]}]


def fast(budget: float = 2.0) -> RetryPolicy:
    return RetryPolicy(budget=budget, base=0.01, cap=0.05)


def model_for(srv: StandinServer, **kwargs: Any) -> AnthropicModel:
    kwargs.setdefault("retry_policy", fast())
    kwargs.setdefault("request_timeout", 5)
    return AnthropicModel(MODEL, api_key=KEY, base_url=srv.base_url, **kwargs)


def ask(model: AnthropicModel, messages: list[dict[str, Any]] = MESSAGES) -> Any:
    return model.query(system=SYSTEM, tools=TOOLS, messages=messages)


def gaps(srv: StandinServer) -> list[float]:
    times = [r.received_at for r in srv.message_requests]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_streamed_turn_with_text_and_tool_use() -> None:
    call = tool_use("run_tests", {"tests": ["tests/test_x.py::test_a[1 - 2]"]}, id="toolu_01")
    with StandinServer([reply("I will run the tests.", call, usage={"output_tokens": 42})]) as srv:
        turn = ask(model_for(srv))
        assert srv.requests[0].api_key == KEY
        assert srv.requests[0].body["stream"] is True
    assert turn.content == [
        {"type": "text", "text": "I will run the tests."},
        {
            "type": "tool_use",
            "id": "toolu_01",
            "name": "run_tests",
            "input": {"tests": ["tests/test_x.py::test_a[1 - 2]"]},
        },
    ]
    assert turn.stop_reason == "tool_use"
    assert turn.attempts == 1 and turn.model == MODEL
    assert turn.usage.output == 42
    assert turn.usage.input + turn.usage.cache_write > 0


def test_529_three_times_then_success_takes_four_attempts() -> None:
    events: list[RetryEvent] = []
    with StandinServer([error(529, count=3), reply("done")]) as srv:
        turn = ask(model_for(srv, on_retry=events.append))
        assert srv.attempts == 4
    assert turn.attempts == 4 and turn.content == [{"type": "text", "text": "done"}]
    assert [e.attempt for e in events] == [1, 2, 3]
    assert {e.reason for e in events} == {"overloaded (529)"}


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_other_retryable_statuses_are_retried(status: int) -> None:
    with StandinServer([error(status), reply("ok")]) as srv:
        assert ask(model_for(srv)).attempts == 2


@pytest.mark.parametrize(
    ("header", "seconds"), [({"retry_after": 0.3}, 0.3), ({"retry_after_ms": 250}, 0.25)]
)
def test_429_retry_after_is_honoured(header: dict[str, Any], seconds: float) -> None:
    events: list[RetryEvent] = []
    with StandinServer([error(429, **header), reply("ok")]) as srv:
        turn = ask(model_for(srv, on_retry=events.append))
        (gap,) = gaps(srv)
    assert turn.attempts == 2
    assert gap >= seconds  # our own backoff would have waited at most 0.05 s
    assert events[0].retry_after == pytest.approx(seconds) and events[0].reason == "rate limited (429)"


@pytest.mark.parametrize(
    "fault",
    [
        drop(after_events=4),
        truncate(after_events=5),
        malformed(),
        stream_error("overloaded_error"),
        error(500),
    ],
    ids=["dropped-connection", "stream-ends-early", "malformed-sse", "overloaded-event-in-stream", "500"],
)
def test_broken_responses_are_retried_then_succeed(fault: Any) -> None:
    with StandinServer([fault, reply("recovered", tool_use("finish", {"summary": "ok"}, id="t9"))]) as srv:
        turn = ask(model_for(srv))
        assert srv.attempts == 2
    assert turn.attempts == 2
    assert turn.content[0] == {"type": "text", "text": "recovered"}
    assert turn.content[1]["input"] == {"summary": "ok"}


def test_a_stalled_response_times_out_and_is_retried() -> None:
    events: list[RetryEvent] = []
    with StandinServer([stall(3), reply("ok")]) as srv:
        turn = ask(model_for(srv, request_timeout=0.3, on_retry=events.append))
    assert turn.attempts == 2
    assert [e.reason for e in events] == ["timed out"]


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (400, "invalid_request_error", "messages.1.content.0: unexpected block"),
        (401, "authentication_error", "invalid x-api-key"),
        (403, "permission_error", "not allowed"),
        (404, "not_found_error", "model: claude-nope"),
    ],
)
def test_client_errors_fail_at_once_with_what_the_api_said(
    status: int, error_type: str, message: str
) -> None:
    events: list[RetryEvent] = []
    with StandinServer([error(status, message=message), reply("never")]) as srv:
        with pytest.raises(ModelAPIError) as info:
            ask(model_for(srv, on_retry=events.append))
        assert srv.attempts == 1
    assert events == []  # no wait, no second attempt
    assert not isinstance(info.value, ContextOverflowError)
    assert str(info.value).startswith(f"model API rejected the request ({status} {error_type}): {message}")
    assert info.value.exit_code == 3


def test_non_retryable_error_event_inside_a_stream_fails_at_once() -> None:
    with StandinServer([stream_error("invalid_request_error", message="bad tool input")]) as srv:
        with pytest.raises(ModelAPIError, match=r"invalid_request_error\): bad tool input"):
            ask(model_for(srv))
        assert srv.attempts == 1


def test_budget_exhausted_on_persistent_529_names_the_failure_and_time() -> None:
    events: list[RetryEvent] = []
    with StandinServer([error(529, count=10_000)]) as srv:
        with pytest.raises(ModelAPIError) as info:
            ask(model_for(srv, retry_policy=fast(budget=0.5), on_retry=events.append))
        attempts = srv.attempts
    # No wait was started that would end past the budget; it stopped when the next one would have.
    assert all(e.elapsed_s + e.wait_s <= 0.5 for e in events)
    match = re.fullmatch(
        r"model API overloaded \(529\) for (\d\.\d) s; gave up after (\d+) attempts "
        r"\(retry budget 0\.5 s\): Overloaded",
        str(info.value),
    )
    assert match, str(info.value)
    assert int(match.group(2)) == attempts == len(events) + 1 > 5
    assert float(match.group(1)) >= 0.4  # it used its budget before giving up


def test_retry_after_beyond_the_budget_gives_up_without_waiting() -> None:
    events: list[RetryEvent] = []
    with StandinServer([error(429, retry_after=30)]) as srv:
        with pytest.raises(ModelAPIError, match=r"rate limited \(429\).*asked to wait 30 s more"):
            ask(model_for(srv, retry_policy=fast(budget=5), on_retry=events.append))
        assert srv.attempts == 1
    assert events == []  # it gave up instead of starting a wait it could not finish


def test_default_backoff_doubles_with_jitter_and_caps() -> None:
    policy = RetryPolicy(base=1.0, cap=30.0, jitter=0.25)
    for failed, nominal in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (12, 30)]:
        assert nominal * 0.75 <= policy.backoff(failed) <= nominal


def test_413_and_prompt_too_long_raise_context_overflow() -> None:
    with (
        StandinServer([error(413)]) as srv,
        pytest.raises(ContextOverflowError, match=r"\(413 request_too_large\)"),
    ):
        ask(model_for(srv))
    with StandinServer([reply("never")], context_window=20) as srv:
        with pytest.raises(ContextOverflowError, match="prompt is too long"):
            ask(model_for(srv))
        assert srv.attempts == 1


def test_cache_breakpoints_on_tools_system_and_latest_message() -> None:
    messages = [
        MESSAGES[0],
        {"role": "assistant", "content": [tool_use("run_tests", {}, id="t1")]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "1 failed"},
                {"type": "text", "text": "keep going"},
            ],
        },
    ]
    before = copy.deepcopy((SYSTEM, TOOLS, messages))
    with StandinServer([reply("a"), reply("b")]) as srv:
        model = model_for(srv)
        first = ask(model, messages[:1])
        second = ask(model, messages)
        body = srv.bodies[1]
    assert (SYSTEM, TOOLS, messages) == before  # the caller's data is untouched
    ephemeral = {"type": "ephemeral"}
    assert [t.get("cache_control") for t in body["tools"]] == [None, ephemeral]
    assert [s.get("cache_control") for s in body["system"]] == [None, ephemeral]
    assert [b.get("cache_control") for m in body["messages"] for b in m["content"]] == [
        None,
        None,
        None,
        ephemeral,
    ]
    # The second step re-reads what the first one cached.
    assert first.usage.cache_write > 0
    assert second.usage.cache_read == first.usage.cache_write


def test_with_cache_breakpoints_keeps_at_most_four_and_skips_thinking() -> None:
    system = [{"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}} for i in range(3)]
    tools: list[dict[str, Any]] = [{"name": "a", "cache_control": {"type": "ephemeral"}}, {"name": "b"}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "old", "cache_control": {"x": 1}}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "thinking", "thinking": "hm", "signature": "s"},
            ],
        },
    ]
    before = copy.deepcopy((system, tools, messages))
    new_system, new_tools, new_messages = with_cache_breakpoints(system, tools, messages)
    assert (system, tools, messages) == before
    marks = [b for part in (new_tools, new_system) for b in part if "cache_control" in b]
    marks += [b for m in new_messages for b in m["content"] if "cache_control" in b]
    assert len(marks) == 4
    assert "cache_control" in new_tools[-1] and "cache_control" in new_system[-1]
    assert "cache_control" not in new_messages[0]["content"][0]
    assert new_messages[1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in new_messages[1]["content"][1]
    _, _, from_string = with_cache_breakpoints([], [], [{"role": "user", "content": "plain"}])
    assert from_string[0]["content"] == [
        {"type": "text", "text": "plain", "cache_control": {"type": "ephemeral"}}
    ]


def test_api_key_never_appears_in_errors() -> None:
    with (
        StandinServer([error(401, message=f"invalid x-api-key: {KEY}")]) as srv,
        pytest.raises(ModelAPIError) as info,
    ):
        ask(model_for(srv))
    assert KEY not in str(info.value) and "[redacted]" in str(info.value)
    with StandinServer([drop(count=10_000)]) as srv, pytest.raises(ModelAPIError) as info:
        ask(model_for(srv, retry_policy=fast(budget=0.2)))
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert "stream broken" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_key_is_a_usage_error_and_base_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicModel(MODEL)
    with StandinServer([reply("via env")]) as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        turn = ask(AnthropicModel(MODEL, retry_policy=fast()))
        assert srv.requests[0].api_key == KEY
    assert turn.content == [{"type": "text", "text": "via env"}]


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
