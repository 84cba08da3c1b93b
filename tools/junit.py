"""pytest's JUnit XML turned into exact pytest node ids, outcomes and trimmed failure messages.

pytest (junitxml.py, `mangle_test_address`) writes each node id `path::Class::Inner::name[params]` as
`classname="path.with.dots.Class.Inner"` (slashes to dots, ".py" dropped) and `name="name[params]"`; with
`junit_family=xunit1` it also writes `file`, the rootdir-relative file the test function is defined in.
Rebuilding the path from `classname` alone is ambiguous (directories may contain dots), so `file` is used
whenever it is a prefix of `classname`. It is not when a test is inherited from a base class or imported
from another module; then the path is found by trying the ways `classname` can split into an existing file
under the checkout. Class names are Python identifiers, so the rest of `classname` splits on dots exactly,
and `name` keeps the parameter ids verbatim (spaces, quotes, brackets, `::`).

A collection error is a testcase with an empty `classname`; its id is the file that failed to collect.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sandbox.output import cut_middle
from tools.test_report import Outcome

MESSAGE_LIMIT = 1200
_SEVERITY: dict[Outcome, int] = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
_FRAME_LOCATION = re.compile(r"^\S.*:\d+: \S")  # "tests/test_x.py:12: AssertionError", "x.py:3: in f"
_MAX_SPLIT_PARTS = 12


def parse_junit(xml: bytes | str, *, root: Path | None = None) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Outcomes and trimmed failure messages by node id. Raises ET.ParseError for a malformed file.

    `root` is pytest's rootdir on the host (the checkout); it resolves tests defined in another file.
    """
    tree = ET.fromstring(xml)
    outcomes: dict[str, Outcome] = {}
    messages: dict[str, str] = {}
    for case in tree.iter("testcase"):
        test_id = node_id(case.get("classname", ""), case.get("name", ""), case.get("file"), root=root)
        outcome, message = _outcome(case)
        previous = outcomes.get(test_id)
        if previous is not None and _SEVERITY[previous] > _SEVERITY[outcome]:
            continue
        outcomes[test_id] = outcome
        if message:
            messages[test_id] = message
        else:
            messages.pop(test_id, None)
    return outcomes, messages


def node_id(classname: str, name: str, file: str | None, *, root: Path | None = None) -> str:
    """The pytest node id for one JUnit testcase."""
    if not classname:
        return file or name
    if file:
        dotted = _dotted(file)
        if classname == dotted:
            return f"{file}::{name}"
        if classname.startswith(dotted + "."):
            return "::".join([file, *classname[len(dotted) + 1:].split("."), name])
    path, classes = _split_classname(classname, root)
    return "::".join([path, *classes, name])


def trim_failure(message: str, text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The assertion lines, exception type and frame locations of a pytest traceback, at most `limit` chars."""
    kept = [line.rstrip() for line in text.splitlines()
            if line.startswith((">", "E ")) or line.rstrip() == "E" or _FRAME_LOCATION.match(line)]
    if kept:
        body = "\n".join(kept)
    else:
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        first = message.strip().splitlines()[0] if message.strip() else ""
        body = "\n".join(([first] if first and first not in lines else []) + lines)
    return cut_middle(body, limit // 3, limit - limit // 3)


def _outcome(case: ET.Element) -> tuple[Outcome, str]:
    failures = case.findall("failure")
    errors = case.findall("error")
    outcome: Outcome
    if failures:
        outcome = "failed"
    elif errors:
        outcome = "error"
    elif case.find("skipped") is not None:
        return "skipped", ""
    else:
        return "passed", ""
    parts = [trim_failure(el.get("message", ""), el.text or "") for el in failures + errors]
    message = "\n---\n".join(p for p in parts if p)
    return outcome, cut_middle(message, MESSAGE_LIMIT // 3, MESSAGE_LIMIT - MESSAGE_LIMIT // 3)


def _dotted(path: str) -> str:
    return re.sub(r"\.py$", "", path.replace("/", "."))


def _split_classname(classname: str, root: Path | None) -> tuple[str, list[str]]:
    """The file path and class names hiding in a dotted `classname`, checked against files under `root`."""
    parts = classname.split(".")
    if root is not None:
        for cut in range(len(parts), 0, -1):
            for path in _paths_for(parts[:cut]):
                for candidate in (path + ".py", path):
                    if (root / candidate).is_file():
                        return candidate, parts[cut:]
    return "/".join(parts) + ".py", []


def _paths_for(parts: list[str]) -> list[str]:
    """Each way to join `parts` with "/" or "." (a directory or file name may contain dots); "/" first."""
    if len(parts) > _MAX_SPLIT_PARTS:
        return ["/".join(parts)]
    joins = itertools.product("/.", repeat=len(parts) - 1)
    return ["".join(p + s for p, s in zip(parts, (*seps, ""), strict=True)) for seps in joins]
