"""Which Python the repository's tests run with, and what the sandbox must mount for it.

A fresh copy of a repository has no virtualenv (it is ignored by git), so the tests run with the Python
the user would use: the repository's own `.venv` or `venv`, else the active virtualenv, else `python3` on
PATH, else the interpreter running be-agent; the first of these that can import pytest. Its prefixes are
mounted read-only in the sandbox and its `bin` goes first on PATH, so `python3` and `pytest` in the
model's commands mean the same interpreter as in the harness's test runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.env import DEFAULT_PATH

_PROBE = "import json, sys, pytest; print(json.dumps([sys.executable, sys.prefix, sys.base_prefix]))"


@dataclass(frozen=True)
class Toolchain:
    python: str | None = None  # the interpreter path as found (a venv's bin/python, not resolved)
    mounts: tuple[str, ...] = ()  # read-only paths the sandbox must add
    env: dict[str, str] = field(default_factory=dict)  # PATH with the interpreter's bin first


def _candidates(user_repo: Path) -> list[str]:
    found = [str(user_repo / d / "bin" / "python") for d in (".venv", "venv")]
    if os.environ.get("VIRTUAL_ENV"):
        found.append(str(Path(os.environ["VIRTUAL_ENV"]) / "bin" / "python"))
    on_path = shutil.which("python3")
    if on_path:
        found.append(on_path)
    found.append(sys.executable)
    return [c for c in dict.fromkeys(found) if os.access(c, os.X_OK)]


def _probe(python: str) -> list[str] | None:
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        return [str(p) for p in json.loads(proc.stdout.strip().splitlines()[-1])]
    except (ValueError, IndexError):
        return None


def _exposes_home(path: str) -> bool:
    home = str(Path.home().resolve())
    return path in ("/", home) or home.startswith(path.rstrip("/") + "/")


def find_python_toolchain(user_repo: Path) -> Toolchain:
    for candidate in _candidates(user_repo):
        probed = _probe(candidate)
        if probed is None:
            continue
        executable, *prefixes = probed
        bin_dir = str(Path(executable).parent)  # a venv's bin, never a version manager's shim directory
        mounts = list(dict.fromkeys([str(Path(p).resolve()) for p in prefixes] + [bin_dir]))
        if any(_exposes_home(m) for m in mounts):
            continue
        return Toolchain(executable, tuple(mounts), {"PATH": f"{bin_dir}:{DEFAULT_PATH}"})
    return Toolchain()
