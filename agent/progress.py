"""What the user sees while a run works: a live status line on a terminal, plain lines elsewhere (CI).

On a terminal the status line is rewritten in place with a carriage return and kept to one row (a wrapped
line could not be rewritten); the elapsed time keeps ticking between updates. Other text goes above it
through `line()` or through the file-like `above_status()` that the console log handler can write to.

Every piece of text is printed as `agent.terminal.printable` renders it: a tool name the model invents, or
a log line holding a file name, cannot move the cursor, clear the screen or set the clipboard.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO, cast

from agent.logs import redact
from agent.terminal import printable

_CLEAR_LINE = "\r\x1b[K"
TOOL_NAME_CHARS = 40  # a tool name is the model's text: the status line shows at most this much of it


@dataclass(frozen=True)
class Status:
    step: int
    last_tool: str | None
    tokens: int
    cost_usd: float | None
    elapsed_s: float


def format_elapsed(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _tool_name(name: str | None) -> str:
    if not name:
        return "-"
    shown = printable(name, one_line=True, actions=False)
    return shown if len(shown) <= TOOL_NAME_CHARS else shown[: TOOL_NAME_CHARS - 1] + "…"


def format_status(status: Status) -> str:
    """The status line; its only text from outside (the tool name) is made printable and bounded."""
    cost = "cost ?" if status.cost_usd is None else f"cost ${status.cost_usd:.4f}"
    return " | ".join(
        (
            f"step {status.step}",
            f"last {_tool_name(status.last_tool)}",
            f"{status.tokens:,} tokens",
            cost,
            format_elapsed(status.elapsed_s),
        )
    )


class Progress:
    """Progress of one run. `enabled=False` writes nothing (for --quiet and --json)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool = True,
        refresh_s: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and _is_tty(self.stream)
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.RLock()
        self._status: Status | None = None
        self._status_at = 0.0
        self._shown = False  # a live status line is on screen and the cursor is at its end
        self._closed = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def update(
        self, step: int, last_tool: str | None, tokens: int, cost_usd: float | None, elapsed_s: float
    ) -> None:
        if not self.enabled:
            return
        status = Status(step, last_tool, tokens, cost_usd, elapsed_s)
        with self._lock:
            if self._closed:
                return
            self._status = status
            self._status_at = self._clock()
            if self.live:
                self._draw()
                self._start_ticker()
            else:
                self._write(printable(format_status(status), one_line=True) + "\n")

    def line(self, text: str) -> None:
        """Print `text` (secrets redacted) on its own line, above the live status when there is one."""
        if not self.enabled:
            return
        with self._lock:
            shown = printable(redact(text))
            if self.live and self._shown:
                self._write(_CLEAR_LINE + shown + "\n")
                self._shown = False
                if not self._closed:
                    self._draw()
            else:
                self._write(shown + "\n")

    def refresh(self) -> None:
        """Redraw the live status with the elapsed time advanced to now (the ticker calls this)."""
        with self._lock:
            if self.live and self._status is not None and not self._closed:
                self._draw()

    def above_status(self) -> TextIO:
        """A writable text stream whose complete lines are printed through `line()`."""
        return cast(TextIO, _LinesAbove(self))  # a TextIOBase: the TextIO methods a log handler uses

    def close(self) -> None:
        """Stop the ticker and leave the last status on screen, ending its line. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()
        with self._lock:
            if self._shown:
                self._write("\n")
                self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _draw(self) -> None:
        assert self._status is not None
        now_elapsed = self._status.elapsed_s + max(0.0, self._clock() - self._status_at)
        shown = Status(
            self._status.step, self._status.last_tool, self._status.tokens, self._status.cost_usd, now_elapsed
        )
        text = format_status(shown)
        width = _columns(self.stream)
        if len(text) >= width:
            text = text[: max(1, width - 2)] + "…"
        self._write(_CLEAR_LINE + text)
        self._shown = True

    def _start_ticker(self) -> None:
        if self._ticker is not None or self._refresh_s is None:
            return
        self._ticker = threading.Thread(target=self._tick, name="progress-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        assert self._refresh_s is not None
        while not self._stop.wait(self._refresh_s):
            self.refresh()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed terminal or pipe must not end the run; progress is only a courtesy.
            self.enabled = False


class _LinesAbove(io.TextIOBase):
    def __init__(self, progress: Progress):
        self._progress = progress
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *complete, self._pending = self._pending.split("\n")
        for piece in complete:
            self._progress.line(piece)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._progress.live

    def writable(self) -> bool:
        return True


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return shutil.get_terminal_size().columns
