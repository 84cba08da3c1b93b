"""Claude through the official SDK: streamed requests, one retry policy, prompt-cache breakpoints.

The same code serves every provider (`agent.providers`: the Anthropic API, Amazon Bedrock, Google Vertex AI):
the SDK's clients take the same Messages requests, cache breakpoints included (all three support prompt
caching), and raise the same exceptions. The SDK's own retries are off (`max_retries=0`) so that
`agent.retry` is the only policy and attempts are not multiplied. Errors are mapped like this:

- 408, 409, 429, 5xx (529 included), connection errors, timeouts, a stream that breaks or ends early, a
  malformed SSE event, and an `error` event inside the stream of a retryable type: retried within the budget
  and before the run's deadline (each attempt's timeout is cut to the time left).
- A host name that does not resolve: tried RESOLVE_ATTEMPTS times in all, then a ModelAPIError naming the
  host (a typo in ANTHROPIC_BASE_URL or no DNS is not worth the whole retry budget).
  A malformed event is treated as a broken stream: the request is sent again, not salvaged.
- 413, or a 400 saying the prompt is too long: `ContextOverflowError` at once (the loop compacts and retries).
- Any other 4xx: `ModelAPIError` at once, quoting the status, error type and the API's message.
- A cloud's auth library failing while it signs a request (a token that cannot be refreshed): what the
  provider's connection says it is (`Connection.auth_failure`): retried when the token service could not be
  reached, `ModelAPIError` when the credentials were refused.

No message built here ever contains a credential (every value the connection holds is scrubbed from anything
the server echoes back).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

from agent.errors import ContextOverflowError, ModelAPIError
from agent.model import ModelTurn, Usage
from agent.providers import Connection, ProviderSettings, connect
from agent.retry import RetryEvent, RetryPolicy, TransientFailure, call_with_retries, parse_retry_after

EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4
RETRYABLE_STATUSES = {408, 409, 429}
RETRYABLE_STREAM_ERROR_TYPES = {
    "overloaded_error": 529,
    "api_error": 500,
    "rate_limit_error": 429,
    "timeout_error": 504,
    # Bedrock's exception frames inside an event stream
    "throttlingException": 429,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
    "modelStreamErrorException": 500,
    "modelTimeoutException": 504,
}
_TOO_LONG = re.compile(
    r"prompt is too long|input is too long|exceeds? (the )?context (limit|window)|context window|"
    r"too many (input )?tokens|context length",
    re.IGNORECASE,
)
_UNCACHEABLE_BLOCKS = {"thinking", "redacted_thinking"}
RESOLVE_ATTEMPTS = 3
MIN_ATTEMPT_TIMEOUT_S = 1.0


# --- prompt caching -------------------------------------------------------------------------------


def _marked(block: dict[str, Any]) -> dict[str, Any]:
    return {**block, "cache_control": dict(EPHEMERAL)}


def _unmarked(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _mark_last_cacheable(content: list[Any]) -> list[Any]:
    content = list(content)
    for i in range(len(content) - 1, -1, -1):
        block = content[i]
        if isinstance(block, dict) and block.get("type") not in _UNCACHEABLE_BLOCKS:
            content[i] = _marked(block)
            break
    return content


def _count_marks(blocks: list[dict[str, Any]]) -> int:
    return sum(1 for b in blocks if isinstance(b, dict) and "cache_control" in b)


def with_cache_breakpoints(
    system: list[dict[str, Any]], tools: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Copies of the three request parts with `cache_control: ephemeral` on the last tool, the last system
    block and the last content block of the latest message, so each step reads the conversation so far from
    the cache. Breakpoints already in the messages are dropped (the latest turn's is the one that counts);
    ones the caller put on tools or system are kept unless that would pass the API's limit of four. The
    caller's lists and dicts are never modified."""
    tools = [dict(t) for t in tools]
    system = [dict(s) for s in system]
    if tools:
        tools[-1] = _marked(tools[-1])
    if system:
        system[-1] = _marked(system[-1])
    new_messages: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            message = {**message, "content": [_unmarked(b) for b in content]}
        new_messages.append(message)
    if new_messages:
        last = new_messages[-1]
        content = last.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) and content else content
        if isinstance(blocks, list) and blocks:
            new_messages[-1] = {**last, "content": _mark_last_cacheable(blocks)}
    # Keep the newest breakpoints if the caller's own ones would push the total past the limit.
    excess = (
        _count_marks(tools)
        + _count_marks(system)
        + sum(_count_marks(m["content"]) for m in new_messages[-1:] if isinstance(m.get("content"), list))
        - MAX_BREAKPOINTS
    )
    for part in (tools, system):
        for i, block in enumerate(part[:-1]):
            if excess > 0 and "cache_control" in block:
                part[i] = _unmarked(block)
                excess -= 1
    return system, tools, new_messages


# --- turning SDK results and errors into ours -----------------------------------------------------


def _block_dict(block: Any) -> dict[str, Any]:
    kind = block.type
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input or {})}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    result: dict[str, Any] = block.to_dict()
    return result


def _status_label(status: int) -> str:
    if status == 529:
        return "overloaded (529)"
    if status == 429:
        return "rate limited (429)"
    if status == 408:
        return "request timeout (408)"
    if status == 409:
        return "conflict (409)"
    return f"server error ({status})"


class AnthropicModel:
    """`agent.model.Model` backed by the Messages API."""

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        connection: Connection | None = None,
        max_tokens: int = 8192,
        retry_budget: float = 120.0,
        request_timeout: float = 600,
        on_retry: Callable[[RetryEvent], None] | None = None,
        retry_policy: RetryPolicy | None = None,
    ):
        """`connection` is a provider's client (`agent.providers.connect`); without one, the Anthropic API
        with `api_key` (default ANTHROPIC_API_KEY) at `base_url` (default ANTHROPIC_BASE_URL)."""
        if connection is None:
            connection = connect(ProviderSettings(api_key=api_key), timeout=request_timeout)
            if base_url is not None:
                connection.client = connection.client.with_options(base_url=base_url)
        self.name = name
        self.max_tokens = max_tokens
        self.on_retry = on_retry
        # `retry_policy` lets tests shrink the backoff; its budget wins over `retry_budget` when given.
        self.retry_policy = retry_policy or RetryPolicy(budget=retry_budget)
        self.connection = connection
        self.request_timeout = request_timeout
        self._client = connection.client

    def __repr__(self) -> str:
        return f"AnthropicModel({self.name!r})"

    def query(
        self,
        *,
        system: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        deadline: float | None = None,
    ) -> ModelTurn:
        system, tools, messages = with_cache_breakpoints(system, tools, messages)
        params: dict[str, Any] = {"model": self.name, "max_tokens": self.max_tokens, "messages": messages}
        if system:
            params["system"] = system
        if tools:
            params["tools"] = tools
        started = time.monotonic()
        message, attempts = call_with_retries(
            lambda: self._attempt(params, deadline),
            self.retry_policy,
            on_retry=self.on_retry,
            deadline=deadline,
        )
        usage = message.usage
        return ModelTurn(
            content=[_block_dict(b) for b in message.content],
            stop_reason=message.stop_reason,
            usage=Usage(
                input=usage.input_tokens or 0,
                output=usage.output_tokens or 0,
                cache_read=usage.cache_read_input_tokens or 0,
                cache_write=usage.cache_creation_input_tokens or 0,
            ),
            model=message.model or self.name,
            attempts=attempts,
            latency_s=time.monotonic() - started,
        )

    def _attempt(self, params: dict[str, Any], deadline: float | None = None) -> Any:
        timeout = self.request_timeout
        if deadline is not None:
            timeout = max(MIN_ATTEMPT_TIMEOUT_S, min(timeout, deadline - time.monotonic()))
        try:
            with self._client.messages.stream(**params, timeout=timeout) as stream:
                finished = False
                for event in stream:
                    finished = finished or event.type == "message_stop"
                message = stream.get_final_message()
        except anthropic.APIStatusError as exc:
            raise self._status_failure(exc) from None
        except anthropic.APITimeoutError:
            raise TransientFailure("timed out", "no response within the request timeout") from None
        except anthropic.APIConnectionError as exc:
            unresolved = _resolution_failure(exc)
            if unresolved is not None:
                raise TransientFailure(
                    "host not found",
                    f"{self.connection.host} cannot be resolved ({unresolved}); "
                    f"{self.connection.endpoint_hint}",
                    max_attempts=RESOLVE_ATTEMPTS,
                ) from None
            raise TransientFailure("connection error", self._scrub(str(exc.__cause__ or exc))) from None
        except httpx2.TimeoutException:
            raise TransientFailure("timed out", "the stream stalled past the request timeout") from None
        except httpx2.TransportError as exc:
            raise TransientFailure("stream broken", self._scrub(str(exc) or type(exc).__name__)) from None
        except (anthropic.APIResponseValidationError, ValueError) as exc:
            raise TransientFailure("sent a malformed stream", self._scrub(str(exc))[:200]) from None
        except Exception as exc:
            # signing a request is the cloud auth library's work (boto3, google-auth): its own failures
            failure = self.connection.auth_failure(exc)
            if failure is None:
                raise
            raise failure from None
        if not finished:
            raise TransientFailure("stream broken", "the stream ended before message_stop")
        return message

    def _status_failure(self, exc: anthropic.APIStatusError) -> Exception:
        status = exc.status_code
        error_type = _error_type(exc)
        detail = self._scrub(_error_message(exc))
        if status == 200:  # an `error` event inside a stream that had started fine
            if error_type in RETRYABLE_STREAM_ERROR_TYPES:
                return TransientFailure(_status_label(RETRYABLE_STREAM_ERROR_TYPES[error_type]), detail)
            return ModelAPIError(f"model API failed mid-stream ({error_type}): {detail}")
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(exc.response.headers)
            return TransientFailure(_status_label(status), detail, retry_after=retry_after)
        request_id = exc.request_id or exc.response.headers.get("x-amzn-requestid")
        request_id = f" [request-id {request_id}]" if request_id else ""
        if status == 413 or (status == 400 and _TOO_LONG.search(detail)):
            return ContextOverflowError(
                f"model API rejected the request as too large ({status} {error_type}): {detail}{request_id}"
            )
        return ModelAPIError(f"model API rejected the request ({status} {error_type}): {detail}{request_id}")

    def _scrub(self, text: str) -> str:
        for secret in self.connection.secrets():
            if secret:
                text = text.replace(secret, "[redacted]")
        return text

    def secrets(self) -> list[str]:
        """The credential values this client holds, for the run's log redaction."""
        return self.connection.secrets()


def _error_message(exc: anthropic.APIStatusError) -> str:
    """What the provider said: the Messages API's and Google's `error.message`, Bedrock's `message`."""
    if exc.api_message:
        return str(exc.api_message)
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") or body.get("Message")
    return str(message) if isinstance(message, str) and message else str(exc)


def _error_type(exc: anthropic.APIStatusError) -> str:
    """The error's type as the provider names it: the Messages API's `error.type`, Bedrock's
    `x-amzn-errortype` header, Google's `error.status`."""
    if exc.type:
        return str(exc.type)
    amazon = exc.response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if amazon:
        return amazon
    body = exc.body if isinstance(exc.body, dict) else {}
    google = body.get("error") if isinstance(body.get("error"), dict) else {}
    status = google.get("status") if isinstance(google, dict) else None
    return str(status) if status else "error"


def _resolution_failure(exc: BaseException) -> str | None:
    """What the resolver said, when a connection failed because the host name could not be resolved."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return current.strerror or str(current)
        current = current.__cause__ or current.__context__
    return None
