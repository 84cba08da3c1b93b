"""Git effects: the harness's git ignores variables that would point it at another repository, and keeps
the user's other git settings (an ssh command, for instance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import workspace as ws
from agent.demo import make_demo_repo


def test_a_git_dir_in_the_environment_cannot_redirect_the_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    repo, other = tmp_path / "repo", tmp_path / "other"
    make_demo_repo(repo)
    make_demo_repo(other)
    ws.git(other, "commit", "-q", "--allow-empty", "-m", "other history")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert ws.resolve_commit(repo, "HEAD") != ws.resolve_commit(other, "HEAD")
    ws.clone_for_run(repo, ws.resolve_commit(repo, "HEAD"), "be-agent/x", tmp_path / "copy")
    assert ws.resolve_commit(tmp_path / "copy", "HEAD") == ws.resolve_commit(repo, "HEAD")


def test_the_users_ssh_command_still_reaches_git(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", "/opt/corp/ssh-wrapper")
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    env = ws.git_environment()
    assert env["GIT_SSH_COMMAND"] == "/opt/corp/ssh-wrapper"
    assert "GIT_DIR" not in env and env["GIT_TERMINAL_PROMPT"] == "0"


def test_paths_written_by_the_test_suite_are_left_out_of_the_change(tmp_path: Path):
    repo = tmp_path / "repo"
    make_demo_repo(repo)
    for name in ("reports/run [1].txt", "!odd", "#hash", "cov*.dat", "keep.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x")
    ws.exclude_from_change(repo, [p for p in ws.untracked_paths(repo) if p != "keep.py"])
    assert ws.untracked_paths(repo) == ["keep.py"]
    assert ws.changed_paths(repo, ws.resolve_commit(repo, "HEAD")) == ["keep.py"]
