"""Any runner that writes JUnit XML to a path the repository's config names (`junit-report` beside
`test-cmd`). Ids read `classname::name` (or `file::name` when a test case names its file, or `name` alone).
Such a runner cannot be narrowed (the harness does not know its arguments): it runs whole.

The report's path is inside the tree, where the repository could have put a file of its own: the harness
deletes whatever is there before each run (never following a link) and reads what the run wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.junit import parse_junit
from tools.runners.base import Results


class JUnitFile:
    name = "junit"
    structured = True
    narrowable = False
    suffix = ".xml"
    sep = ""  # results are never filtered: the runner runs exactly what was asked
    support: dict[str, str] = {}

    def __init__(self, report_path: str):
        self.report_path = report_path

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        return " ".join([command, *extra])

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        outcomes, messages = parse_junit(data, plain_ids=True)
        return Results(outcomes, messages)


class Plain:
    """A command known only by its exit code (and the counts its own summary line prints)."""

    name = "exit code"
    structured = False
    narrowable = False
    suffix = ""
    sep = ""
    support: dict[str, str] = {}

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        return " ".join([command, *extra])

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        return Results.empty()
