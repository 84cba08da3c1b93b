"""Judge a patch the way SWE-bench does, separately from the agent that wrote it.

A fresh checkout at the task's base commit gets the patch, then the task's test_patch; the test files named
by FAIL_TO_PASS and PASS_TO_PASS run under pytest with `-rA`, and the short summary is parsed into one outcome
per test id. The task is resolved only when every listed test passed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.bench_tasks import BenchTask, git, prepare_repo, resolve_base
from agent.errors import UsageError

_SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (.+)$")
_OUTCOME = {
    "PASSED": "passed",
    "XFAIL": "passed",
    "FAILED": "failed",
    "XPASS": "failed",
    "ERROR": "error",
    "SKIPPED": "skipped",
}
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3, "missing": 4}
# Variables of an outer pytest run that would change how the judged run behaves.
_DROPPED_ENV = (
    "PYTHONPATH",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_CURRENT_TEST",
    "VIRTUAL_ENV",
)


@dataclass
class TestRun:
    __test__ = False  # not a pytest test class

    command: str
    entries: list[tuple[str, str]]  # the parsed summary; see outcome_of
    output: str
    exit_code: int | None
    timed_out: bool = False


@dataclass
class Evaluation:
    instance_id: str
    resolved: bool
    reason: str = ""  # why not resolved; empty when resolved
    patch_applied: bool = True
    outcomes: dict[str, str] = field(
        default_factory=dict
    )  # each listed test -> outcome ("missing" if absent)
    duration_s: float = 0.0
    output_tail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "resolved": self.resolved,
            "reason": self.reason,
            "patch_applied": self.patch_applied,
            "outcomes": self.outcomes,
            "duration_s": round(self.duration_s, 3),
        }


def summary_entries(output: str) -> list[tuple[str, str]]:
    """(outcome, rest of line) for each line of pytest's `-rA` short test summary."""
    entries = []
    for line in output.splitlines():
        match = _SUMMARY_LINE.match(line.rstrip())
        if match and match.group(1) != "SKIPPED":  # SKIPPED lines name a file and line, not a test id
            entries.append((_OUTCOME[match.group(1)], match.group(2)))
    return entries


def outcome_of(test_id: str, entries: list[tuple[str, str]]) -> str:
    """The outcome of one known test id; matching the whole id copes with " - " inside parameter ids. When a
    test shows up twice (a failing teardown after a pass), the worse outcome wins."""
    found = [o for o, rest in entries if rest == test_id or rest.startswith(test_id + " - ")]
    return max(found, key=_RANK.__getitem__) if found else "missing"


def parse_pytest_summary(output: str) -> dict[str, str]:
    """Every test's outcome from the `-rA` summary, for when the ids are not known in advance."""
    entries = summary_entries(output)
    ids = set()
    for _, rest in entries:
        close = rest.find("] - ") if "[" in rest else -1
        ids.add(rest[: close + 1] if close >= 0 else rest.split(" - ", 1)[0])
    return {test_id: outcome_of(test_id, entries) for test_id in ids}


def test_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        COLUMNS="240",
        NO_COLOR="1",
    )
    return env


def run_tests(
    checkout: Path,
    test_files: list[str] | None = None,
    *,
    test_cmd: str | None = None,
    timeout: float = 600.0,
) -> TestRun:
    """Run pytest (or the task's own pytest command) on `test_files` (all tests when None) and parse it."""
    files = " ".join(shlex.quote(f) for f in test_files or [])
    if test_cmd:
        command = f"{test_cmd} {'' if '-rA' in test_cmd else '-rA '}{files}".strip()
    else:
        command = (
            f"{shlex.quote(sys.executable)} -m pytest -rA -p no:cacheprovider --color=no "
            f"--continue-on-collection-errors {files}"
        ).strip()
    try:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=checkout,
            env=test_env(),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        return TestRun(command, summary_entries(out), out, None, timed_out=True)
    output = proc.stdout + proc.stderr
    return TestRun(command, summary_entries(output), output, proc.returncode)


def apply_patch(checkout: Path, patch: str, label: str) -> str | None:
    """Apply a unified diff; return None on success or a one-line reason it did not apply."""
    if not patch.strip():
        return None
    patch_file = checkout.parent / f"{label}.diff"
    patch_file.write_text(patch if patch.endswith("\n") else patch + "\n", encoding="utf-8")
    attempts = (
        ["git", "apply", "--whitespace=nowarn", str(patch_file)],
        ["patch", "--batch", "--forward", "--fuzz=5", "-p1", "-i", str(patch_file)],
    )
    error = ""
    for command in attempts:
        if not shutil.which(command[0]):
            continue
        proc = subprocess.run(command, cwd=checkout, capture_output=True, text=True, env=test_env())
        if proc.returncode == 0:
            return None
        complaint = (proc.stderr or proc.stdout).strip()
        if complaint and not error:
            error = complaint.splitlines()[0]
        git("checkout", "-q", "--", ".", cwd=checkout)  # undo a partial `patch` run before the next try
        git("clean", "-q", "-fd", cwd=checkout)
    return f"{label} does not apply" + (f": {error}" if error else "")


def checkout_at(repo: Path, base_commit: str, dest: Path) -> None:
    """A fresh working copy of `repo` at `base_commit` in `dest` (which must not exist)."""
    sha = resolve_base(repo, base_commit)
    git("clone", "-q", "--no-checkout", str(repo), str(dest))
    git("checkout", "-q", "--detach", sha, cwd=dest)


def _listed_failures(ids: list[str], outcomes: dict[str, str]) -> list[str]:
    return [t for t in ids if outcomes.get(t) != "passed"]


def _summarize(kind: str, failing: list[str], outcomes: dict[str, str]) -> str:
    shown = ", ".join(f"{t} ({outcomes.get(t, 'missing')})" for t in failing[:3])
    more = f" and {len(failing) - 3} more" if len(failing) > 3 else ""
    return f"{kind} not passing: {shown}{more}"


def evaluate(
    task: BenchTask,
    patch: str,
    *,
    repo: Path | None = None,
    work_dir: Path | None = None,
    timeout: float = 600.0,
) -> Evaluation:
    """Judge `patch` for `task`: resolved only if every FAIL_TO_PASS and every PASS_TO_PASS test passes.

    `repo` is a local git repository for the task (default: prepared from `task.repo`); `work_dir` is where
    the throwaway checkout goes (default: the system temp directory).
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="be-judge-", dir=work_dir) as tmp:
        source = repo or prepare_repo(task.repo, Path(tmp) / "repos")
        checkout = Path(tmp) / "checkout"
        checkout_at(source, task.base_commit, checkout)

        def verdict(
            reason: str, applied: bool = True, outcomes: dict[str, str] | None = None, tail: str = ""
        ) -> Evaluation:
            return Evaluation(
                task.instance_id,
                not reason,
                reason,
                applied,
                outcomes or {},
                time.perf_counter() - started,
                tail,
            )

        if error := apply_patch(checkout, patch, "patch"):
            return verdict(error, applied=False)
        if error := apply_patch(checkout, task.test_patch, "test_patch"):
            return verdict(error)
        if not task.listed_tests:
            raise UsageError(f"task {task.instance_id} lists no FAIL_TO_PASS or PASS_TO_PASS tests")
        files = sorted({test_id.split("::")[0] for test_id in task.listed_tests})
        run = run_tests(checkout, files, test_cmd=task.test_cmd, timeout=timeout)
        outcomes = {t: outcome_of(t, run.entries) for t in task.listed_tests}
        tail = run.output[-3000:]
        if run.timed_out:
            return verdict(f"tests timed out after {timeout:.0f}s", outcomes=outcomes, tail=tail)
        if failing := _listed_failures(task.FAIL_TO_PASS, outcomes):
            return verdict(_summarize("FAIL_TO_PASS", failing, outcomes), outcomes=outcomes, tail=tail)
        if failing := _listed_failures(task.PASS_TO_PASS, outcomes):
            return verdict(_summarize("PASS_TO_PASS", failing, outcomes), outcomes=outcomes, tail=tail)
        return verdict("", outcomes=outcomes, tail=tail)
