"""`be-agent respond N`: review comments on be-agent's pull request continue its branch; a rerun with nothing
new costs nothing.

Before any model call: read the pull request and refuse what must not be worked on (not found, not open, from
a fork: be-agent pushes only to branches of the repository itself, never to a fork; a head branch outside
`be-agent/`, the names be-agent gives its own branches: anyone who can open a pull request between two
branches could otherwise point respond at a protected branch holding a merged or copied be-agent commit,
and have be-agent push there with its token; a branch with no be-agent commit: respond continues be-agent's
own pull requests); read its review comments (file, line,
diff hunk) and conversation comments and take the new ones by people with write access
(`agent.github.comments`). None: say so and exit 0, without calling the model or pushing. Otherwise the
follow-up runs (`agent.github.follow_up`): from the remote branch's tip, with the earlier commits' tests in
force, pushed only when fixed, never forced.

The token (GITHUB_TOKEN, or a GitHub App's: `agent.github.auth`) goes only to GitHub's API and, for git, to
the GitHub server (`agent.remote`). This module prints nothing: it returns a RespondOutcome and says warnings
through `warn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import RunResult
from agent.errors import ExitCode, UsageError
from agent.github.branch import AGENT_BRANCH_PREFIX
from agent.github.client import GitHubClient, GitHubError
from agent.github.comments import CommentKind, Selection, select, selection_warnings
from agent.github.context import GitHubContext, github_context
from agent.github.follow_up import (
    FollowUp,
    OriginalIssue,
    follow_up_task,
    original_issue,
    read_until,
    run_follow_up,
)
from agent.github.history import (
    ISSUE_TRAILER,
    PULL_TRAILER,
    READ_TRAILER,
    BranchHistory,
    branch_history,
    issue_number,
    read_mark,
)
from agent.github.issue import Permissions
from agent.model import Model
from agent.progress import Progress
from agent.report import render_terminal_summary
from agent.settings import RunSettings

Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


@dataclass
class RespondOptions:
    number: int
    repo: Path = Path(".")
    github_repo: str | None = None
    remote: str = "origin"
    test_cmd: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)


@dataclass
class RespondOutcome:
    pull_request: int
    repository: str
    branch: str
    status: str  # "fixed", "not_fixed" or "nothing_new"
    reason: str
    selection: Selection
    result: RunResult | None = None  # None: no model run
    pushed: bool = False
    replies: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.result.exit_code if self.result is not None else ExitCode.FIXED

    def as_dict(self) -> dict[str, Any]:
        s = self.selection
        return {
            "pull_request": self.pull_request,
            "repository": self.repository,
            "status": self.status,
            "reason": self.reason,
            "branch": self.branch,
            "commit": self.result.commit if self.result is not None and self.pushed else None,
            "pushed": self.pushed,
            "comments": {
                "taken": [c.id for c in s.taken],
                "without_write_access": len(s.without_write_access),
                "already_answered": s.answered,
                "older_than_last_commit": s.older,
                "deferred": [c.id for c in s.deferred],
            },
            "replies": self.replies,
            "exit_code": self.exit_code,
            "model_run": self.result is not None,
            "notes": self.notes,
            "run": self.result.model_dump(mode="json") if self.result is not None else None,
        }


def fetch_pull(client: GitHubClient, number: int) -> dict[str, Any]:
    """The open pull request `number` whose branch is in this repository; anything else is a usage error."""
    try:
        pull = client.get_pull(number)
    except GitHubError as exc:
        if exc.status in (404, 410):
            raise UsageError(f"pull request #{number} not found in {client.repository}") from None
        if exc.status == 401:
            raise UsageError(f"GitHub rejected the token (HTTP 401) reading pull request #{number}") from None
        raise
    if pull.get("state") != "open":
        state = "merged" if pull.get("merged") else str(pull.get("state") or "not open")
        raise UsageError(
            f"pull request #{number} in {client.repository} is {state}; respond works on open ones"
        )
    head_repo = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    if not isinstance(head_repo, str) or head_repo.lower() != client.repository.lower():
        raise UsageError(
            f"pull request #{number} comes from {head_repo or 'a deleted fork'}, not from {client.repository}: "
            f"be-agent pushes only to branches of {client.repository}, never to a fork"
        )
    return pull


def _load_issue(client: GitHubClient, history: BranchHistory, has_write: Permissions) -> OriginalIssue | None:
    number = issue_number(history.issue, client.repository)
    if number is None:
        return None
    try:
        return original_issue(client.get_issue(number), has_write)
    except GitHubError:
        return None  # context only: the comments are the task


def _idle_reason(number: int, history: BranchHistory, s: Selection) -> str:
    last = history.last
    assert last is not None
    parts = [
        f"{s.answered} already answered" if s.answered else "",
        f"{s.older} older" if s.older else "",
        f"{len(s.without_write_access)} by people without write access" if s.without_write_access else "",
    ]
    counted = "; ".join(p for p in parts if p)
    return (
        f"no new comments by people with write access on pull request #{number} since be-agent's last commit "
        f"{last.sha[:12]}" + (f" ({counted})" if counted else "") + ": nothing to do"
    )


def plan_for_pull(
    ctx: GitHubContext, client: GitHubClient, number: int, warn: Warn
) -> tuple[FollowUp | None, RespondOutcome]:
    """Read the pull request and its comments. The plan, or None (with the outcome to report) when there is
    nothing new to answer."""
    pull = fetch_pull(client, number)
    branch, base_branch = str(pull["head"]["ref"]), str(pull["base"]["ref"])
    if not branch.startswith(AGENT_BRANCH_PREFIX) or branch == base_branch:
        raise UsageError(
            f"branch {branch} of pull request #{number} is not a be-agent branch ({AGENT_BRANCH_PREFIX}...): "
            "respond pushes only to the branches be-agent creates (fix-issue, ci --open-pr)"
        )
    remote = ctx.remote()
    heads = remote.heads(branch, base_branch)
    for name in (branch, base_branch):
        if name not in heads:
            raise UsageError(
                f"branch {name} of pull request #{number} does not exist on remote {ctx.remote_name!r}"
            )
    tip, base_tip = remote.fetch(branch), remote.fetch(base_branch)
    history = branch_history(ctx.repo, base_tip, tip)
    if history.last is None:
        raise UsageError(
            f"branch {branch} of pull request #{number} holds no be-agent commit: respond continues "
            "be-agent's own pull requests (fix-issue, ci --open-pr)"
        )
    me = ctx.auth.login(client)
    permissions = Permissions(client)
    items: list[tuple[CommentKind, dict[str, Any]]] = [
        *(("review", c) for c in client.list_review_comments(number)),
        *(("conversation", c) for c in client.list_issue_comments(number)),
    ]
    thread = f"{ctx.repository}#{number}"
    selection = select(items, me=me, since=history.since(thread), has_write=permissions)
    selection_warnings(f"pull request #{number}", selection, warn)
    outcome = RespondOutcome(number, ctx.repository, branch, "nothing_new", "", selection)
    if not selection.taken:
        outcome.reason = _idle_reason(number, history, selection)
        return None, outcome
    issue = _load_issue(client, history, permissions)
    task = follow_up_task(
        subject=f"Follow up on review of pull request #{number}",
        where=f"Repository: {ctx.repository}. Pull request #{number} (branch {branch}) holds be-agent's "
        "verified work, and people with write access reviewed it.",
        issue=issue,
        selection=selection,
        in_force=history.in_force,
    )
    fallback = datetime.now(UTC).replace(microsecond=0)
    trailers = {
        PULL_TRAILER: thread,
        READ_TRAILER: read_mark(thread, read_until([i for _, i in items], fallback, selection.deferred)),
    }
    if history.issue:
        trailers[ISSUE_TRAILER] = history.issue
    log = {
        "pull_request": number,
        "comments": selection.log(),
        "write_access": dict(sorted(permissions.known.items())),
    }
    plan = FollowUp(
        ctx,
        client,
        number,
        branch,
        base_branch,
        tip,
        history,
        selection,
        task,
        trailers,
        conversation_on=number,
        what=f"answering review comments {', '.join(str(c.id) for c in selection.taken)}",
        task_log=log,
    )
    return plan, outcome


def respond(
    opts: RespondOptions,
    *,
    model: Model | None = None,
    progress: Progress | None = None,
    warn: Warn = _ignore,
) -> RespondOutcome:
    """Everything `be-agent respond` does but reading the options and printing."""
    ctx = github_context(opts.repo, opts.github_repo, opts.remote)
    with ctx.client() as client:
        plan, outcome = plan_for_pull(ctx, client, opts.number, warn)
        if plan is None:
            return outcome
        done = run_follow_up(
            plan, opts.settings, test_cmd=opts.test_cmd, model=model, progress=progress, warn=warn
        )
    outcome.result, outcome.pushed = done.result, done.pushed
    outcome.status, outcome.reason = done.result.status, done.result.reason
    outcome.replies, outcome.notes = done.replies, done.notes
    return outcome


def render_outcome(outcome: RespondOutcome) -> str:
    if outcome.result is None:
        lines = [f"no model run: {outcome.reason}"]
    else:
        lines = [render_terminal_summary(outcome.result).rstrip()]
    if outcome.pushed and outcome.result is not None:
        lines.append(f"pushed: {outcome.branch} ({(outcome.result.commit or '')[:12]})")
    lines += [f"reply: {url}" for url in outcome.replies]
    lines += [f"note: {note}" for note in outcome.notes]
    return "\n".join(lines)
