"""What every test runner gives the harness: a command for all tests or for given ids, and its structured
results read into outcomes and messages per stable test id.

A runner writes its results to a file in the sandbox's scratch directory (the harness picks a fresh,
unguessable name per run, reads it without following links, bounded, and deletes it). What is and is not
defended against a hostile change or repository, for runners other than pytest (which has the runtime guard,
tools/pytest_guard.py); the red team is tests/test_runner_attacks.py:
- the file lives outside the tree in the harness's scratch, a new one per run, so a file the repository
  ships cannot stand in for it;
- results are merged so that a test reported both failing and passing counts as failing (a test printing a
  fake "pass" line for another cannot hide that one's failure);
- a run whose process exits non-zero with no failing test in its results gets one failing entry of its own
  (`EXIT_STATUS_ID`): results rewritten to say "all passed" (code under test can find the file's name in
  `/proc/<ppid>/cmdline` and rewrite it once the runner is done) must also make the runner exit 0, which
  means fooling the runner itself;
- fooling the runner from the code under test (which runs in the same process as the tests judging it) is
  the static check's to catch (agent/runner_check.py, in the agent layer): product code that patches the
  assertion module, the test framework's globals or built-ins, imports the framework, rewrites the
  process's output, exits, prints go test's framing text, uses `//go:linkname` or cgo, names the reporter
  or /proc; and original test files rewritten while the verdict runs them are named
  (agent/harness_tests.py).
NOT defended: code written to evade a pattern check (the static check reads text, it does not parse); a Go
test binary that prints forged framing and exits 0 by a route the check does not know (Go 1.19's
test2json reads results from printed text); the node reporter module sits in the run's writable scratch
(node loads it in the parent before any test file runs, so rewriting it later changes nothing). The
repository cannot do more than its code under test can, since every run happens in a sandbox with the
harness's copy of the original tests.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandbox.output import cut_middle
from tools.test_report import Outcome

MESSAGE_LIMIT = 1200
MAX_CASES = 20_000
EXIT_STATUS_ID = "(runner exit status)"
SEVERITY: dict[Outcome, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}


class ResultsUnreadable(ValueError):
    """The runner's result file is not what the runner writes."""


@dataclass
class Results:
    """Outcomes and trimmed failure messages by test id."""

    outcomes: dict[str, Outcome]
    messages: dict[str, str]

    @classmethod
    def empty(cls) -> Results:
        return cls({}, {})

    def add(self, test_id: str, outcome: Outcome, message: str = "") -> None:
        """Record one result; a more severe outcome for the same id wins (failed over passed)."""
        if len(self.outcomes) >= MAX_CASES and test_id not in self.outcomes:
            raise ResultsUnreadable(f"the results hold more than {MAX_CASES:,} tests")
        previous = self.outcomes.get(test_id)
        if previous is not None and SEVERITY[previous] > SEVERITY[outcome]:
            return
        self.outcomes[test_id] = outcome
        if outcome in ("failed", "error") and message.strip():
            self.messages[test_id] = trim(message)
        elif previous is None or SEVERITY[previous] < SEVERITY[outcome]:
            self.messages.pop(test_id, None)

    def failing_ids(self) -> list[str]:
        return [t for t, o in self.outcomes.items() if o in ("failed", "error")]

    def only(self, asked: Sequence[str], sep: str) -> Results:
        """The results of the tests `asked` for (an id, a test below it, or a file's tests), and file-level
        errors; a runner that narrows by name runs every test of that name, and those others are dropped."""
        if not asked or not sep:
            return self
        kept = Results.empty()
        for test_id, outcome in self.outcomes.items():
            if any(_within(test_id, a, sep) for a in asked) or "::" not in test_id:
                kept.outcomes[test_id] = outcome
                if test_id in self.messages:
                    kept.messages[test_id] = self.messages[test_id]
        return kept


def _within(test_id: str, asked: str, sep: str) -> bool:
    if "::" not in asked:  # a file (or a package): every test in it
        return test_id.split("::", 1)[0] == asked.rstrip("/")
    return test_id == asked or test_id.startswith(asked + sep)


def trim(message: str, limit: int = MESSAGE_LIMIT) -> str:
    return cut_middle(message.strip(), limit // 3, limit - limit // 3)


def split_id(test_id: str) -> tuple[str, str]:
    """`path::name` into the path and the name ("" for a bare path)."""
    path, _, name = test_id.partition("::")
    return path, name


def escape_regex(text: str) -> str:
    """`text` as a literal in a JavaScript or Go (RE2) regular expression."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def path_arguments(test_ids: Sequence[str]) -> list[str]:
    """Test ids or paths as shell words a runner reads as paths: quoted, and `./` before one that starts
    with `-` (a folder named `-pevil` is a path, not `-p evil`; pytest scans every argument for `-p`, even
    after `--`)."""
    return [shlex.quote("./" + t if t.startswith("-") else t) for t in test_ids]


def words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def program(word: str) -> str:
    return word.rsplit("/", 1)[-1]


class Runner(Protocol):
    """One kind of test runner. `structured` is False for a runner known only by its exit code."""

    name: str
    structured: bool
    narrowable: bool
    suffix: str  # of the result file
    sep: str  # between a test's names in its id; "" when a narrowed run runs exactly the tests asked for
    support: dict[str, str]  # files (name: text) the harness writes beside the result file before the run

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        """The shell command that runs `command` (all tests, or only `ids`) with the runner's structured
        results written to `result` (a path inside the sandbox). `extra` are quoted words from the model."""
        ...

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        """The results in the file the run wrote (`output`: what it printed; `root`: the tree, on the host),
        all of them (the harness leaves out those not `asked` for). Raises ResultsUnreadable for a file that
        is not what the runner writes."""
        ...
