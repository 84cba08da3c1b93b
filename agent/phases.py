"""Tag each step of a run with the phase of the method it belongs to: read, contract, implement, verify.

The heuristic, per step (one assistant turn, possibly several tool calls):
- a call that changes a non-test file (editor create/str_replace/insert, or a bash command that writes:
  redirection, sed -i, tee, mv, cp, rm, mkdir, touch, patch, git apply ...) -> implement;
- otherwise a call that runs tests (run_tests, or bash running pytest, tox, go test, npm test ...), that
  writes test files, or `finish` -> verify (method.md: adding tests and running them is verification);
- otherwise, before the first edit of the run, a turn without tool calls, or one whose text states the
  contract (two or more of: contract, invariant, input, output, side effect, failure mode, authoriz...,
  edge case, validat...) -> contract;
- otherwise (view, ls, grep, cat, git log, ...) -> read.
A text-only turn after the first edit keeps the phase of the step before it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from agent.test_files import is_test_path

Phase = Literal["read", "contract", "implement", "verify"]
PHASES: tuple[Phase, ...] = ("read", "contract", "implement", "verify")

_EDITOR_WRITES = {"create", "str_replace", "insert"}
_TEST_COMMAND = re.compile(
    r"(^|[\s;&|(])(pytest|py\.test|tox|nox|unittest|go\s+test|cargo\s+test|(npm|yarn|pnpm)\s+(run\s+)?test"
    r"|make\s+(test|check)|rspec|phpunit|mvn\s+test|gradle\w*\s+test|jest|vitest|mocha|ctest)\b"
)
_WRITING_PROGRAMS = {
    "mv",
    "cp",
    "rm",
    "rmdir",
    "mkdir",
    "touch",
    "patch",
    "truncate",
    "ln",
    "chmod",
    "install",
    "rsync",
    "unzip",
    "tar",
}
_WRITING_GIT = {
    "apply",
    "am",
    "checkout",
    "restore",
    "mv",
    "rm",
    "reset",
    "stash",
    "switch",
    "merge",
    "rebase",
    "cherry-pick",
    "revert",
    "pull",
}
_REDIRECTS = {">", ">>", ">|", "&>", "&>>"}
_HEREDOC = re.compile(r"<<-?[ \t]*(['\"]?)(\w+)\1([^\n]*)\n.*?\n[ \t]*\2[ \t]*(?=\n|$)", re.DOTALL)
_CONTRACT_WORDS = re.compile(
    r"\b(contract|invariants?|inputs?|outputs?|side[- ]effects?|failure modes?|authori[sz]\w*|edge cases?"
    r"|validat\w*|preconditions?|postconditions?|idempoten\w*)\b",
    re.IGNORECASE,
)


def _sed_files(words: list[str]) -> list[str]:
    """The files a `sed -i` call edits: its operands after the script (or all of them when -e gives it)."""
    operands, script_given, skip_next = [], False, False
    for word in words:
        if skip_next:
            skip_next = False
        elif word in ("-e", "-f", "--expression", "--file"):
            script_given, skip_next = True, True
        elif not word.startswith("-"):
            operands.append(word)
    return operands if script_given else operands[1:]


def _segments(command: str) -> list[list[str]] | None:
    """The simple commands of a shell line as word lists, heredoc bodies dropped; None if unparseable."""
    lexer = shlex.shlex(_HEREDOC.sub(r"\3", command), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token not in _REDIRECTS and set(token) <= set(";|&()"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [words for words in segments if words]


def _write_targets(command: str) -> list[str] | None:
    """The paths a shell command writes: [] when it writes nothing, None when it writes somewhere unnamed.

    Redirections, `tee` and `sed -i` name their targets; any other writing program (mv, rm, git apply ...)
    makes the targets unknown.
    """
    segments = _segments(command)
    if segments is None:
        return None
    targets: list[str] = []
    for words in segments:
        targets += [
            after
            for before, after in zip(words, words[1:], strict=False)
            if before in _REDIRECTS and after != "/dev/null"
        ]
        while words and "=" in words[0] and not words[0].startswith("="):  # leading VAR=value
            words = words[1:]
        program = words[0].rsplit("/", 1)[-1] if words else ""
        options = [w for w in words[1:] if w.startswith("-")]
        if program == "tee":
            targets += [w for w in words[1:] if not w.startswith("-") and w not in _REDIRECTS]
        elif program == "sed" and any(o.startswith("-i") or o == "--in-place" for o in options):
            targets += _sed_files(words[1:])
        elif (
            program in _WRITING_PROGRAMS
            or (program == "perl" and any("i" in o for o in options))
            or (program == "git" and len(words) > 1 and words[1] in _WRITING_GIT)
        ):
            return None
    return targets


def writes_files(name: str, params: Mapping[str, Any]) -> bool:
    """Whether a tool call (probably) changes files in the checkout."""
    if name == "str_replace_based_edit_tool":
        return params.get("command") in _EDITOR_WRITES
    return name == "bash" and _write_targets(str(params.get("command", ""))) != []


def action(name: str, params: Mapping[str, Any]) -> Phase:
    """The phase of a single tool call."""
    if name == "finish" or name == "run_tests":
        return "verify"
    if name == "str_replace_based_edit_tool":
        if params.get("command") in _EDITOR_WRITES:
            return "verify" if is_test_path(str(params.get("path", ""))) else "implement"
        return "read"
    if name == "bash":
        command = str(params.get("command", ""))
        targets = _write_targets(command)
        if targets is None or (targets and not all(is_test_path(t) for t in targets)):
            return "implement"
        return "verify" if targets or _TEST_COMMAND.search(command) else "read"
    return "read"


def _states_contract(text: str) -> bool:
    return len({m.lower() for m in _CONTRACT_WORDS.findall(text)}) >= 2


def _text_of(content: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(str(b.get("text", "")) for b in content if b.get("type") == "text")


def tag_step(
    calls: Sequence[Mapping[str, Any]],
    content: Iterable[Mapping[str, Any]],
    *,
    edited_before: bool = False,
    previous: Phase | None = None,
) -> Phase:
    """The phase of one step: its tool_use blocks and its whole content (for the text)."""
    actions = [action(str(c.get("name", "")), c.get("input") or {}) for c in calls]
    if "implement" in actions:
        return "implement"
    if "verify" in actions:
        return "verify"
    if edited_before:
        return previous if not calls and previous else "read"
    if not calls or _states_contract(_text_of(content)):
        return "contract"
    return "read"


class PhaseTagger:
    """Tags steps in order, remembering whether anything was edited yet."""

    def __init__(self) -> None:
        self.tags: list[Phase] = []
        self.edited = False

    def tag(self, content: Sequence[Mapping[str, Any]]) -> Phase:
        calls = [b for b in content if b.get("type") == "tool_use"]
        phase = tag_step(
            calls, content, edited_before=self.edited, previous=self.tags[-1] if self.tags else None
        )
        self.edited = self.edited or any(
            writes_files(str(c.get("name", "")), c.get("input") or {}) for c in calls
        )
        self.tags.append(phase)
        return phase


def summarise(tags: Iterable[str]) -> dict[str, int]:
    """Steps per phase, every phase present, in method order."""
    counts: dict[str, int] = dict.fromkeys(PHASES, 0)
    for tag in tags:
        if tag in counts:
            counts[tag] += 1
    return counts
