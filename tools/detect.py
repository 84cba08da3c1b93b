"""Which command runs a project's tests: the user's override, the repository's config, or detection.

A repository whose be-agent configuration is broken raises `ConfigError` (this layer's own exception; the
application decides what exit code it means).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYTEST = "python3 -m pytest"
_PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")
_NPM_PLACEHOLDER = "no test specified"
_MAKE_TEST_TARGET = re.compile(r"^test\s*:(?!:?=)", re.MULTILINE)


class ConfigError(Exception):
    """The repository's be-agent configuration (`test-cmd` in pyproject.toml or .be-agent.toml) is unusable;
    the message names the file. Only the repository's owner can fix it."""


@dataclass(frozen=True)
class TestCommand:
    """A shell command run from the checkout root.

    `pytest` means results come back as JUnit XML with exact node ids, and the run can be narrowed by
    appending test ids; other runners give an exit code and raw output only.
    """

    __test__ = False  # not a pytest test class

    command: str
    pytest: bool
    source: str  # "--test-cmd", "pyproject.toml", ".be-agent.toml" or "detected"

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


def detect_test_command(root: Path, override: str | None) -> TestCommand | None:
    """The override if given, else `test-cmd` from repository config, else what the files suggest."""
    if override and override.strip():
        return TestCommand(override.strip(), looks_like_pytest(override), "--test-cmd")
    configured = _configured(root)
    if configured is not None:
        return configured
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


def _configured(root: Path) -> TestCommand | None:
    pyproject = _read_toml(root / "pyproject.toml", strict=False)
    section = pyproject.get("tool", {}).get("be-agent", {}) if isinstance(pyproject.get("tool"), dict) else {}
    command = section.get("test-cmd") if isinstance(section, dict) else None
    source = "pyproject.toml"
    if not command:
        command = _read_toml(root / ".be-agent.toml", strict=True).get("test-cmd")
        source = ".be-agent.toml"
    if command is None:
        return None
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"{source}: test-cmd must be a non-empty string")
    return TestCommand(command.strip(), looks_like_pytest(command), source)


def _read_toml(path: Path, *, strict: bool) -> dict[str, Any]:
    """A TOML file's table; a broken `.be-agent.toml` is the user's to fix, a broken pyproject is skipped."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        if strict:
            raise ConfigError(f"{path.name} cannot be read: {exc}") from None
        return {}


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
