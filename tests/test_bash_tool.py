"""The bash tool on real sandboxes: output, exit codes, timeouts, a shell that keeps its directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.base import Sandbox, SandboxConfig
from sandbox.unconfined import UnconfinedSandbox
from tools.bash import BashTool


def make_sandbox(kind: str, tmp_path: Path, timeout: float = 30) -> Sandbox:
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "app.py").write_text("print('hi')\n")
    config = SandboxConfig(command_timeout=timeout)
    if kind == "unconfined":
        return UnconfinedSandbox(checkout, tmp_path / "scratch", config)
    bwrap = pytest.importorskip("sandbox.bwrap")
    from sandbox.preflight import bwrap_problem

    if problem := bwrap_problem():
        pytest.skip(problem)
    sandbox: Sandbox = bwrap.BwrapSandbox(checkout, tmp_path / "scratch", config)
    return sandbox


@pytest.fixture(params=["unconfined", "bwrap"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    box = make_sandbox(request.param, tmp_path)
    yield box
    box.close()


def test_spec_is_the_anthropic_bash_tool(sandbox: Sandbox) -> None:
    assert BashTool(sandbox).spec() == {"type": "bash_20250124", "name": "bash"}


def test_output_then_the_exit_code_when_it_is_not_zero(sandbox: Sandbox) -> None:
    bash = BashTool(sandbox)
    result = bash({"command": "cat src/app.py; echo oops >&2; exit 2"})
    assert not result.is_error
    assert result.content == "print('hi')\noops\n[exit code 2]"
    assert result.data["exit_code"] == 2 and result.data["timed_out"] is False
    assert result.data["duration_s"] >= 0
    assert bash({"command": "true"}).content == "(no output)"


def test_commands_start_in_the_checkout_root(sandbox: Sandbox) -> None:
    assert BashTool(sandbox)({"command": "pwd"}).content == sandbox.workdir


def test_cd_carries_over_until_restart(sandbox: Sandbox) -> None:
    bash = BashTool(sandbox)
    bash({"command": "cd src"})
    moved = bash({"command": "ls"})
    assert moved.content == f"app.py\n[cwd: {sandbox.workdir}/src]"
    sandbox.run("true", cwd=sandbox.workdir)  # a harness test run in between does not move the shell
    assert bash({"command": "pwd"}).content.startswith(f"{sandbox.workdir}/src")
    assert bash({"restart": True}).content == "shell restarted"
    assert bash({"command": "pwd"}).content == sandbox.workdir


def test_a_directory_that_disappeared_falls_back_to_the_root(sandbox: Sandbox) -> None:
    bash = BashTool(sandbox)
    bash({"command": "mkdir -p gone && cd gone"})
    shutil.rmtree(sandbox.checkout / "gone")
    result = bash({"command": "ls src"})
    assert result.content.startswith("[") and "gone no longer exists" in result.content
    assert "app.py" in result.content and "[exit code" not in result.content


def test_a_timeout_is_reported_and_the_shell_stays_usable(tmp_path: Path) -> None:
    sandbox = make_sandbox("unconfined", tmp_path, timeout=0.5)
    bash = BashTool(sandbox)
    result = bash({"command": "echo started; sleep 30"})
    assert result.is_error and result.data["timed_out"] is True
    assert "started" in result.content and "timed out after 0.5 s" in result.content
    assert "usable again" in result.content
    assert bash({"command": "echo fine"}).content == "fine"


@pytest.mark.parametrize("params", [{}, {"command": ""}, {"command": "   "}, {"command": 3}])
def test_a_missing_command_is_an_error(sandbox: Sandbox, params: dict[str, object]) -> None:
    result = BashTool(sandbox)(params)
    assert result.is_error and "`command` is required" in result.content
