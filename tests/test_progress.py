"""The progress display: plain lines off a terminal (CI logs), one live rewritten line on a terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import termios
from collections.abc import Iterator
from typing import TextIO

import pytest

from agent.logs import close_logging, configure_logging, get_logger
from agent.progress import Progress, Status, format_status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, int]]:
    """A pseudo-terminal: the writer end is a real TTY, the reader end shows what was written."""
    reader, writer = pty.openpty()
    stream = open(writer, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield stream, reader
    finally:
        stream.close()
        os.close(reader)


MARK = "<<drained>>"


def written_so_far(stream: TextIO, reader: int) -> str:
    """Everything written to the terminal so far.

    A pty hands data to the reader asynchronously, so a marker is written after it and read up to.
    """
    stream.write(MARK)
    stream.flush()
    data = b""
    while not data.endswith(MARK.encode()):
        ready, _, _ = select.select([reader], [], [], 10)
        assert ready, f"terminal output stalled after {data!r}"
        data += os.read(reader, 65536)
    return data.decode("utf-8")[: -len(MARK)]


def test_status_text_names_step_tool_tokens_cost_and_elapsed() -> None:
    text = format_status(Status(step=7, last_tool="bash", tokens=12345, cost_usd=0.0412, elapsed_s=83))
    assert text == "step 7 | last bash | 12,345 tokens | cost $0.0412 | 1m23s"


def test_unknown_cost_shows_a_question_mark() -> None:
    text = format_status(Status(step=1, last_tool=None, tokens=0, cost_usd=None, elapsed_s=0.4))
    assert text == "step 1 | last - | 0 tokens | cost ? | 0s"


def test_off_a_terminal_each_update_is_one_plain_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    assert not progress.live
    progress.update(1, "str_replace_based_edit_tool", 1500, 0.01, 3.2)
    progress.line("tests: 2 failed, 10 passed")
    progress.update(2, "run_tests", 4200, None, 9.9)
    progress.close()

    assert stream.getvalue().splitlines() == [
        "step 1 | last str_replace_based_edit_tool | 1,500 tokens | cost $0.0100 | 3s",
        "tests: 2 failed, 10 passed",
        "step 2 | last run_tests | 4,200 tokens | cost ? | 9s",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_disabled_progress_writes_nothing(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, enabled=False)
    progress.update(1, "bash", 10, 0.0, 1.0)
    progress.line("hello")
    progress.close()
    assert written_so_far(stream, reader) == ""


def test_on_a_terminal_the_status_line_is_rewritten_in_place(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, refresh_s=None)
    assert progress.live
    progress.update(1, "bash", 100, 0.001, 1.0)
    progress.update(2, "run_tests", 250, None, 2.0)
    written = written_so_far(stream, reader)

    assert written == (
        "\r\x1b[Kstep 1 | last bash | 100 tokens | cost $0.0010 | 1s"
        "\r\x1b[Kstep 2 | last run_tests | 250 tokens | cost ? | 2s"
    )
    progress.close()
    # Closing ends the status line so the shell prompt starts on a fresh one (the pty shows \n as \r\n).
    assert written_so_far(stream, reader) == "\r\n"


def test_on_a_terminal_lines_go_above_the_status(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, refresh_s=None)
    progress.update(3, "bash", 100, 0.5, 4.0)
    written_so_far(stream, reader)

    progress.line("warning: sk-ant-api03-notreallyakey123 leaked?")
    written = written_so_far(stream, reader)
    status = "step 3 | last bash | 100 tokens | cost $0.5000 | 4s"
    assert written == "\r\x1b[Kwarning: sk-ant-[REDACTED] leaked?\r\n\r\x1b[K" + status
    progress.close()


def test_log_lines_written_through_the_status_stream_do_not_tear_it(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, refresh_s=None)
    progress.update(1, "bash", 1, None, 0.0)
    written_so_far(stream, reader)

    above = progress.above_status()
    above.write("first half, ")
    assert written_so_far(stream, reader) == ""  # nothing until the line is complete
    above.write("second half\nnext ")
    written = written_so_far(stream, reader)
    assert written.startswith("\r\x1b[Kfirst half, second half\r\n\r\x1b[Kstep 1")
    assert "next" not in written
    progress.close()


def test_elapsed_time_keeps_moving_between_updates(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    clock = FakeClock()
    progress = Progress(stream, refresh_s=None, clock=clock)
    progress.update(5, "bash", 10, None, 60.0)
    written_so_far(stream, reader)

    clock.now += 65
    progress.refresh()  # what the ticker thread does once a second
    assert written_so_far(stream, reader).endswith("| 2m05s")
    progress.close()


def test_the_ticker_stops_on_close(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, refresh_s=0.01)
    progress.update(1, "bash", 1, None, 0.0)
    ticker = progress._ticker
    assert ticker is not None and ticker.is_alive()
    progress.close()
    assert not ticker.is_alive()
    written_so_far(stream, reader)
    progress.update(2, "bash", 2, None, 1.0)  # after close: ignored, never raises
    assert written_so_far(stream, reader) == ""


def test_a_long_status_is_cut_to_the_terminal_width(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    fcntl.ioctl(stream.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    progress = Progress(stream, refresh_s=None)
    progress.update(12, "str_replace_based_edit_tool", 123456, 1.5, 3600)
    written = written_so_far(stream, reader)
    assert written.startswith("\r\x1b[K")
    assert len(written) - len("\r\x1b[K") < 40
    progress.close()


def test_a_closed_stream_does_not_break_the_run() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    stream.close()
    progress.update(1, "bash", 1, None, 0.0)
    progress.line("still fine")
    progress.close()


def test_console_logs_can_share_the_terminal_with_the_status(terminal: tuple[TextIO, int]) -> None:
    stream, reader = terminal
    progress = Progress(stream, refresh_s=None)
    configure_logging(None, "run-p", verbose=False, quiet=False, console_stream=progress.above_status())
    try:
        progress.update(4, "bash", 10, None, 1.0)
        written_so_far(stream, reader)
        get_logger().info("tests ran", failed=2)
        written = written_so_far(stream, reader)
    finally:
        close_logging()
        progress.close()
    log_line, redrawn = written.split("\r\n")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log_line)  # the console rendering is coloured on a terminal
    assert plain.startswith("\r\x1b[K") and "tests ran" in plain and "run_id=run-p" in plain
    assert redrawn == "\r\x1b[Kstep 4 | last bash | 10 tokens | cost ? | 1s"
