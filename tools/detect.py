"""Which command runs a project's tests: the one the user configured, or what the repository's files suggest.

The configured command (a flag, the environment, the repository's or the user's config file) is found by the
application's settings loader (`agent.config_file`, the one reader of be-agent's config files) and passed in
with where it was set; this module only detects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools import runners
from tools.runners import path_arguments as path_arguments

PYTEST = "python3 -m pytest"
GO_TEST = "go test ./..."
_PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")
_NPM_PLACEHOLDER = "no test specified"
_MAKE_TEST_TARGET = re.compile(r"^test\s*:(?!:?=)", re.MULTILINE)


@dataclass(frozen=True)
class TestCommand:
    """A shell command run from the checkout root, and the runner it is (`tools.runners.KINDS`).

    Every runner but PLAIN gives per-test results with stable ids and can (except a JUnit file's) be
    narrowed to given ids; PLAIN gives an exit code and raw output only. `junit_report` is where the
    repository's config says its runner writes JUnit XML (relative to the checkout)."""

    __test__ = False  # not a pytest test class

    command: str
    kind: str
    source: str  # where it was configured ("--test-cmd", "test-cmd in /repo/.be-agent.toml"), or "detected"
    junit_report: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.kind, bool):  # the older form: True for pytest, False for anything else
            object.__setattr__(self, "kind", runners.PYTEST if self.kind else runners.PLAIN)
        if self.kind not in runners.KINDS:
            raise ValueError(f"unknown test runner {self.kind!r}")

    @property
    def pytest(self) -> bool:
        return self.kind == runners.PYTEST

    @property
    def runner(self) -> runners.Runner:
        return runners.runner(self.kind, self.junit_report)

    @property
    def structured(self) -> bool:
        """The runner reports per test (its verdict is not judged on exit codes alone)."""
        return self.runner.structured

    @property
    def narrowable(self) -> bool:
        return self.runner.narrowable

    def narrowed(self, test_ids: Sequence[str]) -> str:
        """The command restricted to `test_ids`, each quoted so spaces, quotes and brackets survive, and
        never read as an option."""
        if not test_ids:
            return self.command
        return " ".join([self.command, *path_arguments(test_ids)])


def detect_test_command(
    root: Path, configured: str | None, source: str = "--test-cmd", *, junit_report: str | None = None
) -> TestCommand | None:
    """The configured command if there is one, else what the files in `root` suggest. A configured
    `npm test` (or yarn, pnpm) whose package.json script is a recognised runner runs that script; with
    `junit_report`, the command's results are read from that JUnit file."""
    if configured and configured.strip():
        command = configured.strip()
        if junit_report:
            return TestCommand(command, runners.JUNIT, source, junit_report)
        script = _npm_test_script(root) if _is_package_test(command) else None
        if script is not None and runners.kind_of(script) != runners.PLAIN:
            return TestCommand(script, runners.kind_of(script), source)
        return TestCommand(command, runners.kind_of(command), source)
    if _is_python_project(root):
        return TestCommand(PYTEST, runners.PYTEST, "detected")
    script = _npm_test_script(root)
    if script is not None:
        kind = runners.kind_of(script)
        return TestCommand(script if kind != runners.PLAIN else "npm test", kind, "detected")
    if (root / "go.mod").is_file() and not (root / "go.mod").is_symlink():
        return TestCommand(GO_TEST, runners.GO, "detected")
    if any(_make_has_test(root / name) for name in ("GNUmakefile", "makefile", "Makefile")):
        return TestCommand("make test", runners.PLAIN, "detected")
    return None


def looks_like_pytest(command: str) -> bool:
    return runners.looks_like_pytest(command)


def _is_package_test(command: str) -> bool:
    w = command.split()
    return len(w) >= 2 and w[0] in ("npm", "yarn", "pnpm") and w[1:] in (["test"], ["t"], ["run", "test"])


def _is_python_project(root: Path) -> bool:
    if any((root / marker).is_file() for marker in _PYTHON_MARKERS):
        return True
    return any((root / "tests").glob("test_*.py")) or any(root.glob("test_*.py"))


def _npm_test_script(root: Path) -> str | None:
    """package.json's `scripts.test`, when it is a real one (not npm's placeholder)."""
    path = root / "package.json"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        scripts = json.loads(path.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, OSError, AttributeError):
        return None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(test, str) or not test.strip() or _NPM_PLACEHOLDER in test:
        return None
    return test.strip()


def _make_has_test(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return bool(_MAKE_TEST_TARGET.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False
