"""pytest: results as JUnit XML (xunit1, with each test's file) read into exact node ids; narrowed by
appending node ids. The harness's own runs load the runtime guard (tools/pytest_guard.py) as well."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from tools.junit import parse_junit
from tools.runners.base import Results, path_arguments

JUNIT_OPTIONS = "-o junit_family=xunit1 -o junit_logging=no"


class Pytest:
    name = "pytest"
    structured = True
    narrowable = True
    suffix = ".xml"
    sep = ""  # pytest runs exactly the ids it is given: nothing to leave out
    support: dict[str, str] = {}

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        junit = f"--junitxml={shlex.quote(result)}"
        return " ".join([command, *extra, JUNIT_OPTIONS, junit, *path_arguments(ids)])

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        outcomes, messages = parse_junit(data, root=root)
        return Results(outcomes, messages)
