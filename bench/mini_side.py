"""mini-swe-agent, for side-by-side timing: installed in the bench's own virtual environment, never in ours.

The environment lives under the user's cache (`$XDG_CACHE_HOME/be-agent/bench/mini-swe-agent-VERSION`,
default `~/.cache/...`) and is made once, with pip from the package index, on the first run that needs it.
A worker process in it (bench/mini_worker.py) runs each command through mini-swe-agent's
`LocalEnvironment.execute` and reports how long that call took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MINI_VERSION = "2.4.6"
WORKER = Path(__file__).resolve().parent / "mini_worker.py"
INSTALL_TIMEOUT_S = 900.0


def default_environment_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "be-agent" / "bench" / f"mini-swe-agent-{MINI_VERSION}"


def ensure_mini_python(where: Path) -> Path:
    """The interpreter of a virtual environment at `where` holding mini-swe-agent MINI_VERSION; made when
    missing (a failed install leaves nothing behind that a later run would mistake for a good one)."""
    python = where / "bin" / "python"
    done = where / ".installed"
    if done.is_file():
        return python
    print(f"installing mini-swe-agent {MINI_VERSION} into {where} (once)", file=sys.stderr)
    where.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(where)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"mini-swe-agent=={MINI_VERSION}"],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    done.write_text(MINI_VERSION + "\n")
    return python


@dataclass
class MiniStep:
    seconds: float
    returncode: int
    output: str


class MiniWorker:
    """One mini-swe-agent `LocalEnvironment` in its own process; `execute` runs one command there.

    Commands see this process's environment with `path_first` put first on PATH, so `python3` means the
    same interpreter as in be-agent's sandbox."""

    def __init__(self, python: Path, *, path_first: str):
        self._config = tempfile.TemporaryDirectory(prefix="be-agent-bench-mini-")
        env = {
            **os.environ,
            "PATH": f"{path_first}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "MSWEA_SILENT_STARTUP": "1",  # no banner on stdout, where the protocol runs
            "MSWEA_GLOBAL_CONFIG_DIR": self._config.name,  # nothing written to the user's config
        }
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        hello = self._read()
        self.version = str(hello.get("version"))

    def _read(self) -> dict[str, Any]:
        out: IO[str] | None = self._proc.stdout
        line = out.readline() if out else ""
        if not line:
            raise RuntimeError(f"the mini-swe-agent worker stopped (exit code {self._proc.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def execute(self, command: str, cwd: Path) -> MiniStep:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"command": command, "cwd": str(cwd)}) + "\n")
        self._proc.stdin.flush()
        answer = self._read()
        return MiniStep(float(answer["seconds"]), int(answer["returncode"]), str(answer["output"]))

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._config.cleanup()
