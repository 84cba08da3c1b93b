"""Every way a run can end early, each carrying the message the user sees and the exit code they get.

Control flow in the loop and the CLI uses these exceptions; the CLI prints `str(exc)` on one line and exits
with `exc.exit_code`.
"""

from __future__ import annotations


class ExitCode:
    FIXED = 0
    NOT_FIXED = 1
    USAGE = 2
    MODEL_API = 3
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


class ModelAPIError(AgentError):
    """The model API failed in a way retries could not cure (or must not retry)."""

    exit_code = ExitCode.MODEL_API


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


class RunStopped(Exception):
    """The loop ends without an error: the model finished, gave up, or a limit was reached.

    `reason` is a short sentence for the result (e.g. "max steps (30) reached"). `conclusive=False` means
    the run cannot be judged at all (a replay that left its recording): it ends not_fixed, with no branch.
    """

    def __init__(self, reason: str, *, finished: bool = False, conclusive: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.finished = finished
        self.conclusive = conclusive
