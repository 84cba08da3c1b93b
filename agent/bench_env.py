"""Per-repository environments for bench tasks: a mapping file says which setup commands a repository (at a
version) needs, and the setup step runs them once per task environment, in the sandbox.

The mapping file is TOML, a list of `[[environment]]` tables:

    [[environment]]
    repo = "astropy/astropy"     # as the task file writes `repo`; "*" stands for every repository
    version = ["5.1", "5.2"]     # optional: a version or a list of them; absent, any version
    setup = ["python -m venv .venv", ".venv/bin/pip install -e '.[test]'"]
    test_cmd = "python -m pytest"   # optional: the task's own test_cmd wins over it

For a task the most specific entry wins: its repo and version, then its repo alone, then "*" with the version,
then "*". A task no entry matches runs without a setup step, as the bundled tasks do without a mapping file.

Rules of the setup step (`prepare_environment`):
- it runs in a checkout of the task's repository at `base_commit`, inside the sandbox the agent's commands
  use, with that checkout shown at its own path (so what setup records about the path, such as an editable
  install, leads to whichever checkout later takes its place); network is allowed in this step only (and
  not even here with `network=False`); the agent's commands and the judge's test runs stay offline;
- the environment is the checkout with what setup left in it (untracked): the agent's run is started from
  it, so the repository's own `.venv` made by setup is the interpreter its tests run with, and the judge
  runs the tests with the same interpreter, the checkout shown at the same path;
- one environment per (repository, version, base commit, setup commands), built once under a lock and
  marked ready only when every command succeeded; a failed setup is `SetupFailed` (exit 2) with the
  command, its exit code and the last lines of its output, and the whole output is kept beside the
  environment (`<name>.setup.log`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.bench_tasks import BenchTask, git, resolve_base
from agent.errors import UsageError
from agent.lower_layers import make_sandbox
from agent.toolchain import find_python_toolchain
from sandbox.base import Sandbox, SandboxConfig, SandboxMode
from sandbox.bwrap import checkout_path_inside

ANY_REPO = "*"
SETUP_TAIL_LINES = 20
READY_SUFFIX = ".ready"


class SetupFailed(UsageError):
    """A setup command of the environment mapping failed (exit 2): the task could not be prepared."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """One `[[environment]]` entry of the mapping file."""

    repo: str
    versions: tuple[str, ...] = ()  # empty: any version
    setup: tuple[str, ...] = ()
    test_cmd: str | None = None

    def specificity(self, task: BenchTask) -> int | None:
        """How closely this entry fits `task` (higher is closer), or None when it does not fit."""
        if self.repo not in (task.repo, ANY_REPO):
            return None
        if self.versions and task.version not in self.versions:
            return None
        return (2 if self.repo == task.repo else 0) + (1 if self.versions else 0)


@dataclass(frozen=True)
class Environments:
    """The whole mapping file; `Environments()` is the empty one (no task has a setup step)."""

    entries: tuple[EnvironmentSpec, ...] = ()
    source: str = ""  # the file it was read from, for messages

    def for_task(self, task: BenchTask) -> EnvironmentSpec | None:
        fits = [
            (score, -i, e) for i, e in enumerate(self.entries) if (score := e.specificity(task)) is not None
        ]
        return max(fits, key=lambda fit: fit[:2])[2] if fits else None


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"{where}: {name} must be a string or a list of strings")


def load_environments(path: Path) -> Environments:
    """Read a mapping file; UsageError (exit 2) naming the entry and field for anything malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read environment mapping {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"environment"})
    if unknown:
        raise UsageError(f"{path}: unknown top-level key {unknown[0]!r} (expected [[environment]] tables)")
    tables = data.get("environment", [])
    if not isinstance(tables, list):
        raise UsageError(f"{path}: environment must be a list of tables ([[environment]])")
    entries = []
    for number, table in enumerate(tables, 1):
        where = f"{path}: environment {number}"
        extra = sorted(set(table) - {"repo", "version", "setup", "test_cmd"})
        if extra:
            raise UsageError(f"{where}: unknown key {extra[0]!r}")
        repo = table.get("repo")
        if not isinstance(repo, str) or not repo:
            raise UsageError(f'{where}: repo must be a repository name as the task file writes it, or "*"')
        test_cmd = table.get("test_cmd")
        if test_cmd is not None and not isinstance(test_cmd, str):
            raise UsageError(f"{where}: test_cmd must be a string")
        versions = table.get("version", [])
        versions = [str(v) for v in versions] if isinstance(versions, list) else versions
        entries.append(
            EnvironmentSpec(
                repo=repo,
                versions=_strings(versions, where, "version") if versions != [] else (),
                setup=_strings(table.get("setup", []), where, "setup"),
                test_cmd=test_cmd,
            )
        )
    return Environments(tuple(entries), source=str(path))


def environment_key(task: BenchTask, base_sha: str, spec: EnvironmentSpec) -> str:
    """The directory name of a task's environment: one per repository, version, base commit and setup."""
    digest = hashlib.sha256(
        json.dumps([task.repo, task.version, base_sha, list(spec.setup)]).encode("utf-8")
    ).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", task.repo).strip("._")[-60:] or "repo"
    return f"{name}-{digest}"


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock: two workers on one machine never build the same environment at once."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_environment(
    task: BenchTask,
    spec: EnvironmentSpec,
    repo: Path,
    envs_dir: Path,
    *,
    sandbox: SandboxMode,
    network: bool = True,
    timeout: float = 1800.0,
) -> Path:
    """The task's environment (a checkout at base_commit that setup has run in), built if not ready yet."""
    base_sha = resolve_base(repo, task.base_commit)
    env_dir = envs_dir / environment_key(task, base_sha, spec)
    ready = env_dir.with_name(env_dir.name + READY_SUFFIX)
    with _locked(env_dir.with_name(env_dir.name + ".lock")):
        if ready.is_file() and env_dir.is_dir():
            return env_dir
        shutil.rmtree(env_dir, ignore_errors=True)
        git("clone", "-q", "--no-checkout", str(repo), str(env_dir))
        git("checkout", "-q", "--detach", base_sha, cwd=env_dir)
        log = env_dir.with_name(env_dir.name + ".setup.log")
        _run_setup(spec, env_dir, log, sandbox=sandbox, network=network, timeout=timeout, label=task.repo)
        ready.write_text(json.dumps({"repo": task.repo, "version": task.version, "base": base_sha}))
    return env_dir


def _run_setup(
    spec: EnvironmentSpec,
    env_dir: Path,
    log: Path,
    *,
    sandbox: SandboxMode,
    network: bool,
    timeout: float,
    label: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="be-setup-", dir=env_dir.parent) as scratch_dir:
        scratch = Path(scratch_dir)

        def probe_box(mounts: tuple[str, ...], env: dict[str, str]) -> Sandbox:
            where = Path(tempfile.mkdtemp(prefix="python-probe-", dir=scratch))
            (where / "tree").mkdir()
            config = SandboxConfig(extra_ro_paths=mounts, extra_env=env)
            return make_sandbox(sandbox, where / "tree", where / "tmp", config)

        toolchain = find_python_toolchain(env_dir, probe_box, needs_pytest=False)
        config = SandboxConfig(
            command_timeout=timeout,
            test_timeout=timeout,
            network=network,
            extra_ro_paths=toolchain.mounts,
            extra_env=toolchain.env,
            workdir=checkout_path_inside(str(env_dir)),
        )
        box = make_sandbox(sandbox, env_dir, scratch / "setup", config)
        try:
            with log.open("w", encoding="utf-8") as out:
                for command in spec.setup:
                    result = box.run(command, timeout=timeout, cwd=box.workdir)
                    out.write(f"$ {command}\n{result.output}\n[exit {result.exit_code}]\n")
                    if result.exit_code == 0 and not result.timed_out:
                        continue
                    ended = (
                        f"timed out after {timeout:.0f}s"
                        if result.timed_out
                        else f"exited {result.exit_code}"
                    )
                    tail = "\n".join(result.output.rstrip().splitlines()[-SETUP_TAIL_LINES:])
                    raise SetupFailed(
                        f"environment setup for {label} failed: `{command}` {ended} (log: {log}):\n{tail}"
                    )
        finally:
            box.close()
