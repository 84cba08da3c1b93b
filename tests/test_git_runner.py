"""The one git runner: every call names its environment, and each policy gives git exactly what its purpose
needs (the harness no secrets, a push to the user's remote the user's own set-up, the bench nobody's
config), while none lets the environment point git at another repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.demo import make_demo_repo
from agent.git import GitEnv, git, git_environment


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Global Name\n[alias]\n\tsecret-alias = log\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    return home


def test_only_a_push_with_the_users_setup_sees_the_users_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_TOKEN", "ghp_users_own_token")
    monkeypatch.setenv("GIT_SSH_COMMAND", "/opt/corp/ssh-wrapper")
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    harness, user, isolated = (
        git_environment(p) for p in (GitEnv.HARNESS, GitEnv.USER_REMOTE, GitEnv.ISOLATED)
    )
    assert "GH_TOKEN" not in harness and "GH_TOKEN" not in isolated
    assert user["GH_TOKEN"] == "ghp_users_own_token"  # what a credential helper such as `gh` reads
    assert harness["GIT_SSH_COMMAND"] == user["GIT_SSH_COMMAND"] == "/opt/corp/ssh-wrapper"
    assert all(
        "GIT_DIR" not in env and env["GIT_TERMINAL_PROMPT"] == "0" for env in (harness, user, isolated)
    )


@pytest.mark.parametrize("policy", list(GitEnv))
def test_no_policy_lets_the_environment_redirect_git(
    policy: GitEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, other = tmp_path / "repo", tmp_path / "other"
    make_demo_repo(repo)
    make_demo_repo(other)
    git(other, "commit", "-q", "--allow-empty", "-m", "other history", env={"GIT_AUTHOR_NAME": "o"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    ours = git(repo, "rev-parse", "HEAD", policy=policy).stdout
    assert ours == git(repo, "rev-parse", "HEAD").stdout != git(other, "rev-parse", "HEAD").stdout


def test_the_bench_policy_ignores_the_users_git_config(tmp_path: Path, user_home: Path) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo)
    assert git(repo, "config", "user.name").stdout.strip() == "Global Name"
    assert git(repo, "config", "user.name", policy=GitEnv.ISOLATED, check=False).stdout == ""


def test_no_policy_runs_a_hook_planted_in_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo)
    witness = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {witness}\n")
    hook.chmod(0o755)
    identity = {
        f"GIT_{who}_{what}": "x@example.invalid"
        for who in ("AUTHOR", "COMMITTER")
        for what in ("NAME", "EMAIL")
    }
    for policy in GitEnv:
        git(
            repo,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            f"commit ({policy.value})",
            policy=policy,
            env=identity,
        )
    assert not witness.exists()
