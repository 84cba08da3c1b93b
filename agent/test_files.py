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
# Jest, Vitest and Mocha configuration: what runs before the tests, and what reads their results (Jest's
# `testResultsProcessor` rewrites them before the JSON report is written)
_JS_RUNNER_CONFIG = re.compile(
    r"^(jest\.config|vitest\.config|vitest\.workspace|vitest\.projects|\.mocharc)(\.[\w.-]+)?$"
    r"|^(jest|vitest)\.setup\.[cm]?[jt]s$"
)


def is_runner_config(path: str) -> bool:
    """A test runner's configuration file (pytest's, Jest's, Vitest's, Mocha's)."""
    name = PurePosixPath(path).name
    return name in PYTEST_CONFIG_FILES or bool(_JS_RUNNER_CONFIG.match(name))


def is_test_infrastructure(path: str) -> bool:
    """What decides how tests run and what they see: test files, conftest plugins and the runners'
    configuration. The harness judges a change by the original versions of these."""
    return is_test_path(path) or is_runner_config(path)


def is_test_module(path: str) -> bool:
    """A file a test runner collects tests from (not a conftest, fixture or helper)."""
    return bool(_TEST_NAME.match(PurePosixPath(path).name))
