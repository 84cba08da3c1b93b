"""The one way be-agent runs git. Every call says which environment it runs with.

Whatever the policy, every call disables hooks and fsmonitor and never looks into nested repositories
(`SAFE_GIT`), so nothing planted in a repository runs code on the host, and git never prompts. No call
starts background maintenance (`gc.auto=0`, `maintenance.auto=false`): a `gc --auto` that git detaches
after a commit of many files would repack objects while the run copies them.

File names are bytes: git's output is decoded with `os.fsdecode`'s rule (UTF-8, undecodable bytes kept as
surrogates), so a name that is not UTF-8 round-trips exactly into the file system and into git's argv, and
nothing here fails on it. `paths()` lists names from a `-z` command; `agent.terminal.visible_name` shows one.

The policies:

- `HARNESS` (the default): the user's environment without the variables that point git at another
  repository, index or object store, and without secrets (`*_TOKEN`, `*_KEY`, ...), in the C locale. For the
  user's repository (read; one ref written at the end) and the run's own copies. A call that needs a
  credential passes it explicitly (`env=`), as `agent.remote` does for the GitHub token.
- `USER_REMOTE`: the user's own git set-up, for talking to a remote the user named with the user's
  credentials (credential helpers, `GIT_SSH_COMMAND`, `GIT_CONFIG_*` from CI and the tokens they read).
  Repository redirects are still dropped.
- `ISOLATED`: `HARNESS` without the user's and the system's git config, so that bench repositories and their
  commits come out the same on every machine.
"""

from __future__ import annotations

import enum
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from agent.errors import AgentError, ExitCode
from sandbox.env import is_secret_name

GIT_TIMEOUT = 300.0
# Nothing planted in a checkout may run code on the host: no hooks, no fsmonitor, and never look inside a
# nested repository (a status inside one would run the filters its own config defines).
SAFE_GIT = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.file.allow=always",
    "-c",
    "diff.ignoreSubmodules=all",
    "-c",
    "status.submoduleSummary=false",
    "-c",
    "submodule.recurse=false",
    "-c",
    "fetch.recurseSubmodules=false",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
)
# How git's output becomes text: file names and file contents are bytes, and any bytes must decode.
OUTPUT_ERRORS = "surrogateescape"

# Variables that point git at another repository, index or object store (set, for example, when be-agent
# runs inside a git hook). The rest of the user's GIT_* settings (GIT_SSH_COMMAND, GIT_CONFIG_*) still apply.
REPOSITORY_REDIRECTS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_PREFIX",
        "GIT_QUARANTINE_PATH",
        "GIT_REPLACE_REF_BASE",
        "GIT_SHALLOW_FILE",
        "GIT_GRAFT_FILE",
    }
)


class GitEnv(enum.Enum):
    """Which environment a git command runs with (see the module's docstring)."""

    HARNESS = "harness"
    USER_REMOTE = "user remote"
    ISOLATED = "isolated"


class GitError(AgentError):
    """A git command failed; the message names the command and what git said. Git fails on the harness's
    own copies only when something is wrong with the host (a full disk) or with be-agent itself: an internal
    error, never a usage error. Callers that know a failure is the user's (a bad ref) or a remote's say so
    with their own error."""

    exit_code = ExitCode.INTERNAL


def git_environment(policy: GitEnv = GitEnv.HARNESS) -> dict[str, str]:
    """The environment a git command of this policy runs with."""
    keep_secrets = policy is GitEnv.USER_REMOTE
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in REPOSITORY_REDIRECTS and (keep_secrets or not is_secret_name(k))
    }
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    if policy is GitEnv.ISOLATED:
        env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def _argv(repo: Path | None, args: tuple[str, ...]) -> list[str]:
    return ["git", *SAFE_GIT, *(["-C", str(repo)] if repo is not None else []), *args]


def git(
    repo: Path | None,
    *args: str,
    policy: GitEnv = GitEnv.HARNESS,
    env: dict[str, str] | None = None,
    timeout: float = GIT_TIMEOUT,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `git -C repo ARGS` (no `-C` when `repo` is None). `env` adds to the policy's environment.
    With `check`, a failure raises GitError with git's last line; a timeout always does."""
    where = f" in {repo}" if repo is not None else ""
    try:
        proc = subprocess.run(
            _argv(repo, args),
            capture_output=True,
            encoding="utf-8",
            errors=OUTPUT_ERRORS,
            env={**git_environment(policy), **(env or {})},
            timeout=timeout,
            input=input_text,
            stdin=None if input_text else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f} s{where}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed{where}: {detail[-1] if detail else 'no output'}")
    return proc


def paths(
    repo: Path, *args: str, env: dict[str, str] | None = None, names_in: Sequence[str] | None = None
) -> list[str]:
    """The NUL-separated fields a `-z` git command prints (`args` must ask for `-z`), as `os.fsdecode` gives
    them; `names_in` goes to its stdin the same way (for `--stdin -z`)."""
    stdin = None if names_in is None else b"".join(os.fsencode(name) + b"\0" for name in names_in)
    try:
        proc = subprocess.run(
            _argv(repo, args),
            capture_output=True,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            env={**git_environment(), **(env or {})},
            timeout=GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {GIT_TIMEOUT:.0f} s in {repo}") from exc
    if proc.returncode != 0:
        detail = os.fsdecode(proc.stderr).strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {detail[-1] if detail else 'no output'}")
    return [os.fsdecode(name) for name in proc.stdout.split(b"\0") if name]


def output_bytes(repo: Path, *args: str) -> bytes:
    """What a git command of the HARNESS policy prints, as bytes (a diff of files in any encoding)."""
    try:
        proc = subprocess.run(
            _argv(repo, args),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=git_environment(),
            timeout=GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {GIT_TIMEOUT:.0f} s in {repo}") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {repo}: {os.fsdecode(proc.stderr).strip()}")
    return proc.stdout


def git_to_file(
    repo: Path, *args: str, out: BinaryIO, env: dict[str, str] | None = None, timeout: float = GIT_TIMEOUT
) -> None:
    """Run a git command of the HARNESS policy whose output goes straight to `out` (a diff too large to hold
    in memory); raise GitError when it fails."""
    try:
        proc = subprocess.run(
            _argv(repo, args),
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            env={**git_environment(), **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f} s in {repo}") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {repo}: {os.fsdecode(proc.stderr).strip()}")


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    """What a failed git command said last (its error), or its exit code when it said nothing."""
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"
