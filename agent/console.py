"""Everything the command line prints goes through here. Feature modules never print: they return outcomes
and say progress and warnings through the callables the command line hands them (`say`, `warn`).

stdout carries what a command reports (progress lines, its summary) and, with `--json`, one JSON object as
its last line; stderr carries warnings and errors, one line each, as `be-agent: warning: ...` and
`be-agent: error: ...`.

Much of what is printed comes from outside be-agent (the model's words, file names, test ids, git's and
GitHub's messages), so every line is printed as `agent.terminal.printable` renders it: no escape sequence
or control character reaches the terminal, a warning or an error stays one line, and in GitHub Actions no
line can be taken for a workflow command. The JSON line is ASCII (`agent.terminal.json_text`), so it stays
one line whatever it holds.
"""

from __future__ import annotations

from typing import Any

import typer

from agent.terminal import json_text, printable


def say(text: str) -> None:
    """A line of a command's own report, on stdout."""
    typer.echo(printable(text))


def report(text: str, *, to_stderr: bool = False) -> None:
    """A command's summary: on stdout, or on stderr when stdout is kept for the JSON line."""
    typer.echo(printable(text), err=to_stderr)


def warn(message: str) -> None:
    typer.echo(printable(f"be-agent: warning: {message}", one_line=True), err=True)


def error(message: str) -> None:
    typer.echo(printable(f"be-agent: error: {message}", one_line=True), err=True)


def note(message: str) -> None:
    """A line on stderr that is neither a warning nor an error (a replay's comparison)."""
    typer.echo(printable(message), err=True)


def json_line(payload: dict[str, Any], *, sort_keys: bool = False) -> None:
    """The JSON result: one object on one line, the last line of stdout."""
    typer.echo(json_text(payload, sort_keys=sort_keys))
