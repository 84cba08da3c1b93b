"""What every GitHub command (`fix-issue`, `respond`, `ci --open-pr`) starts from: the user's repository, the
GitHub repository it is, the git remote, the API and the credentials (`agent.github.auth`), all read from
the environment GitHub Actions sets (`GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_SERVER_URL`) or given.

Configuration mistakes are found before anything is fetched, run or posted (exit 2, one line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent import workspace as ws
from agent.errors import UsageError
from agent.github.auth import GitHubAuth, check_environment, github_auth
from agent.github.client import GitHubClient, api_url_from_env, parse_repo_slug, repo_from_remote_url
from agent.remote import Remote, remote_url, server_url_from_env


@dataclass
class GitHubContext:
    repo: Path  # the user's checkout
    repository: str  # OWNER/NAME on GitHub
    remote_name: str
    remote_url: str
    api_url: str
    server_url: str
    auth: GitHubAuth

    def remote(self) -> Remote:
        """The git remote with the current token (made anew for each use: an App's token is renewed)."""
        return Remote.with_token(
            self.repo, self.remote_name, self.remote_url, self.auth.token(), self.server_url
        )

    def client(self) -> GitHubClient:
        return GitHubClient(self.repository, self.auth.token, api_url=self.api_url)


def github_repository(explicit: str | None, url: str, remote: str, environ: Mapping[str, str]) -> str:
    slug = explicit or environ.get("GITHUB_REPOSITORY") or repo_from_remote_url(url)
    if not slug:
        raise UsageError(
            f"cannot tell which GitHub repository this is: remote {remote!r} is not a github.com "
            "URL; pass --github-repo OWNER/NAME"
        )
    try:
        owner, name = parse_repo_slug(slug)
    except ValueError as exc:
        raise UsageError(f"--github-repo: {exc}") from None
    return f"{owner}/{name}"


def checked_remote_url(repo: Path, remote: str) -> str:
    url = remote_url(repo, remote)
    if url is None:
        raise UsageError(f"no git remote named {remote!r} in {repo}; pass --remote NAME")
    return url


def github_context(
    repo: Path, github_repo: str | None, remote: str, environ: Mapping[str, str] | None = None
) -> GitHubContext:
    env = os.environ if environ is None else environ
    check_environment(env)
    api_url = api_url_from_env()
    server_url = server_url_from_env(env)
    root = ws.open_user_repo(repo.expanduser())
    url = checked_remote_url(root, remote)
    repository = github_repository(github_repo, url, remote, env)
    auth = github_auth(env, repository, api_url)
    return GitHubContext(root, repository, remote, url, api_url, server_url, auth)
