"""Helpers for the sandbox tests: a real repository to confine, sandboxes of each kind, host-side checks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox
from sandbox.preflight import bwrap_problem
from sandbox.unconfined import UnconfinedSandbox

BWRAP_PROBLEM = bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap cannot run: {BWRAP_PROBLEM}")

AnySandbox = BwrapSandbox | UnconfinedSandbox
MakeSandbox = Callable[..., AnySandbox]


def git(repo: Path, *args: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('app')\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


@contextlib.contextmanager
def sandbox_factory(tmp_path: Path, repo: Path) -> Iterator[MakeSandbox]:
    """`make(kind, **config)` for kind "bwrap", "bwrap-fresh" (a bubblewrap per command, the fallback when no
    keeper can run) or "none"; every sandbox made is closed on exit."""
    made: list[AnySandbox] = []

    def make(kind: str, *, use_cgroups: bool = True, **config: Any) -> AnySandbox:
        scratch = tmp_path / f"scratch-{len(made)}"
        settings = SandboxConfig(**config)
        box: AnySandbox = (
            BwrapSandbox(repo, scratch, settings, use_cgroups=use_cgroups, resident=kind == "bwrap")
            if kind.startswith("bwrap")
            else UnconfinedSandbox(repo, scratch, settings)
        )
        made.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            box.close()


def processes_mentioning(token: str) -> list[int]:
    """Host pids whose command line contains `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if token.encode() in cmdline.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def wait_until(condition: Callable[[], bool], deadline_s: float = 10.0) -> bool:
    """Poll `condition` until it holds or the deadline passes; True if it held."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
