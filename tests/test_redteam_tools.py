"""What a red team found in the tools, each fixed: a JUnit report written by code under test cannot stall or
flood the harness, nor make it probe host paths; the bash tool never checks the model's directory on the host.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox
from tests.sandbox_fixtures import needs_bwrap
from tests.test_run_tests import PYTEST_CMD, make_checkout, sandbox_for
from tools import junit
from tools.bash import BashTool
from tools.junit import MAX_CASES, JUnitTooLarge, node_id, parse_junit
from tools.run_tests import MAX_XML_BYTES, RunTestsTool
from tools.test_report import TestReport


def report(cases: str) -> bytes:
    return f"<testsuites><testsuite>{cases}</testsuite></testsuites>".encode()


def rewriting_conftest(body: str) -> str:
    """A conftest that replaces pytest's JUnit report with whatever `body` writes to `out`."""
    return (
        "def pytest_unconfigure(config):\n"
        "    path = getattr(config.option, 'xmlpath', None)\n"
        "    if path:\n"
        "        with open(path, 'w') as out:\n"
        + "".join(f"            {line}\n" for line in body.splitlines())
    )


# --- a report that would stall or flood the harness --------------------------------------------------------


def _lookups_spent(root: Path, cases: list[tuple[str, str]]) -> tuple[int, list[str]]:
    """How many file-system lookups resolving `cases` (classname, name) costs, and the ids it gives."""
    with junit._CheckoutWalk(root) as walk:
        start = walk.budget
        ids = [junit._node_id(classname, name, None, walk) for classname, name in cases]
        return start - walk.budget, ids


def test_classnames_matching_no_file_are_resolved_with_bounded_work(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    cases = "".join(f'<testcase classname="a{i}.b.c.d.e.f.g.h.i.j.k.l" name="t"/>' for i in range(300))
    outcomes, _ = parse_junit(report(cases), root=tmp_path)
    assert len(outcomes) == 300 and "a7/b/c/d/e/f/g/h/i/j/k/l.py::t" in outcomes
    # trying every split of 12 parts was 2**11 lookups per case; now it is at most two per part
    spent, _ = _lookups_spent(tmp_path, [(f"a{i}.b.c.d.e.f.g.h.i.j.k.l", "t") for i in range(300)])
    assert spent <= 300 * 12 * 2


def test_a_checkout_shaped_to_branch_the_search_does_not_stall_it(tmp_path: Path) -> None:
    def grow(directory: Path, depth: int) -> None:
        for name in ("a", "a.a", "a.a.a"):
            (directory / name).mkdir()
            if depth:
                grow(directory / name, depth - 1)

    grow(tmp_path, 4)
    cases = "".join(f'<testcase classname="{".".join(["a"] * 30)}.T{i}" name="t"/>' for i in range(2000))
    outcomes, _ = parse_junit(report(cases), root=tmp_path)
    assert len(outcomes) == 2000
    spent, _ = _lookups_spent(tmp_path, [(f"{'.'.join(['a'] * 30)}.T{i}", "t") for i in range(2000)])
    assert spent <= junit.MAX_LOOKUPS_PER_REPORT


def test_the_number_of_test_cases_is_capped() -> None:
    cases = "".join(f'<testcase classname="t" name="t{i}"/>' for i in range(21))
    with pytest.raises(JUnitTooLarge, match="more than 20 test cases"):
        parse_junit(report(cases), max_cases=20)
    assert len(parse_junit(report(cases), max_cases=21)[0]) == 21


def test_a_report_with_too_many_cases_gives_no_per_test_results(tmp_path: Path) -> None:
    body = (
        f"out.write('<testsuites><testsuite>')\n"
        f"out.write(''.join('<testcase classname=\"t\" name=\"t%d\"/>' % i for i in range({MAX_CASES + 1})))\n"
        f"out.write('</testsuite></testsuites>')"
    )
    checkout = make_checkout(
        tmp_path, {"conftest.py": rewriting_conftest(body), "test_a.py": "def test_a():\n    pass\n"}
    )
    result = RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60)({})
    report_ = TestReport.model_validate(result.data["report"])
    assert not report_.structured and report_.outcomes == {}
    assert "no per-test results" in result.content
    assert f"the JUnit report holds more than {MAX_CASES:,} test cases" in result.content


def test_a_report_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    padding = MAX_XML_BYTES + 1024
    body = (
        f'out.write(\'<testsuites><testsuite><testcase classname="t" name="t"/>\')\n'
        f"out.write(' ' * {padding})\n"
        f"out.write('</testsuite></testsuites>')"
    )
    checkout = make_checkout(
        tmp_path, {"conftest.py": rewriting_conftest(body), "test_a.py": "def test_a():\n    pass\n"}
    )
    result = RunTestsTool(sandbox_for(tmp_path, checkout), PYTEST_CMD, timeout=60)({})
    report_ = TestReport.model_validate(result.data["report"])
    assert not report_.structured and report_.outcomes == {}
    assert f"more than the {MAX_XML_BYTES // 2**20} MiB the harness reads" in result.content
    assert list((tmp_path / "scratch").glob("junit-*.xml")) == []


def test_parsing_a_large_report_takes_little_memory(tmp_path: Path) -> None:
    prop = f'<property name="{"n" * 40}" value="{"v" * 60}"/>'
    failure = "".join(f"E   line {n}\n" for n in range(100_000))  # ~1.5 MB of failure text
    xml = report(
        f'<testcase classname="t" name="big"><properties>{prop * 40_000}</properties>'
        f'<failure message="boom">{failure}</failure></testcase>'
    )
    assert len(xml) > 6 * 1024**2
    tracemalloc.start()
    try:
        outcomes, messages = parse_junit(xml, root=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcomes == {"t.py::big": "failed"}
    assert messages["t.py::big"].startswith("E   line 0\n") and "E   line 99999" in messages["t.py::big"]
    assert peak < 8 * 1024**2, f"parsing peaked at {peak:,} bytes"  # a whole tree took ~40 MB


# --- a report used as a host file-existence oracle ---------------------------------------------------------


@pytest.fixture
def checkout_and_outside(tmp_path: Path) -> tuple[Path, Path]:
    checkout, outside = tmp_path / "checkout", tmp_path / "outside"
    (checkout / "tests").mkdir(parents=True)
    (checkout / "tests" / "test_real.py").write_text("")
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    (outside / "secret.py").write_text("x")
    (outside / "secretdir").mkdir()
    (outside / "secretdir" / "test_x.py").write_text("")
    (checkout / "link").symlink_to(outside)
    (checkout / "alias.py").symlink_to(outside / "secret.py")
    return checkout, outside


@pytest.mark.parametrize(
    "classname",
    [
        "{outside}/secret.txt",  # absolute: the root joined with it is the host path itself
        "...outside.secret.TestX",  # ".." made of empty parts
        "link.secret.TestX",  # a directory link planted in the checkout
        "link.secretdir.test_x.TestX",
        "alias.TestX",  # a file link
    ],
)
def test_a_classname_cannot_probe_the_host(checkout_and_outside: tuple[Path, Path], classname: str) -> None:
    checkout, outside = checkout_and_outside
    present = classname.format(outside=outside)
    absent = present.replace("secret", "missing").replace("alias", "nolink")
    seen = node_id(present, "probe", None, root=checkout)
    unseen = node_id(absent, "probe", None, root=checkout)
    assert seen == unseen.replace("missing", "secret").replace("nolink", "alias")


def test_files_inside_the_checkout_are_still_found(checkout_and_outside: tuple[Path, Path]) -> None:
    checkout, _ = checkout_and_outside
    assert node_id("tests.test_real.TestA", "t", None, root=checkout) == "tests/test_real.py::TestA::t"


# --- the bash tool's working directory used as a host directory-existence oracle ---------------------------


@needs_bwrap
def test_the_shell_directory_is_never_checked_on_the_host(tmp_path: Path) -> None:
    checkout, outside = tmp_path / "checkout", tmp_path / "outside"
    checkout.mkdir()
    (outside / "present").mkdir(parents=True)
    (checkout / "link").symlink_to(outside)
    box = BwrapSandbox(checkout, tmp_path / "scratch", SandboxConfig(command_timeout=30))
    try:
        bash = BashTool(box)
        answers = []
        for name in ("present", "absent"):
            bash({"command": f"PWD=/workspace/link/{name}; exit 0"})
            answers.append(bash({"command": "echo probe"}).content.replace(name, "NAME"))
    finally:
        box.close()
    assert answers[0] == answers[1]
    assert answers[0] == "[/workspace/link/NAME no longer exists; starting in /workspace]\nprobe"
    assert os.path.isdir(outside / "present")
