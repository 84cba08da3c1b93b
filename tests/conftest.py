"""Shared fixtures: real git repositories, a state directory per test, the stand-in model server, and a way
to run the real `be-agent` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.demo import make_demo_repo

ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV = (
    "ANTHROPIC_API_KEY",
    "GITHUB_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
)
# The clouds' credentials, regions and endpoints, and be-agent's own settings: a test gives its own or none.
CLOUD_ENV_PREFIXES = ("AWS_", "GOOGLE_", "CLOUDSDK_", "GCLOUD_", "ANTHROPIC_BEDROCK_", "ANTHROPIC_VERTEX_")
CLOUD_ENV = ("CLOUD_ML_REGION", "GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT")
SETTINGS_ENV_PREFIX = "BE_AGENT_"


def _foreign(name: str) -> bool:
    return (
        name in SECRET_ENV
        or name in CLOUD_ENV
        or name.startswith(CLOUD_ENV_PREFIXES)
        or (name.startswith(SETTINGS_ENV_PREFIX) and name != "BE_AGENT_PAGE_ARTIFACT")
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def repo_snapshot(repo: Path) -> dict[str, str]:
    """Everything a user could lose: current branch, HEAD, index, working tree status and content, stash."""
    tracked_and_untracked = git(repo, "ls-files", "-c", "-o", "--exclude-standard").split()
    contents = {
        p: (repo / p).read_bytes().hex() for p in sorted(tracked_and_untracked) if (repo / p).is_file()
    }
    return {
        "branch": git(repo, "symbolic-ref", "-q", "HEAD"),
        "head": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        "cached_diff": git(repo, "diff", "--cached"),
        "stash": git(repo, "stash", "list"),
        "files": json.dumps(contents, sort_keys=True),
    }


# Modules that drive the real CLI end to end (bwrap, git, the stand-in servers): marked `slow`, so that
# `make test-fast` (pytest -m "not slow") is the unit-level tier for the inner loop. A new end-to-end module
# belongs here, or marks itself with `pytestmark = pytest.mark.slow`.
END_TO_END_MODULES = frozenset(
    {
        "test_run_e2e",
        "test_fix_issue",
        "test_interrupt",
        "test_run_limits",
        "test_ci",
        "test_harness_escape",
        "test_run_usage",
        "test_bench",
        "test_replay_robust",
        "test_overhead",
        "test_replay",
        "test_hostile_e2e",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in END_TO_END_MODULES:
            item.add_marker(pytest.mark.slow)


# Modules whose tests share one expensive resource (a local Ray cluster, started once per module): under
# pytest-xdist all of a module's tests go to one worker, so the resource starts once, not once per worker.
ONE_WORKER_MODULES = frozenset({"tests/test_bench_ray.py"})


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Like xdist's default `load`, except that each module in ONE_WORKER_MODULES is one unit of work.
    (xdist's own `loadgroup` cannot be used: it renames node ids, which pytest 9 no longer allows.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerSharedModule(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return OneWorkerPerSharedModule(config, log)


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    return repo


@pytest.fixture
def busy_demo_repo(demo_repo: Path) -> Path:
    """The demo repository as a user in the middle of their own work leaves it: a stash, a staged change,
    an unstaged change and an untracked file, on a branch of their own."""
    repo = demo_repo
    (repo / "AGENTS.md").write_text((repo / "AGENTS.md").read_text() + "\n- stashed note\n")
    git(repo, "stash", "push", "-q", "-m", "user stash")
    git(repo, "checkout", "-q", "-b", "feature/mine")
    (repo / "ledger" / "errors.py").write_text((repo / "ledger" / "errors.py").read_text() + "\n# staged\n")
    git(repo, "add", "ledger/errors.py")
    (repo / "ledger" / "accounts.py").write_text((repo / "ledger" / "accounts.py").read_text() + "\n# wip\n")
    (repo / "scratch-notes.txt").write_text("untracked\n")
    return repo


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach a real account or read the developer's own settings: credentials, endpoints and
    config files come only from the test itself. The clouds' libraries find nothing of their own (no
    credentials files, no gcloud login) and never probe a metadata server on the network."""
    for name in [n for n in os.environ if _foreign(n)]:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("no-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty))  # no user config file unless a test writes one
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(empty / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        lines = self.stdout.strip().splitlines()
        assert lines, f"no stdout; stderr was:\n{self.stderr}"
        return dict(json.loads(lines[-1]))


def agent_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a user who activated the project's virtualenv (the suite's own, which has pytest
    and nothing else heavy), minus any real credentials."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["VIRTUAL_ENV"] = sys.prefix
    env.update(extra or {})
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, separate_process: bool = False
) -> CliRun:
    """Run the real `be-agent` command: its entry point (`agent.cli.app`, the group whose `main` turns every
    failure into one line and an exit code), with the environment of `agent_env(env)` and its own stdout
    and stderr.

    In this process by default: each new interpreter pays about a second of CPU importing the SDK and the
    agent before it does anything, and the suite runs the command about a hundred times. What the command
    runs (git, bwrap, pytest in the sandbox) runs in processes of its own either way. A test about the
    process itself (what it imports, how it exits on a signal) passes `separate_process=True`, which runs
    `python -m agent.cli` in a subprocess bounded by `timeout`."""
    if separate_process:
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", *args],
            capture_output=True,
            text=True,
            env=agent_env(env),
            timeout=timeout,
            cwd=ROOT,
        )
        return CliRun(proc.returncode, proc.stdout, proc.stderr)
    from typer.testing import CliRunner

    from agent.cli import app

    # the same environment as agent_env's: no real credentials, the suite's virtualenv, then the test's own
    changes: dict[str, str | None] = {name: None for name in SECRET_ENV if name in os.environ}
    changes.update({"VIRTUAL_ENV": sys.prefix, **(env or {})})
    where = os.getcwd()
    os.chdir(ROOT)
    try:
        done = CliRunner().invoke(app, list(args), env=changes, prog_name="be-agent")
    finally:
        os.chdir(where)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return CliRun(done.exit_code, done.stdout, done.stderr)
