"""pytest's JUnit XML turned into exact pytest node ids, outcomes and trimmed failure messages.

pytest (junitxml.py, `mangle_test_address`) writes each node id `path::Class::Inner::name[params]` as
`classname="path.with.dots.Class.Inner"` (slashes to dots, ".py" dropped) and `name="name[params]"`; with
`junit_family=xunit1` it also writes `file`, the rootdir-relative file the test function is defined in.
Rebuilding the path from `classname` alone is ambiguous (directories may contain dots), so `file` is used
whenever it is a prefix of `classname`. It is not when a test is inherited from a base class or imported
from another module; then the path is found by walking the checkout along the ways `classname` can split.
Class names are Python identifiers, so the rest of `classname` splits on dots exactly, and `name` keeps the
parameter ids verbatim (spaces, quotes, brackets, `::`).

A collection error is a testcase with an empty `classname`; its id is the file that failed to collect.

The report is written by code under test, so it is hostile input: it is parsed as a stream without building
a tree, the number of test cases is capped, and the walk of the checkout is bounded per case and per report,
opens one directory at a time without following links, and never leaves the checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.output import cut_middle
from tools.test_report import Outcome

MESSAGE_LIMIT = 1200
MAX_CASES = 20_000
MAX_ELEMENTS = 500_000  # a pytest report has a few per test case
MAX_LOOKUPS_PER_CASE = 256  # steps of the checkout walk for one classname
MAX_LOOKUPS_PER_REPORT = 50_000  # file-system calls for a whole report; past it, paths are not checked
_MAX_FAILURE_PARTS = 20  # <failure>/<error> elements of one test case whose text is kept
_TEXT_HEAD = 192 * 1024  # characters of one failure text kept from the start...
_TEXT_TAIL = 64 * 1024  # ...and from the end
_FEED_CHUNK = 1 << 20
_SEVERITY: dict[Outcome, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
_FRAME_LOCATION = re.compile(r"^\S.*:\d+: \S")  # "tests/test_x.py:12: AssertionError", "x.py:3: in f"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_OPEN_DIRS = 64
_MAX_DEPTH = 32  # directories deep; below _MAX_OPEN_DIRS so one path's chain always fits


class JUnitTooLarge(ValueError):
    """The report holds more test cases (or XML elements) than the harness reads."""


def parse_junit(
    xml: bytes | str, *, root: Path | None = None, max_cases: int = MAX_CASES, plain_ids: bool = False
) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Outcomes and trimmed failure messages by node id. Raises ET.ParseError for a malformed file and
    JUnitTooLarge past `max_cases` test cases or MAX_ELEMENTS elements.

    `root` is pytest's rootdir on the host (the checkout); it resolves tests defined in another file.
    `plain_ids`: the report is not pytest's, and ids are `file::name`, `classname::name` or `name`.
    """
    with _CheckoutWalk(None if plain_ids else root) as walk:
        reader = _Reader(walk, max_cases, plain_ids=plain_ids)
        parser = ET.XMLParser(target=reader)
        for start in range(0, len(xml), _FEED_CHUNK):
            parser.feed(xml[start : start + _FEED_CHUNK])
        parser.close()
    return reader.outcomes, reader.messages


def node_id(classname: str, name: str, file: str | None, *, root: Path | None = None) -> str:
    """The pytest node id for one JUnit testcase."""
    with _CheckoutWalk(root) as walk:
        return _node_id(classname, name, file, walk)


def trim_failure(message: str, text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The assertion lines, exception type and frame locations of a pytest traceback, at most `limit` chars."""
    kept = [
        line.rstrip()
        for line in text.splitlines()
        if line.startswith((">", "E ")) or line.rstrip() == "E" or _FRAME_LOCATION.match(line)
    ]
    if kept:
        body = "\n".join(kept)
    else:
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        first = message.strip().splitlines()[0] if message.strip() else ""
        body = "\n".join(([first] if first and first not in lines else []) + lines)
    return cut_middle(body, limit // 3, limit - limit // 3)


def _node_id(classname: str, name: str, file: str | None, walk: _CheckoutWalk) -> str:
    if not classname:
        return file or name
    if file:
        dotted = _dotted(file)
        if classname == dotted:
            return f"{file}::{name}"
        if classname.startswith(dotted + "."):
            return "::".join([file, *classname[len(dotted) + 1 :].split("."), name])
    path, classes = _split_classname(classname, walk)
    return "::".join([path, *classes, name])


def _dotted(path: str) -> str:
    return re.sub(r"\.py$", "", path.replace("/", "."))


# --- reading the stream ------------------------------------------------------------------------------------


@dataclass
class _Case:
    attrib: dict[str, str]
    failed: bool = False
    errored: bool = False
    skipped: bool = False
    parts: list[str] = field(default_factory=list)


class _Text:
    """A failure's text as it streams in, keeping only its head and tail."""

    def __init__(self, message: str):
        self.message = message
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0

    def add(self, text: str) -> None:
        room = _TEXT_HEAD - self.head_size
        if room > 0:
            self.head.append(text[:room])
            self.head_size += len(self.head[-1])
            text = text[room:]
        if text:
            self.tail.append(text)
            self.tail_size += len(text)
            if self.tail_size > 2 * _TEXT_TAIL:  # expat hands text over a line at a time: trim now and then
                self.tail = ["".join(self.tail)[-_TEXT_TAIL:]]
                self.tail_size = len(self.tail[0])

    def value(self) -> str:
        head, tail = "".join(self.head), "".join(self.tail)[-_TEXT_TAIL:]
        return f"{head}\n{tail}" if tail else head


class _Reader:
    """An ElementTree parser target: follows the elements without keeping them, one test case at a time."""

    def __init__(self, walk: _CheckoutWalk, max_cases: int, *, plain_ids: bool = False):
        self.walk = walk
        self.plain_ids = plain_ids
        self.max_cases = max_cases
        self.cases_seen = 0
        self.outcomes: dict[str, Outcome] = {}
        self.messages: dict[str, str] = {}
        self._tags: list[str] = []
        self._cases: list[_Case] = []
        self._text: _Text | None = None
        self._text_depth = 0
        self._elements = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise JUnitTooLarge(f"the JUnit report holds more than {MAX_ELEMENTS:,} XML elements")
        parent = self._tags[-1] if self._tags else None
        self._tags.append(tag)
        if tag == "testcase":
            self._cases.append(_Case(dict(attrib)))
            return
        if parent != "testcase" or not self._cases:
            return
        case = self._cases[-1]
        if tag == "skipped":
            case.skipped = True
        elif tag in ("failure", "error"):
            case.failed = case.failed or tag == "failure"
            case.errored = case.errored or tag == "error"
            if self._text is None and len(case.parts) < _MAX_FAILURE_PARTS:
                self._text, self._text_depth = _Text(attrib.get("message", "")), len(self._tags)

    def data(self, text: str) -> None:
        if self._text is not None and len(self._tags) == self._text_depth:
            self._text.add(text)

    def end(self, tag: str) -> None:
        if self._text is not None and len(self._tags) == self._text_depth:
            if self._cases:
                self._cases[-1].parts.append(trim_failure(self._text.message, self._text.value()))
            self._text = None
        self._tags.pop()
        if tag == "testcase" and self._cases:
            self._finish(self._cases.pop())

    def close(self) -> None:
        return None

    def _finish(self, case: _Case) -> None:
        self.cases_seen += 1
        if self.cases_seen > self.max_cases:
            raise JUnitTooLarge(f"the JUnit report holds more than {self.max_cases:,} test cases")
        attrib = case.attrib
        if self.plain_ids:
            owner = attrib.get("file") or attrib.get("classname") or ""
            test_id = f"{owner}::{attrib.get('name', '')}" if owner else attrib.get("name", "")
        else:
            test_id = _node_id(
                attrib.get("classname", ""), attrib.get("name", ""), attrib.get("file"), self.walk
            )
        outcome: Outcome = (
            "failed" if case.failed else "error" if case.errored else "skipped" if case.skipped else "passed"
        )
        previous = self.outcomes.get(test_id)
        if previous is not None and _SEVERITY[previous] > _SEVERITY[outcome]:
            return
        self.outcomes[test_id] = outcome
        message = "\n---\n".join(p for p in case.parts if p) if outcome in ("failed", "error") else ""
        if message:
            self.messages[test_id] = cut_middle(
                message, MESSAGE_LIMIT // 3, MESSAGE_LIMIT - MESSAGE_LIMIT // 3
            )
        else:
            self.messages.pop(test_id, None)


# --- finding a test's file in the checkout -----------------------------------------------------------------

_Entry = tuple[bool, bool]  # (is a real directory, is a regular file), links being neither


class _CheckoutWalk:
    """Looks up names in checkout directories, one directory at a time, never following a link.

    Answers are remembered for the whole report; the file-system calls it makes are capped."""

    def __init__(self, root: Path | None, budget: int = MAX_LOOKUPS_PER_REPORT):
        self.budget = budget
        self._entries: dict[tuple[tuple[str, ...], str], _Entry] = {}
        self._dirs: dict[tuple[str, ...], int] = {}
        self._root = root

    def __enter__(self) -> _CheckoutWalk:
        if self._root is not None:
            with contextlib.suppress(OSError):
                self._dirs[()] = os.open(self._root.resolve(), _DIR_FLAGS)
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_dirs()

    @property
    def usable(self) -> bool:
        return () in self._dirs and self.budget > 0

    def entry(self, parent: tuple[str, ...], name: str) -> _Entry:
        """What `name` is inside the checkout directory `parent` (a path of real directories)."""
        key = (parent, name)
        if key not in self._entries:
            self._entries[key] = self._lookup(parent, name)
        return self._entries[key]

    def _lookup(self, parent: tuple[str, ...], name: str) -> _Entry:
        fd = self._dir_fd(parent)
        if fd is None or self.budget <= 0:
            return False, False
        self.budget -= 1
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except (OSError, ValueError):
            return False, False
        return stat.S_ISDIR(mode), stat.S_ISREG(mode)

    def _dir_fd(self, parts: tuple[str, ...]) -> int | None:
        if parts in self._dirs:
            return self._dirs[parts]
        if not parts or self.budget <= 0:
            return None
        parent = self._dir_fd(parts[:-1])
        if parent is None:
            return None
        if len(self._dirs) >= _MAX_OPEN_DIRS:
            root = self._dirs.pop(())
            self._close_dirs()
            self._dirs[()] = root
            parent = self._dir_fd(parts[:-1])
            if parent is None:
                return None
        self.budget -= 1
        try:
            self._dirs[parts] = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError:
            return None
        return self._dirs[parts]

    def _close_dirs(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()


def _safe_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name


def _split_classname(classname: str, walk: _CheckoutWalk) -> tuple[str, list[str]]:
    """The file path and class names hiding in a dotted `classname`, checked against files in the checkout.

    Of the ways to read `classname` as directories, then a file, then classes, the one whose file takes the
    most parts wins; among those, the one splitting into directories earliest."""
    parts = classname.split(".")
    default: tuple[str, list[str]] = ("/".join(parts) + ".py", [])
    if not walk.usable or any("/" in p or "\x00" in p for p in parts):
        return default
    found: list[tuple[int, str]] = []  # (parts the file takes, its path)
    steps = MAX_LOOKUPS_PER_CASE

    def visit(directory: tuple[str, ...], start: int) -> None:
        nonlocal steps
        for stop in range(start + 1, len(parts) + 1):
            name = ".".join(parts[start:stop])
            if steps <= 0 or not _safe_name(name):
                return
            steps -= 2
            is_dir, is_file = walk.entry(directory, name)
            if walk.entry(directory, name + ".py")[1]:
                found.append((stop, "/".join([*directory, name + ".py"])))
            if is_file:
                found.append((stop, "/".join([*directory, name])))
            if is_dir and len(directory) < _MAX_DEPTH:
                visit((*directory, name), stop)

    visit((), 0)
    if not found:
        return default
    best = max(found, key=lambda hit: hit[0])  # the first of the longest: max keeps the earliest
    return best[1], parts[best[0] :]
