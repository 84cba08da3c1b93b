"""Text from outside be-agent (the model, a repository, a test's output, a remote) as a terminal may show it.

The rule a reader can check: after `terminal_text`, the text holds no escape sequence of any kind (CSI,
OSC such as the OSC 52 clipboard write or an OSC 8 hyperlink, DCS, APC, their 8-bit C1 forms), no control
character other than newline and tab, and no character that is invisible or reorders what the reader sees
(bidi overrides, zero-width characters, tag characters). Escape sequences are dropped whole; any other
such character is shown as a visible mark (`\\x07`, `<U+202E>`), so what was tried stays visible without
acting. A file name that is not UTF-8 (held as a str by `os.fsdecode`) shows its bytes as `\\xff`.

In GitHub Actions the runner reads workflow commands from every line a step prints: `::command::` at the
start of a line and the legacy `##[command]` anywhere in it (both compared after skipping characters .NET's
culture-aware comparison may ignore). `actions_line` makes a line that could be read as one inert, so no
line be-agent prints can add a mask, stop command processing or raise an annotation.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any

from tools.paths import without_surrogates

_ESCAPE_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                 # CSI (colours, cursor moves, screen clears)
    | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])              # OSC, DCS, SOS, PM, APC: a string until ST/BEL
      [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?
    | \x1b [ -/]* [0-~]                                    # any other escape (charset, reset, keypad)
    """,
    re.VERBOSE,
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_EXTRA_INVISIBLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, 0x2028, 0x2029}
)  # grapheme joiner, Hangul fillers, Khmer inherent vowels, line and paragraph separators


def _invisible(ch: str) -> bool:
    cp = ord(ch)
    return (
        unicodedata.category(ch) == "Cf"  # bidi controls, zero-width, BOM, soft hyphen, tag characters
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF
        or 0x180B <= cp <= 0x180F  # Mongolian free variation selectors
        or cp in _EXTRA_INVISIBLE
    )


def visible_name(name: str) -> str:
    """A path for a message: the bytes of a name that is not UTF-8 shown as `\\xNN`, controls and invisible
    characters as marks (a name may hold a newline or an escape)."""
    return terminal_text(name, one_line=True)


def terminal_text(text: str, *, one_line: bool = False) -> str:
    """`text` safe to print (see the module's rule). `one_line` also turns line breaks and tabs into spaces,
    for a line that must stay one line (a warning, an error, the progress line)."""
    text = _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n"))
    text = without_surrogates(text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if not text.isascii():
        text = "".join(f"<U+{ord(ch):04X}>" if _invisible(ch) else ch for ch in text)
    if one_line:
        text = " ".join(text.replace("\t", " ").split("\n"))
    return text


# --- GitHub Actions -----------------------------------------------------------------------------------------


def in_github_actions(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def _ignorable(ch: str) -> bool:
    """Characters a culture-aware comparison may skip when it looks for `::` or `##[`: marks, controls,
    format characters and the like. Deliberately wide: a false positive only adds a space."""
    return unicodedata.category(ch)[0] in "MC" or _invisible(ch) or unicodedata.category(ch) in ("Zl", "Zp")


def _skeleton(line: str) -> str:
    if line.isascii():
        return "".join(ch for ch in line if ch.isprintable())
    return "".join(ch for ch in line if not _ignorable(ch))


QUOTE_MARK = "> "


def actions_line(line: str) -> str:
    """One printed line that the Actions runner cannot take for a workflow command: a line that would start
    with `::` is quoted with `> `, and `#` is spaced out (`# # [`) in a line that holds `##[`."""
    skeleton = _skeleton(line)
    if "##[" in skeleton:
        line = line.replace("#", "# ")
    if skeleton.lstrip().startswith("::"):
        line = QUOTE_MARK + line
    return line


def printable(text: str, *, one_line: bool = False, actions: bool | None = None) -> str:
    """What the console prints for `text`: `terminal_text`, then, in GitHub Actions, `actions_line` on each
    line."""
    text = terminal_text(text, one_line=one_line)
    if actions if actions is not None else in_github_actions():
        text = "\n".join(actions_line(line) for line in text.split("\n"))
    return text


def json_text(payload: Any, *, sort_keys: bool = False, actions: bool | None = None) -> str:
    """One JSON object on one line that any reader splits the same way: ASCII only (so U+2028, U+2029 and
    NEL are escapes, not line breaks), and in GitHub Actions `#` as `\\u0023` (a JSON string may hold `##[`,
    the legacy workflow command; the object starts with `{`, never `::`)."""
    text = json.dumps(payload, ensure_ascii=True, sort_keys=sort_keys, default=str)
    if actions if actions is not None else in_github_actions():
        text = text.replace("#", "\\u0023")  # outside strings JSON has no `#`: this is always an escape
    return text
