"""Inputs a user can get wrong are refused up front, in one line, before anything is cloned: branch names git
would refuse only at the end of the run, option values that make no sense, oversized tasks, bare
repositories. Also the small text forms users see: branch slugs and the terminal summary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent import workspace as ws
from agent.cli import app, handles_errors
from agent.config import RunResult
from agent.errors import AgentError, UsageError
from agent.report import render_terminal_summary
from tests.conftest import git, run_cli


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_usage_line(code: int, stderr: str, fragment: str, state_dir: Path) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("be-agent: error: "), stderr
    assert fragment in lines[0], lines[0]
    assert not state_dir.exists(), "nothing may be created for a refused run"


# --- branch names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "wanted", "named"),
    [
        ("a", "a/b/c", "branch 'a' exists"),  # a file where a directory is needed
        ("a/b", "a/b/c", "branch 'a/b' exists"),
        ("a/x", "a", "branch 'a/x' exists"),  # a directory where a file is needed
    ],
)
def test_a_branch_that_clashes_with_an_existing_one_is_refused(
    demo_repo: Path, existing: str, wanted: str, named: str
):
    git(demo_repo, "branch", existing)
    with pytest.raises(UsageError) as refused:
        ws.check_branch_name(demo_repo, wanted)
    assert named in refused.value.message
    assert "--branch" in refused.value.message


def test_siblings_of_existing_branches_are_fine(demo_repo: Path):
    git(demo_repo, "branch", "a/x")
    ws.check_branch_name(demo_repo, "a/y")
    ws.check_branch_name(demo_repo, "a-x")
    ws.check_branch_name(demo_repo, "a/x")  # exists already: whether it may be reused is the run's decision


def test_a_user_branch_named_be_agent_is_reported_before_the_run(demo_repo: Path, state_dir: Path):
    git(demo_repo, "branch", "be-agent")
    run = run_cli("run", "--repo", str(demo_repo), "--task", "Fix transfer", "--state-dir", str(state_dir))
    assert_one_usage_line(run.code, run.stderr, "your branch 'be-agent'", state_dir)
    assert "be-agent/..." in run.stderr and "--branch" in run.stderr


@pytest.mark.parametrize(
    "name",
    [
        "@",
        "HEAD",
        "refs/heads/x",
        "refs/tags/v1",
        "-x",
        "--force",
        "@{-1}",
        "a..b",
        "a b",
        "x.lock",
        "dir/",
        "~1",
    ],
)
def test_branch_names_git_would_misread_or_refuse(demo_repo: Path, name: str):
    with pytest.raises(UsageError, match="invalid branch name"):
        ws.check_branch_name(demo_repo, name)


def test_an_invalid_branch_option_is_one_line_and_nothing_is_created(demo_repo: Path, state_dir: Path):
    git(demo_repo, "checkout", "-q", "-b", "feature")
    code, _, stderr = invoke(
        "run", "--repo", str(demo_repo), "--task", "x", "--branch", "@{-1}", "--state-dir", str(state_dir)
    )
    assert_one_usage_line(code, stderr, "invalid branch name: '@{-1}'", state_dir)


# --- option values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--command-timeout", "0", "--command-timeout must be greater than 0, not 0"),
        ("--command-timeout", "nan", "--command-timeout must be a finite number, not nan"),
        ("--test-timeout", "-5", "--test-timeout must be greater than 0, not -5"),
        ("--test-timeout", "inf", "--test-timeout must be a finite number, not inf"),
        ("--max-time", "0", "--max-time must be greater than 0"),
        ("--max-cost", "-1", "--max-cost must be greater than 0, not -1"),
        ("--max-cost", "inf", "--max-cost must be a finite number"),
        ("--retry-budget", "-1", "--retry-budget must be at least 0, not -1"),
        ("--max-steps", "0", "--max-steps must be at least 1, not 0"),
        ("--model", "", "--model: the model name is empty"),
        ("--test-cmd", "   ", "--test-cmd: the test command is blank"),
    ],
)
def test_option_values_that_make_no_sense_are_refused(
    demo_repo: Path, state_dir: Path, option: str, value: str, message: str
):
    code, _, stderr = invoke(
        "run", "--repo", str(demo_repo), "--task", "x", option, value, "--state-dir", str(state_dir)
    )
    assert_one_usage_line(code, stderr, message, state_dir)


def test_a_zero_retry_budget_is_allowed(demo_repo: Path, state_dir: Path):
    # it means "no retries"; the run then stops at the missing API key, not at the option
    code, _, stderr = invoke(
        "run", "--repo", str(demo_repo), "--task", "x", "--retry-budget", "0", "--state-dir", str(state_dir)
    )
    assert code == 2 and "ANTHROPIC_API_KEY" in stderr


def test_a_huge_task_is_refused_with_its_size(demo_repo: Path, state_dir: Path, tmp_path: Path):
    task_file = tmp_path / "TASK.md"
    task_file.write_text("fix it " * 40_000)
    code, stdout, stderr = invoke(
        "run",
        "--repo",
        str(demo_repo),
        "--task-file",
        str(task_file),
        "--state-dir",
        str(state_dir),
        "--json",
    )
    assert_one_usage_line(code, stderr, "the task is 280,000 characters long; at most 200,000", state_dir)
    assert json.loads(stdout.splitlines()[-1])["exit_code"] == 2


def test_a_bad_option_as_a_real_command_exits_2_without_a_traceback(demo_repo: Path, state_dir: Path):
    run = run_cli(
        "run",
        "--repo",
        str(demo_repo),
        "--task",
        "x",
        "--command-timeout",
        "nan",
        "--json",
        "--state-dir",
        str(state_dir),
    )
    assert_one_usage_line(run.code, run.stderr, "--command-timeout must be a finite number", state_dir)
    assert run.json == {
        "status": "error",
        "reason": "--command-timeout must be a finite number, not nan",
        "exit_code": 2,
    }


# --- errors carry where to look --------------------------------------------------------------------------------


def test_the_json_error_line_carries_the_error_details(capsys: pytest.CaptureFixture[str]):
    details = {
        "run_dir": "/runs/abc",
        "trajectory": "/runs/abc/trajectory.jsonl",
        "diff": "/runs/abc/change.diff",
    }

    @handles_errors
    def failing(json_output: bool = False) -> None:
        raise AgentError("git fetch failed", details=details)

    with pytest.raises(typer.Exit) as exited:
        failing(json_output=True)
    assert exited.value.exit_code == 2
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line == {**details, "status": "error", "reason": "git fetch failed", "exit_code": 2}


def test_errors_without_details_keep_the_plain_json_line(capsys: pytest.CaptureFixture[str]):
    @handles_errors
    def failing(json_output: bool = False) -> None:
        raise UsageError("bad")

    with pytest.raises(typer.Exit):
        failing(json_output=True)
    assert json.loads(capsys.readouterr().out) == {"status": "error", "reason": "bad", "exit_code": 2}


# --- repositories and slugs ----------------------------------------------------------------------------------


def test_a_bare_repository_asks_for_a_working_copy(demo_repo: Path, tmp_path: Path, state_dir: Path):
    bare = tmp_path / "ledger.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(demo_repo), str(bare)], check=True)
    code, _, stderr = invoke("run", "--repo", str(bare), "--task", "x", "--state-dir", str(state_dir))
    assert_one_usage_line(code, stderr, "bare repository: give a working copy (a clone) of it", state_dir)


@pytest.mark.parametrize(
    ("task", "slug"),
    [
        ("Fix transfer — ünïcode", "fix-transfer-unicode"),
        ("Réparer le café", "reparer-le-cafe"),
        ("修复转账", "task"),
    ],
)
def test_slugs_fold_accents_to_ascii(task: str, slug: str):
    assert ws.slugify(task) == slug


# --- the terminal summary ------------------------------------------------------------------------------------


def test_the_summary_points_at_the_diff_only_when_there_is_a_change(tmp_path: Path):
    diff = tmp_path / "change.diff"
    diff.write_text("")
    result = RunResult(status="not_fixed", reason="no change was made", diff=str(diff))
    assert "the change is in" not in render_terminal_summary(result)
    diff.write_text("diff --git a/x b/x\n")
    assert f"no branch made; the change is in {diff}" in render_terminal_summary(result)
