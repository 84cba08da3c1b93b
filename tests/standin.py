"""A stand-in for the Anthropic Messages API on loopback, driven by a script of turns and faults.

Tests (and bench scripts) point the real `anthropic` SDK at it through `base_url`:

    with StandinServer([reply(text("hi"))]) as srv:
        model = AnthropicModel("claude-sonnet-4-5", api_key="k", base_url=srv.base_url)
        ...
        assert srv.requests[0].headers["x-api-key"] == "k"

Every `POST /v1/messages` consumes the next script entry: a `Reply` (an assistant turn, answered as JSON or
as an SSE stream when the request says `"stream": true`) or a `Fault` (an HTTP error status with a real error
body, a connection dropped mid-stream, a malformed SSE event, an `error` event inside the stream, or a stall).
A fault with `count=n` answers the next n requests. An entry may also be a callable that receives the
`RecordedRequest` and returns a Reply or Fault. Requests the real API would reject (missing fields, more than
four cache_control breakpoints, tool_use without its tool_result, empty text blocks, a prompt longer than
`context_window`) get a 400 without consuming the script, so tests catch malformed conversations.

Token counts are estimates (about 4 characters of JSON per token). Prompt caching is simulated: each
breakpoint writes the prefix ending there to a cache; a later request whose prefix (up to its last
breakpoint) starts with a cached prefix reports that part as `cache_read_input_tokens`, the rest up to its
last breakpoint as `cache_creation_input_tokens`, and only the remainder as `input_tokens`.

Only the standard library is used, so bench scripts can import this module directly. Run as a script to
serve a JSON script file: `python tests/standin.py script.json` (see `load_script` for the format).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

DEFAULT_MODEL = "claude-sonnet-4-6"
CHARS_PER_TOKEN = 4

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "invalid request",
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit.",
    500: "Internal server error",
    529: "Overloaded",
}

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_standin{next(_ids):06d}"


def estimate_tokens(obj: Any) -> int:
    """About one token per 4 characters of compact JSON (strings count their text)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


# --- script entries -------------------------------------------------------------------------------


@dataclass
class Reply:
    """One assistant turn. `stop_reason` defaults to tool_use when a tool_use block is present."""

    content: list[dict[str, Any]]
    stop_reason: str | None = None
    usage: dict[str, int] | None = None  # overrides the estimated usage fields
    model: str | None = None

    def resolved_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if any(b.get("type") == "tool_use" for b in self.content) else "end_turn"


FaultKind = Literal["status", "drop", "truncate", "malformed", "stream_error", "stall"]


@dataclass
class Fault:
    """A failure the server produces instead of (or partway through) a turn.

    - status: an HTTP error with a JSON error body (and `retry-after` / `retry-after-ms` when given)
    - drop: a 200 stream that sends `after_events` events and then closes the connection mid-body
    - truncate: a 200 stream that sends `after_events` events and then ends cleanly, without message_stop
    - malformed: a 200 stream whose event number `after_events + 1` carries broken JSON
    - stream_error: a 200 stream that sends `after_events` events and then an SSE `error` event
    - stall: waits `seconds` without answering, then closes the connection (for client timeouts)
    """

    kind: FaultKind = "status"
    status: int = 500
    error_type: str | None = None
    message: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    after_events: int = 3
    seconds: float = 0.0
    count: int = 1
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.error_type, self.message)


Entry = Reply | Fault | Callable[["RecordedRequest"], "Reply | Fault"]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or _new_id("toolu"), "name": name, "input": input}


def reply(
    *blocks: dict[str, Any] | str, stop_reason: str | None = None, usage: dict[str, int] | None = None
) -> Reply:
    """An assistant turn; plain strings become text blocks."""
    content = [text(b) if isinstance(b, str) else b for b in blocks]
    return Reply(content=content, stop_reason=stop_reason, usage=usage)


def error(
    status: int,
    *,
    count: int = 1,
    message: str | None = None,
    error_type: str | None = None,
    retry_after: float | str | None = None,
    retry_after_ms: float | None = None,
) -> Fault:
    return Fault(
        "status",
        status=status,
        count=count,
        message=message,
        error_type=error_type,
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
    )


def drop(*, after_events: int = 3, count: int = 1) -> Fault:
    return Fault("drop", status=200, after_events=after_events, count=count)


def truncate(*, after_events: int = 3, count: int = 1) -> Fault:
    return Fault("truncate", status=200, after_events=after_events, count=count)


def malformed(*, after_events: int = 2, count: int = 1) -> Fault:
    return Fault("malformed", status=200, after_events=after_events, count=count)


def stream_error(
    error_type: str = "overloaded_error",
    *,
    message: str = "Overloaded",
    after_events: int = 2,
    count: int = 1,
) -> Fault:
    return Fault(
        "stream_error",
        status=200,
        error_type=error_type,
        message=message,
        after_events=after_events,
        count=count,
    )


def stall(seconds: float, *, count: int = 1) -> Fault:
    return Fault("stall", status=0, seconds=seconds, count=count)


def error_body(status: int, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": error_type or ERROR_TYPES.get(status, "api_error"),
            "message": message or DEFAULT_MESSAGES.get(status, f"error {status}"),
        },
    }


# --- what the server saw --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # decoded JSON, or None when the body was not JSON
    raw: bytes
    received_at: float  # time.monotonic()
    status: int = 0  # what the server answered (0: connection closed without a status)
    outcome: str = ""  # "reply", "rejected", or the kind of the Fault that answered
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def api_key(self) -> str | None:
        """The key the client sent, as `x-api-key` or as an `Authorization: Bearer` token (SDK 2.x)."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


# --- request validation and the token/caching model -----------------------------------------------


def _strip_cache_control(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def prompt_segments(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The request's prompt in cache order (tools, system, messages) as (serialised block, has breakpoint)."""
    segments: list[tuple[str, bool]] = []

    def add(tag: str, block: Any) -> None:
        marked = isinstance(block, dict) and "cache_control" in block
        payload = json.dumps([tag, _strip_cache_control(block)], sort_keys=True, separators=(",", ":"))
        segments.append((payload, marked))

    for tool in body.get("tools") or []:
        add("tool", tool)
    system = body.get("system")
    if isinstance(system, str):
        add("system", system)
    elif isinstance(system, list):
        for block in system:
            add("system", block)
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        tag = f"{i}:{message.get('role')}"
        if isinstance(content, str):
            add(tag, content)
        else:
            for block in content or []:
                add(tag, block)
    return segments


def validate(body: Any, *, context_window: int | None) -> str | None:
    """The message the real API would give for a request it rejects, else None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    breakpoints = sum(marked for _, marked in prompt_segments(body))
    if breakpoints > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
    for i, message in enumerate(messages):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for block in blocks:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
        if message.get("role") != "assistant":
            continue
        use_ids = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        if not use_ids:
            continue
        following = messages[i + 1] if i + 1 < len(messages) else None
        if following is None:
            continue  # a trailing assistant turn is a prefill
        next_content = following.get("content")
        result_ids = (
            {b.get("tool_use_id") for b in next_content if b.get("type") == "tool_result"}
            if isinstance(next_content, list)
            else set()
        )
        missing = [u for u in use_ids if u not in result_ids]
        if missing:
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(map(str, missing))}. Each `tool_use` block must have a corresponding "
                f"`tool_result` block in the next message."
            )
    for i, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        previous = messages[i - 1] if i > 0 else {}
        prev_content = previous.get("content")
        if not isinstance(prev_content, list):
            prev_content = []
        known = {b.get("id") for b in prev_content if b.get("type") == "tool_use"}
        for block in content:
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in known:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                    f"`tool_use` block in the previous message."
                )
    if context_window is not None:
        total = sum(estimate_tokens(s) for s, _ in prompt_segments(body))
        if total > context_window:
            return f"prompt is too long: {total} tokens > {context_window} maximum"
    return None


class PromptCache:
    """Prefix cache keyed by (model, hash of the prompt up to a breakpoint)."""

    def __init__(self) -> None:
        self._entries: set[tuple[str, str]] = set()

    def account(self, body: dict[str, Any]) -> dict[str, int]:
        model = str(body.get("model"))
        segments = prompt_segments(body)
        hashes: list[str] = []
        cumulative: list[int] = []
        digest = hashlib.sha256()
        total = 0
        for payload, _ in segments:
            digest.update(payload.encode())
            hashes.append(digest.copy().hexdigest())
            total += estimate_tokens(payload)
            cumulative.append(total)
        marks = [i for i, (_, marked) in enumerate(segments) if marked]
        if not marks:
            return {"input_tokens": total, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
        last = marks[-1]
        read = 0
        for i in range(last, -1, -1):
            if (model, hashes[i]) in self._entries:
                read = cumulative[i]
                break
        for i in marks:
            self._entries.add((model, hashes[i]))
        write = cumulative[last] - read
        return {
            "input_tokens": total - read - write,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }


# --- the wire format ------------------------------------------------------------------------------


def _chunks(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def message_json(turn: Reply, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": turn.content,
        "stop_reason": turn.resolved_stop_reason(),
        "stop_sequence": None,
        "usage": usage,
    }


def stream_events(turn: Reply, model: str, usage: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    start_usage = {**usage, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": _new_id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(turn.content):
        kind = block.get("type")
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in _chunks(block["text"], 48)]
        elif kind == "tool_use":
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            encoded = json.dumps(block.get("input", {}))
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": part} for part in _chunks(encoded, 24)]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": part} for part in _chunks(block["thinking"], 48)]
            deltas.append({"type": "signature_delta", "signature": block.get("signature", "c2lnbmF0dXJl")})
        else:
            raise ValueError(f"stand-in cannot stream a {kind!r} block")
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": turn.resolved_stop_reason(), "stop_sequence": None},
                "usage": usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _sse(name: str, data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {name}\ndata: {payload}\n\n".encode()


# --- the server -----------------------------------------------------------------------------------


class StandinServer:
    """The stand-in API. Use as a context manager; `base_url` is e.g. `http://127.0.0.1:40123`."""

    handler_class: type[BaseHTTPRequestHandler]  # set below: the Messages API's (cloud stand-ins add theirs)

    def __init__(
        self,
        script: Iterable[Entry] = (),
        *,
        model: str | None = None,
        context_window: int | None = None,
        api_key: str | None = None,
        when_exhausted: Reply | Fault | None = None,
    ):
        self._script: list[Entry] = []
        self.model = model
        self.context_window = context_window
        self.api_key = api_key  # when set, other keys get a 401 (the script is not consumed)
        self.when_exhausted = when_exhausted
        self.requests: list[RecordedRequest] = []
        self.cache = PromptCache()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add(*script)

    # script handling
    def add(self, *entries: Entry) -> None:
        """Append entries to the script (also while serving)."""
        with self._lock:
            for entry in entries:
                if isinstance(entry, Fault) and entry.count > 1:
                    self._script.extend([entry] * entry.count)
                else:
                    self._script.append(entry)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _next_entry(self, request: RecordedRequest) -> Reply | Fault:
        with self._lock:
            entry = self._script.pop(0) if self._script else None
        if entry is None:
            if self.when_exhausted is not None:
                return self.when_exhausted
            return error(400, message=f"stand-in script exhausted at request {len(self.requests)}")
        if callable(entry) and not isinstance(entry, Reply | Fault):
            return entry(request)
        return entry

    # lifecycle
    def start(self) -> StandinServer:
        handler = type("Handler", (self.handler_class,), {"standin": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # conveniences for assertions
    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.path.startswith("/v1/messages") and "count_tokens" not in r.path
        ]

    @property
    def attempts(self) -> int:
        return len(self.message_requests)

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.message_requests]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _account(self, body: dict[str, Any]) -> dict[str, int]:
        with self._lock:
            return self.cache.account(body)


class _Handler(BaseHTTPRequestHandler):
    standin: StandinServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # SSE events are small writes; without this each waits on a delayed ACK

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._read_and_record()
        self._send_json(404, error_body(404))

    def do_POST(self) -> None:
        request = self._read_and_record()
        srv = self.standin
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self._reject(request, 404, None)
        if srv.api_key is not None and request.api_key != srv.api_key:
            return self._reject(request, 401, None)
        problem = validate(request.body, context_window=srv.context_window)
        if problem is not None:
            return self._reject(request, 400, problem)
        if path.endswith("count_tokens"):
            total = sum(estimate_tokens(s) for s, _ in prompt_segments(request.body))
            request.status, request.outcome = 200, "reply"
            return self._send_json(200, {"input_tokens": total})
        entry = srv._next_entry(request)
        if isinstance(entry, Fault):
            return self._fault(request, entry)
        self._reply(request, entry)

    # helpers
    def _read_and_record(self) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            received_at=time.monotonic(),
        )
        self.standin._record(request)
        return request

    def _reject(self, request: RecordedRequest, status: int, message: str | None) -> None:
        request.status, request.outcome = status, "rejected"
        self._send_json(status, error_body(status, None, message))

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _usage(self, request: RecordedRequest, turn: Reply) -> dict[str, int]:
        usage = self.standin._account(request.body)
        usage["output_tokens"] = estimate_tokens(turn.content)
        usage.update(turn.usage or {})
        request.usage = dict(usage)
        return usage

    def _model(self, request: RecordedRequest, turn: Reply) -> str:
        return turn.model or self.standin.model or str(request.body.get("model") or DEFAULT_MODEL)

    def _reply(self, request: RecordedRequest, turn: Reply) -> None:
        usage = self._usage(request, turn)
        model = self._model(request, turn)
        request.status, request.outcome = 200, "reply"
        if not request.body.get("stream"):
            return self._send_json(200, message_json(turn, model, usage))
        self._start_stream()
        for name, data in stream_events(turn, model, usage):
            self._write_chunk(_sse(name, data))
        self._end_stream()

    def _fault(self, request: RecordedRequest, fault: Fault) -> None:
        request.outcome = fault.kind
        if fault.kind == "status":
            request.status = fault.status
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["retry-after"] = str(fault.retry_after)
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = str(fault.retry_after_ms)
            return self._send_json(fault.status, fault.body(), headers)
        if fault.kind == "stall":
            self.standin._closing.wait(fault.seconds)
            return self._close_abruptly()
        # The remaining faults break a stream that started normally.
        turn = reply(text("This turn is interrupted by a fault in the stand-in server."))
        events = stream_events(turn, self._model(request, turn), self._usage(request, turn))
        request.status = 200
        self._start_stream()
        for name, data in events[: fault.after_events]:
            self._write_chunk(_sse(name, data))
        if fault.kind == "drop":
            return self._close_abruptly()
        if fault.kind == "malformed":
            self._write_chunk(
                b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
                b'"delta": {"type": "text_del\n\n'
            )
        elif fault.kind == "stream_error":
            self._write_chunk(_sse("error", fault.body()))
        self._end_stream()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", _new_id("req"))
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _close_abruptly(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


StandinServer.handler_class = _Handler


# --- JSON scripts (for running by hand and for bench scripts) -------------------------------------


def entry_from_json(item: dict[str, Any]) -> Reply | Fault:
    """`{"content": [...], "stop_reason": ..., "usage": {...}}` is a Reply; `{"fault": kind, ...}` a Fault."""
    if "fault" in item:
        fields = {k: v for k, v in item.items() if k != "fault"}
        return Fault(kind=item["fault"], **fields)
    return Reply(
        content=item["content"],
        stop_reason=item.get("stop_reason"),
        usage=item.get("usage"),
        model=item.get("model"),
    )


def load_script(path: str) -> list[Reply | Fault]:
    with open(path, encoding="utf-8") as handle:
        return [entry_from_json(item) for item in json.load(handle)]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/standin.py SCRIPT.json", file=sys.stderr)
        return 2
    with StandinServer(load_script(argv[0])) as srv:
        print(f"ANTHROPIC_BASE_URL={srv.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
