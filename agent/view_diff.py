"""A unified diff (git's `diff --git` format) shown per file: a folding section per file with its added and
removed line counts, each line coloured by its kind. Work is linear in the diff's size and the lines shown
per file are bounded; the diff is text from the model and the repository, so every line is escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.view_html import Budget, Html, el

MAX_LINES_PER_FILE = 4_000
OPEN_UP_TO_LINES = 400  # larger files start folded


@dataclass
class FileDiff:
    header: str  # the `diff --git a/x b/x` line
    lines: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        head = self._head()
        new = next((line[4:] for line in head if line.startswith("+++ ")), None)
        old = next((line[4:] for line in head if line.startswith("--- ")), None)
        for name, prefix in ((new, "b/"), (old, "a/")):
            if name and name != "/dev/null":
                return git_path(name).removeprefix(prefix)
        match = re.match(r'diff --git (?:a/.*|".*") ("b/.*"|b/.*)$', self.header)
        return git_path(match.group(1)).removeprefix("b/") if match else self.header

    @property
    def added(self) -> int:
        return sum(1 for line in self._body() if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self._body() if line.startswith("-"))

    def _first_hunk(self) -> int:
        return next((i for i, line in enumerate(self.lines) if line.startswith("@@")), len(self.lines))

    def _head(self) -> list[str]:
        """The lines before the first hunk: only there are `---`/`+++` file names (inside a hunk, `--- x`
        is a removed line that began with `-- `)."""
        return self.lines[: self._first_hunk()]

    def _body(self) -> list[str]:
        return [line for line in self.lines[self._first_hunk() :] if not line.startswith("@@")]


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_QUOTED_PART = re.compile(r"\\([0-7]{3}|.)|([^\\]+)", re.DOTALL)


def git_path(name: str) -> str:
    """A file name as git writes it in a diff header: as is, or C-quoted (`"b/\\377\\376"`) when it holds
    bytes that are not printable ASCII. The bytes of a name that is not UTF-8 are shown as `\\xNN`."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    raw = bytearray()
    for escape, plain in _QUOTED_PART.findall(name[1:-1]):
        if plain:
            raw += plain.encode("utf-8", "surrogateescape")
        elif len(escape) == 3:
            raw.append(int(escape, 8) & 0xFF)
        else:
            raw += (
                bytes([_C_ESCAPES[escape]])
                if escape in _C_ESCAPES
                else escape.encode("utf-8", "surrogateescape")
            )
    return raw.decode("utf-8", "backslashreplace")


def split_diff(text: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    preamble: list[str] = []
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            files.append(FileDiff(line))
        elif files:
            files[-1].lines.append(line)
        elif line:
            preamble.append(line)
    if preamble and not files:  # a diff without git headers: one section
        files.append(FileDiff("diff", preamble))
    for f in files:
        while f.lines and f.lines[-1] == "":
            f.lines.pop()
    return files


def _line_class(line: str, in_hunk: bool) -> str:
    if line.startswith("@@"):
        return "hunk"
    if not in_hunk:
        return "meta"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def render_file(diff: FileDiff) -> Html:
    spans: list[str] = []
    in_hunk = False
    for line in diff.lines[:MAX_LINES_PER_FILE]:
        in_hunk = in_hunk or line.startswith("@@")
        spans.append(el("span", line or " ", cls=_line_class(line, in_hunk)))
    if len(diff.lines) > MAX_LINES_PER_FILE:
        spans.append(
            el("span", f"({len(diff.lines) - MAX_LINES_PER_FILE:,} more lines not shown)", cls="meta")
        )
    summary = el(
        "summary",
        diff.path,
        " ",
        el("span", f"+{diff.added}", cls="adds"),
        " ",
        el("span", f"-{diff.removed}", cls="dels"),
    )
    return el(
        "details",
        summary,
        el("pre", Html("".join(spans)), cls="diff"),
        cls="diff-file",
        open=len(diff.lines) <= OPEN_UP_TO_LINES,
    )


def render_diff(text: str | None, budget: Budget) -> Html:
    if text is None:
        return el("p", "No diff: change.diff is not in the run directory.", cls="note")
    if not text.strip():
        return el("p", "The change is empty: nothing was changed.", cls="note")
    if budget.take(text) is None:
        return el("p", "The diff is left out: this page reached its size limit.", cls="note")
    files = split_diff(text)
    head = el(
        "p",
        f"{len(files)} file(s) changed, +{sum(f.added for f in files)} -{sum(f.removed for f in files)} lines.",
    )
    return Html(head + "".join(render_file(f) for f in files))
