"""What be-agent's earlier commits on a branch say, for a follow-up on it: which tests they were verified by
(still in force), when the runs read the threads they answered (later comments are new), which issue the
branch is for.

A thread's comments are new when they are newer than the newest be-agent commit that read that thread
(`Be-Agent-Read: OWNER/NAME#N <time>`, in GitHub's clock: the newest comment that run saw); on a thread no
be-agent commit read, newer than be-agent's last commit on the branch.

A be-agent commit is one with the `Be-Agent-Run` trailer, between the base branch and the branch's tip.
Trailers are read with git itself.

Whom the trailers are trusted from: whoever can push to the branch, i.e. people with write access (forks are
refused, and respond works only on `be-agent/` branches). Nothing checks that be-agent made a commit: git's
author and committer are free text, be-agent's commits are not signed, and GitHub's API is not asked. Within
the branch, trailers only add obligations: a commit carrying a copied or made-up Be-Agent-Targets adds
tests that must pass (resolved against the baseline), and cannot take away another commit's. What a person
with write access can do is take commits out of `base..tip` (force-push a rewritten branch, or move the
pull request's base onto a branch holding them): their targets are then no longer in force, and a test they
fixed that is broken at the follow-up's start may then count as already failing (reported, not blocking). That is no
more than that person could do by pushing to the branch themselves; the verdict never calls a test that
fails passing. A forged Be-Agent-Read time, or a committer date in the future, only makes comments look
older (nothing is taken: the run does less, never more).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.github.event import parse_time
from agent.remote import TARGETS_TRAILER, CommitInfo, commit_log, trailer_value
from agent.workspace import git

READ_TRAILER = "Be-Agent-Read"  # "OWNER/NAME#N <time>": the thread the run read, and up to when
ISSUE_TRAILER = "Be-Agent-Issue"  # OWNER/NAME#N of the issue the branch is for
PULL_TRAILER = "Be-Agent-Pull"  # OWNER/NAME#N of the pull request a follow-up answered


@dataclass
class BranchHistory:
    agent_commits: list[CommitInfo] = field(default_factory=list)  # newest first
    in_force: list[str] = field(default_factory=list)  # every target the earlier runs were verified by
    issue: str = ""  # the Be-Agent-Issue trailer of the newest commit that has one
    reads: dict[str, datetime] = field(default_factory=dict)  # thread -> when the newest run that read it did
    last_time: datetime | None = None  # the newest be-agent commit's time

    @property
    def last(self) -> CommitInfo | None:
        return self.agent_commits[0] if self.agent_commits else None

    def since(self, thread: str) -> datetime | None:
        """Comments on `thread` ("OWNER/NAME#N") newer than this are new (module docstring)."""
        return self.reads.get(thread.lower(), self.last_time)


def read_mark(thread: str, when: datetime) -> str:
    """The Be-Agent-Read trailer's value."""
    return f"{thread} {when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _targets(repo: Path, sha: str) -> list[str]:
    raw = trailer_value(repo, sha, TARGETS_TRAILER)
    found: list[str] = []
    for line in raw.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, list):
            found += [t for t in value if isinstance(t, str) and t.strip()]
    return found


def commit_time(repo: Path, sha: str) -> datetime | None:
    return parse_time(git(repo, "log", "-1", "--format=%cI", sha, "--").stdout.strip())


def branch_history(repo: Path, base: str, tip: str) -> BranchHistory:
    """Read the be-agent commits in `base..tip` (both commits present in `repo`)."""
    commits = [c for c in commit_log(repo, f"{base}..{tip}") if c.agent_run]
    history = BranchHistory(agent_commits=commits)
    for commit in commits:
        history.in_force += _targets(repo, commit.sha)
        if not history.issue:
            history.issue = trailer_value(repo, commit.sha, ISSUE_TRAILER).split("\n")[0].strip()
        for line in trailer_value(repo, commit.sha, READ_TRAILER).splitlines():
            thread, _, stamp = line.strip().partition(" ")
            when = parse_time(stamp.strip())
            if when is not None and thread.lower() not in history.reads:
                history.reads[thread.lower()] = when
    history.in_force = list(dict.fromkeys(history.in_force))
    if commits:
        history.last_time = commit_time(repo, commits[0].sha)
    return history


def issue_number(trailer: str, repository: str) -> int | None:
    """N from an `OWNER/NAME#N` trailer of this repository; None for another repository or anything else."""
    where, _, number = trailer.rpartition("#")
    if where.lower() != repository.lower() or not number.isdigit():
        return None
    return int(number)
