"""`--sandbox none`: commands run as plain subprocesses in the checkout. An explicit, warned opt-out.

Still bounded: own process group killed on timeout, environment filtered, output capped.
(First version; the sandbox work hardens output capture and limits.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from sandbox.base import CommandResult, SandboxConfig


class UnconfinedSandbox:
    def __init__(self, checkout: Path, scratch: Path, config: SandboxConfig | None = None):
        self.checkout = checkout.resolve()
        self.scratch = scratch.resolve()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.workdir = str(self.checkout)
        self.scratch_inner = str(self.scratch)
        self.config = config or SandboxConfig()

    def run(self, command: str, *, timeout: float | None = None, cwd: str | None = None) -> CommandResult:
        limit = timeout or self.config.command_timeout
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.scratch), "LANG": "C.UTF-8",
               "TMPDIR": str(self.scratch), **self.config.extra_env}
        start = time.monotonic()
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd or self.workdir, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            timed_out = True
        text = out.decode("utf-8", "replace")
        keep = self.config.output_head + self.config.output_tail
        cut = max(0, len(text) - keep)
        if cut:
            text = (text[: self.config.output_head] + f"\n[... {cut} characters cut ...]\n"
                    + text[-self.config.output_tail:])
        return CommandResult(exit_code=None if timed_out else proc.returncode, output=text,
                             timed_out=timed_out, duration_s=time.monotonic() - start, cut_bytes=cut)

    def close(self) -> None:
        pass
