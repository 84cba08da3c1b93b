"""Judge a patch the way SWE-bench does, separately from the agent that wrote it.

A fresh checkout at the task's base commit gets the patch, then the task's test_patch; the test files named
by FAIL_TO_PASS and PASS_TO_PASS run under pytest with `-rA`, inside the sandbox the agent's commands use,
and the short summary is parsed into one outcome per test id. The task is resolved only when every listed
test passed. A patch that touches test infrastructure (test files, conftests, pytest configuration) is
reported as such: SWE-bench's test_patch overwrites only the files it names.

With a task environment (agent.bench_env: a checkout that the setup step ran in), the tests run with that
environment's interpreter and the judge's checkout is shown at the environment's path, exactly as the agent's
run saw its own checkout; the judge's checkout itself is always fresh.
"""

from __future__ import annotations

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
from agent.config import SandboxMode
from agent.errors import UsageError
from agent.lower_layers import make_sandbox
from agent.test_files import is_test_infrastructure
from agent.toolchain import SandboxMaker, Toolchain, find_python_toolchain
from agent.workspace import git_environment
from sandbox.base import DEFAULT_WORKDIR, Sandbox, SandboxConfig
from sandbox.bwrap import checkout_path_inside
from tools.detect import path_arguments
from tools.pytest_guard import run_prefix

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
    test_infrastructure: list[str] = field(default_factory=list)  # what the patch changes of the tests' own
    task_broken: bool = False  # the task itself cannot be judged (its test_patch does not apply)

    def as_dict(self) -> dict[str, object]:
        return {
            "resolved": self.resolved,
            "reason": self.reason,
            "patch_applied": self.patch_applied,
            "outcomes": self.outcomes,
            "duration_s": round(self.duration_s, 3),
            "test_infrastructure": self.test_infrastructure,
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


JUDGE_OUTPUT_CHARS = 4_000_000  # the `-rA` summary of a large suite is long, and it is at the end
_JUDGE_ENV = {"PYTHONHASHSEED": "0", "COLUMNS": "240", "NO_COLOR": "1", "PYTEST_ADDOPTS": ""}


def run_tests(
    checkout: Path,
    test_files: list[str] | None = None,
    *,
    test_cmd: str | None = None,
    timeout: float = 600.0,
    sandbox: SandboxMode = "auto",
    env_dir: Path | None = None,
) -> TestRun:
    """Run pytest (or the task's own pytest command) on `test_files` (all tests when None) and parse it.

    The run happens in the same sandbox as the agent's commands (same mounts, environment allow-list and
    limits): a patch under judgement is code nobody has reviewed, and it must not reach the host, its files
    or its secrets any more than the agent could. Bytecode goes to the sandbox's private /tmp. With `env_dir`
    (a task environment) the interpreter is the environment's and the checkout is shown at its path."""
    files = " ".join(path_arguments(test_files or []))
    with tempfile.TemporaryDirectory(prefix="be-judge-scratch-") as scratch:
        toolchain = find_python_toolchain(env_dir or checkout, _probe_boxes(sandbox, Path(scratch)))
        workdir = checkout_path_inside(str(env_dir)) if env_dir else DEFAULT_WORKDIR
        return _run_sandboxed(checkout, files, test_cmd, timeout, sandbox, toolchain, Path(scratch), workdir)


def _probe_boxes(mode: SandboxMode, scratch: Path) -> SandboxMaker:
    """Sandboxes for the interpreter probe: an empty tree, no network (the probe is about the interpreter)."""

    def make(mounts: tuple[str, ...], env: dict[str, str]) -> Sandbox:
        where = Path(tempfile.mkdtemp(prefix="python-probe-", dir=scratch))
        (where / "tree").mkdir()
        return make_sandbox(
            mode, where / "tree", where / "tmp", SandboxConfig(extra_ro_paths=mounts, extra_env=env)
        )

    return make


def _run_sandboxed(
    checkout: Path,
    files: str,
    test_cmd: str | None,
    timeout: float,
    sandbox: SandboxMode,
    toolchain: Toolchain,
    scratch: Path,
    workdir: str = DEFAULT_WORKDIR,
) -> TestRun:
    if test_cmd:
        command = f"{test_cmd} {'' if '-rA' in test_cmd else '-rA '}{files}".strip()
    else:
        python = shlex.quote(toolchain.python or sys.executable)
        command = (
            f"{python} -m pytest -rA -p no:cacheprovider --color=no --continue-on-collection-errors {files}"
        ).strip()
    config = SandboxConfig(
        command_timeout=timeout,
        test_timeout=timeout,
        extra_ro_paths=toolchain.mounts,
        extra_env={**toolchain.env, **_JUDGE_ENV},
        output_tail=JUDGE_OUTPUT_CHARS,
        workdir=workdir,
    )
    box = make_sandbox(sandbox, checkout, scratch / "tests", config)
    try:
        result = box.run(run_prefix(None) + command, timeout=timeout, cwd=box.workdir)
    finally:
        box.close()
    output = result.output
    return TestRun(command, summary_entries(output), output, result.exit_code, timed_out=result.timed_out)


def touched_paths(patch: str) -> list[str]:
    """The files a unified diff changes (both sides of a rename)."""
    found: set[str] = set()
    for line in patch.splitlines():
        if line.startswith(("--- a/", "+++ b/")):
            found.add(line[6:].split("\t", 1)[0].strip())
        elif line.startswith("diff --git "):
            match = re.match(r"^diff --git a/(.+?) b/(.+)$", line)
            if match:
                found.update(match.groups())
    return sorted(found)


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
        proc = subprocess.run(
            command, cwd=checkout, capture_output=True, text=True, env=git_environment(), timeout=120
        )
        if proc.returncode == 0:
            return None
        complaint = (proc.stderr or proc.stdout).strip()
        if complaint and not error:
            error = complaint.splitlines()[0]
        git("checkout", "-q", "--", ".", cwd=checkout)  # undo a partial `patch` run before the next try
        git("clean", "-q", "-fd", cwd=checkout)
    return f"{label} does not apply" + (f": {error}" if error else "")


def reset_to_base(checkout: Path, paths: list[str]) -> None:
    """Put `paths` back as the checkout's HEAD has them; those HEAD lacks are removed (links included)."""
    for path in paths:
        if (
            subprocess.run(
                ["git", "cat-file", "-e", f"HEAD:{path}"],
                cwd=checkout,
                capture_output=True,
                env=git_environment(),
            ).returncode
            == 0
        ):
            git("checkout", "-q", "HEAD", "--", path, cwd=checkout)
        else:
            target = checkout / path
            if target.is_symlink() or target.is_file():
                target.unlink()


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
    sandbox: SandboxMode = "auto",
    env_dir: Path | None = None,
) -> Evaluation:
    """Judge `patch` for `task`: resolved only if every FAIL_TO_PASS and every PASS_TO_PASS test passes.

    `repo` is a local git repository for the task (default: prepared from `task.repo`); `work_dir` is where
    the throwaway checkout goes (default: the system temp directory); `sandbox` as for `be-agent run`;
    `env_dir` the task's environment, when its repository has a setup step.
    """
    touched = [p for p in touched_paths(patch) if is_test_infrastructure(p)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="be-judge-", dir=work_dir) as tmp:
        source = repo or prepare_repo(task.repo, Path(tmp) / "repos")
        checkout = Path(tmp) / "checkout"
        checkout_at(source, task.base_commit, checkout)

        def verdict(
            reason: str,
            applied: bool = True,
            outcomes: dict[str, str] | None = None,
            tail: str = "",
            broken: bool = False,
        ) -> Evaluation:
            return Evaluation(
                task.instance_id,
                not reason,
                reason,
                applied,
                outcomes or {},
                time.perf_counter() - started,
                tail,
                touched,
                broken,
            )

        if error := apply_patch(checkout, patch, "patch"):
            return verdict(error, applied=False)
        # as SWE-bench does: the files the test_patch touches are first put back as the base has them, so
        # a patch that edited (or added) the same test files neither blocks nor shapes the task's own tests
        reset_to_base(checkout, touched_paths(task.test_patch))
        if error := apply_patch(checkout, task.test_patch, "test_patch"):
            return verdict(error, broken=True)
        if not task.listed_tests:
            raise UsageError(f"task {task.instance_id} lists no FAIL_TO_PASS or PASS_TO_PASS tests")
        files = sorted({test_id.split("::")[0] for test_id in task.listed_tests})
        run = run_tests(
            checkout, files, test_cmd=task.test_cmd, timeout=timeout, sandbox=sandbox, env_dir=env_dir
        )
        outcomes = {t: outcome_of(t, run.entries) for t in task.listed_tests}
        tail = run.output[-3000:]
        if run.timed_out:
            return verdict(f"tests timed out after {timeout:.0f}s", outcomes=outcomes, tail=tail)
        if failing := _listed_failures(task.FAIL_TO_PASS, outcomes):
            return verdict(_summarize("FAIL_TO_PASS", failing, outcomes), outcomes=outcomes, tail=tail)
        if failing := _listed_failures(task.PASS_TO_PASS, outcomes):
            return verdict(_summarize("PASS_TO_PASS", failing, outcomes), outcomes=outcomes, tail=tail)
        return verdict("", outcomes=outcomes, tail=tail)
