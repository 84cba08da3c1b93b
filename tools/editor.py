"""The file editor the model uses: Anthropic's `text_editor_20250728` commands, run on the host checkout.

Line numbers count "\\n" characters, like `cat -n`, `grep -n` and tracebacks do. Files are UTF-8; a file
written with CRLF line endings is edited in "\\n" form and written back with CRLF, and a BOM is kept.

Every command's work is linear in the size of the file and of the text the model sent (files are at most
`MAX_FILE_BYTES`), and every answer is bounded: an `old_str` found many times is reported as a count and
the first `MATCH_LINES_SHOWN` line numbers, however many there are. A call on a regular file of at most
`QUICK_BYTES` with as little text (`EditorTool.quick`) is therefore bounded by its size: the harness runs it
in its own process; every other call (a directory, a larger file) runs in a child it can cut
(tools.time_bound).
"""

from __future__ import annotations

import contextlib
import difflib
import mimetypes
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.base import ToolInputError, ToolResult
from tools.paths import (
    display_path,
    is_utf8_name,
    kind,
    list_dir,
    read_bytes,
    resolve_in_checkout,
    shown_name,
    write_bytes,
)

COMMANDS = ("view", "create", "str_replace", "insert")
QUICK_BYTES = 256 * 1024  # a file this small, and as much text from the model, is edited in a few ms
_BOM = b"\xef\xbb\xbf"
_SNIPPET_CONTEXT = 4
MATCH_LINES_SHOWN = 5
# how much of a line the "no match" hints compare and quote: bounded, so a hint costs little on any file
_HINT_LINES = 2000
_HINT_OLD_LINES = 20
_HINT_CHARS = 200
_SNIPPET_MAX_LINES = 60
_NOT_LISTED = frozenset({"__pycache__", "node_modules"})
_MAGIC = [
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "zip archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"\x7fELF", "ELF executable"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\xca\xfe\xba\xbe", "Java class or Mach-O binary"),
]


@dataclass
class _Text:
    body: str  # "\n" line endings when the file uses CRLF throughout
    newline: str  # what to write back: "\r\n" or "\n"
    bom: bool

    def encode(self, body: str) -> bytes:
        if self.newline == "\r\n":
            body = body.replace("\n", "\r\n")
        return (_BOM if self.bom else b"") + body.encode("utf-8")

    def from_model(self, text: str) -> str:
        """Text the model sent, in the form `body` uses."""
        return text.replace("\r\n", "\n") if self.newline == "\r\n" else text


class EditorTool:
    name = "str_replace_based_edit_tool"
    runs_on_host = True  # outside the sandbox: the harness bounds each call's time (tools.time_bound)

    def __init__(self, root: Path, workdir: str, *, view_cap: int = 16000):
        self.root = root.resolve()
        self.workdir = workdir
        self.view_cap = view_cap

    def spec(self) -> dict[str, Any]:
        return {"type": "text_editor_20250728", "name": self.name, "max_characters": self.view_cap}

    def quick(self, params: dict[str, Any]) -> bool:
        """True when this call's work is bounded by small inputs, so it needs no child process to be cut:
        at most QUICK_BYTES of text from the model, and a path that is a regular file of at most QUICK_BYTES
        (or nothing yet, or refused). A directory, a larger file or anything else is not quick. Nothing
        changes the file meanwhile: every process a command started is gone when the command ends."""
        if sum(len(v) for v in params.values() if isinstance(v, str)) > QUICK_BYTES:
            return False
        try:
            target = resolve_in_checkout(self.root, str(params.get("path", "")), workdir=self.workdir)
            info = os.lstat(target)
        except (ToolInputError, FileNotFoundError, NotADirectoryError):
            return True  # refused or missing: answered without reading anything
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size <= QUICK_BYTES

    def __call__(self, params: dict[str, Any]) -> ToolResult:
        rel: str | None = None
        try:
            command = params.get("command")
            handlers: dict[str, Callable[[Path, str, dict[str, Any]], ToolResult]] = {
                "view": self._view,
                "create": self._create,
                "str_replace": self._str_replace,
                "insert": self._insert,
            }
            handler = handlers.get(command) if isinstance(command, str) else None
            if handler is None:
                raise ToolInputError(f"unknown command {command!r}; valid commands: {', '.join(COMMANDS)}")
            target = resolve_in_checkout(self.root, params.get("path", ""), workdir=self.workdir)
            rel = display_path(self.root, target)
            return handler(target, rel, params)
        except ToolInputError as exc:
            return ToolResult(str(exc), is_error=True, data={"path": rel, "changed": False})
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return ToolResult(
                f"{rel or params.get('path')}: {reason}", is_error=True, data={"path": rel, "changed": False}
            )

    # view

    def _view(self, target: Path, rel: str, params: dict[str, Any]) -> ToolResult:
        found = kind(target)
        view_range = params.get("view_range")
        if found == "missing":
            raise ToolInputError(f"{rel} does not exist; check the path (view a directory to list it)")
        if found == "other":
            raise ToolInputError(f"{rel} is not a regular file or directory")
        if found == "dir":
            if view_range is not None:
                raise ToolInputError(f"{rel} is a directory; view_range only applies to files")
            return ToolResult(self._listing(target, rel), data={"path": rel, "changed": False})
        data = read_bytes(self.root, target)
        if _is_binary(data):
            return ToolResult(_describe_binary(rel, data), data={"path": rel, "changed": False})
        note = ""
        try:
            text = _decode(data, rel)
        except ToolInputError:
            text = _Text(data.decode("utf-8", "replace"), "\n", False)
            note = (
                f"[{rel} is not valid UTF-8; undecodable bytes are shown as \ufffd. The editor will not "
                "edit it; use bash for this file]\n"
            )
        lines = [line.removesuffix("\r") for line in _lines(text.body)]
        if not lines:
            return ToolResult(note + f"[{rel} is empty]", data={"path": rel, "changed": False})
        start, end, range_note = _view_window(view_range, len(lines))
        shown = self._numbered_capped(lines, start, end)
        return ToolResult(note + shown + range_note, data={"path": rel, "changed": False})

    def _numbered_capped(self, lines: list[str], start: int, end: int) -> str:
        out: list[str] = []
        size = 0
        for number in range(start, end + 1):
            row = f"{number:6}\t{lines[number - 1]}"
            if size + len(row) + 1 <= self.view_cap:
                out.append(row)
                size += len(row) + 1
                continue
            if out:
                return "\n".join(out) + (
                    f"\n[output cut at line {number - 1} of {len(lines)} ({self.view_cap} characters max); "
                    f"use view_range, e.g. [{number}, {min(len(lines), number + 199)}], to see more]"
                )
            return (
                row[: self.view_cap] + f"\n[line {number} is longer than {self.view_cap} characters and "
                "was cut; use bash (e.g. cut -c or fold) to see all of it]"
            )
        return "\n".join(out)

    def _listing(self, target: Path, rel: str) -> str:
        entries = list_dir(self.root, target, skip_contents=_NOT_LISTED)
        head = f"Files and directories up to 2 levels deep in {rel} (hidden entries skipped; @ marks a link):"
        if not entries:
            return head + "\n(empty)"
        out = [head]
        size = len(head)
        unreadable = 0
        for shown, entry in enumerate(entries):
            if not is_utf8_name(entry):
                unreadable += 1
                entry += "  [name is not valid UTF-8: shown as \\xNN bytes]"
            entry = shown_name(entry)
            if size + len(entry) + 1 > self.view_cap:
                out.append(f"[listing cut after {shown} of {len(entries)} entries; view a subdirectory]")
                break
            out.append(entry)
            size += len(entry) + 1
        if unreadable:
            out.append(
                f"[{unreadable} name(s) here are not valid UTF-8. A change cannot keep such a file: the harness "
                "will not commit it. Rename or remove it with bash (e.g. `ls -b` shows the bytes)]"
            )
        return "\n".join(out)

    # create

    def _create(self, target: Path, rel: str, params: dict[str, Any]) -> ToolResult:
        file_text = params.get("file_text")
        if not isinstance(file_text, str):
            raise ToolInputError("create needs `file_text`: the full content of the file")
        found = kind(target)
        if found == "dir":
            raise ToolInputError(f"{rel} is a directory; give a file path")
        if found == "other":
            raise ToolInputError(f"{rel} is not a regular file")
        old: bytes | None = read_bytes(self.root, target) if found == "file" else None
        style = _Text("", "\n", False)
        if old is not None and not _is_binary(old):
            with contextlib.suppress(ToolInputError):  # a non-UTF-8 file is simply replaced
                style = _decode(old, rel)
        new = style.encode(style.from_model(file_text))
        write_bytes(self.root, target, new, make_parents=True)
        count = len(_lines(file_text.replace("\r\n", "\n")))
        verb = "Created" if old is None else "Overwrote"
        return ToolResult(f"{verb} {rel} ({count} lines).", data={"path": rel, "changed": old != new})

    # str_replace

    def _str_replace(self, target: Path, rel: str, params: dict[str, Any]) -> ToolResult:
        old_str, new_str = params.get("old_str"), params.get("new_str", "")
        if not isinstance(old_str, str) or old_str == "":
            raise ToolInputError(
                "str_replace needs `old_str`: the exact text to replace, copied from the file"
            )
        if new_str is None:
            new_str = ""
        if not isinstance(new_str, str):
            raise ToolInputError("`new_str` must be a string (use an empty string to delete old_str)")
        text = self._read_text(target, rel)
        old_str, new_str = text.from_model(old_str), text.from_model(new_str)
        at = text.body.find(old_str)
        if at == -1:
            raise ToolInputError(_no_match_message(rel, text.body, old_str))
        if text.body.find(old_str, at + 1) != -1:
            raise ToolInputError(_many_matches_message(rel, text.body, old_str, at))
        if old_str == new_str:
            return ToolResult(
                f"old_str and new_str are identical; {rel} is unchanged.",
                data={"path": rel, "changed": False},
            )
        body = text.body[:at] + new_str + text.body[at + len(old_str) :]
        write_bytes(self.root, target, text.encode(body))
        first = _line_of(body, at)
        last = first + new_str.count("\n")
        return ToolResult(
            f"Edited {rel}. The changed region now reads:\n{_snippet(body, first, last)}",
            data={"path": rel, "changed": True},
        )

    # insert

    def _insert(self, target: Path, rel: str, params: dict[str, Any]) -> ToolResult:
        line = params.get("insert_line")
        new_text = params.get("insert_text", params.get("new_str"))
        if not isinstance(line, int) or isinstance(line, bool):
            raise ToolInputError(
                "insert needs `insert_line`: the line number to insert after (0 = top of file)"
            )
        if not isinstance(new_text, str):
            raise ToolInputError("insert needs `insert_text`: the text to insert")
        text = self._read_text(target, rel)
        lines = _split_keepends(text.body)
        if not 0 <= line <= len(lines):
            raise ToolInputError(
                f"insert_line {line} is out of range: {rel} has {len(lines)} lines, so use 0 to "
                f"{len(lines)} (0 inserts at the top)"
            )
        new_text = text.from_model(new_text)
        before = "".join(lines[:line])
        after = "".join(lines[line:])
        if before and not before.endswith("\n"):
            before += "\n"  # inserting after a last line that had no newline
        elif not new_text.endswith("\n") and (after or text.body.endswith("\n") or not text.body):
            new_text += "\n"
        body = before + new_text + after
        write_bytes(self.root, target, text.encode(body))
        first = line + 1
        last = line + max(1, len(_lines(new_text)))
        return ToolResult(
            f"Inserted into {rel} after line {line}. The region now reads:\n{_snippet(body, first, last)}",
            data={"path": rel, "changed": body != text.body},
        )

    def _read_text(self, target: Path, rel: str) -> _Text:
        found = kind(target)
        if found == "missing":
            raise ToolInputError(f"{rel} does not exist; use the create command to make a new file")
        if found != "file":
            raise ToolInputError(f"{rel} is not a regular file")
        data = read_bytes(self.root, target)
        if _is_binary(data):
            raise ToolInputError(f"{rel} is a binary file; the editor only edits UTF-8 text")
        return _decode(data, rel)


def _decode(data: bytes, rel: str) -> _Text:
    bom = data.startswith(_BOM)
    try:
        body = data[len(_BOM) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolInputError(
            f"{rel} is not valid UTF-8 (byte {exc.start}); the editor only edits UTF-8 text. Use bash "
            "(e.g. iconv or sed) for this file"
        ) from None
    crlf = body.count("\r\n")
    if crlf and crlf == body.count("\n"):
        return _Text(body.replace("\r\n", "\n"), "\r\n", bom)
    return _Text(body, "\n", bom)


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def _describe_binary(rel: str, data: bytes) -> str:
    what = next((name for magic, name in _MAGIC if data.startswith(magic)), None)
    what = what or mimetypes.guess_type(rel)[0] or "binary data"
    return (
        f"{rel} is a binary file ({len(data)} bytes, {what}); it is not shown. "
        "Use bash (e.g. `file` or `xxd | head`) if you need to inspect it."
    )


def _split_keepends(body: str) -> list[str]:
    """Lines split on "\\n" only (str.splitlines also splits on form feeds and other separators)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", body)


def _lines(body: str) -> list[str]:
    return [line.removesuffix("\n") for line in _split_keepends(body)]


def _line_of(body: str, offset: int) -> int:
    return body.count("\n", 0, offset) + 1


def _many_matches_message(rel: str, body: str, needle: str, first: int) -> str:
    """How many times `needle` occurs (non-overlapping, as str.count counts; at least 2, since a second,
    overlapping match was found) and the lines of the first few: one pass over the file at most."""
    count = max(2, body.count(needle))
    lines: list[int] = []
    line, scanned, at = 1, 0, first
    for _ in range(MATCH_LINES_SHOWN):
        if at == -1:
            break
        line += body.count("\n", scanned, at)
        scanned = at
        lines.append(line)
        at = body.find(needle, at + 1)
    shown = ", ".join(map(str, dict.fromkeys(lines)))
    more = f" and {count - len(lines)} more" if count > len(lines) else ""
    return f"found {count} matches for old_str in {rel} at lines {shown}{more}; add context to make it unique"


def _view_window(view_range: Any, count: int) -> tuple[int, int, str]:
    if view_range is None:
        return 1, count, ""
    valid = (
        isinstance(view_range, list | tuple)
        and len(view_range) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
    )
    if not valid:
        raise ToolInputError(
            "view_range must be two integers [start, end]; end -1 means to the end of the file"
        )
    start, end = view_range
    if not 1 <= start <= count:
        raise ToolInputError(
            f"view_range start {start} is out of range: the file has {count} lines (1 to {count})"
        )
    if end == -1:
        return start, count, ""
    if end < start:
        raise ToolInputError(f"view_range end {end} is before start {start}; use -1 to view to the end")
    if end > count:
        return start, count, f"\n[the file ends at line {count}]"
    return start, end, ""


def _snippet(body: str, first: int, last: int) -> str:
    lines = _lines(body)
    start = max(1, first - _SNIPPET_CONTEXT)
    end = min(len(lines), max(last, first) + _SNIPPET_CONTEXT)
    numbers = list(range(start, end + 1))
    if len(numbers) > _SNIPPET_MAX_LINES:
        half = _SNIPPET_MAX_LINES // 2
        numbers = numbers[:half] + [0] + numbers[-half:]
    rows = [f"{n:6}\t{lines[n - 1]}" if n else "   ...\t[lines cut]" for n in numbers]
    return "\n".join(rows) if rows else "[the file is now empty]"


def _no_match_message(rel: str, body: str, old_str: str) -> str:
    base = f"no match for old_str in {rel}; it must match the file exactly, whitespace included."
    if not old_str.strip():
        return base + " old_str is only whitespace; include some of the text around the spot."
    # a bounded number of lines, each searched once: the hint costs at most a few passes over the file
    wanted = [line for line in old_str.split("\n", _HINT_OLD_LINES)[:_HINT_OLD_LINES] if line.strip()]
    missing = next((line for line in wanted if line not in body), None)
    if missing is None:
        checked = (
            "Each line of old_str" if old_str.count("\n") < _HINT_OLD_LINES else "Each of its first lines"
        )
        return (
            base + f" {checked} is in the file, but not in this order or with these blank lines between "
            "them; view the region and copy it exactly."
        )
    lines = _lines(body)
    wanted_text = missing.strip()
    same_text = []
    for n, line in enumerate(lines, 1):
        if line.strip() == wanted_text:
            same_text.append(n)
            if len(same_text) == MATCH_LINES_SHOWN:
                break
    if same_text:
        shown = ", ".join(str(n) for n in same_text)
        return (
            base + f" Line {shown} has the text {wanted_text[:120]!r} with different whitespace "
            "(indentation, tabs or trailing spaces); view it and copy it exactly."
        )
    # difflib is quadratic in the lengths it compares: only the first lines, each cut short, are compared
    candidates = {
        line.strip()[:_HINT_CHARS]: n for n, line in reversed(list(enumerate(lines[:_HINT_LINES], 1)))
    }
    close = difflib.get_close_matches(wanted_text[:_HINT_CHARS], list(candidates), n=1, cutoff=0.6)
    if close:
        number = candidates[close[0]]
        return (
            base + f" The line of old_str {wanted_text[:120]!r} is not in the file; the most similar "
            f"line is {number}: {lines[number - 1].strip()[:_HINT_CHARS]!r}. View it and retry."
        )
    return base + f" Nothing similar found; view {rel} and copy the text you want to change."
