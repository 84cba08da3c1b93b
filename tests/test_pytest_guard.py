"""The runtime check in the harness's own pytest runs: what the plugin records in a real pytest process, how
its record is read back (hostile input), and a harness run through the sandbox with bytecode kept out of
the tree."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.change_check import evidence_findings
from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox
from tests.sandbox_fixtures import needs_bwrap
from tools.detect import TestCommand
from tools.junit import parse_junit
from tools.pytest_guard import GuardChannel, install_guard
from tools.run_tests import RunTestsTool
from tools.test_report import TestReport

TESTS = """\
import pytest

import pkg


def test_ok():
    assert pkg.VALUE == 1


def test_bug():
    assert pkg.VALUE == 2


@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert x == 1


def test_skipped():
    pytest.skip("not here")
"""

FORGE_REPORTS = """\
import _pytest.reports as _r

_original = _r.TestReport.from_item_and_call.__func__


def _forged(cls, item, call):
    report = _original(cls, item, call)
    report.outcome = "passed"
    return report


_r.TestReport.from_item_and_call = classmethod(_forged)
VALUE = 1
"""


def project(tmp_path: Path, package_init: str) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text(package_init)
    (root / "tests" / "test_pkg.py").write_text(TESTS)
    return root


def run_guarded(
    tmp_path: Path, root: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], TestReport]:
    """Run pytest on the host with the plugin and a channel, and read the results as the harness does."""
    guard = install_guard(tmp_path / "guard")
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    xml = scratch / "junit.xml"
    with GuardChannel(scratch) as channel:
        env = {
            **os.environ,
            "PYTHONPATH": str(guard.directory),
            "BE_AGENT_GUARD_OUT": str(channel.path),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-W",
                "error",
                "-p",
                guard.module,
                "-o",
                "junit_family=xunit1",
                f"--junitxml={xml}",
                *extra,
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        record = channel.record()
    report = TestReport(command="pytest", exit_code=done.returncode, guard=record)
    if xml.is_file():
        data = xml.read_bytes()
        report.junit_sha256 = hashlib.sha256(data).hexdigest()
        report.outcomes, report.messages = parse_junit(data, root=root)
    else:
        report.structured = False
    return done, report


def test_an_honest_run_is_recorded_call_by_call(tmp_path: Path) -> None:
    done, report = run_guarded(tmp_path, project(tmp_path, "VALUE = 1\n"))
    assert (
        "2 failed, 2 passed, 1 skipped" in done.stdout
    )  # loading the check changes nothing, warnings included
    record = report.guard
    assert record is not None and record.processes == 1
    assert record.calls == {
        "tests/test_pkg.py::test_ok": "passed",
        "tests/test_pkg.py::test_bug": "failed",
        "tests/test_pkg.py::test_param[1]": "passed",
        "tests/test_pkg.py::test_param[2]": "failed",
        "tests/test_pkg.py::test_skipped": "skipped",
    }
    assert record.replaced == [] and record.late_plugins == []
    assert sorted(record.failed) == ["tests/test_pkg.py::test_bug", "tests/test_pkg.py::test_param[2]"]
    assert record.ended and record.exit_status == 1 == done.returncode and record.tampered == []
    assert record.junit_sha256 == report.junit_sha256  # the report pytest wrote is the one read
    assert evidence_findings(report, "the run") == []


def test_code_under_test_that_forges_reports_is_caught(tmp_path: Path) -> None:
    done, report = run_guarded(tmp_path, project(tmp_path, FORGE_REPORTS))
    assert "5 passed" in done.stdout  # what the forged reports say...
    record = report.guard
    assert record is not None
    assert record.replaced == ["_pytest.reports.TestReport.from_item_and_call"]
    assert record.call("tests/test_pkg.py::test_param[2]") == "failed"  # ...and what really happened


def test_workers_of_a_distributed_run_each_report(tmp_path: Path) -> None:
    done, report = run_guarded(tmp_path, project(tmp_path, "VALUE = 1\n"), "-n", "2")
    record = report.guard
    assert record is not None and record.processes >= 3, done.stdout  # the controller and two workers
    assert record.calls["tests/test_pkg.py::test_bug"] == "failed"
    assert record.calls["tests/test_pkg.py::test_ok"] == "passed"
    assert record.ended and record.exit_status == 1 and record.tampered == []
    assert evidence_findings(report, "the run") == []


@needs_bwrap
def test_a_harness_run_keeps_bytecode_out_of_the_tree_and_brings_the_record_back(tmp_path: Path) -> None:
    checkout = project(tmp_path, "VALUE = 1\n")
    command = TestCommand(f"{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider", True, "t")
    tool = RunTestsTool(BwrapSandbox(checkout, tmp_path / "scratch", SandboxConfig()), command, timeout=120)
    guard = install_guard(tmp_path / "guard")
    pycache = tmp_path / "pycache"
    copies = []
    for n in range(2):
        copy = tmp_path / f"copy-{n}"
        subprocess.run(["cp", "-r", str(checkout), str(copy)], check=True)
        copies.append(copy)
    first = tool.run_in(copies[0], [], guard=guard, pycache=pycache)
    assert first.guard is not None and first.guard.calls["tests/test_pkg.py::test_bug"] == "failed"
    assert first.guard.ended and first.guard.tampered == [] and first.junit_sha256 == first.guard.junit_sha256
    assert pycache.is_dir()  # the first run wrote the shared bytecode...
    seeded = sorted(p for p in pycache.rglob("*") if p.is_file())
    second = tool.run_in(copies[1], ["tests/test_pkg.py::test_ok"], guard=guard, pycache=pycache)
    assert second.outcomes == {"tests/test_pkg.py::test_ok": "passed"}
    assert sorted(p for p in pycache.rglob("*") if p.is_file()) == seeded  # ...no later run could add to it
    for copy in copies:
        assert not list(copy.rglob("__pycache__")) and not list(copy.rglob("*.pyc"))
    with pytest.raises(ValueError, match="own copy"):
        tool.run_in(checkout, [], guard=guard)


CHANNEL_PROBE = """\
import os


def test_the_channel_takes_records_and_nothing_else():
    path = os.environ["BE_AGENT_GUARD_OUT"]
    for attempt in (
        lambda: os.open(path, os.O_RDONLY | os.O_NONBLOCK),  # take records out before the harness reads them
        lambda: os.chmod(path, 0o600),
        lambda: os.unlink(path),  # and put a file or a FIFO of one's own in its place
        lambda: os.rename(path, path + ".old"),
    ):
        try:
            attempt()
        except OSError:
            continue
        raise AssertionError("the sandbox could do more to the channel than write into it")
    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
"""


@needs_bwrap
def test_inside_the_sandbox_the_channel_can_only_be_written(tmp_path: Path) -> None:
    checkout = project(tmp_path, "VALUE = 1\n")
    (checkout / "tests" / "test_pkg.py").write_text(CHANNEL_PROBE)
    command = TestCommand(f"{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider", True, "t")
    tool = RunTestsTool(BwrapSandbox(checkout, tmp_path / "scratch", SandboxConfig()), command, timeout=120)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(checkout), str(copy)], check=True)
    report = tool.run_in(copy, [], guard=install_guard(tmp_path / "guard"))
    probe = "tests/test_pkg.py::test_the_channel_takes_records_and_nothing_else"
    assert report.outcomes == {probe: "passed"}, report.messages
    assert report.guard is not None and report.guard.tampered == [] and report.guard.call(probe) == "passed"
