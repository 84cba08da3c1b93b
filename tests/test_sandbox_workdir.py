"""The sandbox shows a run's checkout at the user's repository path: what was recorded about that path in the
user's environment (editable installs, `#!` lines) leads to the checkout, and the user's working tree itself
stays out of reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox, checkout_path_inside
from tests.sandbox_fixtures import make_repo, needs_bwrap


@pytest.mark.parametrize(
    ("user_repo", "inside"),
    [
        ("/home/alice/src/app", "/home/alice/src/app"),
        ("/tmp/work/app", "/tmp/work/app"),  # below /tmp: created inside the run's private /tmp
        ("/usr/src/app", "/usr/src/app"),
        ("/", "/workspace"),
        ("/tmp", "/workspace"),
        ("/home", "/workspace"),  # above the sandbox's HOME
        ("/usr", "/workspace"),
        ("/proc/self", "/workspace"),
        ("/dev/shm/app", "/workspace"),
        ("relative/app", "/workspace"),
        ("/srv/a/../app", "/workspace"),
        ("/srv/app\nx", "/workspace"),
    ],
)
def test_where_the_checkout_is_shown(user_repo: str, inside: str) -> None:
    assert checkout_path_inside(user_repo) == inside


@needs_bwrap
def test_the_checkout_takes_the_place_of_the_users_tree_with_the_users_venv_on_top(tmp_path: Path) -> None:
    user_repo = make_repo(tmp_path / "user" / "app")
    (user_repo / "uncommitted.txt").write_text("the user's own work\n")
    venv = user_repo / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "tool").write_text("#!/bin/sh\necho from-the-users-venv\n")
    (venv / "bin" / "tool").chmod(0o755)
    checkout = make_repo(tmp_path / "run" / "checkout")
    config = SandboxConfig(workdir=str(user_repo), extra_ro_paths=(str(venv),))
    box = BwrapSandbox(checkout, tmp_path / "run" / "scratch", config)
    try:
        assert box.workdir == str(user_repo)
        shown = box.run("pwd; ls; .venv/bin/tool; echo x > .venv/new 2>&1 || echo venv-read-only").output
        wrote = box.run("echo edit >> src/app.py && touch .git/x 2>/dev/null || echo git-read-only").output
    finally:
        box.close()
    lines = shown.splitlines()
    assert lines[0] == str(user_repo)
    assert "uncommitted.txt" not in lines and "README.md" in lines
    assert "from-the-users-venv" in lines and "venv-read-only" in lines
    assert "git-read-only" in wrote
    assert (checkout / "src" / "app.py").read_text().endswith("edit\n")  # the checkout changed...
    assert (user_repo / "src" / "app.py").read_text() == "print('app')\n"  # ...the user's tree did not
    assert not (venv / "new").exists()
