"""Text from the model, a repository or a remote reaches the terminal inert (issue 17), no line we print can
be a GitHub Actions workflow command, and every JSON line stays one line (issue 22, items 5 and 10)."""

from __future__ import annotations

import io
import json
import os

import pytest

from agent import console
from agent.logs import close_logging, configure_logging, get_logger
from agent.progress import Progress, Status, format_status
from agent.terminal import actions_line, json_text, printable, terminal_text

ATTACKS = {
    "CSI clear screen": ("a\x1b[2Jb", "ab"),
    "CSI colour": ("\x1b[31mred\x1b[0m", "red"),
    "OSC 52 clipboard write (BEL)": ("x\x1b]52;c;cm0gLXJmIH4=\x07y", "xy"),
    "OSC 52 clipboard write (ST)": ("x\x1b]52;c;cm0gLXJmIH4=\x1b\\y", "xy"),
    "OSC 8 disguised link": ("\x1b]8;;https://evil.example\x1b\\docs\x1b]8;;\x1b\\", "docs"),
    "OSC 0 window title": ("\x1b]0;sudo password:\x07ok", "ok"),
    "OSC left open": ("ok\x1b]0;swallow the rest", "ok"),
    "DCS": ("\x1bP1$r0m\x1b\\ok", "ok"),
    "8-bit CSI": ("a\x9b2Jb", "ab"),
    "8-bit OSC": ("a\x9d52;c;eA==\x9cb", "ab"),
    "charset switch": ("a\x1b(0b", "ab"),
    "terminal reset": ("a\x1bcb", "ab"),
    "bell and backspace": ("a\x07\x08b", "a\\x07\\x08b"),
    "carriage return overwrites": ("safe\rEVIL", "safe\\x0dEVIL"),
    "lone C1": ("a\x85b\x90", "a\\x85b"),
    "bidi override": ("user\u202egnp.exe", "user<U+202E>gnp.exe"),
    "bidi isolates": ("\u2066x\u2069", "<U+2066>x<U+2069>"),
    "zero width": ("ad\u200bmin", "ad<U+200B>min"),
    "tag characters": ("a\U000e0041", "a<U+E0041>"),
    "line separator": ("a\u2028b", "a<U+2028>b"),
    "not UTF-8 name": (os.fsdecode(b"f\xff\xfe"), "f\\xff\\xfe"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_no_escape_sequence_or_control_character_reaches_the_terminal(attack: str):
    text, shown = ATTACKS[attack]
    assert terminal_text(text) == shown


def test_newline_tab_and_ordinary_unicode_stay():
    assert (
        terminal_text("caf\u00e9 \u65e5\u672c\n\tindented \u2705\r\n")
        == "caf\u00e9 \u65e5\u672c\n\tindented \u2705\n"
    )


def test_one_line_text_cannot_forge_a_second_line():
    assert terminal_text("reason\nbe-agent: error: forged\tx", one_line=True) == (
        "reason be-agent: error: forged x"
    )


WORKFLOW_COMMANDS = [
    "::error file=app.py,line=1::forged annotation",
    "::add-mask::ghs_realtoken",
    "::stop-commands::tok",
    "   ::warning::indented",
    "\u00a0::notice::after a no-break space",
    "\ufe0f::error::after an ignorable variation selector",
    "text before ##[add-mask]secret",
    "##[stop-commands]tok",
    "#\u034f#[error]grapheme joiner between",
]


def _could_run(line: str) -> bool:
    """What the Actions runner acts on, with everything .NET might ignore taken out (see agent.terminal)."""
    import unicodedata

    kept = "".join(ch for ch in line if unicodedata.category(ch)[0] not in "MC" and ch not in "\u034f")
    return kept.lstrip().startswith("::") or "##[" in kept


@pytest.mark.parametrize("line", WORKFLOW_COMMANDS)
def test_no_printed_line_can_be_a_workflow_command(line: str):
    assert _could_run(line)
    assert not _could_run(actions_line(line))
    shown = printable(f"gave up: x\n{line}", actions=True)
    assert not any(_could_run(piece) for piece in shown.split("\n"))


def test_outside_github_actions_lines_are_left_as_they_are():
    assert printable("::error::x", actions=False) == "::error::x"


def test_the_console_renders_what_it_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    console.error("push failed: \x1b]52;c;eA==\x07remote said\n::add-mask::x")
    console.warn("\u202ewarning")
    console.report("summary\n::error file=a::b\n\x1b[2J")
    out, err = capsys.readouterr()
    assert (
        err == "be-agent: error: push failed: remote said ::add-mask::x\nbe-agent: warning: <U+202E>warning\n"
    )
    assert out == "summary\n> ::error file=a::b\n\n"


LINE_BREAKS = "\n\r\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"
NOT_UTF8 = os.fsdecode(b"\xff")


@pytest.mark.parametrize("actions", [False, True])
def test_a_json_line_is_one_ascii_line_whatever_it_holds(actions: bool):
    payload = {"reason": f"gave up{LINE_BREAKS}##[add-mask]x \u65e5 {NOT_UTF8}", "n": 1}
    text = json_text(payload, actions=actions)
    assert text.isascii() and len(text.splitlines()) == 1
    assert json.loads(text) == payload
    assert ("##[" in text) is not actions


def test_the_progress_line_shows_an_invented_tool_name_inert_and_short():
    name = "\x1b[2J\x1b]52;c;eA==\x07" + "x" * 100 + "\u202e"
    line = format_status(Status(3, name, 10, None, 1.0))
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert line.startswith("step 3 | last xxxx") and len(line) < 100


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_status_line_and_lines_above_it_are_inert():
    stream = _Terminal()
    progress = Progress(stream, refresh_s=None)
    progress.update(1, "\x1b[2J", 0, None, 0.0)
    progress.line("log: \x1b]8;;https://x\x1b\\click\x1b]8;;\x1b\\ \x9b31m")
    progress.close()
    written = stream.getvalue()
    # be-agent's own control sequence (erase the line) is the only one
    assert written.replace("\r\x1b[K", "").count("\x1b") == 0 and "\x9b" not in written
    assert "log: click \\x9b31m" not in written  # the 8-bit CSI is dropped whole, with its parameters
    assert "log: click " in written


def test_console_log_lines_are_inert(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    stream = io.StringIO()
    configure_logging(tmp_path, "run1", verbose=True, quiet=False, console_stream=stream)
    try:
        get_logger("loop").warning("tool_call", tool="\x1b[2Jx\n::add-mask::y")
    finally:
        close_logging()
    written = stream.getvalue()
    assert "\x1b" not in written
    assert not any(_could_run(line) for line in written.splitlines())
    assert "tool='x\\n::add-mask::y'" in written  # one line: the renderer shows the newline as \\n
