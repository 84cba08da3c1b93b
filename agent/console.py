"""Everything the command line prints goes through here. Feature modules never print: they return outcomes
and say progress and warnings through the callables the command line hands them (`say`, `warn`).

stdout carries what a command reports (progress lines, its summary) and, with `--json`, one JSON object as
its last line; stderr carries warnings and errors, one line each, as `be-agent: warning: ...` and
`be-agent: error: ...`.
"""

from __future__ import annotations

import json
from typing import Any

import typer


def say(text: str) -> None:
    """A line of a command's own report, on stdout."""
    typer.echo(text)


def report(text: str, *, to_stderr: bool = False) -> None:
    """A command's summary: on stdout, or on stderr when stdout is kept for the JSON line."""
    typer.echo(text, err=to_stderr)


def warn(message: str) -> None:
    typer.echo(f"be-agent: warning: {message}", err=True)


def error(message: str) -> None:
    typer.echo(f"be-agent: error: {message}", err=True)


def note(message: str) -> None:
    """A line on stderr that is neither a warning nor an error (a replay's comparison)."""
    typer.echo(message, err=True)


def json_line(payload: dict[str, Any], *, ensure_ascii: bool = False, sort_keys: bool = False) -> None:
    """The JSON result: one object on one line, the last line of stdout."""
    typer.echo(json.dumps(payload, ensure_ascii=ensure_ascii, sort_keys=sort_keys))
