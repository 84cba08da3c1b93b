"""The `bash` tool: one command at a time in the sandbox, starting at the checkout root.

Each command is a fresh `bash -c`; where one ends up (`cd`) the next one starts, as in the persistent shell
the model expects. The tool keeps that directory itself and passes it on, so test runs the harness makes in
between (always from the checkout root) do not move the model's shell. `restart` goes back to the root.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from sandbox.base import CommandResult, Sandbox
from tools.base import ToolResult


class BashTool:
    name = "bash"

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self._cwd: str | None = None

    def spec(self) -> dict[str, Any]:
        return {"type": "bash_20250124", "name": self.name}

    def __call__(self, params: dict[str, Any]) -> ToolResult:
        if params.get("restart") is True:
            return self._restart()
        command = params.get("command")
        if not isinstance(command, str) or not command.strip():
            return ToolResult(
                "`command` is required: the shell command to run (or pass restart: true)", is_error=True
            )
        if "\x00" in command:
            return ToolResult("the command contains a NUL character; remove it", is_error=True)
        try:
            result = self.sandbox.run(self._entry(command), cwd=self.sandbox.workdir)
        except OSError as exc:
            return ToolResult(
                f"the command could not be started: {exc}; try again or restart the shell", is_error=True
            )
        self._follow_cwd(result)
        return ToolResult(
            self._render(result),
            is_error=result.timed_out,
            data={
                "exit_code": result.exit_code,
                "timed_out": result.timed_out,
                "duration_s": round(result.duration_s, 3),
            },
        )

    def _restart(self) -> ToolResult:
        self.sandbox.reset()
        self._cwd = None
        return ToolResult("shell restarted", data={"exit_code": 0, "timed_out": False, "duration_s": 0.0})

    def _render(self, result: CommandResult) -> str:
        parts = [result.output.rstrip("\n")] if result.output.strip() else []
        if result.timed_out:
            parts.append(
                "[the shell is usable again; run long jobs on a smaller scope, or in the background "
                "with output to a file]"
            )
        elif result.exit_code:
            parts.append(f"[exit code {result.exit_code}]")
        if result.cwd and posixpath.normpath(result.cwd) != posixpath.normpath(self.sandbox.workdir):
            parts.append(f"[cwd: {result.cwd}]")
        return "\n".join(parts) if parts else "(no output)"

    def _follow_cwd(self, result: CommandResult) -> None:
        if result.cwd is not None:
            cwd = posixpath.normpath(result.cwd)
            self._cwd = None if cwd == posixpath.normpath(self.sandbox.workdir) else cwd

    def _entry(self, command: str) -> str:
        """`command` preceded, on the same first line so its line numbers stay the model's, by a `cd` back to
        where the last one ended. Only the shell inside the sandbox looks at that directory: checked on the
        host, a link planted in the checkout would tell whether a host directory exists. If it is gone the
        command starts at the checkout root (where the sandbox put it) with a note."""
        if self._cwd is None:
            return command
        gone = shlex.quote(f"[{self._cwd} no longer exists; starting in {self.sandbox.workdir}]")
        return f"cd -- {shlex.quote(self._cwd)} 2>/dev/null || echo {gone}; {command}"
