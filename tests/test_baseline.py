"""The baseline checks as pure functions: which test runs say nothing about the code, and what the one line
says; which modules are the repository's own; and counts read from a runner's own summary line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.baseline import baseline_problem, first_test_file, project_modules
from tools.detect import TestCommand
from tools.runner_summary import summary_counts
from tools.test_report import TestReport

PYTEST = TestCommand("python3 -m pytest", True, "detected")
MAKE = TestCommand("make test", False, "detected")
IMPORT_ERROR = "ImportError while importing test module '/r/tests/test_x.py'.\nE   ModuleNotFoundError: No module named 'shapes'"


def report(**fields: object) -> TestReport:
    return TestReport(command=str(fields.pop("command", "python3 -m pytest")), **fields)  # type: ignore[arg-type]


def make_tree(root: Path, files: list[str]) -> Path:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    return root


def test_any_test_outcome_or_a_timeout_is_evidence_not_a_broken_suite() -> None:
    red = report(exit_code=1, outcomes={"t.py::a": "passed", "t.py::b": "failed"})
    assert baseline_problem(red, PYTEST) is None
    one_module_broken = report(
        exit_code=2, outcomes={"tests/test_a.py": "error", "tests/test_b.py::x": "passed"}
    )
    assert baseline_problem(one_module_broken, PYTEST) is None
    # a bug in the code under test (a syntax error) breaks every module too, but the model can fix that
    syntax = report(
        exit_code=2, outcomes={"tests/test_a.py": "error"}, messages={"tests/test_a.py": "SyntaxError: bad"}
    )
    assert baseline_problem(syntax, PYTEST) is None
    submodule = report(
        exit_code=2,
        outcomes={"tests/test_a.py": "error"},
        messages={"tests/test_a.py": "ModuleNotFoundError: No module named 'shapes.extra'"},
    )
    assert baseline_problem(submodule, PYTEST) is None  # a module the change may be meant to add
    hung = report(exit_code=None, timed_out=True, structured=False)
    assert baseline_problem(hung, PYTEST) is None
    assert baseline_problem(report(command="make test", exit_code=2, structured=False), MAKE) is None


def test_every_module_missing_a_dependency_names_it_and_who_should_install_it(tmp_path: Path) -> None:
    checkout = make_tree(tmp_path, ["src/shapes/__init__.py", "tests/test_x.py"])
    broken = report(
        exit_code=2,
        outcomes={"tests/test_x.py": "error", "tests/test_y.py": "error"},
        messages={"tests/test_x.py": IMPORT_ERROR, "tests/test_y.py": IMPORT_ERROR},
    )
    own = baseline_problem(
        broken, PYTEST, checkout=checkout, python="/r/.venv/bin/python (the repository's .venv)"
    )
    assert own == (
        "shapes cannot be imported in the sandbox (every test module failed to import; `python3 -m pytest` "
        "exited with code 2): No module named 'shapes'; the tests ran with /r/.venv/bin/python (the "
        "repository's .venv): install the project there (pip install -e .)"
    )
    third_party = report(
        exit_code=2,
        outcomes={"tests/test_x.py": "error"},
        messages={"tests/test_x.py": "ModuleNotFoundError: No module named 'yaml'"},
    )
    said = baseline_problem(third_party, PYTEST, checkout=checkout)
    assert said is not None and said.startswith("yaml cannot be imported in the sandbox")
    assert "install the project's test dependencies there" in said


@pytest.mark.parametrize(
    ("code", "tail", "said"),
    [
        (127, "bash: line 1: nosuch: command not found", "exited with code 127 (command not found): "),
        (126, "bash: ./run.sh: Permission denied", "exited with code 126 (command not executable): "),
        (
            4,
            "ERROR: usage: pytest\nERROR: unrecognized arguments: --cov",
            "(pytest usage error): ERROR: unrecognized",
        ),
        (
            4,
            "ImportError while loading conftest '/r/conftest.py'.\nE   ModuleNotFoundError: No module named 'attr'",
            "attr cannot be imported in the sandbox (while loading a conftest.py;",
        ),
        (1, "Traceback ...\nRuntimeError: plugin exploded", "exited with code 1 and left no test results"),
        (3, "INTERNALERROR> No module named 'pluggy_x'", "pluggy_x cannot be imported in the sandbox"),
    ],
)
def test_a_run_that_never_reached_the_tests_is_one_line_saying_why(code: int, tail: str, said: str) -> None:
    problem = baseline_problem(report(exit_code=code, raw_tail=tail, structured=code in (4, 5)), PYTEST)
    assert problem is not None and said in problem
    assert "\n" not in problem


def test_nothing_collected_is_broken_only_when_the_repository_has_test_files(tmp_path: Path) -> None:
    empty = report(exit_code=5, raw_tail="no tests ran in 0.01s")
    without = make_tree(tmp_path / "without", ["src/app.py", "README.md"])
    assert baseline_problem(empty, PYTEST, checkout=without) is None  # the change's own tests will count
    with_tests = make_tree(tmp_path / "with", ["src/app.py", "tests/test_app.py"])
    said = baseline_problem(empty, PYTEST, checkout=with_tests)
    assert said is not None and "such as tests/test_app.py" in said
    assert baseline_problem(empty, PYTEST) is not None  # without a checkout to look at: broken (be-agent ci)


def test_output_from_the_repository_reaches_the_terminal_inert() -> None:
    tail = "ERROR: \x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[2J bad\u202eflag\x00 unrecognized arguments"
    problem = baseline_problem(report(exit_code=4, raw_tail=tail), PYTEST)
    assert problem is not None
    assert all(c.isprintable() for c in problem) and "\x1b" not in problem and "\u202e" not in problem


def test_the_repositorys_own_modules_are_read_from_the_tree(tmp_path: Path) -> None:
    checkout = make_tree(
        tmp_path,
        [
            "src/shapes/__init__.py",
            "src/nspkg/mod.py",  # a namespace package in src/
            "src/single.py",
            "src/setup.py",
            "flat/__init__.py",
            "docs/conf.py",  # not a package
            ".hidden/__init__.py",
            "setup.py",
        ],
    )
    assert project_modules(checkout) == {"flat": ".", "nspkg": "src", "shapes": "src", "single": "src"}


def test_finding_a_test_file_skips_virtualenvs_and_hidden_folders(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path, [".venv/pyvenv.cfg", ".venv/lib/test_x.py", "env/pyvenv.cfg", "env/test_y.py", "src/a.py"]
    )
    assert first_test_file(tree) is None
    make_tree(tmp_path, ["pkg/core_test.py"])
    assert first_test_file(tree) == "pkg/core_test.py"


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        ("Ran 12 tests in 0.003s\n\nFAILED (failures=2, errors=1, skipped=3)\n", (6, 2, 1, 3)),
        ("....\n------\nRan 4 tests in 0.001s\n\nOK (skipped=1)\n", (3, 0, 0, 1)),
        ("TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 - c # SKIP later\n1..3\n", (1, 1, 0, 1)),
        ("# tests 4\n# pass 3\n# fail 1\n", (3, 1, 0, 0)),
        ("===== 3 failed, 10 passed, 1 skipped, 2 warnings in 0.50s =====\n", (10, 3, 0, 1)),
        ("Tests:       1 failed, 5 passed, 6 total\n", (5, 1, 0, 0)),
        ("  5 passing (20ms)\n  1 failing\n", (5, 1, 0, 0)),
        ("--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\n", (1, 1, 0, 0)),
        ("test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n", (3, 1, 0, 0)),
    ],
)
def test_counts_come_from_the_runners_own_summary_line(output: str, counts: tuple[int, ...]) -> None:
    found = summary_counts(output)
    assert found is not None
    assert (found["passed"], found["failed"], found["error"], found["skipped"]) == counts


def test_no_summary_line_means_no_counts_and_cut_output_is_not_counted_line_by_line() -> None:
    assert summary_counts("make: *** [test] Error 1\n") is None
    tap = "TAP version 13\nok 1 - a\nok 2 - b\n1..40\n"
    assert summary_counts(tap, complete=False) is None  # the middle was cut: the ok lines are not all there
    coarse = TestReport(
        command="make test", exit_code=1, structured=False, summary_counts={"passed": 3, "failed": 1}
    )
    assert (
        coarse.brief()["coarse"] is True and coarse.brief()["passed"] == 3 and coarse.brief()["failing"] == []
    )
    assert not coarse.green  # coarse counts are never evidence of a pass
