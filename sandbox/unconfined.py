"""`--sandbox none`: commands run as plain subprocesses in the checkout. An explicit, warned opt-out.

No isolation at all: the command sees the user's files and the network. It is still bounded: the
environment is filtered the same way, the output is capped, a file written is capped (`ulimit -f`, which a
command running as root could raise again), and on timeout or exit the command's process group is killed (a
process that made its own session with `setsid` escapes that; only bwrap stops it).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.base import CommandResult, SandboxConfig
from sandbox.env import sandbox_environment
from sandbox.inner import usable_inner_mounts
from sandbox.limits import FILE_LIMIT_MARKERS, file_size_limit, file_size_notes
from sandbox.output import OutputCapture
from sandbox.process import command_result, pump


class UnconfinedSandbox:
    def __init__(self, checkout: Path, scratch: Path, config: SandboxConfig | None = None):
        self.checkout = checkout.resolve()
        self.scratch = scratch.resolve()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.workdir = str(self.checkout)
        self.scratch_inner = str(self.scratch)
        self.config = config or SandboxConfig()
        home = self.scratch / "home"
        home.mkdir(exist_ok=True)
        self._env = sandbox_environment(self.config.extra_env, home=str(home), tmpdir=str(self.scratch))
        # no mounts without a sandbox: a link at each place instead (nothing is read-only here anyway)
        for source, _rel, place in usable_inner_mounts(self.checkout, self.config.inner_ro_mounts):
            if not os.path.lexists(place):
                with contextlib.suppress(OSError):
                    os.symlink(source, place)
        self._cwd: str | None = None
        self._lock = threading.Lock()
        self._kill_active: Callable[[], None] | None = None

    def run(self, command: str, *, timeout: float | None = None, cwd: str | None = None) -> CommandResult:
        limit = self.config.command_timeout if timeout is None else timeout
        with self._lock:
            return self._run(command, limit, cwd)

    def _run(self, command: str, limit: float, cwd: str | None) -> CommandResult:
        start = time.monotonic()
        side_r, side_w = os.pipe()
        begin_in = cwd or self._cwd or self.workdir
        script = (
            f"{self._file_size_setting()}trap 'printf %s \"$PWD\" >&{side_w}' EXIT; "
            f"cd -- {shlex.quote(begin_in)} || exit 1; {command}"
        )
        try:
            proc = subprocess.Popen(
                ["bash", "-c", script],
                cwd=self.workdir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(side_w,),
            )
        except BaseException:
            os.close(side_r)
            raise
        finally:
            os.close(side_w)

        def kill() -> None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

        self._kill_active = kill
        capture = OutputCapture(self.config.output_head, self.config.output_tail, watch=FILE_LIMIT_MARKERS)
        try:
            pumped = pump(proc, deadline=start + limit, capture=capture, kill=kill, side_fd=side_r)
        finally:
            self._kill_active = None
            kill()  # background jobs of the command's process group end with it
        final_cwd = pumped.side.decode("utf-8", "replace") or None
        if final_cwd:
            self._cwd = final_cwd
        notes = file_size_notes(self.config.max_file_bytes, pumped.exit_code, capture.watched_seen)
        return command_result(
            pumped,
            capture,
            limit=limit,
            started=start,
            notes=notes,
            cwd=final_cwd or self._cwd or self.workdir,
        )

    def _file_size_setting(self) -> str:
        """A `ulimit -f` (soft and hard, in KiB) for the command's shell: there is no process to hold
        before it starts here, and every process it runs inherits the limit."""
        if not self.config.max_file_bytes:
            return ""
        return f"ulimit -f {max(1, file_size_limit(self.config.max_file_bytes) // 1024)}; "

    def reset(self) -> None:
        self._cwd = None

    def close(self) -> None:
        kill = self._kill_active
        if kill is not None:
            kill()
