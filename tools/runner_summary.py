"""Counts from a test runner's own summary line, for runs without per-test results.

These counts are coarse: no test ids, no messages, and only as true as the runner's last words. They are
shown to the model and in results (marked `coarse`); they never count as evidence for a verdict. Known
shapes, the last one in the output winning: unittest (`Ran 12 tests` then `OK` or `FAILED (failures=1)`),
TAP (`# pass 3` / `# fail 1` summaries, else the `ok` / `not ok` lines when the output was not cut),
pytest-like (`3 failed, 10 passed, 1 skipped in 0.5s`), Jest and Vitest (`Tests: 1 failed, 5 passed`),
Mocha (`5 passing`, `1 failing`), Go (`--- PASS` / `--- FAIL` lines) and cargo (`test result: ... 3 passed;
1 failed; 0 ignored`).
"""

from __future__ import annotations

import re

Counts = dict[str, int]

_WORDS = {
    "passed": "passed",
    "passing": "passed",
    "pass": "passed",
    "ok": "passed",
    "failed": "failed",
    "failing": "failed",
    "fail": "failed",
    "failures": "failed",
    "error": "error",
    "errors": "error",
    "skipped": "skipped",
    "skip": "skipped",
    "pending": "skipped",
    "ignored": "skipped",
    "xfailed": "skipped",
    "deselected": None,
    "xpassed": "passed",
    "todo": "skipped",
    "expected failures": "skipped",
    "unexpected successes": "failed",
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+m?s\s*$", re.M)
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \(([^)]*)\))?\s*$", re.M)
_PYTEST_LINE = re.compile(
    r"^=*\s*((?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)"
    r"(?:, )?)+) in [\d.]+\s*s",
    re.M,
)
_JEST_LINE = re.compile(r"^\s*Tests:?\s+(.*?\d+ (?:passed|failed|skipped|todo).*)$", re.M)
_MOCHA = re.compile(r"^\s+(\d+) (passing|failing|pending)\b", re.M)
_TAP_SUMMARY = re.compile(r"^# (pass|fail|skip|todo)\s+(\d+)\s*$", re.M)
_TAP_LINE = re.compile(r"^(not ok|ok)\b(?:\s+\d+)?[^\n#]*(#\s*(SKIP|TODO)\b)?", re.M | re.I)
_TAP_PLAN = re.compile(r"^1\.\.(\d+)", re.M)
_GO_LINE = re.compile(r"^\s*--- (PASS|FAIL|SKIP):", re.M)
_CARGO = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M)
_COUNT = re.compile(r"(\d+) ([a-z ]+?)(?=[,;|()]|$)")


def _empty() -> Counts:
    return {"passed": 0, "failed": 0, "error": 0, "skipped": 0}


def _from_words(text: str) -> Counts | None:
    counts, seen = _empty(), False
    for number, word in _COUNT.findall(text.lower()):
        key = _WORDS.get(word.strip())
        if key:
            counts[key] += int(number)
            seen = True
    return counts if seen else None


def _unittest(text: str) -> tuple[int, Counts] | None:
    ran = list(_UNITTEST_RAN.finditer(text))
    if not ran:
        return None
    last = ran[-1]
    end = _UNITTEST_END.search(text, last.end())
    if end is None:
        return None
    counts = _empty()
    details = {}
    for part in (end.group(2) or "").split(","):
        key, _, value = part.strip().partition("=")
        if value.isdigit():
            details[key.strip()] = int(value)
    counts["failed"] = details.get("failures", 0) + details.get("unexpected successes", 0)
    counts["error"] = details.get("errors", 0)
    counts["skipped"] = details.get("skipped", 0) + details.get("expected failures", 0)
    counts["passed"] = max(0, int(last.group(1)) - counts["failed"] - counts["error"] - counts["skipped"])
    return end.end(), counts


def _tap(text: str, complete: bool) -> tuple[int, Counts] | None:
    summary = list(_TAP_SUMMARY.finditer(text))
    if summary:
        counts = _empty()
        for match in summary:
            key = {"pass": "passed", "fail": "failed", "skip": "skipped", "todo": "skipped"}[match.group(1)]
            counts[key] += int(match.group(2))
        return summary[-1].end(), counts
    if not complete or not _TAP_PLAN.search(text):
        return None
    lines = list(_TAP_LINE.finditer(text))
    if not lines:
        return None
    counts = _empty()
    for match in lines:
        if match.group(3):
            counts["skipped"] += 1
        elif match.group(1).lower() == "ok":
            counts["passed"] += 1
        else:
            counts["failed"] += 1
    return lines[-1].end(), counts


def _last_of(pattern: re.Pattern[str], text: str) -> tuple[int, Counts] | None:
    matches = list(pattern.finditer(text))
    for match in reversed(matches):
        counts = _from_words(match.group(1))
        if counts is not None:
            return match.end(), counts
    return None


def _mocha(text: str) -> tuple[int, Counts] | None:
    matches = list(_MOCHA.finditer(text))
    if not matches:
        return None
    counts = _empty()
    for match in matches:
        counts[_WORDS[match.group(2)] or "skipped"] = int(match.group(1))
    return matches[-1].end(), counts


def _go(text: str, complete: bool) -> tuple[int, Counts] | None:
    matches = list(_GO_LINE.finditer(text))
    if not matches or not complete:
        return None
    counts = _empty()
    for match in matches:
        counts[{"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[match.group(1)]] += 1
    return matches[-1].end(), counts


def _cargo(text: str) -> tuple[int, Counts] | None:
    matches = list(_CARGO.finditer(text))
    if not matches:
        return None
    counts = _empty()
    for match in matches:  # one line per test binary: they add up
        counts["passed"] += int(match.group(1))
        counts["failed"] += int(match.group(2))
        counts["skipped"] += int(match.group(3))
    return matches[-1].end(), counts


def summary_counts(output: str, *, complete: bool = True) -> Counts | None:
    """The counts the runner printed last, or None when no known summary is in `output`. `complete` is False
    when the middle of the output was cut: then per-test lines are not counted, only summary lines."""
    text = _ANSI.sub("", output.replace("\r\n", "\n"))
    found = [
        f
        for f in (
            _unittest(text),
            _tap(text, complete),
            _last_of(_PYTEST_LINE, text),
            _last_of(_JEST_LINE, text),
            _mocha(text),
            _go(text, complete),
            _cargo(text),
        )
        if f is not None
    ]
    if not found:
        return None
    return max(found, key=lambda f: f[0])[1]
