"""Which files belong to a project's tests, by path alone: what the verdict copies back to its original
version, what the finish gate treats as test code, and what the report counts as schema changes or not.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_TEST_DIRS = {"test", "tests", "testing", "spec", "specs", "__tests__"}
_TEST_NAME = re.compile(
    r"^(test_.+\.py|.+_test\.(py|go|rb)|.+_spec\.rb|.+\.(test|spec)\.[cm]?[jt]sx?|.+Tests?\.(java|kt|cs))$"
)


def is_test_path(path: str) -> bool:
    """A file that belongs to the tests: under a test directory, or named like a test module."""
    parts = PurePosixPath(path).parts
    return bool(parts) and (bool(_TEST_DIRS.intersection(parts[:-1])) or bool(_TEST_NAME.match(parts[-1])))


PYTEST_CONFIG_FILES = frozenset(
    {"conftest.py", "pytest.ini", ".pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"}
)


def is_test_infrastructure(path: str) -> bool:
    """What decides how tests run and what they see: test files, conftest plugins and pytest config.
    The harness judges a change by the original versions of these."""
    return is_test_path(path) or PurePosixPath(path).name in PYTEST_CONFIG_FILES


def is_test_module(path: str) -> bool:
    """A file a test runner collects tests from (not a conftest, fixture or helper)."""
    return bool(_TEST_NAME.match(PurePosixPath(path).name))
