"""Real project layouts work out of the box: the tests run in the sandbox against the run's checkout, the way
they run for the developer, or the run stops before any model call saying why they cannot.

Each project is built here (git, a virtualenv inside the repository, the project installed in it the way pip
leaves it) and driven through the real CLI, bwrap, git and pytest, with a scripted stand-in model that makes
the right one-line fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun, git, repo_snapshot, run_cli
from tests.python_projects import install_copy, install_editable, make_src_project, make_venv
from tests.sandbox_fixtures import needs_bwrap
from tests.standin import StandinServer, reply, text, tool_use

pytestmark = [needs_bwrap, pytest.mark.slow]  # through the real CLI

EDITOR = "str_replace_based_edit_tool"
TASK = "Rect.area() adds the sides instead of multiplying them; fix it."
BUGGY = "        return self.width + self.height\n"
FIXED = "        return self.width * self.height\n"
SHAPES = f'''"""Plane shapes."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Rect:
    width: float
    height: float

    def area(self) -> float:
{BUGGY}'''
TESTS = """from shapes import Rect


def test_square_area():
    assert Rect(2, 2).area() == 4


def test_rect_area():
    assert Rect(2, 5).area() == 10


def test_empty_rect():
    assert Rect(0, 0).area() == 0
"""
PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "shapes"
version = "0.1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
# a pytest plugin shipped with the package and registered as an entry point: pytest imports it (and so the
# package) before it collects anything
PLUGIN = """import pytest

from shapes import Rect


@pytest.fixture
def unit_square():
    return Rect(1, 1)
"""
PLUGIN_TEST = """def test_unit_square(unit_square):
    assert (unit_square.width, unit_square.height) == (1, 1)
"""
ENTRY_POINTS = "[pytest11]\nshapes = shapes.plugin\n"
REPORT = {
    "summary": "Rect.area multiplies width by height.",
    "tests": "the existing tests cover it; test_rect_area failed before and passes now",
}
KEY = "sk-ant-test-key-0123456789"


def shapes_project(tmp_path: Path, *, plugin: bool = False, extra: dict[str, str] | None = None) -> Path:
    files = {"pyproject.toml": PYPROJECT, "src/shapes/__init__.py": SHAPES, "tests/test_shapes.py": TESTS}
    if plugin:
        files |= {"src/shapes/plugin.py": PLUGIN, "tests/test_plugin.py": PLUGIN_TEST}
    return make_src_project(tmp_path / "shapes", {**files, **(extra or {})})


def fix_script(repo: Path) -> list[Any]:
    inner = f"{repo}/src/shapes/__init__.py"  # the path the developer knows, as the model sees it
    return [
        reply(
            text("Where does shapes come from in this environment?"),
            tool_use("bash", {"command": "python -c 'import shapes; print(shapes.__file__)'"}),
        ),
        reply(tool_use(EDITOR, {"command": "view", "path": inner})),
        reply(
            tool_use(EDITOR, {"command": "str_replace", "path": inner, "old_str": BUGGY, "new_str": FIXED})
        ),
        reply(tool_use("run_tests", {})),
        reply(tool_use("finish", REPORT)),
    ]


def run(repo: Path, state_dir: Path, srv: StandinServer, *extra: str) -> CliRun:
    return run_cli(
        "run",
        "--repo",
        str(repo),
        "--task",
        TASK,
        "--state-dir",
        str(state_dir),
        "--sandbox",
        "bwrap",
        "--json",
        *extra,
        env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": srv.base_url},
    )


def tool_outputs(result: dict[str, Any]) -> list[str]:
    records = [json.loads(line) for line in Path(result["trajectory"]).read_text().splitlines()]
    return [str(r["content"]) for r in records if r["type"] == "tool"]


def assert_fixed_from_the_checkout(run_: CliRun, repo: Path, before: dict[str, str]) -> dict[str, Any]:
    assert run_.code == 0, run_.stderr
    result = run_.json
    assert result["status"] == "fixed", result["reason"]
    assert "tests/test_shapes.py::test_rect_area" in result["tests_before"]["failing"]
    assert result["tests_after"]["failing"] == [] and result["tests_after"]["passed"] >= 3
    # the model saw the package at the repository's own path: the checkout is shown there
    assert tool_outputs(result)[0].strip() == f"{repo}/src/shapes/__init__.py"
    assert FIXED in git(repo, "show", f"{result['branch']}:src/shapes/__init__.py")
    assert repo_snapshot(repo) == before  # the user's working tree (the editable target) is untouched
    return result


def test_src_layout_installed_editable_in_the_repositorys_own_venv(tmp_path: Path, state_dir: Path) -> None:
    repo = shapes_project(tmp_path)
    install_editable(make_venv(repo / ".venv"), repo, "shapes")
    before = repo_snapshot(repo)
    with StandinServer(fix_script(repo)) as srv:
        result = run(repo, state_dir, srv)
    assert_fixed_from_the_checkout(result, repo, before)


def test_an_installed_copy_that_shadows_the_checkout_is_put_behind_it(
    tmp_path: Path, state_dir: Path
) -> None:
    repo = shapes_project(tmp_path)
    venv = make_venv(repo / ".venv")
    install_copy(venv, repo, "shapes")  # `pip install .`: a copy of the buggy code in site-packages
    before = repo_snapshot(repo)
    with StandinServer(fix_script(repo)) as srv:
        result = run(repo, state_dir, srv)
        first = srv.requests[0].body["messages"][0]["content"][0]["text"]
    assert_fixed_from_the_checkout(result, repo, before)
    said = "shapes is also installed outside the checkout"
    assert said in result.stderr and f"PYTHONPATH={repo}/src" in result.stderr
    assert said in first  # the model is told too


def test_a_pytest_plugin_that_imports_the_package(tmp_path: Path, state_dir: Path) -> None:
    repo = shapes_project(tmp_path, plugin=True)
    install_editable(make_venv(repo / ".venv"), repo, "shapes", entry_points=ENTRY_POINTS)
    before = repo_snapshot(repo)
    with StandinServer(fix_script(repo)) as srv:
        run_ = run(repo, state_dir, srv)
    result = assert_fixed_from_the_checkout(run_, repo, before)
    assert result["tests_before"]["passed"] == 3  # the plugin's fixture worked at baseline


CANNOT_RUN = {
    # name: (extra files, how the venv is set up, what the one line must say)
    "the package is not installed": (
        {},
        "bare",
        [
            "the tests cannot run: shapes cannot be imported in the sandbox (every test module failed to import",
            "No module named 'shapes'",
            "/.venv/bin/python (the repository's .venv",
            "install the project there (pip install -e .)",
        ],
    ),
    "a conftest imports a missing dependency": (
        {"conftest.py": "import shapely_extras\n"},
        "editable",
        [
            "shapely_extras cannot be imported in the sandbox (while loading a conftest.py",
            "exited with code 4",
            "install the project's test dependencies there",
        ],
    ),
    "a pytest usage error": (
        {"pytest.ini": "[pytest]\naddopts = --cov=shapes\n"},
        "editable",
        ["exited with code 4 (pytest usage error)", "unrecognized arguments: --cov=shapes"],
    ),
    "nothing is collected from the test files": (
        {"pytest.ini": "[pytest]\npython_files = check_*.py\n"},
        "editable",
        ["exited with code 5 (no tests were collected, though the repository has test files such as tests/"],
    ),
}


@pytest.mark.parametrize("case", list(CANNOT_RUN))
def test_a_suite_that_cannot_run_stops_before_any_model_call(
    case: str, tmp_path: Path, state_dir: Path
) -> None:
    files, venv_kind, said = CANNOT_RUN[case]
    repo = shapes_project(tmp_path, extra=files)
    venv = make_venv(repo / ".venv")
    if venv_kind == "editable":
        install_editable(venv, repo, "shapes")
    before = repo_snapshot(repo)
    with StandinServer(fix_script(repo)) as srv:
        result = run(repo, state_dir, srv)
        assert srv.requests == []
    assert result.code == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("be-agent: error: ")
    for part in said:
        assert part in line
    assert result.json["status"] == "error" and result.json["exit_code"] == 2
    assert repo_snapshot(repo) == before and git(repo, "branch", "--list").split() == ["*", "main"]
