"""Structured logs for a run: JSON lines in the run directory, a readable rendering on stderr, no secrets.

Every line carries `run_id` and `step`. A redaction processor runs last before rendering, so nothing a
caller logs (event text, nested values, exception tracebacks, third-party library records) reaches a file
or the terminal with an API key, a token or a configured secret value in it. `redact()` applies the same
rule to any text, for writers that do not go through the logger (the trajectory).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from agent.terminal import actions_line, in_github_actions, terminal_text
from sandbox.env import is_secret_name as sandbox_is_secret_name

LOG_FILE_NAME = "log.jsonl"
LOGGER_NAME = "be_agent"
REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # shorter values are not redacted by value: too many false hits

_SECRET_HEADER_NAMES = frozenset({"AUTHORIZATION", "PROXY-AUTHORIZATION", "X-API-KEY", "COOKIE"})

# Well-known token shapes, redacted wherever they appear. Each keeps its recognisable prefix so a reader
# still knows which kind of credential was there.
_TOKEN_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header forms first: their values may themselves have a known shape, and must go whole.
    (re.compile(r"""(x-api-key["']?\s*[:=]\s*["']?)[^\s"',;}\[\]]+""", re.IGNORECASE), r"\g<1>" + REDACTED),
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE), r"\g<1>" + REDACTED),
    (re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"), "sk-ant-" + REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{8,}"), "github_pat_" + REDACTED),
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{8,}"), r"\g<1>" + REDACTED),
    # the clouds: an AWS access key id, a SigV4 signature, a Google OAuth access token
    (re.compile(r"\b((?:AKIA|ASIA)[A-Z0-9])[A-Z0-9]{12,}\b"), r"\g<1>" + REDACTED),
    (re.compile(r"\b(Signature=)[0-9a-f]{64}\b"), r"\g<1>" + REDACTED),
    (re.compile(r"\b(ya29\.)[A-Za-z0-9._~+/=\-]{8,}"), r"\g<1>" + REDACTED),
)


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when an environment variable (or a mapping key) with this name holds a secret (remembered: the
    same few names are asked about for every record the run writes).

    The sandbox's environment filter owns the rule; the logs add the HTTP header names that carry keys.
    """
    return sandbox_is_secret_name(name) or name.upper() in _SECRET_HEADER_NAMES


class _State:
    """What the processors need that is not per-context: the run, the step, the configured secrets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.run_id = ""
        self.step = 0
        self.secrets: frozenset[str] = frozenset()
        self.handlers: list[logging.Handler] = []
        self.saved_root_level: int | None = None


_state = _State()


def add_secrets(values: Iterable[str]) -> None:
    """Redact these values from now on (e.g. an API key given on the command line)."""
    with _state.lock:
        _state.secrets = _state.secrets | {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}


def _secret_values(environ: Mapping[str, str]) -> list[str]:
    found = set(_state.secrets)
    for name, value in environ.items():
        if len(value) >= MIN_SECRET_LENGTH and is_secret_name(name):
            found.add(value)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with secret values from the environment, configured secrets and token shapes replaced."""
    return _redact_with(text, _secret_values(os.environ))


def redactor() -> Callable[[str], str]:
    """`redact` with the secret values looked up once, for many texts written together (one record)."""
    values = _secret_values(os.environ)
    return lambda text: _redact_with(text, values)


def redact_secret_values(text: str) -> str:
    """Only the known secret values (environment and configured), not token shapes: for text the model
    reads, where a repository's own token-shaped test fixtures must stay editable."""
    for value in _secret_values(os.environ):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def _redact_with(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _TOKEN_SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        return _redact_with(value, values)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {_redact_value(k, values): _redact_entry(k, v, values) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item, values) for item in value]
    # Anything else is rendered with str() later; redact that rendering if it holds a secret.
    rendered = str(value)
    cleaned = _redact_with(rendered, values)
    return value if cleaned == rendered else cleaned


def _redact_entry(key: Any, value: Any, values: list[str]) -> Any:
    if isinstance(key, str) and isinstance(value, str) and value and is_secret_name(key):
        return REDACTED
    return _redact_value(value, values)


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every value (nested too) and every value stored under a secret name."""
    values = _secret_values(os.environ)
    return {
        _redact_value(key, values): _redact_entry(key, value, values) for key, value in event_dict.items()
    }


def _add_run_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Context variables do not follow work into new threads; the run-wide values fill the gap.
    event_dict.setdefault("run_id", _state.run_id)
    event_dict.setdefault("step", _state.step)
    return event_dict


def bind_step(step: int) -> None:
    """Every line logged from now on carries this step number."""
    _state.step = step
    structlog.contextvars.bind_contextvars(step=step)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; `name` becomes a child of the agent's logger ("loop" -> "be_agent.loop")."""
    if not name:
        return structlog.stdlib.get_logger(LOGGER_NAME)
    for prefix in (f"{LOGGER_NAME}.", "be-agent."):
        name = name.removeprefix(prefix)
    return structlog.stdlib.get_logger(f"{LOGGER_NAME}.{name}")


def _pre_chain() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_run_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(renderer: Processor, *, terminal: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """`terminal`: the lines go to a terminal, so every value from outside is made printable first
    (`agent.terminal`), and in GitHub Actions no rendered line can read as a workflow command."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            # Tracebacks become text before redaction, so secrets in them are caught too.
            structlog.processors.format_exc_info,
            redact_event,
            *([_printable_values, _ActionsSafe(renderer)] if terminal else [renderer]),
        ],
    )


def _printable_values(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    return {
        (terminal_text(k) if isinstance(k, str) else k): (terminal_text(v) if isinstance(v, str) else v)
        for k, v in event_dict.items()
    }


class _ActionsSafe:
    """The console renderer, with `actions_line` applied to what it renders when in GitHub Actions."""

    def __init__(self, renderer: Processor):
        self.renderer = renderer

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
        rendered = self.renderer(logger, method, event_dict)
        if isinstance(rendered, str) and in_github_actions():
            return "\n".join(actions_line(line) for line in rendered.split("\n"))
        return rendered


def _console_level(*, verbose: bool, quiet: bool) -> int:
    if quiet:
        return logging.WARNING
    return logging.DEBUG if verbose else logging.INFO


def configure_logging(
    run_dir: Path | None,
    run_id: str,
    *,
    verbose: bool,
    quiet: bool,
    secrets: Iterable[str] = (),
    console_stream: TextIO | None = None,
) -> None:
    """Send logs to `run_dir/log.jsonl` (everything, as JSON lines) and to stderr (readable).

    `quiet` shows only warnings and errors on the console, `verbose` adds debug lines. Calling it again
    replaces the previous configuration: handlers are closed, never duplicated. `console_stream` defaults
    to the current `sys.stderr`.
    """
    close_logging()
    with _state.lock:
        _state.run_id = run_id
        _state.step = 0
    add_secrets(secrets)
    structlog.contextvars.bind_contextvars(run_id=run_id, step=0)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_pre_chain(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    stream = console_stream if console_stream is not None else sys.stderr
    console = logging.StreamHandler(stream)
    console.setLevel(_console_level(verbose=verbose, quiet=quiet))
    console.setFormatter(
        _formatter(
            structlog.dev.ConsoleRenderer(
                colors=_is_tty(stream), exception_formatter=structlog.dev.plain_traceback
            ),
            terminal=True,
        )
    )
    handlers: list[logging.Handler] = [console]
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(run_dir / LOG_FILE_NAME, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(_formatter(structlog.processors.JSONRenderer(default=str)))
        handlers.append(file_handler)

    root = logging.getLogger()
    agent_logger = logging.getLogger(LOGGER_NAME)
    agent_logger.setLevel(logging.DEBUG)
    with _state.lock:
        _state.saved_root_level = root.level
        _state.handlers = handlers
    # Third-party libraries (the SDK, httpx) log through the root logger: their warnings are kept, their
    # debug chatter only with --verbose. Our own logger always reaches the file at debug level.
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for handler in handlers:
        root.addHandler(handler)


def close_logging() -> None:
    """Detach and close the handlers `configure_logging` added; safe to call at any time, repeatedly."""
    with _state.lock:
        handlers, _state.handlers = _state.handlers, []
        saved_level, _state.saved_root_level = _state.saved_root_level, None
        _state.run_id = ""
        _state.step = 0
        _state.secrets = frozenset()
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
    if saved_level is not None:
        root.setLevel(saved_level)
    structlog.contextvars.unbind_contextvars("run_id", "step")


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
