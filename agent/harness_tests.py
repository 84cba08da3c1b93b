"""The harness's own test runs: each in its own fresh copy of the commit it judges, so nothing one run writes
is visible to another (the model's checkout included), and each one a log event (purpose, tests, duration).

A run's tree is a new clone of the run's checkout at that commit, adjusted for the run's question:
- "baseline", "baseline recheck": the base commit as it is;
- "change's tests": the committed change, with the pytest configuration files as the base has them;
- "added tests on the base": the base commit with the change's test files (and conftests) copied in;
- "verdict", "verdict recheck": the committed change with every test file, conftest and pytest
  configuration file as the base has them (the original tests judge the changed code).
For runs that hold the change's code, files that Python or pytest load on their own (conftest.py, pytest
configuration, sitecustomize, .pth, compiled artefacts) that appear or change in the tree while the tests
run are reported as `planted`: code under test writing what would judge it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from agent import workspace as ws
from agent.config import ProbedBaseline
from agent.errors import lower_layer_errors
from agent.logs import get_logger
from agent.test_files import PYTEST_CONFIG_FILES, is_runner_config, is_test_infrastructure, is_test_path
from agent.verdict import name_ids
from tools.pytest_guard import install_guard
from tools.run_tests import RunTestsTool
from tools.test_report import TestReport

log = get_logger("be-agent.harness")

Purpose = Literal[
    "baseline",
    "baseline recheck",
    "change's tests",
    "added tests on the base",
    "verdict",
    "verdict recheck",
]
TreeRunner = Callable[[Path, list[str]], TestReport]

_LOADED_NAMES = frozenset({*PYTEST_CONFIG_FILES, "sitecustomize.py", "usercustomize.py"})
# bytecode is not watched: a test's own Python subprocess with a cleared environment writes it honestly
_LOADED_SUFFIXES = (".pth", ".so", ".pyd", ".dll", ".dylib")
MAX_WATCHED_FILES = 200_000
# the original tests the verdict runs: a file of these rewritten while it runs judges nothing (node --test
# loads each test file when its turn comes; `go test ./...` builds a package's tests when its turn comes)
TEST_SOURCE_SUFFIXES = (".py", ".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx", ".go")
_ORIGINAL_TESTS: frozenset[str] = frozenset({"verdict", "verdict recheck"})


def is_test_support(path: str) -> bool:
    """What a test module may need from beside it: test files, helpers and conftests."""
    return is_test_path(path) or PurePosixPath(path).name == "conftest.py"


def _loaded_on_their_own(name: str) -> bool:
    return name in _LOADED_NAMES or name.endswith(_LOADED_SUFFIXES)


Stat = tuple[int, int, int, int]


def _watched_files(tree: Path, *, test_sources: bool = False) -> dict[str, Stat]:
    """(size, mtime, ctime, inode) of every file in `tree` that Python or pytest would load without being
    asked, and with `test_sources`, of every test source file (a test module or helper in any language the
    runners know); links are not followed, .git is skipped. A file rewritten and put back as it was, with
    its old mtime, still shows: the kernel sets ctime on every write, and nothing can set it back."""
    found: dict[str, Stat] = {}
    seen = 0
    for top, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if not (top == str(tree) and d == ".git")]
        seen += len(files)
        if seen > MAX_WATCHED_FILES:
            break
        for name in files:
            path = os.path.join(top, name)
            relative = os.path.relpath(path, tree)
            if _loaded_on_their_own(name) or (test_sources and _is_test_source(relative)):
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                found[relative] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return found


def _is_test_source(path: str) -> bool:
    return path.endswith(TEST_SOURCE_SUFFIXES) and is_test_path(path)


@dataclass
class HarnessRun:
    purpose: Purpose
    report: TestReport
    planted: list[str] = field(default_factory=list)  # see the module docstring
    rewritten: list[str] = field(default_factory=list)  # original test sources changed or removed meanwhile
    written: list[str] = field(default_factory=list)  # untracked files the baseline's suite left behind


class HarnessTests:
    """Makes the harness's test runs for one agent run. `source` is the run's checkout, whose repository
    holds the base commit and the committed change; `changed` are the paths the change touches."""

    def __init__(
        self,
        runner: TreeRunner,
        source: Path,
        work: Path,
        *,
        base: str,
        keep: bool = False,
        logged: bool = True,
    ):
        self.runner = runner
        self.logged = logged  # False before a run exists (no log to write to): the run logs what it takes
        self.source = source
        self.work = work
        self.base = base
        self.keep = keep
        self.changed: list[str] = []
        self.runs: list[HarnessRun] = []

    def baseline(self, ids: Sequence[str] = ()) -> HarnessRun:
        return self._run("baseline recheck" if ids else "baseline", self.base, ids, list_written=not ids)

    def first_baseline(self, probed: ProbedBaseline | None, pycache: Path, command: str) -> HarnessRun:
        """The run's baseline: `probed` when it was made of this base commit with this test command (its
        bytecode moved to `pycache`, where the run's own baseline would have written it), else a new run."""
        if probed is None or probed.commit != self.base or probed.command != command:
            return self.baseline()
        if probed.pycache is not None and probed.pycache.is_dir() and not pycache.exists():
            shutil.move(probed.pycache, pycache)
        run = HarnessRun("baseline", probed.report, written=list(probed.written))
        self.runs.append(run)
        self._log(run, self.base, (), copy_s=None, duration_s=probed.duration_s, ran="before the run (probe)")
        return run

    def change_tests(self, commit: str, modules: Sequence[str]) -> HarnessRun:
        config = [p for p in self.changed if _is_config(p)]
        return self._run("change's tests", commit, modules, restore=config, watch=True)

    def added_on_base(self, commit: str, modules: Sequence[str]) -> HarnessRun:
        support = [p for p in self.changed if is_test_support(p)]
        return self._run("added tests on the base", self.base, modules, overlay=(commit, support))

    def verdict(self, commit: str, ids: Sequence[str] = ()) -> HarnessRun:
        original = [p for p in self.changed if is_test_infrastructure(p)]
        purpose: Purpose = "verdict recheck" if ids else "verdict"
        return self._run(purpose, commit, ids, restore=original, watch=True)

    def _run(
        self,
        purpose: Purpose,
        commit: str,
        ids: Sequence[str],
        *,
        restore: Sequence[str] = (),
        overlay: tuple[str, Sequence[str]] | None = None,
        watch: bool = False,
        list_written: bool = False,
    ) -> HarnessRun:
        started = time.monotonic()
        tree = self.work / f"{len(self.runs) + 1:02d}-{purpose.replace(' ', '-').replace(chr(39), '')}"
        try:
            ws.fresh_copy(self.source, commit, tree)
            ws.restore_from_base(tree, self.base, list(restore))
            if overlay is not None:
                ws.take_files_from(tree, overlay[0], list(overlay[1]))
            sources = purpose in _ORIGINAL_TESTS
            before = _watched_files(tree, test_sources=sources) if watch else {}
            copied_s = time.monotonic() - started
            report = self.runner(tree, list(ids))
            planted: list[str] = []
            rewritten: list[str] = []
            if watch:
                after = _watched_files(tree, test_sources=sources)
                loaded = {p for p in set(before) | set(after) if _loaded_on_their_own(PurePosixPath(p).name)}
                planted = sorted(p for p in loaded if p in after and before.get(p) != after[p])
                rewritten = sorted(p for p, st in before.items() if p not in loaded and after.get(p) != st)
            written = ws.untracked_paths(tree) if list_written else []
        finally:
            if not self.keep:
                shutil.rmtree(tree, ignore_errors=True)
        run = HarnessRun(purpose, report, planted=planted, written=written, rewritten=rewritten)
        self.runs.append(run)
        self._log(run, commit, ids, copy_s=copied_s, duration_s=time.monotonic() - started)
        return run

    def _log(
        self,
        run: HarnessRun,
        commit: str,
        ids: Sequence[str],
        *,
        copy_s: float | None,
        duration_s: float,
        ran: str = "in the run",
    ) -> None:
        if not self.logged:
            return
        report = run.report
        log.info(
            "harness_test_run",
            purpose=run.purpose,
            commit=commit,
            narrowed_to=len(ids) or None,
            tests=len(report.outcomes),
            failing=len(report.failing),
            structured=report.structured,
            exit_code=report.exit_code,
            timed_out=report.timed_out,
            planted=run.planted,
            ran=ran,
            copy_s=None if copy_s is None else round(copy_s, 3),
            duration_s=round(duration_s, 3),
        )


def probe_baseline(
    tests: RunTestsTool, source: Path, work: Path, *, base: str, command: str
) -> ProbedBaseline:
    """The baseline of commit `base` (checked out at `source`) made before a run exists, exactly as the run
    makes its own: a fresh copy, the runtime check, bytecode of the toolchain seeded into `work/pycache`.
    Handed to the run as its request's `baseline`, it is the run's baseline (`HarnessTests.first_baseline`)."""
    started = time.monotonic()
    guard = install_guard(work / "guard")
    pycache = work / "pycache"

    def run(tree: Path, ids: list[str]) -> TestReport:
        with lower_layer_errors():
            return tests.run_in(tree, ids, guard=guard, pycache=pycache)

    first = HarnessTests(run, source, work / "trees", base=base, logged=False).baseline()
    return ProbedBaseline(
        commit=base,
        command=command,
        report=first.report,
        written=first.written,
        pycache=pycache if pycache.is_dir() else None,
        duration_s=round(time.monotonic() - started, 3),
    )


def _is_config(path: str) -> bool:
    return is_runner_config(path) and PurePosixPath(path).name != "conftest.py"


def planted_finding(run: HarnessRun) -> str | None:
    """The sentence for files a run of the change's code wrote that Python or pytest load on their own, and
    for original test files it rewrote or removed while they were being run."""
    sentences = []
    if run.planted:
        sentences.append(
            f"While the harness ran {_RUN_NAMES[run.purpose]}, the code under test wrote files that Python or "
            f"pytest load on their own into the tree: {name_ids(run.planted)}."
        )
    if run.rewritten:
        sentences.append(
            f"While the harness ran {_RUN_NAMES[run.purpose]}, the code under test rewrote or removed the "
            f"original test files it was being judged by: {name_ids(run.rewritten)}."
        )
    return " ".join(sentences) or None


_RUN_NAMES: dict[Purpose, str] = {
    "baseline": "the baseline",
    "baseline recheck": "the baseline's re-run",
    "change's tests": "the change's own tests",
    "added tests on the base": "the change's tests on the original code",
    "verdict": "the verdict run",
    "verdict recheck": "the verdict's re-run",
}
