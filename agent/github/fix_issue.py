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
from pathlib import Path
from typing import Any

from agent import workspace as ws
from agent.config import RunResult, build_request
from agent.errors import AgentError, RemoteError, UsageError
from agent.github.client import (
    GitHubClient,
    GitHubError,
    api_url_from_env,
    check_token,
    parse_repo_slug,
    repo_from_remote_url,
)
from agent.github.event import trigger_event
from agent.github.issue import (
    IssueThread,
    build_task,
    choose_branch,
    left_out_sentences,
    load_issue,
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
from agent.logs import add_secrets
from agent.model import Model
from agent.progress import Progress
from agent.remote import (
    Remote,
    commit_log,
    commit_report,
    current_branch,
    is_ancestor,
    remote_url,
    server_url_from_env,
)
from agent.report import render_markdown_report, render_terminal_summary
from agent.run import run_task
from agent.settings import RunSettings

Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


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


def _restore_local_branch(repo: Path, branch: str, current: str, previous: str | None) -> None:
    """Compare-and-swap back: a branch someone else moved meanwhile is left alone."""
    if previous is None:
        ws.git(repo, "update-ref", "-d", f"refs/heads/{branch}", current, check=False)
    else:
        ws.git(repo, "update-ref", f"refs/heads/{branch}", previous, current, check=False)


def _put_back(repo: Path, branch: str, start: StartPoint) -> None:
    if start.moved_to is not None:
        _restore_local_branch(repo, branch, start.moved_to, start.previous_tip)


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


def _github_repository(explicit: str | None, remote_url: str, remote: str) -> str:
    slug = explicit or os.environ.get("GITHUB_REPOSITORY") or repo_from_remote_url(remote_url)
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


def _remote_url(repo: Path, remote: str) -> str:
    url = remote_url(repo, remote)
    if url is None:
        raise UsageError(f"no git remote named {remote!r} in {repo}; pass --remote NAME")
    return url


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


def fix_issue(
    opts: FixIssueOptions,
    *,
    model: Model | None = None,
    progress: Progress | None = None,
    warn: Warn = _ignore,
) -> FixIssueOutcome:
    """Everything `be-agent fix-issue` does but reading the options and printing: the outcome, or an
    AgentError after the issue was told what happened."""
    token = check_token(os.environ.get("GITHUB_TOKEN", ""))
    api_url = api_url_from_env()
    server_url = server_url_from_env(os.environ)
    add_secrets([token])
    event = trigger_event(opts.number, os.environ)
    repo = ws.open_user_repo(opts.repo.expanduser())
    remote_url = _remote_url(repo, opts.remote)
    repository = _github_repository(opts.github_repo, remote_url, opts.remote)
    remote = Remote.with_token(repo, opts.remote, remote_url, token, server_url)
    with GitHubClient(repository, token, api_url=api_url) as client:
        thread, permissions = load_issue(client, opts.number, event)
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
            commit_trailers={"Be-Agent-Issue": f"{repository}#{thread.number}"},
            task_log=thread_log(thread, permissions),
        )
        try:
            result = run_task(request, model=model, progress=progress)
        except AgentError as exc:
            _put_back(repo, branch, start)
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
            _put_back(repo, branch, start)
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
            remote.push(branch)
        except RemoteError as exc:
            _restore_local_branch(repo, branch, result.commit, start.previous_tip)
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
