"""The trajectory: one JSON object per line, appended and flushed as each thing happens.

Record kinds: `start` (request, system prompt, tool specs), `baseline`, `model` (one assistant turn with its
usage and timing), `tool` (one tool call and its result), `note` (harness messages), `final` (the harness's
test run and verdict), `end` (the result). Replay reads the `model` records back.
Everything written passes through the log redactor: secrets never reach the file.

The `start` record, always the first, names the trajectory format (`format`, FORMAT_VERSION) and the
harness that wrote it (`harness_version`). A reader refuses a format it does not know; a start record
without `format` comes from before formats were numbered and is format 1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from agent import __version__
from agent.logs import redactor

FORMAT_VERSION = 1  # bump when a record changes in a way an older reader would misread


def _redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, redact) for v in value]
    return value


class Trajectory:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lone surrogate (a file name that is not UTF-8, as os.fsdecode keeps it) cannot be encoded; written
        # as `\udcff` it is the JSON escape for the same character, inside the JSON string it belongs to.
        self._file: TextIO | None = path.open("a", encoding="utf-8", errors="backslashreplace")

    def write(self, kind: str, **fields: Any) -> None:
        if self._file is None:
            return
        record = {"type": kind, "time": round(time.time(), 3)}
        if kind == "start":
            record.update(format=FORMAT_VERSION, harness_version=__version__)
        record.update(_redact_tree(fields, redactor()))
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class RecordedLines:
    """A trajectory read back: each record with its line number, and the number of a last line that was cut
    off mid-write (a run killed with kill -9), which is left out."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    cut_off_line: int | None = None


def read_trajectory(path: Path) -> RecordedLines:
    """Raises ValueError naming the line when a complete line is not a JSON object (UnicodeDecodeError,
    also a ValueError, when the file is not text)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    read = RecordedLines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            # only the last line can be cut off: every record is written whole, newline last
            if number == len(lines) and not text.endswith("\n"):
                read.cut_off_line = number
                break
            raise ValueError(f"line {number} is not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"line {number} is a JSON {type(record).__name__}, not an object")
        read.records.append((number, record))
    return read


def format_problem(start: dict[str, Any]) -> str | None:
    """Why a trajectory with this start record cannot be read by this harness, or None when it can."""
    found = start.get("format", 1)
    if isinstance(found, int) and not isinstance(found, bool) and found == FORMAT_VERSION:
        return None
    writer = start.get("harness_version")
    by = f" (written by be-agent {writer})" if isinstance(writer, str) else ""
    return (
        f"trajectory format {found!r}{by} is not one be-agent {__version__} can read "
        f"(it reads format {FORMAT_VERSION})"
    )


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    for _, record in read_trajectory(path).records:
        yield record
