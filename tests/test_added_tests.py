"""Scripted runs on real git repositories with real pytest: the verdict, and the tests the change added run
against the original code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.verdict import added_tests_check, changed_test_files, flaky_tests, judge, verification_block
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
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo, git(repo, "rev-parse", "HEAD")


def write(repo: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)


def _node_id(tree: Path, classname: str, name: str) -> str:
    """pytest's node id from a JUnit testcase: the longest dotted prefix that is a file is the module."""
    parts = classname.split(".") if classname else []
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (tree / module).is_file():
            return "::".join([module, *parts[cut:], name])
    return name.replace(".", "/") + ".py"  # a collection error names the module itself


def run_pytest(tree: Path, ids: list[str] | None = None, timeout: float = 60) -> TestReport:
    """A small stand-in for the sandboxed run_tests: pytest in a subprocess, outcomes from JUnit XML."""
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


def show(case: str, block: dict[str, object]) -> None:
    print(f"verification[{case}] = {json.dumps(block, indent=2)}")  # the evidence the issue asks for


def test_a_good_fix_with_a_reproducing_test_fails_on_base(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    baseline = run_pytest(repo)
    write(
        repo,
        {
            "calc.py": CALC_FIXED,
            "tests/test_calc.py": BASE_TESTS + "\n\ndef test_add_positive():\n    assert add(2, 3) == 5\n",
        },
    )
    final = run_pytest(repo)
    verdict = judge(baseline, final, [])
    added = added_tests_check(repo, base, None, run_pytest, final=final, scratch_root=tmp_path)
    block = verification_block(baseline, final, verdict, added)
    show("good fix with a reproducing test", block)
    assert verdict.status == "fixed", verdict.reason
    assert block["added_tests"] == [
        "tests/test_calc.py::test_add_positive",
        "tests/test_calc.py::test_add_zero",
        "tests/test_calc.py::test_neg",
    ]
    assert block["added_tests_fail_on_base"] is True
    assert added.failing_on_base == ["tests/test_calc.py::test_add_positive"]
    # the checkout is left as it was: same changes, no worktree registered
    assert sorted(line.split()[-1] for line in git(repo, "status", "--porcelain").splitlines()) == [
        "calc.py",
        "tests/test_calc.py",
    ]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_new_module_importing_new_code_fails_on_base_by_import(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    write(
        repo,
        {
            "calc.py": CALC_FIXED + "\n\ndef double(a):\n    return 2 * a\n",
            "tests/test_double.py": "from calc import double\n\n\ndef test_double():\n"
            "    assert double(4) == 8\n",
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")  # committed, as the harness does before handing back
    git(repo, "checkout", "-q", "--detach")
    added = added_tests_check(repo, base, None, run_pytest, scratch_root=tmp_path)
    assert added.added_tests == ["tests/test_double.py::test_double"]
    assert added.fail_on_base is True
    assert added.on_base is not None and not added.on_base.green


def test_an_added_test_that_passes_on_base_is_no_reproduction(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    baseline = run_pytest(repo)
    write(
        repo,
        {
            "calc.py": CALC_FIXED,
            "tests/test_more.py": "from calc import neg\n\n\ndef test_neg_zero():\n    assert neg(0) == 0\n",
        },
    )
    final = run_pytest(repo)
    verdict = judge(baseline, final, [])
    added = added_tests_check(
        repo, base, changed_test_files(repo, base), run_pytest, final=final, scratch_root=tmp_path
    )
    block = verification_block(baseline, final, verdict, added)
    show("added test passes on base", block)
    assert block["added_tests"] == ["tests/test_more.py::test_neg_zero"]
    assert block["added_tests_fail_on_base"] is False


def test_a_change_without_tests_reports_null(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    write(repo, {"calc.py": CALC_FIXED})
    added = added_tests_check(repo, base, ["calc.py"], run_pytest, scratch_root=tmp_path)
    assert added.fail_on_base is None and added.added_tests == []


def test_a_change_that_breaks_a_passing_test_is_not_fixed_with_the_test_named(tmp_path: Path) -> None:
    tests = BASE_TESTS + "\n\ndef test_add_positive():\n    assert add(2, 3) == 5\n"
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": tests})
    baseline = run_pytest(repo)
    assert baseline.failing == ["tests/test_calc.py::test_add_positive"]
    write(repo, {"calc.py": "def add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return a\n"})
    final = run_pytest(repo)
    verdict = judge(baseline, final, ["tests/test_calc.py::test_add_positive"])
    added = added_tests_check(repo, base, None, run_pytest, final=final, scratch_root=tmp_path)
    block = verification_block(baseline, final, verdict, added)
    show("change breaks a passing test", block)
    assert verdict.status == "not_fixed"
    assert block["regressions"] == ["tests/test_calc.py::test_neg"]
    assert "tests/test_calc.py::test_neg (failed)" in verdict.reason
    assert block["added_tests_fail_on_base"] is None


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

FLAKY_TESTS_FIXED = FLAKY_TESTS.replace(
    "    threading.Event().wait()  # never set at baseline: pytest-timeout cuts it off",
    "    assert add(1, 1) == 2",
)


def test_flaky_and_timed_out_baseline_tests_are_reported_not_counted(tmp_path: Path) -> None:
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": FLAKY_TESTS})
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc\n*.mark\n")
    first = run_pytest(repo)
    second = run_pytest(repo)
    flaky = flaky_tests(first, second)
    assert flaky == ["tests/test_calc.py::test_flip"]
    (repo / "tests" / "flip.mark").unlink()  # the final run sees the flaky test fail again
    write(repo, {"calc.py": CALC_FIXED, "tests/test_calc.py": FLAKY_TESTS_FIXED})
    final = run_pytest(repo)
    assert final.outcomes["tests/test_calc.py::test_flip"] == "failed"
    verdict = judge(first, final, [], flaky=flaky)
    block = verification_block(first, final, verdict, None)
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
        ("src/app.py", False),
        ("web/app.test.ts", True),
        ("src/testing_utils.py", False),
    ],
)
def test_which_changed_files_count_as_tests(tmp_path: Path, path: str, is_test: bool) -> None:
    repo, base = make_repo(tmp_path, {"README.md": "x\n"})
    write(repo, {path: "x = 1\n"})
    assert changed_test_files(repo, base) == ([path] if is_test else [])


def test_a_planted_symlink_is_never_followed_when_tests_are_copied_onto_the_base(tmp_path: Path):
    secret = tmp_path / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-KEY-MATERIAL\n")
    repo, base = make_repo(tmp_path, {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS})
    (repo / "tests" / "test_leak.py").symlink_to(secret)
    copies: list[Path] = []

    def runner(tree: Path, ids: list[str]) -> TestReport:
        copies.append(tree / "tests" / "test_leak.py")
        return TestReport(command="none", exit_code=0)

    (tmp_path / "scratch").mkdir()
    added_tests_check(
        repo, base, ["tests/test_leak.py"], runner, scratch_root=tmp_path / "scratch", keep=True
    )
    base_copy = next(c for c in copies if c.parent.parent != repo)
    assert not base_copy.exists() and not base_copy.is_symlink()
    copied_bytes = b"".join(
        p.read_bytes()
        for p in base_copy.parent.parent.rglob("*")
        if p.is_file() and not p.is_symlink() and ".git" not in p.parts
    )
    assert b"TOP-SECRET" not in copied_bytes


def test_a_planted_link_to_a_directory_above_a_test_file_is_never_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "test_keys.py").write_text("SECRET = 'TOP-SECRET-KEY-MATERIAL'\n")
    repo, base = make_repo(
        tmp_path,
        {"calc.py": CALC_BUGGY, "tests/test_calc.py": BASE_TESTS, "tests/keys/test_keys.py": "X = 1\n"},
    )
    (repo / "tests" / "keys" / "test_keys.py").unlink()
    (repo / "tests" / "keys").rmdir()
    (repo / "tests" / "keys").symlink_to(outside)
    trees: list[Path] = []

    def runner(tree: Path, ids: list[str]) -> TestReport:
        trees.append(tree)
        return TestReport(command="none", exit_code=0)

    (tmp_path / "scratch").mkdir()
    added_tests_check(
        repo, base, ["tests/keys/test_keys.py"], runner, scratch_root=tmp_path / "scratch", keep=True
    )
    for tree in trees:
        if tree != repo:
            assert b"TOP-SECRET" not in b"".join(
                p.read_bytes() for p in tree.rglob("*.py") if not p.is_symlink()
            )
