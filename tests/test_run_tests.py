"""run_tests on real suites through a real sandbox, and how the test command is found."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.unconfined import UnconfinedSandbox
from tools.base import ToolInputError
from tools.detect import PYTEST, TestCommand, detect_test_command
from tools.run_tests import RunTestsTool
from tools.test_report import TestReport

PYTEST_CMD = TestCommand(f"{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider", True, "--test-cmd")

CALC = """
import pytest

def sub(a, b):
    return a + b  # the bug

def test_add():
    assert 1 + 1 == 2

def test_sub():
    assert sub(3, 2) == 1

@pytest.mark.parametrize("text", ["a b", "x[y] z", 'q"uote'])
def test_p(text):
    assert text

@pytest.mark.skip(reason="later")
def test_later():
    pass
"""


def make_checkout(tmp_path: Path, files: dict[str, str]) -> Path:
    checkout = tmp_path / "checkout"
    for rel, text in {"pytest.ini": "[pytest]\n", **files}.items():
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_text(text)
    return checkout


def sandbox_for(tmp_path: Path, checkout: Path) -> UnconfinedSandbox:
    # Plugin autoload off: the inner pytest starts faster, and the outer run's plugins stay out of it.
    config = SandboxConfig(command_timeout=60, extra_env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return UnconfinedSandbox(checkout, tmp_path / "scratch", config)


@pytest.fixture
def calc(tmp_path: Path) -> RunTestsTool:
    checkout = make_checkout(tmp_path, {"tests/test_calc.py": CALC})
    return RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60)


def test_summary_of_a_failing_suite(calc: RunTestsTool) -> None:
    result = calc({})
    assert not result.is_error
    first, *rest = result.content.splitlines()
    assert first.startswith("4 passed, 1 failed, 0 errors, 1 skipped in ")
    assert rest[0] == "FAILED tests/test_calc.py::test_sub"
    assert "assert 5 == 1" in result.content and "tests/test_calc.py:11: AssertionError" in result.content
    report = result.data["report"]
    assert report["outcomes"]["tests/test_calc.py::test_p[x[y] z]"] == "passed"
    assert report["outcomes"]["tests/test_calc.py::test_sub"] == "failed"
    assert report["exit_code"] == 1 and report["structured"] is True
    assert list(calc.sandbox.scratch.glob("junit-*.xml")) == []  # read and deleted


PARAMETRISED = """
import pytest

def strip_quotes(text):
    return text  # the bug: quotes stay

@pytest.mark.parametrize("raw", [f"'word{n}'" for n in range(16)])
def test_single_quotes_go(raw):
    assert strip_quotes(raw) == raw[1:-1]

@pytest.mark.parametrize("raw", ['"a"', '"b"'])
def test_double_quotes_go(raw):
    if strip_quotes(raw).startswith('"'):
        raise ValueError("still quoted")

def test_empty():
    assert strip_quotes("") == "x"

def test_ok():
    assert strip_quotes("a") == "a"
"""


def test_failures_at_the_same_line_are_told_once_naming_every_id(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path, {"tests/test_quotes.py": PARAMETRISED})
    tool = RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60)
    report = tool.run()
    assert len(report.failing) == 19
    text = tool.summarise(report)
    lines = text.splitlines()
    assert lines[0].startswith("1 passed, 19 failed, 0 errors, 0 skipped in ")
    double = [f'tests/test_quotes.py::test_double_quotes_go["{c}"]' for c in "ab"]
    assert lines[1] == "2 tests failed with the same message: " + ", ".join(double)
    assert text.count("ValueError: still quoted") == 1
    single = [f"tests/test_quotes.py::test_single_quotes_go['word{n}']" for n in range(16)]
    grouped = "16 tests failed at the same line with the same error (message of the first): "
    assert grouped + ", ".join(sorted(single)) in text
    assert text.count("assert strip_quotes(raw) == raw[1:-1]") == 1  # the failing line, once
    assert "FAILED tests/test_quotes.py::test_empty" in text  # alone: its own message
    assert all(test_id in text for test_id in report.failing)  # every id still named
    one_by_one = sum(len(test_id) + len(report.messages[test_id]) + 12 for test_id in report.failing)
    assert len(text) < one_by_one / 2


def test_narrowing_to_ids_with_spaces_quotes_and_brackets(calc: RunTestsTool) -> None:
    ids = ["tests/test_calc.py::test_p[x[y] z]", 'tests/test_calc.py::test_p[q"uote]']
    report = calc.run(ids)
    assert report.outcomes == {ids[0]: "passed", ids[1]: "passed"}
    one = calc({"tests": "tests/test_calc.py::test_p[a b]"})
    assert one.content.startswith("1 passed, 0 failed, 0 errors, 0 skipped")


def test_extra_args_are_passed_as_words(calc: RunTestsTool) -> None:
    report = calc.run(extra_args="-k 'test_p and not uote'")
    assert sorted(report.outcomes) == [
        "tests/test_calc.py::test_p[a b]",
        "tests/test_calc.py::test_p[x[y] z]",
    ]
    assert calc({"extra_args": "-k 'unclosed"}).is_error


def test_tests_run_from_the_checkout_root_wherever_the_shell_is(calc: RunTestsTool) -> None:
    calc.sandbox.run("cd tests")
    assert "tests/test_calc.py::test_add" in calc.run().outcomes


def test_collection_errors_are_reported_with_the_output(tmp_path: Path) -> None:
    checkout = make_checkout(
        tmp_path,
        {
            "tests/test_ok.py": "def test_ok():\n    pass\n",
            "tests/test_broken.py": "import no_such_module_here\n",
        },
    )
    tool = RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60)
    result = tool({})
    assert "0 passed, 0 failed, 1 errors, 0 skipped" in result.content
    assert "ERROR tests/test_broken.py" in result.content
    assert "No module named 'no_such_module_here'" in result.content
    assert "Interrupted: 1 error during collection" in result.content  # the raw tail, exit code 2
    assert not TestReport.model_validate(result.data["report"]).green


def test_unknown_runner_falls_back_to_exit_code_and_output(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path, {})
    command = TestCommand(
        "echo 'running widgets'; echo 'FAIL: widget spins backwards'; exit 3", False, "detected"
    )
    tool = RunTestsTool(sandbox_for(tmp_path, checkout), command, timeout=30)
    result = tool({})
    assert not result.is_error
    assert "exited with code 3" in result.content and "no per-test results" in result.content
    assert "FAIL: widget spins backwards" in result.content
    report = result.data["report"]
    assert report["structured"] is False and report["exit_code"] == 3 and report["outcomes"] == {}
    narrowed = tool({"tests": ["widgets"]})
    assert narrowed.is_error and "cannot be narrowed" in narrowed.content


def test_a_timeout_is_said_plainly(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path, {})
    tool = RunTestsTool(
        sandbox_for(tmp_path, checkout), TestCommand("sleep 30", False, "--test-cmd"), timeout=0.5
    )
    result = tool({})
    assert result.content.startswith("The tests timed out after 0.5 s and were killed")
    report = TestReport.model_validate(result.data["report"])
    assert report.timed_out and not report.green


def test_no_test_command_is_an_error_saying_what_to_do(tmp_path: Path) -> None:
    tool = RunTestsTool(sandbox_for(tmp_path, make_checkout(tmp_path, {})), None, timeout=30)
    result = tool({})
    assert result.is_error and "--test-cmd" in result.content and "bash" in result.content
    with pytest.raises(ToolInputError):
        tool.run()
    assert "none known" in tool.spec()["description"]


def test_bad_parameters_are_errors(calc: RunTestsTool) -> None:
    assert calc({"tests": [1, 2]}).is_error
    assert calc({"extra_args": ["-x"]}).is_error


def test_spec_is_a_custom_tool_with_a_schema(calc: RunTestsTool) -> None:
    spec = calc.spec()
    assert spec["name"] == "run_tests" and "exact id" in spec["description"]
    assert spec["input_schema"]["properties"]["tests"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": spec["input_schema"]["properties"]["tests"]["description"],
    }
    json.dumps(spec)


def test_run_in_another_tree_uses_a_sandbox_of_the_same_kind(calc: RunTestsTool, tmp_path: Path) -> None:
    other = make_checkout(tmp_path / "base", {"tests/test_calc.py": CALC.replace("a + b", "a - b")})
    report = calc.run_in(other, ["tests/test_calc.py::test_sub"])
    assert report.outcomes == {"tests/test_calc.py::test_sub": "passed"}


def test_through_bubblewrap(tmp_path: Path) -> None:
    bwrap = pytest.importorskip("sandbox.bwrap")
    from sandbox.preflight import bwrap_problem

    if problem := bwrap_problem():
        pytest.skip(problem)
    checkout = make_checkout(tmp_path, {"tests/test_calc.py": CALC})
    sandbox = bwrap.BwrapSandbox(checkout, tmp_path / "scratch", SandboxConfig(command_timeout=60))
    try:
        report = RunTestsTool(sandbox, PYTEST_CMD, timeout=60).run(
            ["tests/test_calc.py::test_sub", "tests/test_calc.py::test_p[x[y] z]"]
        )
    finally:
        sandbox.close()
    assert report.outcomes == {
        "tests/test_calc.py::test_sub": "failed",
        "tests/test_calc.py::test_p[x[y] z]": "passed",
    }
    assert list((tmp_path / "scratch").glob("junit-*.xml")) == []


# detection


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_configured_command_wins_and_is_recognised_as_pytest_or_not(tmp_path: Path) -> None:
    root = write(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n", "Makefile": "test:\n\t./run\n"})
    assert detect_test_command(root, "uv run pytest -q") == TestCommand(
        "uv run pytest -q", True, "--test-cmd"
    )
    where = f"test-cmd in {root / '.be-agent.toml'}"
    assert detect_test_command(root, "tox -e py311", where) == TestCommand("tox -e py311", False, where)
    assert detect_test_command(root, "  ") == TestCommand(PYTEST, True, "detected")


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"setup.cfg": ""}, TestCommand(PYTEST, True, "detected")),
        ({"tests/test_thing.py": ""}, TestCommand(PYTEST, True, "detected")),
        ({"pyproject.toml": "this is [not toml"}, TestCommand(PYTEST, True, "detected")),
        ({"package.json": '{"scripts": {"test": "jest"}}'}, TestCommand("jest", "jest", "detected")),
        ({"package.json": '{"scripts": {"test": "mocha"}}'}, TestCommand("npm test", False, "detected")),
        (
            {"go.mod": "module x\n", "Makefile": "test:\n\tgo test\n"},
            TestCommand("go test ./...", "go test", "detected"),
        ),
        ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'}, None),
        ({"Makefile": "all:\n\techo\n\ntest: all\n\t./run\n"}, TestCommand("make test", False, "detected")),
        ({"Makefile": "test := 1\n"}, None),
        ({"README.md": "hello"}, None),
    ],
)
def test_detection(tmp_path: Path, files: dict[str, str], expected: TestCommand | None) -> None:
    assert detect_test_command(write(tmp_path, files), None) == expected


def test_narrowed_commands_quote_each_id() -> None:
    command = TestCommand("python3 -m pytest", True, "detected")
    assert command.narrowed(["t.py::test[a b]", "t.py::test[it's]"]) == (
        "python3 -m pytest 't.py::test[a b]' 't.py::test[it'\"'\"'s]'"
    )


def test_a_pytest_that_cannot_start_says_why(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path, {"tests/test_a.py": "def test_a():\n    pass\n"})
    command = TestCommand(
        f"{shlex.quote(sys.executable)} -m pytest_is_not_installed_here", True, "--test-cmd"
    )
    result = RunTestsTool(sandbox_for(tmp_path, checkout), command, timeout=30)({})
    assert "exited with code 1" in result.content and "wrote no readable JUnit report" in result.content
    assert "No module named pytest_is_not_installed_here" in result.content
    assert result.data["report"]["structured"] is False


def test_a_path_that_looks_like_an_option_is_read_as_a_path(tmp_path: Path) -> None:
    """A folder named `-pevil` must not become `-p evil` (load the plugin module `evil`): pytest scans every
    argument for `-p`, even after `--`."""
    checkout = make_checkout(
        tmp_path,
        {
            "-pevil/test_x.py": "def test_a():\n    pass\n",
            "evil.py": "raise SystemExit('evil plugin loaded')\n",
        },
    )
    assert TestCommand("pytest", True, "x").narrowed(["-pevil/test_x.py"]) == "pytest ./-pevil/test_x.py"
    report = RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60).run(["-pevil"])
    assert report.outcomes == {"-pevil/test_x.py::test_a": "passed"}
