"""Every way a command can end early, the exit code each one means, and the one map from any exception to
what the user sees.

Exit codes (README): 0 fixed, 1 not fixed, 2 usage or configuration, 3 a remote failed (the model API,
GitHub, a git remote), 4 the sandbox cannot start, 70 a bug in be-agent, 130 interrupted.

The lower layers (`sandbox/`, `tools/`) raise their own exceptions and know nothing of exit codes: `failure_of`
maps them (and everything else) here, and `lower_layer_errors()` turns them into AgentErrors where the agent
calls into those layers, so code that handles AgentError sees them too. An exception nobody mapped is an
internal error, never "not fixed".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sandbox.base


class ExitCode:
    FIXED = 0
    NOT_FIXED = 1
    USAGE = 2
    REMOTE = 3  # a service or remote failed for good: the model API, GitHub's API, a git remote
    SANDBOX = 4
    INTERNAL = 70  # a bug in be-agent itself (EX_SOFTWARE), never confused with "not fixed"
    INTERRUPTED = 130


class AgentError(Exception):
    """Base class: a message for the user and the exit code that goes with it."""

    exit_code: int = ExitCode.USAGE

    def __init__(self, message: str, *, details: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        # where the user can look next (run_dir, trajectory, diff); the CLI's JSON error line carries them
        self.details: dict[str, str] = dict(details or {})


class UsageError(AgentError):
    """Bad input or configuration: the user can fix it and try again."""

    exit_code = ExitCode.USAGE


class RemoteError(AgentError):
    """A remote refused or kept failing after the bounded retries: a git remote (push rejected, fetch
    failed), GitHub's API, or the model API."""

    exit_code = ExitCode.REMOTE


class ModelAPIError(RemoteError):
    """The model API failed in a way retries could not cure (or must not retry)."""


class ContextOverflowError(ModelAPIError):
    """The request was too large for the model (413 or a context-length 400)."""


class SandboxUnavailable(AgentError):
    """bubblewrap cannot start here; the message says why and how to fix it."""

    exit_code = ExitCode.SANDBOX


class InternalError(AgentError):
    """An unexpected exception inside be-agent: reported as such, with where to find the details."""

    exit_code = ExitCode.INTERNAL


class Interrupted(AgentError):
    """SIGINT or SIGTERM arrived; the run stops cleanly."""

    exit_code = ExitCode.INTERRUPTED


# The lower layers' own exceptions, and what each one is to a user of be-agent.
LOWER_LAYER_ERRORS: dict[type[Exception], type[AgentError]] = {
    sandbox.base.SandboxUnavailable: SandboxUnavailable,
}


@dataclass(frozen=True)
class Failure:
    """What a command that failed tells the user: one line, an exit code, and where to look next."""

    message: str
    exit_code: int
    details: dict[str, str] = field(default_factory=dict)


def as_agent_error(exc: BaseException) -> AgentError | None:
    """`exc` as the AgentError it means, or None when it is neither ours nor a lower layer's."""
    if isinstance(exc, AgentError):
        return exc
    for lower, ours in LOWER_LAYER_ERRORS.items():
        if isinstance(exc, lower):
            return ours(str(exc))
    return None


def failure_of(exc: BaseException) -> Failure:
    """The one map from an exception to the message and exit code the user gets."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", ExitCode.INTERRUPTED)
    known = as_agent_error(exc)
    if known is not None:
        return Failure(known.message, known.exit_code, dict(known.details))
    return Failure(f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL)


@contextmanager
def lower_layer_errors() -> Iterator[None]:
    """Around a call into `sandbox/` or `tools/`: their exceptions leave as the AgentErrors they mean."""
    try:
        yield
    except tuple(LOWER_LAYER_ERRORS) as exc:
        translated = as_agent_error(exc)
        assert translated is not None
        raise translated from exc
