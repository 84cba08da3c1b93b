"""The harness's own test runs on real git repositories with real pytest (run on the host here, so these
stay fast; the sandboxed runs are covered end to end): each run in its own fresh copy of the commit it
judges, the verdict's copy with the original tests, and the change's tests run against the original code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent import targets as tg
from agent.harness_tests import HarnessTests, is_test_support, planted_finding
from agent.verdict import Evidence, added_tests_result, decide, flaky_tests, verification
from tools.test_report import Outcome, TestReport

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

CALC_BUGGY = "def add(a, b):\n    return a - b\n\n\ndef neg(a):\n    return -a\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return -a\n"
BASE_TESTS = (
    "from calc import add, neg\n\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n\n\n"
    "def test_neg():\n    assert neg(2) == -2\n"
)
FORGING_CONFTEST = """import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> tuple[Path, str]:
    repo = root / "checkout"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    write(repo, files)
    return repo, commit(repo, "base")


def write(repo: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _node_id(tree: Path, classname: str, name: str) -> str:
    """pytest's node id from a JUnit testcase: the longest dotted prefix that is a file is the module."""
    parts = classname.split(".") if classname else []
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (tree / module).is_file():
            return "::".join([module, *parts[cut:], name])
    return name.replace(".", "/") + ".py"  # a collection error names the module itself


def run_pytest(tree: Path, ids: list[str] | None = None, timeout: float = 60) -> TestReport:
    """A small stand-in for the sandboxed harness run: pytest in a subprocess, outcomes from JUnit XML."""
    xml = tree.parent / f"junit-{tree.name}.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml}",
        *(ids or []),
    ]
    done = subprocess.run(
        command,
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    outcomes: dict[str, Outcome] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        test_id = _node_id(tree, case.get("classname", ""), case.get("name", ""))
        outcome: Outcome = "passed"
        for child, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            found = case.find(child)
            if found is not None:
                outcome = kind  # type: ignore[assignment]
                messages[test_id] = found.get("message", "")
                break
        outcomes[test_id] = outcome
    return TestReport(
        command=" ".join(command), exit_code=done.returncode, outcomes=outcomes, messages=messages
    )


def harness_for(tmp_path: Path, repo: Path, base: str, head: str | None = None) -> HarnessTests:
    harness = HarnessTests(run_pytest, repo, tmp_path / "harness", base=base)
    if head is not None:
        harness.changed = git(repo, "diff", "--name-only", base, head).split()
    return harness


def show(case: str, block: dict[str, object]) -> None:
    print(f"verification[{case}] = {json.dumps(block, indent=2)}")  # the evidence the issue asks for


def test_a_good_fix_with_a_reproducing_test_fails_on_base(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    added_test = "\n\ndef test_add_positive():\n    assert add(2, 3) == 5\n"
    write(repo, {"calc.py": CALC_FIXED, "tests/test_calc.py": BASE_TESTS + added_test})
    head = commit(repo, "fix")
    harness = harness_for(tmp_path, repo, base, head)
    baseline = harness.baseline().report
    change = harness.change_tests(head, ["tests/test_calc.py"]).report
    final = harness.verdict(head).report
    added = added_tests_result(
        ["tests/test_calc.py"], change, harness.added_on_base(head, ["tests/test_calc.py"]).report
    )
    evidence = Evidence(
        baseline=baseline,
        final=final,
        targets=tg.Targets(source="added tests", names=added.failing_on_base),
        change_tests=change,
        added=added,
    )
    verdict = decide(evidence)
    block = verification(evidence, verdict).as_json()
    show("good fix with a reproducing test", block)
    assert verdict.status == "fixed", verdict.reason
    assert block["added_tests"] == [
        "tests/test_calc.py::test_add_positive",
        "tests/test_calc.py::test_add_zero",
        "tests/test_calc.py::test_neg",
    ]
    assert block["added_tests_fail_on_base"] is True
    assert added.failing_on_base == ["tests/test_calc.py::test_add_positive"]
    # the verdict ran the ORIGINAL test file: the added test is not in it
    assert sorted(final.outcomes) == ["tests/test_calc.py::test_add_zero", "tests/test_calc.py::test_neg"]
    # every run had its own copy, now gone; the checkout has no worktree and no change
    assert [r.purpose for r in harness.runs] == [
        "baseline",
        "change's tests",
        "verdict",
        "added tests on the base",
    ]
    assert not any(p.is_dir() for p in (tmp_path / "harness").iterdir())  # (the runner's XML stays)
    assert git(repo, "status", "--porcelain") == "" and len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_new_module_importing_new_code_fails_on_base_by_import(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    write(
        repo,
        {
            "calc.py": CALC_FIXED + "\n\ndef double(a):\n    return 2 * a\n",
            "tests/test_double.py": "from calc import double\n\n\ndef test_double():\n    assert double(4) == 8\n",
        },
    )
    head = commit(repo, "feature")
    harness = harness_for(tmp_path, repo, base, head)
    change = harness.change_tests(head, ["tests/test_double.py"]).report
    on_base = harness.added_on_base(head, ["tests/test_double.py"]).report
    added = added_tests_result(["tests/test_double.py"], change, on_base)
    assert added.added_tests == ["tests/test_double.py::test_double"]
    assert added.fail_on_base is True and not on_base.green


def test_an_added_test_that_passes_on_base_is_no_reproduction(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    write(
        repo,
        {
            "calc.py": CALC_FIXED,
            "tests/test_more.py": "from calc import neg\n\n\ndef test_neg_zero():\n    assert neg(0) == 0\n",
        },
    )
    head = commit(repo, "more")
    harness = harness_for(tmp_path, repo, base, head)
    added = added_tests_result(
        ["tests/test_more.py"],
        harness.change_tests(head, ["tests/test_more.py"]).report,
        harness.added_on_base(head, ["tests/test_more.py"]).report,
    )
    assert added.added_tests == ["tests/test_more.py::test_neg_zero"] and added.fail_on_base is False


def test_a_test_module_that_plants_a_conftest_fools_no_later_run(tmp_path: Path) -> None:
    """Route 1 of the attack: a test module writes a forging conftest.py while the harness runs it. The
    write is reported, and the verdict's own fresh copy never sees it."""
    repo, base = make_repo(
        tmp_path,
        {
            "calc.py": CALC_BUGGY,
            "tests/test_calc.py": BASE_TESTS + "\n\ndef test_add():\n    assert add(1, 1) == 2\n",
        },
    )
    planter = (
        "import pathlib\n\nCONFTEST = " + repr(FORGING_CONFTEST) + "\n\n\n"
        "def test_plant():\n"
        "    (pathlib.Path(__file__).parent.parent / 'conftest.py').write_text(CONFTEST)\n"
    )
    write(repo, {"tests/test_plant.py": planter})
    head = commit(repo, "plant")
    harness = harness_for(tmp_path, repo, base, head)
    baseline = harness.baseline().report
    change_run = harness.change_tests(head, ["tests/test_plant.py"])
    final = harness.verdict(head).report
    assert change_run.planted == ["conftest.py"]
    assert "wrote files that Python or pytest load on their own into the tree: conftest.py" in (
        planted_finding(change_run) or ""
    )
    assert final.outcomes["tests/test_calc.py::test_add"] == "failed"  # the forging conftest never reached it
    verdict = decide(Evidence(baseline=baseline, final=final, targets=tg.choose(baseline=baseline)))
    assert verdict.status == "not_fixed" and verdict.still_failing == ["tests/test_calc.py::test_add"]


def test_code_under_test_that_writes_a_conftest_during_the_verdict_run_is_named(tmp_path: Path) -> None:
    """A variant of route 1 inside one run: the changed code writes a conftest while it is imported, for
    the directories pytest has not collected yet."""
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    writer = (
        "import pathlib\n\n(pathlib.Path(__file__).parent / 'tests' / 'later' / 'conftest.py').parent.mkdir("
        "exist_ok=True)\n(pathlib.Path(__file__).parent / 'tests' / 'later' / 'conftest.py').write_text("
        + repr(FORGING_CONFTEST)
        + ")\n"
    )
    write(repo, {"calc.py": writer + CALC_FIXED})
    head = commit(repo, "writes a conftest at import")
    run = harness_for(tmp_path, repo, base, head).verdict(head)
    assert run.planted == ["tests/later/conftest.py"]


def test_the_verdict_runs_the_original_tests_conftests_and_configuration(tmp_path: Path) -> None:
    repo, base = make_repo(
        tmp_path,
        {
            "calc.py": CALC_BUGGY,
            "tests/test_calc.py": BASE_TESTS + "\n\ndef test_add():\n    assert add(1, 1) == 2\n",
            "pytest.ini": "[pytest]\naddopts = -p no:randomly\n",
        },
    )
    write(
        repo,
        {
            "tests/test_calc.py": BASE_TESTS + "\n\ndef test_add():\n    assert True\n",  # rewritten to pass
            "tests/conftest.py": FORGING_CONFTEST,
            "pytest.ini": "[pytest]\naddopts = -k 'not add'\n",
        },
    )
    head = commit(repo, "tests edited")
    harness = harness_for(tmp_path, repo, base, head)
    final = harness.verdict(head).report
    assert final.outcomes["tests/test_calc.py::test_add"] == "failed"
    change = harness.change_tests(head, ["tests/test_calc.py"]).report
    assert "tests/test_calc.py::test_add" in change.outcomes  # its own run keeps the original pytest.ini too


def test_a_linked_test_file_is_never_copied_onto_the_base(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "test_keys.py"
    secret.parent.mkdir()
    secret.write_text("SECRET = 'TOP-SECRET-KEY-MATERIAL'\n\n\ndef test_x():\n    assert SECRET\n")
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    (repo / "tests" / "test_leak.py").symlink_to(secret)
    head = commit(repo, "link")
    trees: list[Path] = []

    def runner(tree: Path, ids: list[str]) -> TestReport:
        trees.append(tree)
        leak = tree / "tests" / "test_leak.py"
        assert not leak.exists() and not leak.is_symlink()
        return TestReport(command="none", exit_code=0)

    harness = HarnessTests(runner, repo, tmp_path / "harness", base=base)
    harness.changed = ["tests/test_leak.py"]
    harness.added_on_base(head, ["tests/test_leak.py"])
    assert trees


FLAKY_TESTS = """\
import pathlib

import pytest

from calc import add

MARK = pathlib.Path(__file__).parent / "flip.mark"


def test_add_zero():
    assert add(0, 0) == 0


def test_flip():
    # fails on the first run in a fresh checkout, passes afterwards: flaky as far as the harness can see
    first = not MARK.exists()
    MARK.write_text("seen")
    assert not first


@pytest.mark.timeout(0.5)
def test_waits_for_a_server():
    import threading
    threading.Event().wait()  # never set at baseline: pytest-timeout cuts it off
"""


def test_flaky_and_timed_out_baseline_tests_are_reported_not_counted(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": FLAKY_TESTS})
    first = run_pytest(repo)
    second = run_pytest(repo)
    flaky = flaky_tests(first, second)
    assert flaky == ["tests/test_calc.py::test_flip"]
    (repo / "tests" / "flip.mark").unlink()  # the final run sees the flaky test fail again
    fixed = FLAKY_TESTS.replace(
        "    threading.Event().wait()  # never set at baseline: pytest-timeout cuts it off",
        "    assert add(1, 1) == 2",
    )
    write(repo, {"calc.py": CALC_FIXED, "tests/test_calc.py": fixed})
    final = run_pytest(repo)
    assert final.outcomes["tests/test_calc.py::test_flip"] == "failed"
    evidence = Evidence(
        baseline=first, final=final, targets=tg.choose(baseline=first, flaky=flaky), flaky=flaky
    )
    verdict = decide(evidence)
    block = verification(evidence, verdict).as_json()
    show("flaky and timed-out baseline tests", block)
    assert verdict.status == "fixed", verdict.reason
    assert block["flaky"] == ["tests/test_calc.py::test_flip"]
    assert block["timed_out_tests"] == ["tests/test_calc.py::test_waits_for_a_server"]
    assert block["regressions"] == []


@pytest.mark.parametrize(
    "path, is_test",
    [
        ("tests/test_a.py", True),
        ("pkg/test_a.py", True),
        ("pkg/a_test.py", True),
        ("tests/conftest.py", True),
        ("conftest.py", True),
        ("src/app.py", False),
        ("web/app.test.ts", True),
        ("src/testing_utils.py", False),
    ],
)
def test_which_changed_files_go_with_the_change_s_tests(path: str, is_test: bool) -> None:
    assert is_test_support(path) is is_test
