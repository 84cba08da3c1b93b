"""A recorded session's tool calls as the shell commands a bash-only agent would type for them.

This is how the overhead bench puts be-agent and mini-swe-agent on the same steps: mini-swe-agent has only a
shell, so every call becomes one command that does the same work, and both harnesses run that command.

- editor `view`: `cat -n PATH`, piped to `sed -n 'A,Bp'` for a `view_range`;
- editor `str_replace` of whole lines: `sed -i`, a substitution for one line, else a `c\\` of the line range
  from the old text's first line to its last;
- editor `create`: `cat > PATH` from a here-document;
- `bash`: the command itself;
- `run_tests`: the test command through the shell, narrowed like the call;
- `finish`: `git status --short && git diff`, what an agent shows before it hands its work in.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

EDITOR = "str_replace_based_edit_tool"
_BRE_SPECIAL = re.compile(r"([\\/.*\[\]^$])")


def _bre(line: str) -> str:
    """`line` as a sed basic regular expression that matches exactly that whole line."""
    return "^" + _BRE_SPECIAL.sub(r"\\\1", line) + "$"


def _replacement(text: str) -> str:
    """`text` as the replacement of a sed `s` command (delimiter `/`)."""
    return re.sub(r"([\\/&])", r"\\\1", text)


def _text_block(lines: list[str]) -> str:
    """Lines as the text of a sed `c\\` command: backslashes doubled, every line but the last continued."""
    return "\\\n".join(line.replace("\\", "\\\\") for line in lines)


def _view(params: Mapping[str, Any]) -> str:
    path = shlex.quote(str(params["path"]))
    lines = params.get("view_range")
    if not lines:
        return f"cat -n {path}"
    first, last = int(lines[0]), int(lines[1])
    end = "$" if last == -1 else str(last)
    return f"cat -n {path} | sed -n '{first},{end}p'"


def _str_replace(params: Mapping[str, Any]) -> str:
    path = shlex.quote(str(params["path"]))
    old, new = str(params["old_str"]), str(params.get("new_str") or "")
    if not old.endswith("\n") or (new and not new.endswith("\n")):
        raise ValueError(f"only whole-line replacements map to sed: {old[:40]!r}")
    old_lines, new_lines = old[:-1].split("\n"), new[:-1].split("\n") if new else []
    if len(old_lines) == 1 and len(new_lines) == 1:
        script = f"s/{_bre(old_lines[0])}/{_replacement(new_lines[0])}/"
    elif new_lines:
        script = f"/{_bre(old_lines[0])}/,/{_bre(old_lines[-1])}/c\\\n{_text_block(new_lines)}"
    else:
        script = f"/{_bre(old_lines[0])}/,/{_bre(old_lines[-1])}/d"
    return f"sed -i {shlex.quote(script)} {path}"


def _create(params: Mapping[str, Any]) -> str:
    text = str(params.get("file_text") or "")
    marker = "BE_AGENT_BENCH_EOF"
    if marker in text:
        raise ValueError("the file's text holds the here-document marker")
    body = text if text.endswith("\n") else text + "\n"
    return f"cat > {shlex.quote(str(params['path']))} <<'{marker}'\n{body}{marker}"


def shell_command(name: str, params: Mapping[str, Any], *, test_command: str) -> str:
    """The one shell command that does what the tool call `name(params)` did."""
    if name == "bash":
        return str(params["command"])
    if name == "run_tests":
        return " ".join([test_command, *(shlex.quote(t) for t in params.get("tests") or [])])
    if name == "finish":
        return "git status --short && git diff"
    if name != EDITOR:
        raise ValueError(f"no shell form for tool {name!r}")
    command = params.get("command")
    if command == "view":
        return _view(params)
    if command == "str_replace":
        return _str_replace(params)
    if command == "create":
        return _create(params)
    raise ValueError(f"no shell form for the editor's {command!r}")


def shell_steps(tool_records: Iterable[Mapping[str, Any]], *, test_command: str) -> list[str]:
    """One shell command per recorded `tool` record, in order."""
    return [
        shell_command(str(r["name"]), r.get("input") or {}, test_command=test_command) for r in tool_records
    ]
