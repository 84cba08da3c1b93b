"""Which command runs a project's tests: the one the user configured, or what the repository's files suggest.

The configured command (a flag, the environment, the repository's or the user's config file) is found by the
application's settings loader (`agent.config_file`, the one reader of be-agent's config files) and passed in
with where it was set; this module only detects.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PYTEST = "python3 -m pytest"
_PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")
_NPM_PLACEHOLDER = "no test specified"
_MAKE_TEST_TARGET = re.compile(r"^test\s*:(?!:?=)", re.MULTILINE)


@dataclass(frozen=True)
class TestCommand:
    """A shell command run from the checkout root.

    `pytest` means results come back as JUnit XML with exact node ids, and the run can be narrowed by
    appending test ids; other runners give an exit code and raw output only.
    """

    __test__ = False  # not a pytest test class

    command: str
    pytest: bool
    source: str  # where it was configured ("--test-cmd", "test-cmd in /repo/.be-agent.toml"), or "detected"

    @property
    def narrowable(self) -> bool:
        return self.pytest

    def narrowed(self, test_ids: Sequence[str]) -> str:
        """The command restricted to `test_ids`, each quoted so spaces, quotes and brackets survive, and
        never read as an option."""
        if not test_ids:
            return self.command
        return " ".join([self.command, *path_arguments(test_ids)])


def path_arguments(test_ids: Sequence[str]) -> list[str]:
    """Test ids or paths as shell words a runner reads as paths: quoted, and `./` before one that starts
    with `-` (a folder named `-pevil` is a path, not `-p evil`; pytest scans every argument for `-p`, even
    after `--`)."""
    return [shlex.quote("./" + t if t.startswith("-") else t) for t in test_ids]


def detect_test_command(root: Path, configured: str | None, source: str = "--test-cmd") -> TestCommand | None:
    """The configured command if there is one, else what the files in `root` suggest."""
    if configured and configured.strip():
        return TestCommand(configured.strip(), looks_like_pytest(configured), source)
    if _is_python_project(root):
        return TestCommand(PYTEST, True, "detected")
    if _npm_has_tests(root / "package.json"):
        return TestCommand("npm test", False, "detected")
    if any(_make_has_test(root / name) for name in ("GNUmakefile", "makefile", "Makefile")):
        return TestCommand("make test", False, "detected")
    return None


def looks_like_pytest(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for i, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in ("pytest", "py.test") or (
            word == "-m" and i + 1 < len(words) and words[i + 1] == "pytest"
        ):
            return True
    return False


def _is_python_project(root: Path) -> bool:
    if any((root / marker).is_file() for marker in _PYTHON_MARKERS):
        return True
    return any((root / "tests").glob("test_*.py")) or any(root.glob("test_*.py"))


def _npm_has_tests(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        scripts = json.loads(path.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, OSError, AttributeError):
        return False
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and _NPM_PLACEHOLDER not in test


def _make_has_test(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return bool(_MAKE_TEST_TARGET.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False
