"""A tool call that runs on the host (not in the sandbox), bounded in wall time.

The call runs in a forked child process; when it has not answered within its time, the child is killed and
the caller gets `None`, so a call that would run forever ends when the harness says. The child shares
nothing with the parent but the files it writes: tools that run this way keep no state in memory between
calls (the editor works on files only), so running them in a child changes nothing else. The child never
returns into the caller's code: it answers through a pipe and leaves with `os._exit`, running no cleanup
of the parent's (no atexit handler, no buffered file flushed twice).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def call_within(func: Callable[[Any], T], arg: Any, seconds: float) -> T | None:
    """`func(arg)` run in a child process: its value, or None when it did not finish within `seconds`.
    An exception `func` raises is raised here."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking beside threads: the child runs no
        warnings.simplefilter("ignore", DeprecationWarning)  # other thread's code, only `func`
        pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        _answer(func, arg, write_end)
    os.close(write_end)
    try:
        data = _read_until(read_end, time.monotonic() + max(0.0, seconds))
    finally:
        os.close(read_end)
        _reap(pid)
    if data is None:
        return None
    if not data:
        raise RuntimeError("the tool call's process ended without an answer (killed from outside?)")
    kind, value = pickle.loads(data)
    if kind == "raised":
        raise value
    return value  # type: ignore[no-any-return]


def _answer(func: Callable[[Any], Any], arg: Any, fd: int) -> None:
    """In the child: run `func`, send what came of it, and exit without returning."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent's handlers raise into code that is not here
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            outcome: tuple[str, Any] = ("returned", func(arg))
        except Exception as exc:
            outcome = ("raised", exc)
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # an exception that cannot be pickled still says what it was
            data = pickle.dumps(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything written to `fd` until the writer closes it, or None when `deadline` passes first."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _reap(pid: int) -> None:
    """Kill the child if it still runs (it is done or cut either way) and collect it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
