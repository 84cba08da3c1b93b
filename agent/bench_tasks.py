"""Benchmark tasks in SWE-bench's shape, and the repositories they run against.

A task line carries SWE-bench's fields (`instance_id`, `repo`, `base_commit`, `problem_statement`, `patch`,
`test_patch`, `FAIL_TO_PASS`, `PASS_TO_PASS`, `version`, `environment_setup_commit`, `hints_text`); the two
test lists may be lists or JSON text, as the published datasets store them. `repo` stays as written (the
environment mapping matches on it) and is found, in this order (`locate_repo`): a git URL as it is; in the
mirror directory (`--repos-dir`), as `owner__name` or `owner/name`; a path relative to the task file (how the
bundled tasks name their trees) or an absolute one; from the URL template (`--repo-url`, e.g.
`https://github.com/{repo}.git`). A name found nowhere is an error that says where it was looked for.

A plain source tree (no `.git`) is turned into a git repository with one commit whose author, committer,
dates and message are fixed, so the commit's hash depends only on the files: `base_commit` in a task file
stays valid wherever it is built. `base_commit` may also be any ref (`HEAD`, a branch, a tag); it is resolved
to a commit before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agent.errors import RemoteError, UsageError
from agent.git import GitEnv
from agent.git import git as run_git

BENCH_GIT_TIMEOUT = 1800.0  # a clone of a large task repository over the network
_IGNORED_NAMES = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "be-agent bench",
    "GIT_AUTHOR_EMAIL": "bench@be-agent.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "be-agent bench",
    "GIT_COMMITTER_EMAIL": "bench@be-agent.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
}


class BenchTask(BaseModel):
    """One task line of a TASKS.jsonl file. Unknown SWE-bench fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str] = []
    patch: str = ""  # the gold patch, when known
    test_patch: str = ""
    version: str | None = None  # picks the environment setup (with `repo`); SWE-bench writes e.g. "5.1"
    environment_setup_commit: str | None = None  # SWE-bench's; kept, not used: setup runs at base_commit
    hints_text: str = ""  # SWE-bench's; never shown to the agent (it is not part of the issue)
    test_cmd: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # some task files write 3.0 as a number; it names the same setup as "3.0"
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_encoded_lists(cls, value: Any) -> Any:
        # The published SWE-bench datasets store these lists as JSON text.
        return json.loads(value) if isinstance(value, str) else value

    @property
    def listed_tests(self) -> list[str]:
        return [*self.FAIL_TO_PASS, *self.PASS_TO_PASS]


def is_git_url(repo: str) -> bool:
    return "://" in repo or re.match(r"^[\w.-]+@[\w.-]+:", repo) is not None


@dataclass(frozen=True)
class RepoSources:
    """Where the repositories of a task file are found (see the module's docstring)."""

    tasks_dir: Path  # the task file's directory: relative paths in `repo` start here
    repos_dir: Path | None = None  # a mirror: owner__name or owner/name clones
    repo_url: str | None = None  # a template with {repo}, {owner} and {name}

    def locate(self, repo: str) -> str:
        """A git URL or a local path for `repo`; UsageError when it is found nowhere."""
        if is_git_url(repo):
            return repo
        owner, _, name = repo.partition("/")
        looked: list[str] = []
        if self.repos_dir is not None and name and "/" not in name:
            for candidate in (self.repos_dir / f"{owner}__{name}", self.repos_dir / owner / name):
                if candidate.is_dir():
                    return str(candidate.resolve())
                looked.append(str(candidate))
        local = Path(repo) if Path(repo).is_absolute() else self.tasks_dir / repo
        if local.is_dir():
            return str(local.resolve())
        looked.append(str(local))
        if self.repo_url and name and "/" not in name:
            return self.repo_url.format(repo=repo, owner=owner, name=name)
        hint = "" if self.repos_dir or self.repo_url else " (give --repos-dir or --repo-url)"
        raise UsageError(f"repository {repo} not found: looked at {', '.join(looked)}{hint}")


def load_tasks(path: Path) -> list[BenchTask]:
    """Read a JSONL task file. `repo` is kept as written; `RepoSources.locate` finds it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read tasks file {path}: {exc.strerror}") from exc
    tasks: list[BenchTask] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            task = BenchTask.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "line"
            raise UsageError(f"{path}:{number}: {where}: {first['msg']}") from exc
        if task.instance_id in seen:
            raise UsageError(f"{path}:{number}: duplicate instance_id {task.instance_id}")
        seen.add(task.instance_id)
        tasks.append(task)
    if not tasks:
        raise UsageError(f"{path}: no tasks")
    return tasks


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run git with the user's and the system's git config ignored (agent.git's ISOLATED policy); return
    stdout; raise UsageError on failure."""
    proc = run_git(cwd, *args, policy=GitEnv.ISOLATED, env=env, timeout=BENCH_GIT_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise UsageError(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout


def _tree_files(src: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_NAMES)
        files += [Path(root, n) for n in sorted(names) if not n.endswith((".pyc", ".pyo"))]
    return files


def tree_digest(src: Path) -> str:
    """A short hash of a source tree's paths, contents and executable bits."""
    digest = hashlib.sha256()
    for file in _tree_files(src):
        digest.update(str(file.relative_to(src)).encode() + b"\0")
        digest.update(b"x" if os.access(file, os.X_OK) else b"-")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def materialize_tree(src: Path, dest: Path) -> str:
    """Make `dest` a git repository holding `src`'s files in one deterministic commit; return its hash."""
    dest.mkdir(parents=True)
    for file in _tree_files(src):
        target = dest / file.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        target.chmod(0o755 if os.access(file, os.X_OK) else 0o644)
    git("init", "-q", "--template=", "-b", "main", str(dest))
    git("add", "-A", cwd=dest)
    git(
        "-c",
        "core.autocrlf=false",
        "commit",
        "-q",
        "--no-verify",
        "--no-gpg-sign",
        "-m",
        f"Import {src.name}",
        cwd=dest,
        env=_FIXED_IDENTITY,
    )
    return git("rev-parse", "HEAD", cwd=dest).strip()


def prepare_repo(repo: str, cache_dir: Path) -> Path:
    """A local git repository for `repo`: itself when it already is one, else a clone or a materialized tree.

    Safe to call from several processes at once: each builds in a private directory and renames it into
    place; whoever loses the race uses the winner's copy.
    """
    if is_git_url(repo):
        name = re.sub(r"[^\w.-]+", "_", repo.rstrip("/").removesuffix(".git"))[-80:]
        dest = cache_dir / f"url-{name}-{hashlib.sha256(repo.encode()).hexdigest()[:8]}"

        def build(tmp: Path) -> object:
            try:
                return git("clone", "-q", "--no-checkout", repo, str(tmp))
            except UsageError as exc:  # the remote's failure, not the task file's
                raise RemoteError(f"cannot clone {repo}: {exc.message}") from None

    else:
        src = Path(repo)
        if not src.is_dir():
            raise UsageError(f"task repository {repo} does not exist")
        if (src / ".git").exists() or (src / "HEAD").is_file() and (src / "objects").is_dir():
            return src
        dest = cache_dir / f"{src.name}-{tree_digest(src)}"

        def build(tmp: Path) -> object:
            return materialize_tree(src, tmp)

    if (dest / ".git").exists() or (dest / "HEAD").is_file():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".building-{dest.name}-{uuid.uuid4().hex[:8]}"
    try:
        build(tmp)
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_base(repo: Path, base_commit: str) -> str:
    """The full hash of `base_commit` (a hash or any ref) in `repo`."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{base_commit}^{{commit}}", cwd=repo).strip()
    except UsageError:
        raise UsageError(
            f"base_commit {base_commit} not found in {repo} (if the repository is a bundled "
            "source tree that changed, rebuild the task file with bench/build_tasks.py)"
        ) from None
