"""The stand-in Messages API speaks the wire format the real SDK expects, and its faults look real."""

from __future__ import annotations

import http.client
import json
from typing import Any

import anthropic
import httpx2
import pytest

from tests.standin import (
    Reply,
    StandinServer,
    drop,
    error,
    load_script,
    malformed,
    reply,
    stream_error,
    text,
    tool_use,
)

SYSTEM: Any = [
    {"type": "text", "text": "You are a careful engineer. " * 40, "cache_control": {"type": "ephemeral"}}
]


def client(srv: StandinServer, key: str = "test-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=srv.base_url, max_retries=0, timeout=5)


def user(content: str) -> Any:
    return {"role": "user", "content": [{"type": "text", "text": content}]}


def post(srv: StandinServer, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_streamed_turn_round_trips_text_and_tool_use_through_the_sdk() -> None:
    turn = reply("Let me look.", tool_use("bash", {"command": "ls -la", "restart": False}, id="toolu_1"))
    with StandinServer([turn]) as srv:
        with client(srv).messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, system=SYSTEM, messages=[user("fix the bug")]
        ) as stream:
            message = stream.get_final_message()
        assert [b.type for b in message.content] == ["text", "tool_use"]
        assert message.content[0].text == "Let me look."  # type: ignore[union-attr]
        assert message.content[1].input == {"command": "ls -la", "restart": False}  # type: ignore[union-attr]
        assert message.content[1].id == "toolu_1"  # type: ignore[union-attr]
        assert message.stop_reason == "tool_use"
        recorded = srv.requests[0]
        assert recorded.api_key == "test-key"
        assert recorded.body["stream"] is True
        assert recorded.body["messages"] == [user("fix the bug")]


def test_non_streamed_request_gets_a_json_message() -> None:
    with StandinServer([reply("plain")]) as srv:
        message = client(srv).messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[user("hi")])
        assert message.content[0].text == "plain"  # type: ignore[union-attr]
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens > 0


def test_stream_carries_all_event_types_in_order() -> None:
    with StandinServer([reply("hi", tool_use("finish", {"summary": "ok"}))]) as srv:
        status, headers, data = post(
            srv, {"model": "m", "max_tokens": 5, "stream": True, "messages": [user("go")]}
        )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["request-id"].startswith("req_")
    names = [line.split(": ", 1)[1] for line in data.decode().splitlines() if line.startswith("event:")]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    deltas = [
        json.loads(line[6:])
        for line in data.decode().splitlines()
        if line.startswith("data:") and "input_json_delta" in line
    ]
    assert json.loads("".join(d["delta"]["partial_json"] for d in deltas)) == {"summary": "ok"}


@pytest.mark.parametrize(
    ("status", "error_type", "exc"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (413, "request_too_large", anthropic.ContentTooLargeError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.OverloadedError),
    ],
)
def test_error_statuses_have_real_bodies(status: int, error_type: str, exc: type[Exception]) -> None:
    with StandinServer([error(status)]) as srv, pytest.raises(exc) as info:
        client(srv).messages.create(model="m", max_tokens=5, messages=[user("hi")])
    assert info.value.type == error_type  # type: ignore[attr-defined]
    assert info.value.request_id  # type: ignore[attr-defined]


def test_fault_count_and_retry_after_headers() -> None:
    with StandinServer([error(429, retry_after=2, retry_after_ms=1500, count=2), reply("ok")]) as srv:
        for _ in range(2):
            status, headers, body = post(srv, {"model": "m", "max_tokens": 5, "messages": [user("x")]})
            assert status == 429 and headers["retry-after"] == "2" and headers["retry-after-ms"] == "1500"
            assert json.loads(body)["error"]["type"] == "rate_limit_error"
        status, _, _ = post(srv, {"model": "m", "max_tokens": 5, "messages": [user("x")]})
        assert status == 200
        assert srv.attempts == 3 and srv.remaining == 0


def test_broken_streams_fail_in_the_client_like_real_network_faults() -> None:
    with StandinServer([drop(after_events=4), malformed(), stream_error("overloaded_error")]) as srv:
        c = client(srv)
        with pytest.raises(httpx2.RemoteProtocolError):
            c.messages.stream(model="m", max_tokens=5, messages=[user("x")]).__enter__().get_final_message()
        with pytest.raises(ValueError):
            c.messages.stream(model="m", max_tokens=5, messages=[user("x")]).__enter__().get_final_message()
        with pytest.raises(anthropic.APIStatusError) as info:
            c.messages.stream(model="m", max_tokens=5, messages=[user("x")]).__enter__().get_final_message()
        assert info.value.type == "overloaded_error"
        assert [r.outcome for r in srv.requests] == ["drop", "malformed", "stream_error"]


def test_requests_the_real_api_rejects_get_400_without_using_the_script() -> None:
    dangling: Any = [
        user("go"),
        {"role": "assistant", "content": [tool_use("bash", {"command": "ls"}, id="t1")]},
        user("no result here"),
    ]
    too_many: Any = [
        {"type": "text", "text": f"s{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)
    ]
    with StandinServer([reply("never sent")], context_window=50) as srv:
        c = client(srv)
        with pytest.raises(anthropic.BadRequestError, match="without `tool_result`"):
            c.messages.create(model="m", max_tokens=5, messages=dangling)
        with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks with cache_control"):
            c.messages.create(model="m", max_tokens=5, system=too_many, messages=[user("x")])
        with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
            c.messages.create(model="m", max_tokens=5, messages=[user("word " * 200)])
        assert srv.remaining == 1


def test_wrong_api_key_gets_401_when_a_key_is_required() -> None:
    with StandinServer([reply("ok")], api_key="right") as srv:
        with pytest.raises(anthropic.AuthenticationError):
            client(srv, key="wrong").messages.create(model="m", max_tokens=5, messages=[user("x")])
        assert client(srv, key="right").messages.create(model="m", max_tokens=5, messages=[user("x")])


def test_exhausted_script_answers_400_and_callable_entries_see_the_request() -> None:
    def echo(request: Any) -> Reply:
        return reply(f"you said {request.messages[-1]['content'][0]['text']}")

    with StandinServer([echo]) as srv:
        c = client(srv)
        message = c.messages.create(model="m", max_tokens=5, messages=[user("ping")])
        assert message.content[0].text == "you said ping"  # type: ignore[union-attr]
        with pytest.raises(anthropic.BadRequestError, match="script exhausted"):
            c.messages.create(model="m", max_tokens=5, messages=[user("again")])


def test_prompt_cache_reads_the_prefix_written_by_the_previous_request() -> None:
    def conversation(turns: int) -> Any:
        messages: list[dict[str, Any]] = [user("task " * 50)]
        for i in range(turns):
            messages.append({"role": "assistant", "content": [text(f"step {i} " * 20)]})
            messages.append(user(f"result {i} " * 20))
        messages[-1] = {
            "role": "user",
            "content": [{**messages[-1]["content"][0], "cache_control": {"type": "ephemeral"}}],
        }
        return messages

    with StandinServer([reply("a"), reply("b"), reply("c")]) as srv:
        c = client(srv)
        first = c.messages.create(model="m", max_tokens=5, system=SYSTEM, messages=conversation(0))
        second = c.messages.create(model="m", max_tokens=5, system=SYSTEM, messages=conversation(1))
        other_model = c.messages.create(model="n", max_tokens=5, system=SYSTEM, messages=conversation(1))
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 100
    # The second request re-reads everything the first one cached and writes only the new turns.
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens and second.usage.cache_creation_input_tokens > 0
    assert second.usage.input_tokens == 0
    assert other_model.usage.cache_read_input_tokens == 0


def test_json_script_file(tmp_path: Any) -> None:
    path = tmp_path / "script.json"
    path.write_text(
        json.dumps(
            [{"fault": "status", "status": 529, "count": 2}, {"content": [{"type": "text", "text": "hi"}]}]
        )
    )
    with StandinServer(load_script(str(path))) as srv:
        statuses = [post(srv, {"model": "m", "max_tokens": 5, "messages": [user("x")]})[0] for _ in range(3)]
    assert statuses == [529, 529, 200]
