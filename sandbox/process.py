"""Drive one started command to its end: stream its output into a bounded capture, enforce the deadline,
and make sure nothing holding its pipes keeps us waiting."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from sandbox.base import CommandResult
from sandbox.output import OutputCapture, append_note

CHUNK = 64 * 1024
EXIT_GRACE_S = 0.5  # after the command exits, how long a leftover holder of its output pipe may keep it open
KILL_GRACE_S = 2.0  # after a kill, how long to wait for the output pipe to close
SIDE_LIMIT = 64 * 1024


@dataclass
class Pumped:
    timed_out: bool
    exit_code: int | None
    side: bytes  # what the command wrote on the side channel


def timeout_note(seconds: float) -> str:
    return f"[timed out after {seconds:g} s; the command and everything it started were killed]"


def command_result(
    pumped: Pumped,
    capture: OutputCapture,
    *,
    limit: float,
    started: float,
    cwd: str,
    notes: list[str] | None = None,
) -> CommandResult:
    """What the model is told: the bounded output, then a note for a timeout or a limit that was hit."""
    text = capture.text()
    for note in ([timeout_note(limit)] if pumped.timed_out else []) + (notes or []):
        text = append_note(text, note)
    return CommandResult(
        exit_code=pumped.exit_code,
        output=text,
        timed_out=pumped.timed_out,
        duration_s=time.monotonic() - started,
        cut_bytes=capture.cut_bytes,
        cwd=cwd,
    )


class Running(Protocol):
    """What `pump` needs of a started command: a subprocess, or a command run by a resident sandbox."""

    stdout: IO[bytes] | None
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def pump(
    proc: Running,
    *,
    deadline: float,
    capture: OutputCapture,
    kill: Callable[[], None],
    side_fd: int | None = None,
    ended_fd: int | None = None,
) -> Pumped:
    """Read `proc.stdout` into `capture` until it closes. At `deadline` call `kill` (which must end the
    whole process tree). `side_fd`, if given, is read too and closed here. `ended_fd` (left open) becomes
    readable when the command ended; by default a pidfd of `proc` tells."""
    assert proc.stdout is not None
    out_fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(out_fd, selectors.EVENT_READ, "out")
    if side_fd is not None:
        selector.register(side_fd, selectors.EVENT_READ, "side")
    exit_fd: int | None = None
    if ended_fd is not None:
        selector.register(ended_fd, selectors.EVENT_READ, "exit")
    else:
        try:
            exit_fd = os.pidfd_open(proc.pid)
            selector.register(exit_fd, selectors.EVENT_READ, "exit")
        except (AttributeError, OSError):
            pass  # no pidfd: proc.poll() each round instead

    side = bytearray()
    timed_out = False
    stop_at = deadline  # when we stop waiting for the output pipe
    exited = False
    try:
        while "out" in [key.data for key in selector.get_map().values()]:
            now = time.monotonic()
            if now >= stop_at:
                kill()
                if exited or timed_out:
                    break
                timed_out, stop_at = True, now + KILL_GRACE_S
                continue
            watched = exit_fd is not None or ended_fd is not None
            wait = stop_at - now if watched else min(stop_at - now, 0.05)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(key.fd)
                    exited = True
                    if not timed_out:
                        stop_at = time.monotonic() + EXIT_GRACE_S
                    continue
                chunk = os.read(key.fd, CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.data == "out":
                    capture.feed(chunk)
                elif len(side) < SIDE_LIMIT:
                    side += chunk
            if not watched and not exited and proc.poll() is not None:
                exited = True
                if not timed_out:
                    stop_at = time.monotonic() + EXIT_GRACE_S
        if side_fd is not None and side_fd in [key.fd for key in selector.get_map().values()]:
            os.set_blocking(side_fd, False)
            with contextlib.suppress(BlockingIOError):
                side += os.read(side_fd, SIDE_LIMIT)
    finally:
        selector.close()
        proc.stdout.close()
        for fd in (exit_fd, side_fd):
            if fd is not None:
                os.close(fd)
    try:
        code = proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        kill()
        code = proc.wait()
    return Pumped(timed_out=timed_out, exit_code=None if timed_out else code, side=bytes(side))
