"""`be-agent fix-issue N`: a GitHub issue in, a pushed branch and a (draft) pull request that closes it out.

Order of effects, so that a failure never leaves half a result: read the issue (refuse closed issues and pull
requests) -> run the agent on a branch that starts from the remote's tip -> only when the harness says
fixed, push the branch (never forced) -> only when the push worked, open or update the one pull request ->
comment on the issue. Running again for the same issue reuses its branch and its open pull request; when
the branch already holds be-agent's verified commit but no pull request was ever opened for it, the pull
request is opened from that commit without another model run.

The token is read from GITHUB_TOKEN and used only by the GitHub client and by `git push`/`git fetch`, through
environment-supplied git config (`agent.remote`): never in argv, never written to `.git/config`, never in the
RunRequest. This module prints nothing: it returns a FixIssueOutcome and says warnings through `warn`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import RunResult, build_request
from agent.errors import AgentError, RemoteError, UsageError
from agent.github.branch import prepare_branch, put_back, restore_local_branch
from agent.github.client import GitHubClient, GitHubError
from agent.github.comments import CommentKind, select, selection_warnings
from agent.github.context import GitHubContext, github_context
from agent.github.event import trigger_event
from agent.github.follow_up import FollowUp, OriginalIssue, follow_up_task, read_until, run_follow_up
from agent.github.history import ISSUE_TRAILER, READ_TRAILER, branch_history, read_mark
from agent.github.issue import (
    IssueThread,
    Permissions,
    build_task,
    choose_branch,
    fetch_issue,
    issue_thread,
    left_out_sentences,
    select_comments,
    thread_log,
)
from agent.github.posts import (
    failure_comment,
    open_pull_for,
    post_comment,
    pr_body,
    pull_summary,
    resumed_comment,
    resumed_pr_body,
    state_after_failure,
    success_comment,
)
from agent.model import Model
from agent.progress import Progress
from agent.remote import Remote, commit_log, commit_report
from agent.report import render_markdown_report, render_terminal_summary
from agent.run import run_task
from agent.settings import RunSettings

Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


@dataclass
class FixIssueOptions:
    number: int
    repo: Path = Path(".")
    github_repo: str | None = None
    remote: str = "origin"
    base: str | None = None
    ready: bool = False
    open_pr: bool = True
    test_cmd: str | None = None
    settings: RunSettings = field(default_factory=RunSettings)


@dataclass
class FixIssueOutcome:
    issue: int
    repository: str
    result: RunResult  # with model_run False: what the earlier run left on the branch, not a new run
    branch: str
    pushed: bool = False
    pull_request: dict[str, Any] | None = None
    comment_url: str | None = None
    model_run: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    def as_dict(self) -> dict[str, Any]:
        on_remote = self.pushed or not self.model_run
        return {
            "issue": self.issue,
            "repository": self.repository,
            "status": self.result.status,
            "reason": self.result.reason,
            "branch": self.branch if on_remote else None,
            "commit": self.result.commit,
            "pushed": self.pushed,
            "pull_request": self.pull_request,
            "comment": self.comment_url,
            "exit_code": self.exit_code,
            "model_run": self.model_run,
            "notes": self.notes,
            "run": self.result.model_dump(mode="json") if self.model_run else None,
        }


def resume_pull_request(
    repo: Path,
    remote: Remote,
    client: GitHubClient,
    thread: IssueThread,
    repository: str,
    branch: str,
    base_branch: str,
    tip: str,
    draft: bool,
    warn: Warn,
) -> FixIssueOutcome | None:
    """An earlier run pushed its verified fix to `branch` but no pull request was ever opened for it (the
    API failed, or --no-pr): open it from that commit without running the model again. None when the
    branch's tip is not be-agent's or a pull request for the branch exists or existed."""
    if client.list_pulls(head_branch=branch, state="all"):
        return None
    remote.fetch(branch)
    [tip_commit] = commit_log(repo, "-1", tip)
    if not tip_commit.agent_run:
        return None
    run_id = tip_commit.agent_run.split(",")[-1]
    body = resumed_pr_body(thread.number, commit_report(repo, tip), branch, tip, run_id)
    pull, created, notes = open_pull_for(client, thread, branch, base_branch, body, draft)
    result = RunResult(
        status="fixed",
        branch=branch,
        commit=tip,
        run_id=run_id,
        reason=f"branch {branch} already holds the fix verified by run {run_id}: opened the pull "
        "request from it without a new model run",
    )
    outcome = FixIssueOutcome(
        thread.number,
        repository,
        result,
        branch,
        model_run=False,
        notes=notes,
        pull_request=pull_summary(pull, created),
    )
    outcome.comment_url = post_comment(
        client, thread.number, resumed_comment(pull, branch, tip, run_id), warn
    )
    return outcome


def _report_failure(
    client: GitHubClient,
    remote: Remote,
    repo: Path,
    number: int,
    branch: str,
    tip_before: str | None,
    what: str,
    result: RunResult | None,
    warn: Warn,
) -> str | None:
    """Comment on the issue about a failed run, after checking what exists, so the comment states no
    falsehood. When another be-agent run pushed the branch meanwhile, that run reports: stay silent."""
    try:
        tip_now: str | None = remote.heads().get(branch)
        branch_exists: bool | None = tip_now is not None
    except RemoteError:
        tip_now, branch_exists = None, None
    if tip_now is not None and tip_now != tip_before and _made_by_agent(repo, remote, branch):
        warn(
            f"another be-agent run pushed {branch} while this one worked; it reports "
            f"on issue #{number}, so this run does not comment"
        )
        return None
    try:
        open_pulls = client.list_pulls(head_branch=branch)
        pull_number = int(open_pulls[0]["number"]) if open_pulls else None
    except GitHubError:
        pull_number, branch_exists = None, None
    return post_comment(
        client,
        number,
        failure_comment(what, result, state_after_failure(branch, branch_exists, pull_number)),
        warn,
    )


def _made_by_agent(repo: Path, remote: Remote, branch: str) -> bool:
    try:
        tip = remote.fetch(branch)
        return bool(commit_log(repo, "-1", tip)[0].agent_run)
    except (AgentError, IndexError):
        return False


def _unchanged_pull_notes(client: GitHubClient, branch: str) -> list[str]:
    try:
        pulls = client.list_pulls(head_branch=branch)
    except GitHubError as exc:
        return [f"could not check for an open pull request for {branch}: {exc.message}"]
    return [
        f"pull request #{p['number']} was not updated (--no-pr): its description still describes the "
        "earlier commit"
        for p in pulls[:1]
    ]


def follow_up_issue(
    ctx: GitHubContext,
    client: GitHubClient,
    thread: IssueThread,
    raw_comments: list[dict[str, Any]],
    permissions: Permissions,
    branch: str,
    base_branch: str,
    tip: str,
    warn: Warn,
) -> FollowUp | FixIssueOutcome | None:
    """The branch's tip is be-agent's verified commit and its pull request is open: the issue's new comments
    by people with write access are a follow-up (a plan), or there are none and the outcome says the pull
    request already holds the fix (no model run). None when this is not such a branch."""
    remote = ctx.remote()
    remote.fetch(branch)
    [tip_commit] = commit_log(ctx.repo, "-1", tip)
    if not tip_commit.agent_run:
        return None
    pulls = client.list_pulls(head_branch=branch)
    if not pulls:
        return None
    pull = pulls[0]
    history = branch_history(ctx.repo, remote.fetch(base_branch), tip)
    thread_id = f"{ctx.repository}#{thread.number}"
    me = ctx.auth.login(client)
    items: list[tuple[CommentKind, dict[str, Any]]] = [("conversation", c) for c in raw_comments]
    selection = select(items, me=me, since=history.since(thread_id), has_write=permissions)
    selection_warnings(f"issue #{thread.number}", selection, warn)
    run_id = tip_commit.agent_run.split(",")[-1]
    if not selection.taken:
        result = RunResult(
            status="fixed",
            branch=branch,
            commit=tip,
            run_id=run_id,
            reason=f"branch {branch} already holds the fix verified by run {run_id} and pull request "
            f"#{pull['number']} is open; no new comments by people with write access since: nothing to do",
        )
        return FixIssueOutcome(
            thread.number,
            ctx.repository,
            result,
            branch,
            model_run=False,
            pull_request=pull_summary(pull, False),
        )
    original = OriginalIssue(
        thread.number, thread.title, thread.body, thread.author, thread.author_write_access
    )
    task = follow_up_task(
        subject=f"Follow up on GitHub issue #{thread.number}: new comments",
        where=f"Repository: {ctx.repository}. Branch {branch} (pull request #{pull['number']}) holds "
        "be-agent's verified fix, and people with write access commented on the issue since.",
        issue=original,
        selection=selection,
        in_force=history.in_force,
    )
    fallback = datetime.now(UTC).replace(microsecond=0)
    trailers = {
        ISSUE_TRAILER: thread_id,
        READ_TRAILER: read_mark(thread_id, read_until(raw_comments, fallback, selection.deferred)),
    }
    return FollowUp(
        ctx,
        client,
        int(pull["number"]),
        branch,
        base_branch,
        tip,
        history,
        selection,
        task,
        trailers,
        conversation_on=thread.number,
        what=f"answering comments {', '.join(str(c.id) for c in selection.taken)} on issue #{thread.number}",
        task_log={"issue": thread.number, "comments": selection.log()},
    )


def _run_issue_follow_up(
    plan: FollowUp, opts: FixIssueOptions, model: Model | None, progress: Progress | None, warn: Warn
) -> FixIssueOutcome:
    done = run_follow_up(
        plan, opts.settings, test_cmd=opts.test_cmd, model=model, progress=progress, warn=warn
    )
    outcome = FixIssueOutcome(
        plan.conversation_on,
        plan.ctx.repository,
        done.result,
        plan.branch,
        pushed=done.pushed,
        notes=done.notes,
    )
    if done.pushed:
        pull = plan.client.get_pull(plan.pull_number)
        outcome.pull_request = pull_summary(pull, False)
    outcome.comment_url = done.replies[-1] if done.replies else None
    return outcome


def fix_issue(
    opts: FixIssueOptions,
    *,
    model: Model | None = None,
    progress: Progress | None = None,
    warn: Warn = _ignore,
) -> FixIssueOutcome:
    """Everything `be-agent fix-issue` does but reading the options and printing: the outcome, or an
    AgentError after the issue was told what happened."""
    ctx = github_context(opts.repo, opts.github_repo, opts.remote)
    event = trigger_event(opts.number, os.environ)
    repo, repository, remote = ctx.repo, ctx.repository, ctx.remote()
    with ctx.client() as client:
        issue = fetch_issue(client, opts.number)
        raw_comments = client.list_issue_comments(opts.number)
        permissions = Permissions(client)
        thread = issue_thread(issue, raw_comments, permissions, event)
        for sentence in left_out_sentences(thread, select_comments(thread)[1]):
            warn(f"issue #{thread.number}: {sentence}")
        base_branch = opts.base or str(client.get_repository().get("default_branch") or "main")
        heads = remote.heads()
        if base_branch not in heads:
            raise UsageError(f"base branch {base_branch!r} does not exist on remote {opts.remote!r}")
        branch = choose_branch(thread, heads, client)
        tip_before = heads.get(branch)
        if opts.open_pr and tip_before is not None:
            resumed = resume_pull_request(
                repo,
                remote,
                client,
                thread,
                repository,
                branch,
                base_branch,
                tip_before,
                not opts.ready,
                warn,
            )
            if resumed is not None:
                return resumed
            follow = follow_up_issue(
                ctx, client, thread, raw_comments, permissions, branch, base_branch, tip_before, warn
            )
            if isinstance(follow, FixIssueOutcome):
                return follow
            if follow is not None:
                return _run_issue_follow_up(follow, opts, model, progress, warn)
        thread_id = f"{repository}#{thread.number}"
        read = read_until([issue, *raw_comments], datetime.now(UTC).replace(microsecond=0))
        start = prepare_branch(repo, remote, branch, base_branch, tip_before)
        request = build_request(
            opts.settings,
            repo=repo,
            task=build_task(thread, repository),
            task_untrusted=True,
            base=start.base,
            branch=branch,
            update_branch=start.update_branch,
            test_cmd=opts.test_cmd,
            commit_trailers={ISSUE_TRAILER: thread_id, READ_TRAILER: read_mark(thread_id, read)},
            task_log=thread_log(thread, permissions),
        )
        try:
            result = run_task(request, model=model, progress=progress)
        except AgentError as exc:
            put_back(repo, branch, start)
            if opts.open_pr:
                _report_failure(
                    client,
                    remote,
                    repo,
                    thread.number,
                    branch,
                    tip_before,
                    f"the run stopped: {exc.message}",
                    None,
                    warn,
                )
            raise
        outcome = FixIssueOutcome(thread.number, repository, result, branch)
        if result.status != "fixed":
            put_back(repo, branch, start)
            if opts.open_pr:
                outcome.comment_url = _report_failure(
                    client,
                    remote,
                    repo,
                    thread.number,
                    branch,
                    tip_before,
                    result.reason or result.status.replace("_", " "),
                    result,
                    warn,
                )
            return outcome
        assert result.commit is not None
        try:
            ctx.remote().push(branch)
        except RemoteError as exc:
            restore_local_branch(repo, branch, result.commit, start.previous_tip)
            if opts.open_pr:
                _report_failure(
                    client,
                    remote,
                    repo,
                    thread.number,
                    branch,
                    tip_before,
                    f"the fix could not be pushed: {exc.message}",
                    None,
                    warn,
                )
            raise
        outcome.pushed = True
        if start.moved_to is not None and start.previous_tip is not None:
            outcome.notes.append(
                f"local branch {branch} was at {start.previous_tip[:12]}, be-agent's earlier work "
                f"that {opts.remote} no longer has; it now holds this run's commit"
            )
        if not opts.open_pr:
            outcome.notes += _unchanged_pull_notes(client, branch)
            return outcome
        report = render_markdown_report(
            result.report,
            result.verification,
            status=result.status,
            reason=result.reason,
            phases=result.phases,
        )
        body = pr_body(thread.number, report, result)
        pull, created, notes = open_pull_for(client, thread, branch, base_branch, body, not opts.ready)
        outcome.notes += notes
        outcome.pull_request = pull_summary(pull, created)
        outcome.comment_url = post_comment(
            client, thread.number, success_comment(pull, created, result), warn
        )
        return outcome


def render_outcome(outcome: FixIssueOutcome) -> str:
    if outcome.model_run:
        lines = [render_terminal_summary(outcome.result).rstrip()]
    else:
        lines = [f"no model run: {outcome.result.reason}"]
    if outcome.pushed:
        lines.append(f"pushed: {outcome.branch}")
    if outcome.pull_request:
        pr = outcome.pull_request
        lines.append(
            f"pull request: #{pr['number']} {pr['url']} ({'opened' if pr['created'] else 'updated'}"
            + (", draft" if pr["draft"] else "")
            + ")"
        )
    if outcome.comment_url:
        lines.append(f"issue comment: {outcome.comment_url}")
    lines += [f"note: {note}" for note in outcome.notes]
    return "\n".join(lines)
