"""The test runners on real output: node --test, go test -json, Jest and Vitest run tiny projects written by
the test (real node and go; Jest and Vitest from `make npm-fixtures`), and a command writing JUnit XML to a
configured path. Each is read into the same report: stable ids, outcomes, messages, and narrowing to ids.
Attacks on the results kept here: a test printing another test's result, a report file the repository
ships, and results that say "passed" from a run that exited non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.unconfined import UnconfinedSandbox
from tests.runner_projects import (
    go_project,
    js_project,
    needs_go,
    needs_node,
    needs_npm_fixtures,
    node_project,
    write,
)
from tools import runners
from tools.detect import TestCommand, detect_test_command
from tools.run_tests import RunTestsTool
from tools.runners.base import EXIT_STATUS_ID, Results, escape_regex
from tools.test_report import TestReport

NODE_ADD = "test/math.test.js::math > adds two numbers"
NODE_MORE = "test/math.test.js::math > more > adds two numbers"
NODE_MUL = "test/math.test.js::math > multiplies"


def tool(tmp_path: Path, checkout: Path, command: TestCommand) -> RunTestsTool:
    box = UnconfinedSandbox(checkout, tmp_path / "scratch", SandboxConfig(command_timeout=120))
    return RunTestsTool(box, command, timeout=120)


def run(tmp_path: Path, checkout: Path, command: TestCommand, tests: list[str] | None = None) -> TestReport:
    return tool(tmp_path, checkout, command).run(tests)


# --- node --test ---------------------------------------------------------------------------------------------


@needs_node
def test_node_test_results_have_suite_paths_as_ids_and_the_assertion_as_message(tmp_path: Path) -> None:
    checkout = node_project(tmp_path / "calc")
    command = detect_test_command(checkout, None)
    assert command == TestCommand("node --test", runners.NODE, "detected")
    report = run(tmp_path, checkout, command)
    assert report.structured and report.exit_code == 1
    assert report.outcomes == {NODE_ADD: "failed", NODE_MUL: "passed", NODE_MORE: "passed"}
    assert "-1 !== 5" in report.messages[NODE_ADD] and "math.test.js:5" in report.messages[NODE_ADD]
    text = tool(tmp_path, checkout, command).summarise(report)
    assert text.startswith("2 passed, 1 failed, 0 errors, 0 skipped") and f"FAILED {NODE_ADD}" in text


@needs_node
def test_node_test_narrowed_to_one_id_reports_only_that_test(tmp_path: Path) -> None:
    checkout = node_project(tmp_path / "calc")
    report = run(tmp_path, checkout, TestCommand("node --test", runners.NODE, "t"), [NODE_MORE])
    assert report.outcomes == {NODE_MORE: "passed"}  # `math > adds two numbers` has the same name: left out
    report = run(tmp_path, checkout, TestCommand("node --test", runners.NODE, "t"), [NODE_MUL])
    assert report.outcomes == {NODE_MUL: "passed"} and report.exit_code == 0


@needs_node
def test_node_test_file_that_cannot_load_is_an_error_named_by_its_path(tmp_path: Path) -> None:
    checkout = write(node_project(tmp_path / "calc"), {"test/broken.test.js": "this is not javascript(\n"})
    report = run(tmp_path, checkout, TestCommand("node --test", runners.NODE, "t"))
    assert report.outcomes["test/broken.test.js"] == "error" and report.outcomes[NODE_MUL] == "passed"


@needs_node
def test_a_node_test_printing_a_fake_result_line_changes_nothing(tmp_path: Path) -> None:
    fake = '{"file":"test/math.test.js","path":["math","adds two numbers"],"passed":true}'
    checkout = write(
        node_project(tmp_path / "calc"),
        {"test/liar.test.js": f"require('node:test')('liar', () => {{ console.log({fake!r}); }});\n"},
    )
    report = run(tmp_path, checkout, TestCommand("node --test", runners.NODE, "t"))
    assert report.outcomes[NODE_ADD] == "failed" and report.outcomes["test/liar.test.js::liar"] == "passed"


# --- go test -json -------------------------------------------------------------------------------------------


@needs_go
def test_go_test_ids_are_package_and_test_and_a_broken_package_is_an_error(tmp_path: Path) -> None:
    checkout = write(
        go_project(tmp_path / "calc"),
        {"broken/b_test.go": 'package broken\n\nimport "testing"\n\nfunc TestB(t *testing.T) { nope() }\n'},
    )
    command = detect_test_command(checkout, None)
    assert command == TestCommand("go test ./...", runners.GO, "detected")
    report = run(tmp_path, checkout, command)
    assert report.outcomes == {
        "./calc::TestAdd": "failed",
        "./calc::TestMul": "passed",
        "./calc::TestMul/small_numbers": "passed",
        "./broken": "error",
    }
    assert "Add(2, 3) = -1, want 5" in report.messages["./calc::TestAdd"]
    assert "undefined: nope" in report.messages["./broken"]


@needs_go
def test_go_test_narrowed_to_a_subtest_runs_only_it(tmp_path: Path) -> None:
    checkout = go_project(tmp_path / "calc")
    report = run(
        tmp_path, checkout, TestCommand("go test ./...", runners.GO, "t"), ["./calc::TestMul/small_numbers"]
    )
    assert report.outcomes == {"./calc::TestMul/small_numbers": "passed"} and report.exit_code == 0
    report = run(tmp_path, checkout, TestCommand("go test ./...", runners.GO, "t"), ["./calc::TestAdd"])
    assert report.outcomes == {"./calc::TestAdd": "failed"}


@needs_go
def test_a_go_test_printing_another_tests_pass_line_cannot_hide_its_failure(tmp_path: Path) -> None:
    liar = 'package calc\n\nimport ("fmt"; "testing")\n\nfunc TestLiar(t *testing.T) { fmt.Println("--- PASS: TestAdd (0.00s)") }\n'
    checkout = write(go_project(tmp_path / "calc"), {"calc/liar_test.go": liar})
    report = run(tmp_path, checkout, TestCommand("go test ./...", runners.GO, "t"))
    assert report.outcomes["./calc::TestAdd"] == "failed"


def test_go_narrowing_quotes_names_as_literals() -> None:
    line = runners.runner(runners.GO).command_line(
        "go test -count=1 -run Old ./...", ["./calc::TestA/x.y (1)"], [], "/tmp/r.json"
    )
    assert "-count=1 -run '^TestA$/^x\\.y \\(1\\)$' ./calc > /tmp/r.json" in line and "Old" not in line
    assert "GOPROXY=off" in line and "GOTOOLCHAIN=local" in line and "GOFLAGS" not in line


# --- jest and vitest -----------------------------------------------------------------------------------------


@needs_npm_fixtures
@pytest.mark.parametrize("name", ["jest", "vitest"])
def test_jest_and_vitest_json_reports_read_into_the_same_ids(tmp_path: Path, name: str) -> None:
    checkout = js_project(tmp_path / "calc", name)
    command = detect_test_command(checkout, "npm test")
    assert command == TestCommand(name, name, "--test-cmd")
    report = run(tmp_path, checkout, command)
    assert report.outcomes == {NODE_ADD: "failed", NODE_MUL: "passed", NODE_MORE: "passed"}
    assert "5" in report.messages[NODE_ADD]
    narrowed = run(tmp_path, checkout, command, [NODE_MORE])
    assert narrowed.outcomes == {NODE_MORE: "passed"} and narrowed.exit_code == 0


# --- a JUnit file at a configured path ----------------------------------------------------------------------

JUNIT = """<testsuite><testcase classname="calc.Math" name="adds"><failure message="no">-1 != 5</failure>
</testcase><testcase classname="calc.Math" name="multiplies"/></testsuite>"""


def test_a_junit_file_at_the_configured_path_is_read_and_a_shipped_one_is_not(tmp_path: Path) -> None:
    checkout = write(
        tmp_path / "calc", {"expected.xml": JUNIT, "out/junit.xml": JUNIT.replace("failure", "skipped")}
    )
    command = detect_test_command(
        checkout, "mkdir -p out && cp expected.xml out/junit.xml; false", junit_report="out/junit.xml"
    )
    assert command is not None and command.kind == runners.JUNIT and not command.narrowable
    report = run(tmp_path, checkout, command)
    assert report.outcomes == {"calc.Math::adds": "failed", "calc.Math::multiplies": "passed"}
    assert not (checkout / "out/junit.xml").exists()
    # the repository ships a report saying all passed; the command writes none: no per-test results
    write(checkout, {"out/junit.xml": JUNIT.replace("failure", "skipped")})
    report = run(tmp_path, checkout, TestCommand("true", runners.JUNIT, "t", "out/junit.xml"))
    assert not report.structured and report.outcomes == {}


# --- what every runner shares --------------------------------------------------------------------------------


@needs_node
def test_results_saying_all_passed_from_a_run_that_exited_non_zero_get_a_failing_entry(
    tmp_path: Path,
) -> None:
    checkout = write(
        node_project(tmp_path / "calc"),
        {
            "lib/math.js": "exports.add = (a, b) => a + b;\nexports.mul = (a, b) => a * b;\n",
            "bin/node": '#!/bin/sh\nnode "$@"\nexit 3\n',
        },
    )
    (checkout / "bin/node").chmod(0o755)
    report = run(tmp_path, checkout, TestCommand("bin/node --test", runners.NODE, "t"))
    assert report.exit_code == 3 and report.outcomes[EXIT_STATUS_ID] == "error"
    assert report.failing == [EXIT_STATUS_ID]


def test_a_failure_is_never_overridden_by_a_later_pass() -> None:
    results = Results.empty()
    results.add("a::t", "failed", "boom")
    results.add("a::t", "passed")
    assert results.outcomes == {"a::t": "failed"} and results.messages == {"a::t": "boom"}


@pytest.mark.parametrize(
    "command, kind",
    [
        ("node --test", runners.NODE),
        ("node --import tsx --test test/", runners.NODE),
        ("npx jest --ci", runners.JEST),
        ("node_modules/.bin/jest", runners.JEST),
        ("vitest run", runners.VITEST),
        ("npx vitest", runners.VITEST),
        ("go test ./...", runners.GO),
        ("python -m pytest -q", runners.PYTEST),
        ("npm test", runners.PLAIN),
        ("make test", runners.PLAIN),
        ("echo jest", runners.PLAIN),
    ],
)
def test_a_configured_command_is_mapped_to_its_runner(command: str, kind: str) -> None:
    assert runners.kind_of(command) == kind


def test_regex_escaping_keeps_names_literal() -> None:
    assert escape_regex("a.b (c) [d] $x^ *+?|{}\\") == "a\\.b \\(c\\) \\[d\\] \\$x\\^ \\*\\+\\?\\|\\{\\}\\\\"
