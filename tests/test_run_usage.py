"""Bad input: each case is one clear line on stderr and exit 2, before anything is created."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import git, run_cli


def _assert_usage_error(run, fragment: str, state_dir: Path) -> None:
    assert run.code == 2, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("be-agent: error: ")
    assert fragment in lines[0]
    assert not (state_dir / "runs").exists() or not any((state_dir / "runs").iterdir())


def test_path_not_a_git_repository(tmp_path: Path, state_dir: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    run = run_cli("run", "--repo", str(plain), "--task", "x", "--state-dir", str(state_dir))
    _assert_usage_error(run, "not a git repository", state_dir)


def test_repository_with_no_commits(tmp_path: Path, state_dir: Path):
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    run = run_cli("run", "--repo", str(empty), "--task", "x", "--state-dir", str(state_dir))
    _assert_usage_error(run, "no commits", state_dir)


def test_unknown_base(demo_repo: Path, state_dir: Path):
    run = run_cli(
        "run", "--repo", str(demo_repo), "--task", "x", "--base", "nope", "--state-dir", str(state_dir)
    )
    _assert_usage_error(run, "unknown base ref: 'nope'", state_dir)


@pytest.mark.parametrize("task", ["", "   \n"])
def test_empty_task(demo_repo: Path, state_dir: Path, task: str):
    run = run_cli("run", "--repo", str(demo_repo), "--task", task, "--state-dir", str(state_dir))
    _assert_usage_error(run, "the task is empty", state_dir)


def test_unreadable_task_file(demo_repo: Path, state_dir: Path, tmp_path: Path):
    run = run_cli(
        "run",
        "--repo",
        str(demo_repo),
        "--task-file",
        str(tmp_path / "missing.md"),
        "--state-dir",
        str(state_dir),
    )
    _assert_usage_error(run, "cannot read task file", state_dir)


def test_existing_branch_name(demo_repo: Path, state_dir: Path):
    git(demo_repo, "branch", "taken")
    run = run_cli(
        "run", "--repo", str(demo_repo), "--task", "x", "--branch", "taken", "--state-dir", str(state_dir)
    )
    _assert_usage_error(run, "branch 'taken' already exists", state_dir)


def test_missing_api_key(demo_repo: Path, state_dir: Path):
    run = run_cli("run", "--repo", str(demo_repo), "--task", "x", "--state-dir", str(state_dir))
    _assert_usage_error(run, "ANTHROPIC_API_KEY", state_dir)


def test_json_mode_reports_the_error_as_the_last_line(tmp_path: Path, state_dir: Path):
    run = run_cli("run", "--repo", str(tmp_path), "--task", "x", "--state-dir", str(state_dir), "--json")
    assert run.code == 2
    assert run.json == {"status": "error", "reason": f"not a git repository: {tmp_path}", "exit_code": 2}


def test_an_internal_bug_exits_70_never_1(capsys: pytest.CaptureFixture[str]):
    import typer

    from agent.cli import handles_errors

    @handles_errors
    def broken(json_output: bool = False) -> None:
        raise ValueError("unexpected state")

    with pytest.raises(typer.Exit) as exited:
        broken(json_output=True)
    assert exited.value.exit_code == 70
    out, err = capsys.readouterr()
    assert err.strip() == "be-agent: error: internal error: ValueError: unexpected state"
    assert '"exit_code": 70' in out
