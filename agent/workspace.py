"""Git effects: the user's repository is only read, plus one ref written at the end; all work happens in a
private clone in the run directory.

Every git command the harness runs disables hooks and fsmonitor, so nothing planted in a checkout can run
code on the host. The user's working tree, index, stash and current branch are never touched: we read
objects from the user's repository and, when a run succeeds, fetch one branch back into it.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agent.errors import UsageError

# The git runner lives in agent.git; these names stay importable from here.
from agent.git import GIT_TIMEOUT as GIT_TIMEOUT
from agent.git import SAFE_GIT as SAFE_GIT
from agent.git import GitError as GitError
from agent.git import git as git
from agent.git import git_environment as git_environment
from agent.git import git_to_file
from agent.git import paths as git_paths
from tools.paths import is_utf8_name, shown_name

AUTHOR_NAME = "be-agent"
AUTHOR_EMAIL = "be-agent@users.noreply.localhost"
_IDENTITY = {
    "GIT_AUTHOR_NAME": AUTHOR_NAME,
    "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_NAME": AUTHOR_NAME,
    "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
}
# Build artefacts the model's own test runs leave behind; never part of the change.
LOCAL_EXCLUDES = ("__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "*.egg-info/")


def open_user_repo(path: Path) -> Path:
    """Return the top level of the user's repository, or raise a one-line UsageError."""
    if not path.exists():
        raise UsageError(f"repository path does not exist: {path}")
    if not path.is_dir():
        raise UsageError(f"repository path is not a directory: {path}")
    if git(path, "rev-parse", "--is-bare-repository", check=False).stdout.strip() == "true":
        raise UsageError(f"bare repository: give a working copy (a clone) of it, not {path}")
    proc = git(path, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0 and "dubious ownership" in proc.stderr:
        # git's own refusal of a repository owned by another user, with git's own remedy
        owned = re.search(r"repository at '([^'\n]*)'", proc.stderr)
        where = owned.group(1) if owned else str(path)
        raise UsageError(
            f'git refuses to use {where}: it is owned by another user ("dubious ownership"); if you trust '
            f"it, run: git config --global --add safe.directory {shlex.quote(where)}"
        )
    if proc.returncode != 0:
        raise UsageError(f"not a git repository: {path}")
    top = Path(proc.stdout.strip())
    if git(top, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).returncode != 0:
        raise UsageError(f"repository has no commits yet: {top} (commit something first)")
    return top


def resolve_commit(repo: Path, ref: str) -> str:
    proc = git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise UsageError(f"unknown base ref: {ref!r} is not a commit in {repo}")
    return proc.stdout.strip()


def branch_tip(repo: Path, branch: str) -> str | None:
    proc = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)
    return proc.stdout.strip() or None


DEFAULT_BRANCH_PREFIX = "be-agent"


def check_branch_name(repo: Path, branch: str) -> None:
    """Refuse, before anything is created, a name git would refuse at the end of the run: an invalid ref
    name, a name git reads as something else (`@`, `HEAD`, `refs/...`, an option), or one that clashes with
    an existing branch as file and directory do (`a/b` cannot exist next to `a`, nor `a` next to `a/x`)."""
    if branch.startswith("refs/heads/"):
        raise UsageError(f"invalid branch name: {branch!r}; give it without refs/heads/")
    if branch in ("@", "HEAD") or branch.startswith(("refs/", "-")):
        raise UsageError(
            f"invalid branch name: {branch!r} (git would read it as something else); "
            f"choose another name with --branch"
        )
    if git(repo, "check-ref-format", f"refs/heads/{branch}", check=False).returncode != 0:
        raise UsageError(f"invalid branch name: {branch!r} (see `git help check-ref-format`)")
    parts = branch.split("/")
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if branch_tip(repo, parent) is None:
            continue
        if parent == DEFAULT_BRANCH_PREFIX:
            raise UsageError(
                f"your branch {parent!r} in {repo} blocks be-agent's branch names "
                f"({DEFAULT_BRANCH_PREFIX}/...): git cannot have both; rename that branch or "
                f"choose another name with --branch"
            )
        raise UsageError(
            f"branch {branch!r} cannot be created: branch {parent!r} exists in {repo} and git "
            f"cannot have both; choose another name with --branch"
        )
    children = run_git_lines(
        repo, ["for-each-ref", "--count=1", "--format=%(refname:lstrip=2)", f"refs/heads/{branch}/"]
    )
    if children:
        raise UsageError(
            f"branch {branch!r} cannot be created: branch {children[0]!r} exists in {repo} and git "
            f"cannot have both; choose another name with --branch"
        )


def slugify(text: str, limit: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = words[:limit].rstrip("-")
    return slug or "task"


def clone_for_run(user_repo: Path, base_sha: str, branch: str, dest: Path) -> None:
    """A private, independent copy: objects copied (no hardlinks, no alternates), no hooks, no remote."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = git(
        None,
        "clone",
        "--quiet",
        "--no-hardlinks",
        "--no-checkout",
        "--template=",
        str(user_repo),
        str(dest),
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(f"could not copy the repository into the run directory: {proc.stderr.strip()}")
    git(dest, "remote", "remove", "origin")
    git(dest, "checkout", "--quiet", "-b", branch, base_sha)
    info = dest / ".git" / "info"
    info.mkdir(exist_ok=True)
    (info / "exclude").write_text("\n".join(LOCAL_EXCLUDES) + "\n")


def nested_repositories(checkout: Path) -> list[str]:
    """Untracked directories that are git repositories of their own (made inside the sandbox)."""
    listed = git_paths(checkout, "ls-files", "--others", "--exclude-standard", "--directory", "-z")
    return sorted(p.rstrip("/") for p in listed if p.endswith("/") and os.path.lexists(checkout / p / ".git"))


def _exclude_nested(checkout: Path) -> None:
    exclude_from_change(checkout, [p + "/" for p in nested_repositories(checkout)], "a nested repository")


def gitlinks(checkout: Path, tree: str) -> set[str]:
    """Submodule entries (mode 160000) of `tree` ("" = the index)."""
    lines = (
        git_paths(checkout, "ls-files", "-s", "-z")
        if not tree
        else git_paths(checkout, "ls-tree", "-r", "-z", tree)
    )
    return {line.split("\t", 1)[1] for line in lines if line.startswith("160000") and "\t" in line}


def keep_repositories_out(checkout: Path, base_sha: str, index_env: dict[str, str] | None = None) -> None:
    """A change never adds or moves a submodule: nested repositories are excluded, and submodule entries
    staged by `add -A` are reset to what the base commit has."""
    _exclude_nested(checkout)
    moved = gitlinks(checkout, "") | gitlinks(checkout, base_sha)
    if moved:
        git(checkout, "reset", "--quiet", base_sha, "--", *sorted(moved), env=index_env)


def restore_from_base(tree: Path, base_sha: str, paths: list[str]) -> None:
    """Put `paths` back as the base commit has them in `tree` (a scratch copy): those the base lacks are
    removed. Links are removed, never followed."""
    if not paths:
        return
    literal = {"GIT_LITERAL_PATHSPECS": "1"}
    listed = git_paths(tree, "ls-tree", "-r", "--name-only", "-z", base_sha, "--", *paths, env=literal)
    in_base = set(listed) & set(paths)
    for path in paths:
        if path not in in_base:
            target = tree / path
            if target.is_symlink() or target.is_file():
                target.unlink()
    if in_base:
        git(tree, "checkout", "--quiet", base_sha, "--", *sorted(in_base), env=literal)


def untracked_paths(checkout: Path) -> list[str]:
    return sorted(git_paths(checkout, "ls-files", "--others", "--exclude-standard", "-z"))


def _exclude_pattern(path: str) -> str:
    """A gitignore line that matches exactly `path` from the top: wildcards and a trailing space escaped."""
    pattern = "/" + re.sub(r"([*?\[\]\\!#])", r"\\\1", path)
    return pattern[:-1] + "\\ " if pattern.endswith(" ") else pattern


def exclude_from_change(
    checkout: Path, paths: list[str], why: str = "written by the test suite itself"
) -> None:
    """Leave these paths out of the change (files the test suite itself writes, nested repositories)."""
    paths = [p for p in paths if "\n" not in p and "\r" not in p]
    if not paths:
        return
    exclude = checkout / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    # names are bytes (os.fsdecode): the file is read and written with the same rule, so any name fits
    present = {os.fsdecode(line) for line in exclude.read_bytes().split(b"\n")} if exclude.exists() else set()
    escaped = [e for e in (_exclude_pattern(p) for p in paths) if e not in present]
    if not escaped:
        return
    with exclude.open("ab") as fh:
        fh.write(f"# {why}\n".encode() + os.fsencode("\n".join(escaped) + "\n"))


def changed_paths(checkout: Path, base_sha: str) -> list[str]:
    """Files that differ from the base, untracked ones included (ignored ones and nested repositories
    excluded)."""
    _exclude_nested(checkout)
    tracked = git_paths(checkout, "diff", "--name-only", "-z", base_sha, "--")
    untracked = git_paths(checkout, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({*tracked, *untracked})


def unrepresentable_names(paths: Sequence[str]) -> str | None:
    """What is wrong when some changed files have names that are not valid UTF-8 (as `os.fsdecode` keeps
    them): such a name cannot be shown in a report, a JSON result or a pull request, so the change is not
    committed while it holds one. None when every name is UTF-8."""
    bad = [p for p in paths if not is_utf8_name(p)]
    if not bad:
        return None
    shown = ", ".join(f"'{shown_name(p)}'" for p in bad[:3]) + (
        f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    )
    return f"{len(bad)} changed file name(s) are not valid UTF-8 ({shown}); a change cannot hold such names"


def write_diff(checkout: Path, base_sha: str, dest: Path) -> None:
    """The whole change (untracked files included) as a patch in `dest`, streamed (a huge change never sits
    in memory), without touching the checkout's index. Text shows as text whatever the change's
    .gitattributes say (see `neutral_diff`)."""
    index = checkout / ".git" / "be-agent-diff-index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git(checkout, "read-tree", base_sha, env=env)
        _exclude_nested(checkout)
        git(checkout, "add", "-A", env=env)
        keep_repositories_out(checkout, base_sha, env)
        tree = git(checkout, "write-tree", env=env).stdout.strip()
    finally:
        index.unlink(missing_ok=True)
    neutral_diff(checkout, base_sha, tree, dest)


def _commit_message(subject: str, body: str, trailers: dict[str, str]) -> str:
    message = subject.strip() + "\n\n" + body.strip() + "\n"
    if trailers:
        message += "\n" + "".join(f"{k}: {v}\n" for k, v in trailers.items())
    return message


def commit_all(checkout: Path, base_sha: str, subject: str, body: str, trailers: dict[str, str]) -> str:
    _exclude_nested(checkout)
    git(checkout, "add", "-A")
    keep_repositories_out(checkout, base_sha)
    message = _commit_message(subject, body, trailers)
    git(
        checkout,
        "commit",
        "--quiet",
        "--no-verify",
        "--allow-empty",
        "-F",
        "-",
        env=_IDENTITY,
        input_text=message,
    )
    return git(checkout, "rev-parse", "HEAD").stdout.strip()


def reword_head(checkout: Path, subject: str, body: str, trailers: dict[str, str]) -> str:
    """Give the last commit its final message; its tree (what was verified) does not change."""
    message = _commit_message(subject, body, trailers)
    git(
        checkout,
        "commit",
        "--quiet",
        "--no-verify",
        "--amend",
        "--allow-empty",
        "--only",
        "-F",
        "-",
        env=_IDENTITY,
        input_text=message,
    )
    return git(checkout, "rev-parse", "HEAD").stdout.strip()


def fetch_back(user_repo: Path, checkout: Path, branch: str, *, expected_old: str | None) -> None:
    """Write one ref in the user's repository. Refuses to move a branch that changed meanwhile, and never
    forces: when `expected_old` is given the update must be a fast-forward from it."""
    current = branch_tip(user_repo, branch)
    if current != expected_old:
        raise UsageError(f"branch {branch} changed in {user_repo} during the run; not overwriting it")
    refspec = f"refs/heads/{branch}:refs/heads/{branch}"
    git(user_repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(checkout), refspec)


def subject_from_task(task: str, limit: int = 72) -> str:
    first = next((line.strip() for line in task.splitlines() if line.strip()), "be-agent change")
    first = re.sub(r"^#+\s*", "", first)
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def run_git_lines(repo: Path, args: Sequence[str]) -> list[str]:
    return [line for line in git(repo, *args).stdout.splitlines() if line]


# --- fresh copies for the harness's test runs, and reading a change whatever its .gitattributes say --------


def fresh_copy(source: Path, commit: str, dest: Path) -> None:
    """`dest` becomes a new clone of `source` with `commit` checked out (detached): one harness test run's
    own tree, sharing nothing writable with any other. A plain clone, never `git worktree` (the source's
    .git is read-only in the sandbox and must not gain worktree records)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "--quiet", "--no-checkout", "--template=", str(source), str(dest))
    if git(dest, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode != 0:
        git(dest, "fetch", "--quiet", "--no-tags", str(source), commit)
    git(dest, "remote", "remove", "origin")
    git(dest, "checkout", "--quiet", "--detach", commit)


def take_files_from(tree: Path, commit: str, paths: list[str]) -> list[str]:
    """Put `paths` into `tree` as `commit` has them (regular files only: a link is never written) and return
    those written. `commit` must be in the tree's repository."""
    if not paths:
        return []
    literal = {"GIT_LITERAL_PATHSPECS": "1"}
    listed = git_paths(tree, "ls-tree", "-r", "-z", commit, "--", *paths, env=literal)
    regular = sorted(
        entry.split("\t", 1)[1]
        for entry in listed
        if "\t" in entry and entry.split(" ", 1)[0] in ("100644", "100755")
    )
    if regular:
        git(tree, "checkout", "--quiet", commit, "--", *regular, env=literal)
    return regular


@contextmanager
def _no_attributes(repo: Path) -> Iterator[tuple[Path, list[str], dict[str, str]]]:
    """Where, with which global options and which environment git reads no attributes at all: run from an
    empty work tree with an empty private index and no global attributes file. So no .gitattributes of a
    change decides what is text, and nothing is converted."""
    with tempfile.TemporaryDirectory(prefix="be-agent-git-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        options = ["-c", "core.attributesFile=/dev/null", f"--git-dir={repo / '.git'}", f"--work-tree={tree}"]
        yield tree, options, {"GIT_INDEX_FILE": str(Path(tmp) / "index")}


def neutral_diff(repo: Path, old: str, new: str, dest: Path) -> None:
    """The diff from `old` to `new` (commits or trees) streamed into `dest`: text as text, binaries as binary
    patches, decided by content alone (no .gitattributes, textconv or external diff)."""
    diff = ["diff", "--binary", "--no-textconv", "--no-ext-diff", "--no-color", "--no-renames", old, new]
    with _no_attributes(repo) as (cwd, options, env), dest.open("wb") as out:
        git_to_file(cwd, *options, *diff, out=out, env=env)


def diff_stat(repo: Path, old: str, new: str) -> str:
    """`git diff --stat` from `old` to `new`, with text counted as text whatever .gitattributes says."""
    with _no_attributes(repo) as (cwd, options, env):
        stat = ["diff", "--stat", "--no-textconv", "--no-ext-diff", "--no-color", old, new]
        return git(cwd, *options, *stat, env=env).stdout


def changed_entries(repo: Path, old: str, new: str) -> list[tuple[str, str, str]]:
    """(status, mode in `new`, path) for every file that differs; status A, M, D or T; no rename pairing."""
    raw = git_paths(repo, "diff-tree", "-r", "-z", "--no-renames", "--no-textconv", old, new)
    found: list[tuple[str, str, str]] = []
    for header, path in zip(raw[0::2], raw[1::2], strict=False):
        fields = header.lstrip(":").split()
        if len(fields) == 5 and path:
            found.append((fields[4][:1], fields[1], path))
    return found


def read_blob(repo: Path, commit: str, path: str, limit: int) -> bytes | None:
    """At most `limit` bytes of `path` in `commit` (None when absent), as stored: never through filters."""
    if git(repo, "cat-file", "-e", f"{commit}:{path}", check=False).returncode != 0:
        return None
    with tempfile.TemporaryFile() as out:
        git_to_file(repo, "cat-file", "blob", f"{commit}:{path}", out=out)
        out.seek(0)
        return out.read(limit)


def attributes_at(
    repo: Path, commit: str, attributes: list[str], paths: list[str]
) -> dict[str, dict[str, str]]:
    """path -> attribute -> value ("set", "unset", "unspecified" or a value) as the .gitattributes files of
    `commit` define them (read from a private index of that commit, never from a work tree)."""
    if not paths:
        return {}
    with _no_attributes(repo) as (cwd, options, env):
        git(repo, "read-tree", commit, env=env)
        parts = git_paths(
            cwd, *options, "check-attr", "--cached", "-z", "--stdin", *attributes, env=env, names_in=paths
        )
    found: dict[str, dict[str, str]] = {}
    for path, attribute, value in zip(parts[0::3], parts[1::3], parts[2::3], strict=False):
        found.setdefault(path, {})[attribute] = value
    return found


def grep_paths(repo: Path, commit: str, pattern: str, pathspec: str) -> list[str]:
    """Paths in `commit` matching `pathspec` (a glob) whose content matches the extended regex `pattern`."""
    proc = git(repo, "grep", "-l", "-z", "-I", "-E", "-e", pattern, commit, "--", pathspec, check=False)
    if proc.returncode not in (0, 1):
        raise GitError(f"git grep failed in {repo}: {proc.stderr.strip()}")
    return sorted(entry.split(":", 1)[1] for entry in proc.stdout.split("\0") if ":" in entry)
