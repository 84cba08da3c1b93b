"""Where a GitHub run's work starts in the user's repository, and how it is put back when nothing is pushed.

The local branch follows the remote's: a run continues from the remote's tip (fast-forwarding a stale local
copy), or from the remote's base branch when the remote has no such branch. Every move of a local ref is a
compare-and-swap, a checked-out branch is never moved, and a local branch holding commits that are neither
be-agent's nor the remote's is never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent import workspace as ws
from agent.errors import UsageError
from agent.remote import Remote, commit_log, current_branch, is_ancestor

AGENT_BRANCH_PREFIX = "be-agent/"  # every branch be-agent creates for GitHub (fix-issue, ci); respond's only


def _set_local_branch(repo: Path, branch: str, new: str, old: str | None, checked_out_advice: str) -> None:
    """Create or move a local branch ref, compare-and-swap, never moving a checked-out branch."""
    if old is not None and current_branch(repo) == branch:
        raise UsageError(f"branch {branch} is checked out in {repo} and {checked_out_advice}")
    ws.git(
        repo, "update-ref", "-m", "be-agent: follow the remote branch", f"refs/heads/{branch}", new, old or ""
    )


@dataclass
class StartPoint:
    base: str  # what RunRequest.base gets
    update_branch: bool
    previous_tip: str | None  # the local branch before this invocation, to restore when the push fails
    moved_to: str | None = None  # set when a stale local branch was moved here: put back unless pushed


def prepare_branch(
    repo: Path, remote: Remote, branch: str, base_branch: str, remote_tip: str | None
) -> StartPoint:
    """Make the local branch start where the work must continue: the remote branch when it exists (fast-
    forwarding a stale local copy), else the remote's base branch. A local branch the remote no longer has
    (merged and deleted) is moved aside only when it holds nothing but be-agent's commits."""
    local_tip = ws.branch_tip(repo, branch)
    if remote_tip is None:
        base_tip = remote.fetch(base_branch)
        if local_tip is None:
            return StartPoint(base_tip, False, None)
        foreign = [c for c in commit_log(repo, f"{base_tip}..{local_tip}") if not c.agent_run]
        if foreign:
            raise UsageError(
                f"local branch {branch} has {len(foreign)} commit(s) that are neither be-agent's nor on "
                f"{remote.name}/{base_branch} (newest: {foreign[0].sha[:12]} {foreign[0].subject!r}), and "
                f"{remote.name} has no branch {branch}. To have be-agent build on them, push the branch "
                f"(git push {remote.name} {branch}); to start afresh, rename it (git branch -m {branch} "
                f"{branch}-old). Then run again"
            )
        if local_tip == base_tip:
            return StartPoint(f"refs/heads/{branch}", True, local_tip)
        _set_local_branch(
            repo,
            branch,
            base_tip,
            local_tip,
            f"{remote.name} no longer has it; switch to another "
            "branch and run again (be-agent restarts it from the base branch)",
        )
        return StartPoint(f"refs/heads/{branch}", True, local_tip, moved_to=base_tip)
    remote_tip = remote.fetch(branch)
    if local_tip is None or (local_tip != remote_tip and is_ancestor(repo, local_tip, remote_tip)):
        _set_local_branch(
            repo,
            branch,
            remote_tip,
            local_tip,
            "is behind the remote; switch to another branch (or pull) and run again",
        )
    elif local_tip != remote_tip and not is_ancestor(repo, remote_tip, local_tip):
        raise UsageError(
            f"local branch {branch} and {remote.name}/{branch} have diverged; reconcile or delete "
            "the local branch, then run again"
        )
    return StartPoint(f"refs/heads/{branch}", True, local_tip)


def restore_local_branch(repo: Path, branch: str, current: str, previous: str | None) -> None:
    """Compare-and-swap back: a branch someone else moved meanwhile is left alone."""
    if previous is None:
        ws.git(repo, "update-ref", "-d", f"refs/heads/{branch}", current, check=False)
    else:
        ws.git(repo, "update-ref", f"refs/heads/{branch}", previous, current, check=False)


def put_back(repo: Path, branch: str, start: StartPoint) -> None:
    if start.moved_to is not None:
        restore_local_branch(repo, branch, start.moved_to, start.previous_tip)
