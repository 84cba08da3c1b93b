"""The one protocol every sandbox implements, the result of one command, the modes a run may ask for, and
the one exception this layer raises for a sandbox that cannot start.

This package depends on nothing in `agent/`: callers map `SandboxUnavailable` to their own exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

# auto: bubblewrap, refusing to run when it cannot start; bwrap: the same, asked for by name; none: unconfined
SandboxMode = Literal["auto", "bwrap", "none"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("auto", "bwrap", "none")


def sandbox_mode(value: str) -> SandboxMode:
    """`value` as a SandboxMode; ValueError ("must be auto, bwrap or none, not 'x'") for anything else."""
    for mode in SANDBOX_MODES:
        if value == mode:
            return mode
    raise ValueError(f"must be {', '.join(SANDBOX_MODES[:-1])} or {SANDBOX_MODES[-1]}, not {value!r}")


class SandboxUnavailable(Exception):
    """bubblewrap cannot start here (not installed, user namespaces off, an AppArmor rule); the message is one
    line that says why and how to fix it."""


DEFAULT_WORKDIR = "/workspace"


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and switches for every command of a run. Defaults are the documented ones."""

    command_timeout: float = 120.0
    test_timeout: float = 900.0
    memory_bytes: int = 4 * 1024**3
    max_processes: int = 512
    max_file_bytes: int = 1024**3  # the largest file one command may write (RLIMIT_FSIZE)
    output_head: int = 8_000  # characters of output kept from the start
    output_tail: int = 8_000  # and from the end; the middle is cut with a note
    network: bool = False
    extra_ro_paths: tuple[str, ...] = ()  # toolchains outside the standard system dirs
    extra_env: dict[str, str] = field(default_factory=dict)  # already filtered by the caller
    # (host path, path relative to the checkout): shown read-only at that place inside the checkout (the
    # user's untracked node_modules, what the setup step made). bubblewrap bind-mounts them; the unconfined
    # mode, which cannot, puts a link there instead (writable through it: nothing is protected there anyway)
    inner_ro_mounts: tuple[tuple[str, str], ...] = ()
    # where commands see the checkout (bubblewrap only): the user's repository path, so that editable
    # installs and absolute paths recorded in the user's virtualenv lead to the checkout
    workdir: str = DEFAULT_WORKDIR


@dataclass
class CommandResult:
    exit_code: int | None  # None when the command was killed (timeout)
    output: str  # stdout and stderr interleaved, bounded: head and tail kept, middle cut with a note
    timed_out: bool = False
    duration_s: float = 0.0
    cut_bytes: int = 0  # bytes dropped from the middle of the output
    cwd: str | None = None  # working directory at the end, as seen inside the sandbox


class Sandbox(Protocol):
    """Runs shell commands against one checkout.

    `checkout` is the host path of the run's checkout. Inside the sandbox the checkout is seen at `workdir`
    (for bubblewrap `config.workdir`, by default `/workspace`; for the unconfined mode the host path
    itself). `scratch` is a host directory private to the run, seen inside as `scratch_inner`, for files the
    harness reads back (JUnit XML).
    """

    checkout: Path
    workdir: str
    scratch: Path
    scratch_inner: str
    config: SandboxConfig

    def run(self, command: str, *, timeout: float | None = None, cwd: str | None = None) -> CommandResult:
        """Run `command` with bash; `cwd` is a path inside the sandbox (default: the checkout root)."""
        ...

    def reset(self) -> None:
        """Forget the shell state kept between commands (the working directory): a fresh shell."""
        ...

    def close(self) -> None:
        """Kill anything still running that belongs to this sandbox."""
        ...
