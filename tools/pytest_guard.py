"""The harness's side of the runtime check in its own pytest runs (the plugin is tools/pytest_guard_plugin.py).

`install_guard` copies the plugin under a random module name into a directory of the run (outside every
checkout), which the sandbox mounts read-only; `run_prefix` is the shell text that puts it on the path and
keeps bytecode in the run's private temporary directory; `read_guard` reads back what each pytest process
wrote. Those files are written by a process that ran code under test, so they are read as hostile input:
bounded in number and size, links never followed, and validated.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

PLUGIN_SOURCE = Path(__file__).with_name("pytest_guard_plugin.py")
OUT_DIR_NAME = ".be-agent-guard"  # under the run's private temporary directory
PYCACHE_DIR_NAME = ".be-agent-pycache"
MAX_RECORDS = 64  # pytest processes of one run (xdist workers)
MAX_RECORD_BYTES = 16 * 1024 * 1024

CallOutcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class GuardPlugin:
    directory: Path  # holds only the plugin module; mounted read-only
    module: str


def install_guard(directory: Path) -> GuardPlugin:
    directory.mkdir(parents=True, exist_ok=True)
    module = f"be_agent_guard_{secrets.token_hex(6)}"
    target = directory / f"{module}.py"
    target.write_bytes(PLUGIN_SOURCE.read_bytes())
    target.chmod(0o444)
    return GuardPlugin(directory.resolve(), module)


def run_prefix(guard: GuardPlugin | None, pycache: Path | None = None) -> str:
    """Shell text before a harness test command: bytecode is read from and written to `pycache` (default: a
    directory in the run's private /tmp), never the tree's `__pycache__`; the guard's directory goes first
    on PYTHONPATH."""
    prefix = shlex.quote(str(pycache)) if pycache is not None else f'"$TMPDIR/{PYCACHE_DIR_NAME}"'
    exports = [f"PYTHONPYCACHEPREFIX={prefix}"]
    if guard is not None:
        exports += [
            f'BE_AGENT_GUARD_OUT="$TMPDIR/{OUT_DIR_NAME}"',
            f'PYTHONPATH={shlex.quote(str(guard.directory))}"${{PYTHONPATH:+:$PYTHONPATH}}"',
        ]
    # bytecode goes to the private prefix only, so writing it is safe, and it is what makes the prefix useful
    return "unset PYTHONDONTWRITEBYTECODE; export " + " ".join(exports) + "; "


class GuardProcess(BaseModel):
    pid: int
    calls: dict[str, CallOutcome] = Field(default_factory=dict)
    replaced: list[str] = Field(default_factory=list)
    late_plugins: list[str] = Field(default_factory=list)


class GuardRecord(BaseModel):
    """What the plugin saw, merged over the run's pytest processes."""

    calls: dict[str, CallOutcome] = Field(default_factory=dict)
    replaced: list[str] = Field(default_factory=list)
    late_plugins: list[str] = Field(default_factory=list)
    processes: int = 0


def read_guard(out_dir: Path) -> GuardRecord | None:
    """The merged record, or None when no process wrote one (pytest never reached the end of a session)."""
    try:
        names = sorted(os.listdir(out_dir))
    except OSError:
        return None
    merged = GuardRecord()
    for name in [n for n in names if n.startswith("guard-") and n.endswith(".json")][:MAX_RECORDS]:
        data = _read_regular(out_dir / name)
        if data is None:
            continue
        try:
            process = GuardProcess.model_validate(json.loads(data))
        except (ValueError, ValidationError):
            continue
        merged.processes += 1
        for test_id, outcome in process.calls.items():
            # a test seen by several processes (a controller and its worker): the worse outcome wins
            if merged.calls.get(test_id) != "failed":
                merged.calls[test_id] = outcome
        merged.replaced = sorted({*merged.replaced, *process.replaced})
        merged.late_plugins = sorted({*merged.late_plugins, *process.late_plugins})
    return merged if merged.processes else None


def _read_regular(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
            return None
        chunks, size = [], 0
        while size <= MAX_RECORD_BYTES and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
        return None if size > MAX_RECORD_BYTES else b"".join(chunks)
    finally:
        os.close(fd)
