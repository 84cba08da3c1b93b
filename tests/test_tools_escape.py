"""Hostile sequences across tools: what a bash command plants, the editor (running on the host) must
never follow, and what the model reads through either tool never includes host secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox
from tests.sandbox_fixtures import make_repo, needs_bwrap
from tools.bash import BashTool
from tools.editor import EditorTool

pytestmark = needs_bwrap


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[tuple[BashTool, EditorTool, Path]]:
    checkout = make_repo(tmp_path / "checkout")
    sandbox = BwrapSandbox(checkout, tmp_path / "scratch", SandboxConfig(command_timeout=20))
    yield BashTool(sandbox), EditorTool(checkout, sandbox.workdir), checkout
    sandbox.close()


@pytest.mark.parametrize("command", ["str_replace", "create", "insert", "view"])
def test_a_symlink_planted_by_bash_is_never_followed_by_the_editor(tools, tmp_path: Path, command: str):
    bash, editor, checkout = tools
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("SECRET-ON-THE-HOST\n")
    # inside the sandbox the target does not even exist; on the host, where the editor runs, it does
    planted = bash({"command": f"ln -s {host_file} notes.txt && ls -l notes.txt"})
    assert not planted.is_error and (checkout / "notes.txt").is_symlink()
    params = {
        "command": command,
        "path": "notes.txt",
        "old_str": "SECRET",
        "new_str": "PWNED",
        "file_text": "PWNED\n",
        "insert_line": 0,
        "insert_text": "PWNED\n",
    }
    result = editor(params)
    assert result.is_error
    assert "SECRET-ON-THE-HOST" not in result.content
    assert host_file.read_text() == "SECRET-ON-THE-HOST\n"


def test_a_symlinked_directory_planted_by_bash_is_not_a_way_out(tools, tmp_path: Path):
    bash, editor, checkout = tools
    outside = tmp_path / "outside"
    outside.mkdir()
    assert not bash({"command": f"ln -s {outside} src/vendor"}).is_error
    result = editor({"command": "create", "path": "src/vendor/evil.py", "file_text": "x = 1\n"})
    assert result.is_error
    assert list(outside.iterdir()) == []


def test_bash_cannot_read_what_the_editor_would_refuse(tools, tmp_path: Path):
    bash, _, _ = tools
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("SECRET-ON-THE-HOST\n")
    result = bash({"command": f"cat {host_file}; ln -s {host_file} s && cat s"})
    assert "SECRET-ON-THE-HOST" not in result.content
