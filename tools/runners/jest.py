"""Jest and Vitest: their JSON report (`--json --outputFile=FILE`; `--reporter=json --outputFile=FILE`), the
same shape for both: per test file its path and, per test, the names of its describe blocks, its title and
status. Ids read `test/math.test.js::suite > adds`; a file that fails before its tests run (a syntax error,
an import that throws) is an error with the file's path as id.

The command is the repository's (a package.json script, `npx jest`, `vitest run`) with
`node_modules/.bin` first on PATH, as `npm test` would have it. Narrowing: the asked files as paths and a
`-t` pattern matching the asked tests' full names (describe blocks and title, joined by spaces) as
literals; tests run but not asked for (`-t` matches by name) are left out of the report.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.runners.base import Results, ResultsUnreadable, escape_regex, program, split_id, words
from tools.test_report import Outcome

SEP = " > "
PATH_PREFIX = 'export PATH="$PWD/node_modules/.bin:$PATH"; '
_STATUS: dict[str, Outcome] = {
    "passed": "passed",
    "failed": "failed",
    "pending": "skipped",
    "skipped": "skipped",
    "todo": "skipped",
    "disabled": "skipped",
}


def _program_at(command: str, name: str) -> int | None:
    w = words(command)
    for i, word in enumerate(w[:3]):  # `jest`, `npx jest`, `npx --no-install jest`, `node_modules/.bin/jest`
        if program(word) == name:
            return i
        if program(word) not in ("npx", "pnpm", "yarn", "bunx") and not word.startswith("-"):
            return None
    return None


def recognises_jest(command: str) -> bool:
    return _program_at(command, "jest") is not None


def recognises_vitest(command: str) -> bool:
    return _program_at(command, "vitest") is not None


class _JsonRunner:
    name = ""
    structured = True
    narrowable = True
    sep = SEP  # between a test's names in its id
    suffix = ".json"
    support: dict[str, str] = {}
    anchor = "^"

    def _report_options(self, result: str) -> list[str]:
        raise NotImplementedError

    def _narrowing(self, files: list[str], pattern: str | None) -> list[str]:
        raise NotImplementedError

    def _base(self, command: str) -> list[str]:
        return words(command)

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        w = self._base(command)
        narrowing: list[str] = []
        if ids:
            files = sorted({split_id(t)[0] for t in ids})
            names = [split_id(t)[1] for t in ids]
            pattern = None
            if all(names):
                pattern = (
                    self.anchor
                    + "("
                    + "|".join(escape_regex(n.replace(SEP, " ")) for n in sorted(set(names)))
                    + ")"
                )
            narrowing = self._narrowing(files, pattern)
        quoted = [shlex.quote(x) for x in [*w, *self._report_options(result)]] + list(extra)
        return PATH_PREFIX + " ".join(quoted + [shlex.quote(x) for x in narrowing])

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        try:
            report = json.loads(data.decode("utf-8", "replace"))
            files = report["testResults"]
            if not isinstance(files, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ResultsUnreadable("not a JSON report of the runner") from None
        results = Results.empty()
        for entry in files:
            _read_file(entry, root, results)
        return results


def _relative(path: str, root: Path, workdir_hint: str | None = None) -> str:
    """A file path from the report (absolute, inside the sandbox) relative to the tree's root."""
    if not posixpath.isabs(path):
        return posixpath.normpath(path)
    parts = path.strip("/").split("/")
    # the tree is shown in the sandbox at some absolute path: the longest tail of `path` that exists in it
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        if (root / tail).exists() and not (root / tail).is_symlink():
            return tail
    return path


def _read_file(entry: Any, root: Path, results: Results) -> None:
    if not isinstance(entry, dict):
        raise ResultsUnreadable("a test file's entry is not an object")
    file = _relative(str(entry.get("name") or entry.get("testFilePath") or "?"), root)
    cases = entry.get("assertionResults") or entry.get("testResults") or []
    if not isinstance(cases, list):
        raise ResultsUnreadable("a test file's tests are not a list")
    for case in cases:
        if not isinstance(case, dict):
            raise ResultsUnreadable("a test's entry is not an object")
        names = [str(n) for n in case.get("ancestorTitles") or [] if str(n)] + [str(case.get("title", ""))]
        outcome = _STATUS.get(str(case.get("status")), "error")
        messages = case.get("failureMessages") or []
        results.add(f"{file}::{SEP.join(names)}", outcome, "\n".join(str(m) for m in messages))
    if str(entry.get("status")) == "failed" and not any(
        t.startswith(file + "::") for t in results.failing_ids()
    ):
        results.add(file, "error", str(entry.get("message") or "the test file failed"))


class Jest(_JsonRunner):
    name = "jest"
    anchor = "^"

    def _report_options(self, result: str) -> list[str]:
        return ["--json", f"--outputFile={result}", "--ci"]

    def _narrowing(self, files: list[str], pattern: str | None) -> list[str]:
        return [*(["-t", pattern] if pattern else []), "--runTestsByPath", *files]


class Vitest(_JsonRunner):
    name = "vitest"
    anchor = "^ ?"  # a full name starts with the file's suite, whose name is empty

    def _base(self, command: str) -> list[str]:
        w = words(command)
        at = _program_at(command, "vitest")
        if at is not None and (len(w) == at + 1 or w[at + 1] not in ("run", "related")):
            w.insert(at + 1, "run")  # never watch mode
        return w

    def _report_options(self, result: str) -> list[str]:
        return ["--reporter=json", f"--outputFile={result}", "--reporter=default"]

    def _narrowing(self, files: list[str], pattern: str | None) -> list[str]:
        return [*(["-t", pattern] if pattern else []), *files]
