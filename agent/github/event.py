"""The event that started a run, as GitHub Actions hands it over (`GITHUB_EVENT_PATH`): when it happened and
the issue as it was then, which is what the person who labelled, assigned or commented saw and approved.

Outside Actions (no `GITHUB_EVENT_PATH`), or for an event about something else (a manual dispatch), there is
no such moment: the thread as it is when the run starts is what the person starting it approved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.errors import UsageError


@dataclass(frozen=True)
class TriggerEvent:
    name: str  # GITHUB_EVENT_NAME: "issues", "issue_comment", ...
    at: datetime | None  # when it happened; None when the payload does not say
    issue: dict[str, Any] | None  # the issue as the payload holds it; None when the event is not about it


def parse_time(value: Any) -> datetime | None:
    """A GitHub timestamp ("2024-05-01T12:00:00Z"), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def trigger_event(number: int, environ: Mapping[str, str]) -> TriggerEvent | None:
    """The triggering event for issue `number`, or None outside GitHub Actions. A payload that cannot be read
    is a configuration error (exit 2): running on a thread nobody approved is not a fallback."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read the event payload GITHUB_EVENT_PATH={path}: {exc.strerror or exc}"
        ) from None
    except ValueError:
        raise UsageError(f"the event payload GITHUB_EVENT_PATH={path} is not JSON") from None
    if not isinstance(payload, dict):
        raise UsageError(f"the event payload GITHUB_EVENT_PATH={path} is not a JSON object")
    name = str(environ.get("GITHUB_EVENT_NAME", ""))
    issue = payload.get("issue")
    if not isinstance(issue, dict) or issue.get("number") != number:
        return TriggerEvent(name, None, None)
    comment = payload.get("comment")
    stamps = [issue.get("updated_at")]
    if isinstance(comment, dict):
        stamps += [comment.get("created_at"), comment.get("updated_at")]
    times = [t for t in (parse_time(s) for s in stamps) if t is not None]
    return TriggerEvent(name, max(times) if times else None, issue)
