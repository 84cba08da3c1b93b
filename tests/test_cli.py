"""The command line's one way of failing: a mistake on the command line is one plain line and exit 2 (never a
box), every exception maps to its documented code, and nothing heavy is loaded before a command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import (
    ExitCode,
    Interrupted,
    ModelAPIError,
    RemoteError,
    SandboxUnavailable,
    UsageError,
    failure_of,
    lower_layer_errors,
)
from agent.github.client import GitHubError
from tests.conftest import agent_env, git, run_cli

BOX = set("╭╮╰╯│─")


@pytest.mark.parametrize(
    "args, line",
    [
        (["run", "--bogus"], "no such option: --bogus"),
        (["run", "--max-steps", "ten"], "--max-steps must be a whole number, not 'ten'"),
        (["run", "--max-cost", "lots"], "--max-cost must be a number, not 'lots'"),
        (["run", "--sandbox", "chroot"], "--sandbox must be auto, bwrap or none, not 'chroot'"),
        (["fix-issue"], "missing argument NUMBER"),
        (["fix-issue", "0"], "NUMBER must be a whole number of at least 1, not '0'"),
        (["ci", "--max-time", "soon"], "--max-time must be a number, not 'soon'"),
        (
            ["bench", "tasks.jsonl", "--agent", "oracle"],
            "--agent must be be-agent, gold or empty, not 'oracle'",
        ),
        (["replay"], "missing argument TRAJECTORY"),
        (["deploy"], "no such command 'deploy'"),
    ],
)
def test_a_command_line_mistake_is_one_plain_line_and_exit_2(args: list[str], line: str) -> None:
    run = run_cli(*args)
    assert run.code == ExitCode.USAGE, run.stderr
    assert run.stdout == ""
    [only] = run.stderr.splitlines()
    assert only.startswith(f"be-agent: error: {line}")
    assert only.endswith("--help`)") and not BOX & set(only)


def test_with_json_a_command_line_mistake_is_also_the_last_json_line() -> None:
    run = run_cli("run", "--repo", ".", "--max-steps", "ten", "--json")
    assert run.code == 2
    assert run.json == {
        "status": "error",
        "reason": "--max-steps must be a whole number, not 'ten' (see `be-agent run --help`)",
        "exit_code": 2,
    }


HEAVY = (
    "anthropic",
    "httpx2",
    "structlog",
    "markdown_it",
    "rich",
    "agent.config",
    "agent.run",
    "agent.github",
)
LOADED_AFTER = """
import json, sys
from agent.cli import main
sys.argv = ["be-agent", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    "args", [["run", "--max-steps", "ten"], ["fix-issue"], ["ci", "--bogus"], ["--version"]]
)
def test_usage_errors_load_neither_the_sdk_nor_the_feature_modules(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, json.dumps(args)],
        capture_output=True,
        text=True,
        env=agent_env(),
        timeout=60,
    )
    loaded = json.loads(proc.stdout.splitlines()[-1])
    heavy = [
        m for m in loaded if m.split(".")[0] in HEAVY or any(m.startswith(h + ".") or m == h for h in HEAVY)
    ]
    assert heavy == []


def test_help_loads_no_sdk() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, json.dumps(["run", "--help"])],
        capture_output=True,
        text=True,
        env=agent_env(),
        timeout=60,
    )
    assert "--max-steps" in proc.stdout
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert not {"anthropic", "httpx2", "agent.run", "agent.config", "agent.github.fix_issue"} & loaded


@pytest.mark.parametrize(
    "exc, code",
    [
        (UsageError("x"), 2),
        (RemoteError("git push of b to origin failed: rejected"), 3),
        (GitHubError("GitHub API GET /repos/a/b: HTTP 502"), 3),
        (ModelAPIError("model API rejected the request"), 3),
        (SandboxUnavailable("sandbox unavailable"), 4),
        (Interrupted("interrupted"), 130),
        (KeyboardInterrupt(), 130),
        (ValueError("unexpected state"), 70),
    ],
)
def test_every_exception_maps_to_its_documented_exit_code(exc: BaseException, code: int) -> None:
    assert failure_of(exc).exit_code == code


def test_the_sandbox_layers_own_exception_leaves_as_exit_4() -> None:
    import sandbox.base

    with pytest.raises(SandboxUnavailable) as caught, lower_layer_errors():
        raise sandbox.base.SandboxUnavailable("sandbox unavailable: bubblewrap (bwrap) is not installed")
    assert caught.value.exit_code == 4 and "bwrap" in caught.value.message
    assert failure_of(ValueError("x")).message == "internal error: ValueError: x"


@pytest.mark.slow
def test_a_broken_repository_config_is_a_usage_error_through_the_real_run(
    demo_repo: Path, tmp_path: Path
) -> None:
    (demo_repo / ".be-agent.toml").write_text("test-cmd = \n")
    git(demo_repo, "add", ".be-agent.toml")
    git(demo_repo, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-m", "broken config")
    run = run_cli(
        "run",
        "--repo",
        str(demo_repo),
        "--task",
        "x",
        "--sandbox",
        "none",
        "--state-dir",
        str(tmp_path / "state"),
        env={"ANTHROPIC_API_KEY": "sk-ant-unused", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},
    )
    assert run.code == ExitCode.USAGE, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("be-agent: error: ")]
    assert errors == [errors[0]] and ".be-agent.toml cannot be read" in errors[0]
