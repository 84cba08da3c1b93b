"""Finding the Python for the tests never runs anything of the repository's on the host.

A hostile repository commits `.venv/bin/python` (and friends): a script that would write a canary file
outside the tree and leak a canary environment variable. It is found by reading files, refused because the
repository tracks it, and never executed; an honest untracked virtualenv is probed inside the sandbox and
used. The last test drives the real CLI end to end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.toolchain import candidates, find_python_toolchain, refusal
from sandbox.base import Sandbox, SandboxConfig
from sandbox.bwrap import BwrapSandbox
from tests.conftest import git, run_cli
from tests.python_projects import make_venv
from tests.sandbox_fixtures import needs_bwrap
from tests.scripts import quick_ledger_fix
from tests.standin import StandinServer

CANARY_VALUE = "canary-value-7f3e9b21c4"


def canary_script(path: Path, canary: Path) -> None:
    """An 'interpreter' that, if anyone ran it, would leave `canary` with the environment's canary value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "ran: $CANARY_VALUE" >> {canary}\nexec /usr/bin/python3 "$@"\n')
    path.chmod(0o755)


def hostile_repo(root: Path, canary: Path) -> Path:
    """A committed `.venv` whose interpreter and pyvenv.cfg are the repository's own files."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for name in ("python", "python3"):
        canary_script(repo / ".venv" / "bin" / name, canary)
    (repo / ".venv" / "pyvenv.cfg").write_text(f"home = {repo / '.venv' / 'bin'}\nversion = 3.11.0\n")
    (repo / "app.py").write_text("X = 1\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "init")
    return repo


def bwrap_maker(tmp_path: Path) -> object:
    made = [0]

    def make(mounts: tuple[str, ...], env: dict[str, str]) -> Sandbox:
        made[0] += 1
        tree = tmp_path / f"probe-{made[0]}" / "tree"
        tree.mkdir(parents=True)
        return BwrapSandbox(tree, tree.parent / "tmp", SandboxConfig(extra_ro_paths=mounts, extra_env=env))

    return make


def test_candidates_are_found_by_reading_files_only(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    repo = hostile_repo(tmp_path, canary)
    honest = tmp_path / "elsewhere" / "venv"
    canary_script(honest / "bin" / "python", canary)
    (honest / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shim_dir = tmp_path / "shims"
    canary_script(shim_dir / "python3", canary)  # a version manager's shim: a script, not an interpreter
    environ = {"VIRTUAL_ENV": str(honest), "PATH": f"{shim_dir}:/usr/bin:/bin"}
    found = candidates(repo, environ)
    assert not canary.exists()
    pythons = [c.python for c in found]
    assert pythons[0] == str(repo / ".venv" / "bin" / "python")
    assert str(honest / "bin" / "python") in pythons
    assert str(shim_dir / "python3") not in pythons
    by_path = {c.python: c for c in found}
    assert by_path[str(honest / "bin" / "python")].mounts == (str(honest),)  # /usr needs no mount
    assert refusal(found[0], repo) is not None and "tracks" in str(refusal(found[0], repo))
    assert refusal(by_path[str(honest / "bin" / "python")], repo) is None


def test_a_tracked_link_to_a_virtualenv_elsewhere_is_refused_too(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    target = tmp_path / "planted"
    canary_script(target / "bin" / "python", canary)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".venv").symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "init")
    first = candidates(repo, {"PATH": "/usr/bin:/bin"})[0]
    assert first.python == str(target / "bin" / "python")
    assert "tracks (.venv)" in str(refusal(first, repo))
    assert not canary.exists()


def test_mounts_that_would_expose_home_or_the_working_tree_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / "pyvenv.cfg").write_text(f"home = {tmp_path}/bin\n")  # its "base" would be tmp_path: above repo
    found = candidates(repo, {"VIRTUAL_ENV": str(venv), "PATH": "/usr/bin:/bin"})
    mine = next(c for c in found if c.python == str(venv / "bin" / "python"))
    assert "holds your working tree" in str(refusal(mine, repo))


@needs_bwrap
def test_the_probe_runs_in_the_sandbox_and_skips_the_repositorys_interpreter(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    repo = hostile_repo(tmp_path, canary)
    honest = make_venv(tmp_path / "honest")
    environ = {"VIRTUAL_ENV": str(honest), "PATH": "/usr/bin:/bin", "CANARY_VALUE": CANARY_VALUE}
    toolchain = find_python_toolchain(repo, bwrap_maker(tmp_path), environ=environ)  # type: ignore[arg-type]
    assert toolchain.python == str(honest / "bin" / "python") and toolchain.has_pytest
    assert toolchain.origin == "the active virtualenv (VIRTUAL_ENV)"
    assert any(".venv/bin/python" in why and "never run" in why for why in toolchain.refused)
    assert not canary.exists()


@needs_bwrap
@pytest.mark.slow  # through the real CLI
def test_a_committed_interpreter_never_runs_on_the_host_and_an_honest_fix_still_lands(
    tmp_path: Path, state_dir: Path
) -> None:
    from agent.demo import make_demo_repo

    canary = tmp_path / "outside" / "canary"
    canary.parent.mkdir()
    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    for name in ("python", "python3"):
        canary_script(repo / ".venv" / "bin" / name, canary)
    (repo / "venv").symlink_to(".venv")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "add a venv")
    with StandinServer(quick_ledger_fix()) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(repo),
            "--task",
            "Make a failed Ledger.transfer change nothing and reject non-positive amounts.",
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env={
                "ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789",
                "ANTHROPIC_BASE_URL": srv.base_url,
                "CANARY_VALUE": CANARY_VALUE,
            },
        )
    assert run.code == 0, run.stderr
    assert run.json["status"] == "fixed"
    assert not canary.exists()
    assert "is a file the repository tracks" in run.stderr and "never run" in run.stderr
    leaks = [str(p) for p in state_dir.rglob("*") if p.is_file() and CANARY_VALUE.encode() in p.read_bytes()]
    assert leaks == [] and CANARY_VALUE not in run.stdout + run.stderr
    assert os.environ.get("CANARY_VALUE") is None  # the value lived only in the run's own environment


@needs_bwrap
def test_the_interpreter_found_is_the_one_the_sandbox_runs(tmp_path: Path) -> None:
    honest = make_venv(tmp_path / "honest", with_pytest=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    environ = {"VIRTUAL_ENV": str(honest), "PATH": "/usr/bin:/bin"}
    found = find_python_toolchain(repo, bwrap_maker(tmp_path), needs_pytest=False, environ=environ)  # type: ignore[arg-type]
    assert found.python == str(honest / "bin" / "python") and not found.has_pytest
    box = BwrapSandbox(
        repo, tmp_path / "scratch", SandboxConfig(extra_ro_paths=found.mounts, extra_env=found.env)
    )
    try:
        result = box.run("python3 -c 'import sys; print(sys.prefix)'")
    finally:
        box.close()
    assert result.output.strip() == str(honest)
