"""Branches and remotes: what a remote has, fetching a branch in, pushing one out (never forced), the current
branch, and the trailers be-agent's commits carry.

A `Remote` is made for one purpose, and the purpose decides its git environment (`agent.git`):

- `Remote.with_token(...)` (fix-issue): the harness's environment plus the token, supplied through
  environment git config (never in argv, never on disk) as an HTTP header for the GitHub server only
  (`GITHUB_SERVER_URL`, default https://github.com), and only over https. A remote anywhere else (another
  host, plain http, ssh, a path) gets no token; if it then fails, the error says why no token was sent.
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

from agent.errors import RemoteError, UsageError
from agent.git import GitEnv, git

AGENT_RUN_TRAILER = "Be-Agent-Run"  # on every commit a be-agent run makes: which run made it
TARGETS_TRAILER = "Be-Agent-Targets"  # on a fixed commit: the target test ids it was verified by, as JSON
DEFAULT_SERVER_URL = "https://github.com"


def server_url_from_env(environ: Mapping[str, str]) -> str:
    """GITHUB_SERVER_URL (set by GitHub Actions; GitHub Enterprise has its own), or https://github.com."""
    url = (environ.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and url.isascii() and " " not in url
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"GITHUB_SERVER_URL must be a URL such as {DEFAULT_SERVER_URL}, not {url!r}")
    return url.rstrip("/")


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, ports made explicit; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def shown_url(url: str) -> str:
    """A remote URL fit for a message: any user name or password in it removed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return url


def token_refusal(remote_url: str, server_url: str) -> str | None:
    """Why the token must not go to this remote (None when it may): only to the GitHub server, over https."""
    remote, server = _origin(remote_url), _origin(server_url)
    if remote is not None and remote == server and remote[0] == "https":
        return None
    where = shown_url(remote_url)
    if server is None or server[0] != "https":
        return f"GITHUB_SERVER_URL {server_url} is not https, so GITHUB_TOKEN goes to no git remote"
    return (
        f"be-agent sends GITHUB_TOKEN only to the GitHub server over https ({server_url}, from "
        f"GITHUB_SERVER_URL), not to {where}"
    )


def git_auth_env(remote_url: str, token: str, server_url: str = DEFAULT_SERVER_URL) -> dict[str, str]:
    """Environment-supplied git config that sends the token to the GitHub server only, over https; nothing
    for any other remote. An empty value first drops any header a checkout step persisted for the same host
    (two Authorization headers would be refused). Nothing is written to disk and nothing appears in argv."""
    if token_refusal(remote_url, server_url) is not None:
        return {}
    parts = urlsplit(remote_url)
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
    no_token_because: str = ""  # said when a remote that got no token fails

    @classmethod
    def with_token(
        cls, repo: Path, name: str, url: str, token: str, server_url: str = DEFAULT_SERVER_URL
    ) -> Remote:
        # a path or an ssh remote never takes an HTTP token: its failures need no word about one
        refusal = (token_refusal(url, server_url) or "") if _origin(url) is not None else ""
        return cls(repo, name, GitEnv.HARNESS, git_auth_env(url, token, server_url), token, refusal)

    @classmethod
    def as_user(cls, repo: Path, name: str) -> Remote:
        return cls(repo, name, GitEnv.USER_REMOTE)

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return git(self.repo, *args, policy=self.policy, env=dict(self.auth_env), check=False)

    def _reason(self, proc: subprocess.CompletedProcess[str]) -> str:
        said = proc.stderr + "\n" + proc.stdout
        reason = git_reason(said.replace(self.secret, "***") if self.secret else said)
        return reason + (f" (no token was sent: {self.no_token_because})" if self.no_token_because else "")

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
