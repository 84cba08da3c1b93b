"""Test runners: which one a command is, and how the harness runs it and reads its results.

One module per runner: pytest (pytest.py), Node's built-in runner (node.py), Jest and Vitest (jest.py),
`go test` (gotest.py), a runner writing JUnit XML to a configured path, and a command known only by its exit
code (junit_file.py). Each gives the command for all tests or for given ids and reads its structured results
into outcomes and messages per stable test id (base.py: the interface, and what is defended for runners
other than pytest). To add one: a module with a class like these, a `recognises` check, and a line in
`KINDS` and `kind_of` below.
"""

from __future__ import annotations

from tools.runners import gotest, jest, node
from tools.runners.base import EXIT_STATUS_ID, Results, ResultsUnreadable, Runner, path_arguments
from tools.runners.gotest import GoTest
from tools.runners.jest import Jest, Vitest
from tools.runners.junit_file import JUnitFile, Plain
from tools.runners.node import NodeTest
from tools.runners.pytest import Pytest

PYTEST = "pytest"
NODE = "node:test"
JEST = "jest"
VITEST = "vitest"
GO = "go test"
JUNIT = "junit"
PLAIN = "exit code"
KINDS = (PYTEST, NODE, JEST, VITEST, GO, JUNIT, PLAIN)

__all__ = [
    "EXIT_STATUS_ID",
    "KINDS",
    "Results",
    "ResultsUnreadable",
    "Runner",
    "kind_of",
    "path_arguments",
    "runner",
]


def looks_like_pytest(command: str) -> bool:
    from tools.runners.base import program, words

    w = words(command)
    for i, word in enumerate(w):
        if program(word) in ("pytest", "py.test") or (
            word == "-m" and i + 1 < len(w) and w[i + 1] == "pytest"
        ):
            return True
    return False


def kind_of(command: str) -> str:
    """The runner a command is, when it is recognisable; else PLAIN (exit code only)."""
    if looks_like_pytest(command):
        return PYTEST
    if node.recognises(command):
        return NODE
    if jest.recognises_jest(command):
        return JEST
    if jest.recognises_vitest(command):
        return VITEST
    if gotest.recognises(command):
        return GO
    return PLAIN


def runner(kind: str, junit_report: str | None = None) -> Runner:
    made: dict[str, Runner] = {
        PYTEST: Pytest(),
        NODE: NodeTest(),
        JEST: Jest(),
        VITEST: Vitest(),
        GO: GoTest(),
        PLAIN: Plain(),
    }
    if kind == JUNIT:
        if not junit_report:
            raise ValueError("a JUnit runner needs the report's path")
        return JUnitFile(junit_report)
    return made[kind]
