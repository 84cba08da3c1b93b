"""What be-agent writes on GitHub for an issue: the pull request (title, body, opened or updated, never a
second one) and the comments on the issue, each carrying MARKER so later runs leave them out.

What the harness decided comes first (the verdict and the test counts, what exists now); text be-agent did
not write (the model's report and reasons, test ids, the issue's title) follows only as inert text
(`agent.inert`): it pings no one, links and shows nothing, closes no issue on merge, and cannot hide what
comes after it. Local paths never reach a public comment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from agent.config import RunResult
from agent.github.client import GitHubClient, GitHubError
from agent.github.issue import MARKER, IssueThread, truncated
from agent.inert import defuse_closing_references, inert_code, inert_markdown, inert_title
from agent.view import page_artifact_note

Warn = Callable[[str], None]
MAX_PR_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
# an absolute or home-relative filesystem path; API paths (/repos/...) and URLs are left alone
_LOCAL_PATH = re.compile(r"(?<![\w/:.~-])~?/(?!repos/)[^\s'\"`<>()\[\]{};,]+")
NOTHING_PUSHED = "No branch was pushed and no pull request was opened or changed."
MAX_REASON_CHARS = 3_000
MAX_PR_TITLE_CHARS = 256  # GitHub refuses longer titles


def public_text(text: str) -> str:
    """Text fit for a public comment: local paths (checkouts, run directories, logs) replaced."""

    def hide(match: re.Match[str]) -> str:
        path = match.group(0)
        return "<local path>" + path[len(path.rstrip(".:")) :]

    return _LOCAL_PATH.sub(hide, text)


def pr_title(thread: IssueThread) -> str:
    return inert_title(thread.title, limit=MAX_PR_TITLE_CHARS)


def _pr_body(number: int, report_markdown: str, footer: list[str]) -> str:
    report = truncated(defuse_closing_references(report_markdown.strip()), MAX_PR_BODY_CHARS, "report")
    return (
        f"Closes #{number}\n\n{report}\n\n---\n<sub>{' · '.join(footer)}. Review it like any contributor's "
        f"change before merging.</sub>\n{MARKER}\n"
    )


def pr_body(number: int, report_markdown: str, result: RunResult) -> str:
    footer = [
        "Written by be-agent",
        f"branch `{result.branch}`",
        f"commit `{(result.commit or '')[:12]}`",
        f"run `{result.run_id}`",
        f"{result.steps} steps",
        f"{sum(result.tokens.values()):,} tokens",
    ]
    if result.cost_usd is not None:
        footer.append(f"${result.cost_usd:.2f}")
    footer += [note] if result.page and (note := page_artifact_note(os.environ)) else []
    return _pr_body(number, report_markdown, footer)


def resumed_pr_body(number: int, report_markdown: str, branch: str, commit: str, run_id: str) -> str:
    """The body for a pull request opened later from a branch an earlier run pushed: that run's report."""
    footer = [
        "Written by be-agent",
        f"branch `{branch}`",
        f"commit `{commit[:12]}`",
        f"run `{run_id}`",
        "opened without a new run: the verdict above is that run's",
    ]
    return _pr_body(number, report_markdown, footer)


def success_comment(pull: dict[str, Any], created: bool, result: RunResult) -> str:
    verb = "opened" if created else "updated"
    kind = "draft pull request" if pull.get("draft") else "pull request"
    after = result.tests_after
    counts = (
        f"{after.get('passed', 0)} passed, {after.get('failed', 0)} failed, {after.get('error', 0)} errors"
    )
    return (
        f"be-agent {verb} {kind} #{pull['number']} ({pull.get('html_url', '')}) on branch "
        f"`{result.branch}`. The harness re-ran the tests: {counts}.\n\n{MARKER}\n"
    )


def resumed_comment(pull: dict[str, Any], branch: str, commit: str, run_id: str) -> str:
    kind = "draft pull request" if pull.get("draft") else "pull request"
    return (
        f"be-agent opened {kind} #{pull['number']} ({pull.get('html_url', '')}) from branch `{branch}`, "
        f"which already holds the fix verified by run `{run_id}` (commit `{commit[:12]}`); no new run was "
        f"needed.\n\n{MARKER}\n"
    )


def failure_comment(what: str, result: RunResult | None, state: str = NOTHING_PUSHED) -> str:
    """The harness's counts and `state` (what exists afterwards; the caller checks before wording it) come
    first; `what` (the reason, which may quote the model) follows as an inert quote."""
    lines = ["be-agent could not fix this issue."]
    if result is not None and result.tests_after:
        b, a = result.tests_before, result.tests_after
        lines.append(
            f"\nThe harness's test run: before, {b.get('passed', 0)} passed and {b.get('failed', 0)} failed; "
            f"after, {a.get('passed', 0)} passed and {a.get('failed', 0)} failed."
        )
        failing = a.get("failing") or []
        if failing:
            lines.append("Still failing: " + ", ".join(inert_code(t) for t in failing[:10]))
    lines.append(f"\n{state}")
    reason = inert_markdown(public_text(what), limit=MAX_REASON_CHARS) or "(no reason given)"
    lines += ["\nWhy, in the run's words (they may quote the agent):\n", _quote(reason)]
    return "\n".join(lines) + f"\n\n{MARKER}\n"


def _quote(markdown: str) -> str:
    return "\n".join(("> " + line).rstrip() for line in markdown.split("\n"))


def state_after_failure(branch: str, branch_exists: bool | None, pull_number: int | None) -> str:
    """What a failed run leaves, in words that are true whatever existed before it."""
    if branch_exists is None:
        return "This run pushed nothing and opened or changed no pull request."
    if not branch_exists and pull_number is None:
        return NOTHING_PUSHED
    things = ([f"branch `{branch}`"] if branch_exists else []) + (
        [f"pull request #{pull_number}"] if pull_number is not None else []
    )
    return (
        f"This run pushed nothing and changed no pull request; {' and '.join(things)} "
        f"{'exist' if len(things) > 1 else 'exists'} and {'were' if len(things) > 1 else 'was'} not changed by it."
    )


def pull_summary(pull: dict[str, Any], created: bool) -> dict[str, Any]:
    return {
        "number": pull["number"],
        "url": pull.get("html_url"),
        "draft": bool(pull.get("draft")),
        "created": created,
    }


def open_or_update_pull(
    client: GitHubClient, *, title: str, branch: str, base: str, body: str, draft: bool
) -> tuple[dict[str, Any], bool, list[str]]:
    """The one open pull request for `branch`: created, or its body updated. Returns it, whether it was
    created, and notes on what was asked for but could not be done."""
    pulls = client.list_pulls(head_branch=branch)
    if not pulls:
        try:
            return client.create_pull(title=title, head=branch, base=base, body=body, draft=draft), True, []
        except GitHubError as exc:
            if exc.status != 422 or "already exists" not in exc.message:
                raise
        pulls = client.list_pulls(head_branch=branch)  # opened meanwhile by a concurrent run
        if not pulls:
            raise GitHubError(f"GitHub says a pull request for {branch} exists but none is open")
    pull = client.update_pull(
        int(pulls[0]["number"]), body=body
    )  # not the title: a reviewer may have changed it
    notes = []
    if not draft and pull.get("draft"):
        notes.append(
            f"pull request #{pull['number']} stays a draft: GitHub's REST API cannot mark a draft "
            f'ready for review (use "Ready for review" on the pull request, or `gh pr ready '
            f"{pull['number']}`)"
        )
    return pull, False, notes


def open_pull_for(
    client: GitHubClient, thread: IssueThread, branch: str, base: str, body: str, draft: bool
) -> tuple[dict[str, Any], bool, list[str]]:
    try:
        return open_or_update_pull(
            client, title=pr_title(thread), branch=branch, base=base, body=body, draft=draft
        )
    except GitHubError as exc:
        raise GitHubError(
            f"branch {branch} was pushed, but the pull request could not be opened or updated: "
            f"{exc.message}; run again to retry",
            status=exc.status,
        ) from None


def post_comment(client: GitHubClient, number: int, body: str, warn: Warn) -> str | None:
    """Post a comment on the issue; return its URL. The comment only explains what happened, so failing to
    post it is a warning (through `warn`) and never turns a finished result (or the run's own error) into
    another error."""
    try:
        return str(client.create_issue_comment(number, body).get("html_url") or "") or None
    except GitHubError as exc:
        warn(f"could not comment on issue #{number}: {exc.message}")
        return None
