"""What a follow-up writes back on GitHub: a reply in each review thread it acted on, one comment answering the
conversation comments, and the pull request's verification section brought up to date.

As in `agent.github.posts`: the harness's verdict and what exists now come first; text be-agent did not
write (the model's summary and reasons, file names and test ids from the repository) follows only as inert
text (`agent.inert`). Every reply carries MARKER, and a reply that answers comments carries their ids
(`answered_marker`), which later runs honour only in comments posted by be-agent's own account. A run that
could not push marks nothing answered, so the next run takes the same comments again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.config import RunResult
from agent.github.comments import ThreadComment, answered_marker
from agent.github.issue import MARKER
from agent.github.posts import MAX_REASON_CHARS, public_text
from agent.inert import inert_code, inert_line, inert_markdown
from agent.report import render_markdown_report

VERIFICATION_HEADING = "## Verification by the harness"
MAX_SUMMARY_CHARS = 1_500
MAX_FILES_SHOWN = 15


def _quote(markdown: str) -> str:
    return "\n".join(("> " + line).rstrip() for line in markdown.split("\n"))


def _counts(brief: dict[str, object]) -> str:
    return f"{brief.get('passed', 0)} passed, {brief.get('failed', 0)} failed, {brief.get('error', 0)} errors"


def _files(changed: Sequence[str]) -> str:
    shown = ", ".join(inert_code(p) for p in changed[:MAX_FILES_SHOWN])
    more = f" and {len(changed) - MAX_FILES_SHOWN} more" if len(changed) > MAX_FILES_SHOWN else ""
    return (shown + more) or "nothing"


def _commit_link(pull_url: str, commit: str) -> str:
    return f"`{commit[:12]}` ({pull_url}/commits/{commit})" if pull_url else f"`{commit[:12]}`"


def _verdict_lines(result: RunResult) -> list[str]:
    """The harness's verdict and counts; for a fixed result its reason too (the harness's own sentence)."""
    after = result.tests_after
    head = f"**Verdict: {result.status.replace('_', ' ')}** — the harness re-ran the tests: "
    head += _counts(after) if after else "no test run"
    targets = result.verification.get("targets") or []
    if result.status == "fixed" and targets:
        head += f"; the {len(targets)} target test(s) pass"
    lines = [head + "."]
    if result.status == "fixed" and result.reason:
        lines.append(inert_line(public_text(result.reason), limit=MAX_REASON_CHARS))
    failing = list(after.get("failing") or []) if after else []
    if result.status != "fixed" and failing:
        lines.append("Still failing: " + ", ".join(inert_code(str(t)) for t in failing[:10]))
    return lines


def _summary(result: RunResult) -> list[str]:
    summary = result.report.get("summary") if isinstance(result.report, dict) else None
    text = inert_markdown(public_text(str(summary or "")), limit=MAX_SUMMARY_CHARS)
    if not text:
        return []
    return ["", "The agent's summary (its words, quoted as text):", "", _quote(text)]


def _end(answered: Iterable[int]) -> str:
    ids = list(answered)
    return ("\n\n" + answered_marker(ids) if ids else "\n") + f"\n{MARKER}\n"


def fixed_review_reply(
    comment: ThreadComment, result: RunResult, pull_url: str, changed: Sequence[str]
) -> str:
    commit = result.commit or ""
    lines = [
        f"be-agent pushed commit {_commit_link(pull_url, commit)} to this pull request for this comment.",
        "",
    ]
    lines += _verdict_lines(result)
    lines += ["", f"Changed: {_files(changed)}."]
    if comment.path:
        among = "is among them" if comment.path in changed else "is not changed by this commit"
        lines[-1] += f" This comment's file, {inert_code(comment.path)}, {among}."
    lines += _summary(result)
    return "\n".join(lines) + _end([comment.id])


def fixed_conversation_reply(
    comments: Sequence[ThreadComment], result: RunResult, pull_url: str, changed: Sequence[str]
) -> str:
    commit = result.commit or ""
    lines = [
        f"be-agent pushed commit {_commit_link(pull_url, commit)} for {_which(comments)}.",
        "",
        *_verdict_lines(result),
        "",
        f"Changed: {_files(changed)}.",
        *_summary(result),
    ]
    return "\n".join(lines) + _end(c.id for c in comments)


def _which(comments: Sequence[ThreadComment]) -> str:
    links = [c.url or f"comment {c.id}" for c in comments]
    return ("these comments: " if len(links) > 1 else "this comment: ") + ", ".join(links)


def not_fixed_reply(comments: Sequence[ThreadComment], result: RunResult, *, in_thread: bool) -> str:
    """The reason nothing was pushed; it answers the comments, so only a new comment asks again."""
    subject = "this comment" if in_thread else _which(comments)
    lines = [
        f"be-agent did not change this pull request for {subject}: the harness's verdict is not fixed, so "
        "nothing was pushed.",
        "",
        *_verdict_lines(result),
    ]
    reason = inert_markdown(public_text(result.reason), limit=MAX_REASON_CHARS) or "(no reason given)"
    lines += ["", "Why, in the run's words (they may quote the agent):", "", _quote(reason)]
    lines += ["", "Write a new comment to have be-agent try again."]
    return "\n".join(lines) + _end(c.id for c in comments)


def unfinished_comment(comments: Sequence[ThreadComment], what: str, *, verified: bool) -> str:
    """A run that stopped, or a verified change that could not be pushed: nothing is marked answered, so the
    next run takes the same comments again."""
    lead = (
        "be-agent verified a change for the comments below but could not push it"
        if verified
        else "be-agent's run for the comments below stopped before a verdict"
    )
    reason = inert_markdown(public_text(what), limit=MAX_REASON_CHARS) or "(no reason given)"
    lines = [
        f"{lead}; nothing was pushed and this pull request was not changed. The comments stay unanswered: the "
        "next run takes them again.",
        "",
        f"Comments: {', '.join(c.url or str(c.id) for c in comments)}",
        "",
        "What happened:",
        "",
        _quote(reason),
    ]
    return "\n".join(lines) + _end([])


def verification_section(result: RunResult, what: str) -> str:
    """The harness's verification of the branch's newest commit, for the pull request's description."""
    report = render_markdown_report(
        result.report, result.verification, status=result.status, reason=result.reason, phases=result.phases
    )
    section = report.split("\n## The agent's report", 1)[0].rstrip()
    commit = (result.commit or "")[:12]
    return section + f"\n\n_Newest verified commit: `{commit}` (run `{result.run_id}`, {what})._\n"


def with_verification(body: str, section: str) -> str:
    """The pull request's description with its verification section replaced by `section` (added after the
    first paragraph when it has none); everything else, a reviewer's edits included, stays."""
    lines = body.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == VERIFICATION_HEADING), None)
    if start is None:
        first, sep, rest = body.partition("\n\n")
        return f"{first}{sep or chr(10) * 2}{section.rstrip()}\n\n{rest}".rstrip() + "\n"
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ") or lines[i] == "---"),
        len(lines),
    )
    return "\n".join([*lines[:start], *section.rstrip().split("\n"), "", *lines[end:]]).rstrip() + "\n"
