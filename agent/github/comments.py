"""The comments a follow-up takes as its task: a pull request's review comments (each on a line of its diff)
and conversation comments, or an issue's comments; and how be-agent marks the ones it answered.

Rules a reader can check:
- Taken are comments newer than be-agent's last commit on the branch (`since`: when that run read the
  thread) that be-agent has not answered, written by people with write access (the collaborator permission
  API; `author_association` alone does not tell). The others are left out of the model's input, counted and
  named for the log.
- be-agent's replies carry `ANSWERED` markers naming the comments they answer. A marker counts only in a
  comment written by the token's own account (`me`): anyone can paste the text, nobody else can post as that
  account. And only as the reply's last lines, where `agent.github.replies` writes it (the marker, then
  MARKER): a reply also quotes text be-agent did not write (the model's summary and reasons, file names),
  and a marker inside that quoted text is not be-agent's word. be-agent's own comments are never taken.
- A comment's text is what a reader of the page sees (`agent.reader_view`), from GitHub's rendering when it
  gives one; what was hidden is counted.
- Too much text for one task: the oldest comments are taken first, the rest wait for the next run (they stay
  unanswered, and the run's read mark stops before the oldest of them: `agent.github.follow_up.read_until`).
- Permissions are asked for at most MAX_PERMISSION_CHECKS people, likely writers first (GitHub's
  `author_association` says OWNER, MEMBER or COLLABORATOR), then the newest commenters: a crowd of outsiders
  commenting before a maintainer cannot use up the checks so that the maintainer counts as an outsider.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agent.github.event import parse_time
from agent.github.issue import LIKELY_WRITERS, MARKER, MAX_COMMENT_CHARS
from agent.reader_view import reader_text
from agent.untrusted import clean_plain

CommentKind = Literal["review", "conversation"]
MAX_TAKEN = 20  # comments in one follow-up
MAX_TAKEN_CHARS = 30_000  # their text, diff hunks included
MAX_HUNK_LINES = 30  # the end of a diff hunk: the lines the comment points at
_ANSWERED = re.compile(r"<!-- be-agent answered: ([0-9 ]+) -->")
# the reply's own ending (`agent.github.replies._end`); the web editor may have turned \n into \r\n
_ANSWERED_ENDING = re.compile(
    r"(?:\A|\n)<!-- be-agent answered: ([0-9]+(?: [0-9]+)*) -->\r?\n" + re.escape(MARKER) + r"\s*\Z"
)


def answered_marker(ids: Iterable[int]) -> str:
    """The line a reply carries to say which comments it answers."""
    return f"<!-- be-agent answered: {' '.join(str(i) for i in sorted(set(ids)))} -->"


@dataclass
class ThreadComment:
    id: int
    kind: CommentKind
    author: str
    text: str  # as a reader of the page sees it
    url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    path: str = ""  # review comments: the file, the line and the diff hunk they point at
    line: int | None = None
    diff_hunk: str = ""
    thread_id: int | None = None  # review comments: the first comment of their thread (replies go there)
    write_access: bool = False

    @property
    def where(self) -> str:
        """Where a review comment points, in words ("" for a conversation comment)."""
        if self.kind != "review" or not self.path:
            return ""
        return f"{self.path} line {self.line}" if self.line else f"{self.path} (a line no longer in the diff)"


@dataclass
class Selection:
    taken: list[ThreadComment] = field(default_factory=list)
    without_write_access: list[ThreadComment] = field(default_factory=list)  # left out of the model's input
    deferred: list[ThreadComment] = field(default_factory=list)  # too many or too long: the next run's
    answered: int = 0  # already answered by be-agent
    older: int = 0  # not newer than be-agent's last commit
    ours: int = 0  # be-agent's own
    forged_markers: list[str] = field(default_factory=list)  # authors of answered-markers we did not write
    hidden: Counter[str] = field(default_factory=Counter)  # hidden constructs dropped from taken text

    def log(self) -> dict[str, Any]:
        """For the run's log: what was taken and what was left out, and why."""
        return {
            "taken": [{"id": c.id, "kind": c.kind, "author": c.author} for c in self.taken],
            "left_out_without_write_access": [
                {"id": c.id, "kind": c.kind, "author": c.author} for c in self.without_write_access
            ],
            "deferred": [c.id for c in self.deferred],
            "already_answered": self.answered,
            "older_than_last_commit": self.older,
            "ours": self.ours,
            "answered_markers_not_ours": sorted(set(self.forged_markers)),
            "hidden_dropped": dict(self.hidden),
        }


def _login(item: dict[str, Any]) -> str:
    return str((item.get("user") or {}).get("login") or "ghost")


def is_ours(item: dict[str, Any], me: str) -> bool:
    return _login(item) == me and MARKER in str(item.get("body") or "")


def answered_ids(items: Iterable[dict[str, Any]], me: str) -> tuple[set[int], list[str]]:
    """Ids our own replies answer, and the authors of answered-markers someone else wrote (ignored)."""
    found: set[int] = set()
    forged: list[str] = []
    for item in items:
        body = str(item.get("body") or "")
        if not _ANSWERED.search(body):
            continue
        if not is_ours(item, me):
            forged.append(_login(item))
            continue
        ending = _ANSWERED_ENDING.search(body)  # a marker anywhere else in our reply was quoted, not ours
        if ending:
            found.update(int(n) for n in ending.group(1).split())
    return found, forged


def thread_comment(item: dict[str, Any], kind: CommentKind, hidden: Counter[str]) -> ThreadComment:
    seen = reader_text(str(item.get("body") or ""), item.get("body_html") if item.get("body_html") else None)
    hidden.update(seen.hidden)
    line = item.get("line") if isinstance(item.get("line"), int) else None
    reply_to = item.get("in_reply_to_id")
    return ThreadComment(
        id=int(item["id"]),
        kind=kind,
        author=_login(item),
        text=seen.text,
        url=str(item.get("html_url") or ""),
        created_at=parse_time(item.get("created_at")),
        updated_at=parse_time(item.get("updated_at")),
        path=" ".join(clean_plain(str(item.get("path") or "")).split()),
        line=line,
        diff_hunk=_hunk_end(str(item.get("diff_hunk") or "")) if kind == "review" else "",
        thread_id=int(reply_to)
        if isinstance(reply_to, int)
        else int(item["id"])
        if kind == "review"
        else None,
    )


def _hunk_end(hunk: str) -> str:
    """The last lines of a diff hunk: GitHub's hunk ends at the line the comment is on."""
    lines = clean_plain(hunk).split("\n") if hunk else []
    return "\n".join(lines[-MAX_HUNK_LINES:])


def _newer(item: dict[str, Any], since: datetime | None) -> bool:
    if since is None:
        return True
    stamps = [parse_time(item.get("created_at")), parse_time(item.get("updated_at"))]
    known = [t for t in stamps if t is not None]
    return not known or max(known) > since


def _size(comment: ThreadComment) -> int:
    return min(len(comment.text), MAX_COMMENT_CHARS) + len(comment.diff_hunk) + 200


def select(
    items: Iterable[tuple[CommentKind, dict[str, Any]]],
    *,
    me: str,
    since: datetime | None,
    has_write: Callable[[str], bool],
) -> Selection:
    """The comments a follow-up takes, oldest first (module docstring), and what it leaves out."""
    ordered = sorted(items, key=lambda pair: (str(pair[1].get("created_at") or ""), int(pair[1]["id"])))
    done, forged = answered_ids((item for _, item in ordered), me)
    picked = Selection(forged_markers=forged)
    candidates = [
        item
        for _, item in reversed(ordered)  # newest first
        if not is_ours(item, me) and int(item["id"]) not in done and _newer(item, since)
    ]
    likely = [_login(i) for i in candidates if i.get("author_association") in LIKELY_WRITERS]
    for login in dict.fromkeys([*likely, *(_login(i) for i in candidates)]):
        has_write(login)  # asked in this order (module docstring); the answers are cached
    budget = MAX_TAKEN_CHARS
    for kind, item in ordered:
        if is_ours(item, me):
            picked.ours += 1
        elif int(item["id"]) in done:
            picked.answered += 1
        elif not _newer(item, since):
            picked.older += 1
        elif not has_write(_login(item)):
            # the text is not read at all: counted, never rendered for the model
            picked.without_write_access.append(
                ThreadComment(int(item["id"]), kind, _login(item), "", str(item.get("html_url") or ""))
            )
        else:
            comment = thread_comment(item, kind, picked.hidden)
            comment.write_access = True
            if len(picked.taken) >= MAX_TAKEN or _size(comment) > budget:
                picked.deferred.append(comment)
                continue
            budget -= _size(comment)
            picked.taken.append(comment)
    return picked


def selection_warnings(where: str, s: Selection, warn: Callable[[str], None]) -> None:
    if s.without_write_access:
        names = ", ".join(dict.fromkeys(f"@{c.author}" for c in s.without_write_access))
        warn(
            f"{where}: {len(s.without_write_access)} comment(s) by people without write access ({names}) left out"
        )
    if s.forged_markers:
        names = ", ".join(dict.fromkeys(f"@{n}" for n in s.forged_markers))
        warn(
            f"{where}: ignored be-agent answered-markers in comments by {names}: only be-agent's own account "
            "marks comments answered"
        )
    if s.deferred:
        warn(
            f"{where}: {len(s.deferred)} comment(s) wait for the next run (too many or too long for one task)"
        )
