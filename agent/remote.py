"""Branches and remotes: what a remote has, fetching a branch in, pushing one out (never forced), the current
branch, and the trailers be-agent's commits carry.

A `Remote` is made for one purpose, and the purpose decides its git environment (`agent.git`):

- `Remote.with_token(...)` (fix-issue): the harness's environment plus the token, as an HTTP header for the
  remote's own host only, supplied through environment git config: never in argv, never on disk.
- `Remote.as_user(...)` (ci --push): the user's own git set-up (credential helpers, SSH), as `git push` would
  run in their terminal.

A remote that refuses or fails raises RemoteError (exit 3) with git's own reason; a token never appears in it.
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent.errors import RemoteError
from agent.git import GitEnv, git

AGENT_RUN_TRAILER = "Be-Agent-Run"  # on every commit a be-agent run makes: which run made it


def git_auth_env(remote_url: str, token: str) -> dict[str, str]:
    """Environment-supplied git config that sends the token to the remote's host only, for HTTP(S) remotes.
    An empty value first drops any header a checkout step persisted for the same host (two Authorization
    headers would be refused). Nothing is written to disk and nothing appears in argv."""
    parts = urlsplit(remote_url)
    if parts.scheme not in ("http", "https"):
        return {}
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    key = f"http.{parts.scheme}://{netloc}/.extraheader"
    credential = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": key,
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": key,
        "GIT_CONFIG_VALUE_1": f"Authorization: Basic {credential}",
    }


def git_reason(output: str) -> str:
    """Why a fetch or push failed, from git's output: the remote's own words and git's errors, not the
    generic "failed to push some refs"."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    useful = [
        ln
        for ln in lines
        if ln.startswith(("!", "remote:", "fatal:", "error:")) and "failed to push some refs" not in ln
    ] or lines
    # a porcelain rejection is "!<TAB>src:dst<TAB>[rejected] (reason)": the reason is what matters
    useful = [ln.split("\t")[-1] if ln.startswith("!") else ln for ln in useful]
    return "; ".join(useful[-4:]) or "no output from git"


@dataclass(frozen=True)
class Remote:
    repo: Path
    name: str
    policy: GitEnv = GitEnv.HARNESS
    auth_env: Mapping[str, str] = field(default_factory=dict)
    secret: str = ""  # never shown in a message

    @classmethod
    def with_token(cls, repo: Path, name: str, url: str, token: str) -> Remote:
        return cls(repo, name, GitEnv.HARNESS, git_auth_env(url, token), token)

    @classmethod
    def as_user(cls, repo: Path, name: str) -> Remote:
        return cls(repo, name, GitEnv.USER_REMOTE)

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return git(self.repo, *args, policy=self.policy, env=dict(self.auth_env), check=False)

    def _reason(self, proc: subprocess.CompletedProcess[str]) -> str:
        said = proc.stderr + "\n" + proc.stdout
        return git_reason(said.replace(self.secret, "***") if self.secret else said)

    def heads(self, *branches: str) -> dict[str, str]:
        """Branch name -> tip, as the remote has them now (only `branches`, when given)."""
        proc = self._git("ls-remote", "--heads", self.name, *(f"refs/heads/{b}" for b in branches))
        if proc.returncode != 0:
            raise RemoteError(f"cannot list the branches of remote {self.name!r}: {self._reason(proc)}")
        found = {}
        for line in proc.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                found[ref[len("refs/heads/") :]] = sha
        return found

    def has_branch(self, branch: str) -> bool:
        return branch in self.heads(branch)

    def fetch(self, branch: str) -> str:
        """Fetch `branch` into refs/remotes/<remote>/<branch> and return its tip."""
        tracking = f"refs/remotes/{self.name}/{branch}"
        proc = self._git("fetch", "--quiet", "--no-tags", self.name, f"+refs/heads/{branch}:{tracking}")
        if proc.returncode != 0:
            raise RemoteError(f"git fetch of {branch!r} from {self.name!r} failed: {self._reason(proc)}")
        return git(self.repo, "rev-parse", tracking).stdout.strip()

    def push(self, branch: str) -> None:
        """A plain push (no `+`, no `--force`): the remote accepts it only as a new branch or a fast-forward,
        so nothing there is ever overwritten."""
        ref = f"refs/heads/{branch}"
        proc = self._git("push", "--porcelain", "--no-verify", self.name, f"{ref}:{ref}")
        if proc.returncode != 0:
            raise RemoteError(f"git push of {branch} to {self.name} failed: {self._reason(proc)}")


# --- the local side: the current branch, ancestry, be-agent's commits ------------------------------------


def current_branch(repo: Path) -> str | None:
    """The branch checked out in `repo`; None on a detached HEAD."""
    proc = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return proc.stdout.strip() or None


def remote_url(repo: Path, remote: str) -> str | None:
    proc = git(repo, "remote", "get-url", remote, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return git(repo, "merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def trailer_value(repo: Path, rev: str, key: str) -> str:
    """The value of trailer `key` in the message of commit `rev` ("" when it has none)."""
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", rev, "--").stdout.strip()


@dataclass
class CommitInfo:
    sha: str
    subject: str
    agent_run: str  # the Be-Agent-Run trailer: empty for commits be-agent did not make


def commit_log(repo: Path, *revs: str) -> list[CommitInfo]:
    fmt = f"%H%x1f%s%x1f%(trailers:key={AGENT_RUN_TRAILER},valueonly,separator=%x2C)%x1e"
    out = git(repo, "log", f"--format={fmt}", *revs, "--").stdout
    found = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 3:
            found.append(CommitInfo(fields[0], fields[1], fields[2].strip()))
    return found


def commit_report(repo: Path, sha: str) -> str:
    """The report in a be-agent commit's message: its body without the trailers."""
    body = git(repo, "log", "-1", "--format=%b", sha, "--").stdout
    return re.sub(r"(?:\n|^)(?:Be-Agent[\w-]*: [^\n]*\n?)+\s*$", "", body).strip()
