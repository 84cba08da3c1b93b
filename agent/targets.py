"""The tests a run is judged by (its targets): one definition for the finish gate, the verdict, the report and
the JSON result.

The first source that names any, in this order:
1. `--tests ID...` (the user's word, kept as given);
2. a follow-up on a branch be-agent already fixed (`respond`, `fix-issue` on its open pull request): the
   tests the earlier runs on the branch fixed (their commits' `Be-Agent-Targets` trailers; those the baseline
   no longer has were removed by someone since, and are dropped) plus every test id the follow-up's
   comments name (`requested`; the rest of the task is context). They pass at baseline by design: the follow-up must keep them passing, and the earlier runs' verdicts were the
   evidence that they failed before the work began;
3. test ids in the task text (`tests/test_x.py::test_y`), except those that already pass at baseline
   (those are context, not work to do);
4. `fixes_tests` of the finish report: the failing tests the model says its change fixes, each of which must
   fail at baseline;
5. every test that failed at baseline and is not flaky;
6. with no failing test at baseline: the change's own added tests that fail on the original code and pass
   on the change (known only after the harness ran them on the base; see `agent.added_tests`).

A name is a test id, a file, or an id without its parameters (`t.py::test_a` stands for every `test_a[...]`).
Tests that failed at baseline and are not targets are "still failing (already failing before)": reported,
never blocking. Everything here is pure: data in, data out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, Field

from tools.test_report import TestReport

TargetSource = Literal["--tests", "follow-up", "task", "finish report", "baseline failures", "added tests"]

_FAILING = ("failed", "error")
# a pytest node id written in prose: a path ending in .py, then one or more ::names, then optional [params]
_ID_IN_TEXT = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.py(?:::[A-Za-z_]\w*)+(?:\[[^\]\s`'\"]*\])?)")


class Targets(BaseModel):
    source: TargetSource
    names: list[str] = Field(default_factory=list)


def resolve(name: str, outcomes: Mapping[str, str]) -> list[str]:
    """The ids a name stands for in a run: itself, or every id under it as a file, class or parametrisation."""
    if name in outcomes:
        return [name]
    return sorted(t for t in outcomes if t.startswith((name + "::", name + "[")))


def _ancestors(test_id: str) -> list[str]:
    """The ids that contain `test_id`: its file, its classes, and the test without its parameters."""
    parts = test_id.split("::")
    found = ["::".join(parts[:i]) for i in range(1, len(parts))]
    if "[" in test_id:
        found.append(test_id[: test_id.index("[")])
    return found


def failed_as_a_whole(test_id: str, report: TestReport) -> bool:
    """The test's file or class failed in `report` (e.g. a collection error), so it had no outcome of its own."""
    return any(report.outcomes.get(a) in _FAILING for a in _ancestors(test_id))


def failed_at(name: str, report: TestReport) -> bool:
    """At least one id `name` stands for failed in `report`, or its whole file or class did."""
    ids = resolve(name, report.outcomes)
    if any(report.outcomes[t] in _FAILING for t in ids):
        return True
    return failed_as_a_whole(name, report)


def passed_at(name: str, report: TestReport) -> bool:
    """`name` stands for at least one id in `report` and every one of them passed."""
    ids = resolve(name, report.outcomes)
    return bool(ids) and all(report.outcomes[t] == "passed" for t in ids)


def ids_in_text(text: str) -> list[str]:
    """Test ids written in a task, in order of first mention, without duplicates."""
    return list(dict.fromkeys(m.group(1) for m in _ID_IN_TEXT.finditer(text)))


def claim_problems(claimed: Iterable[str], baseline: TestReport) -> list[str]:
    """The claimed ids (finish report `fixes_tests`) that did not fail at baseline."""
    return [name for name in claimed if not failed_at(name, baseline)]


def choose(
    *,
    named: Iterable[str] = (),
    in_force: Iterable[str] = (),
    requested: Iterable[str] = (),
    task_ids: Iterable[str] = (),
    claimed: Iterable[str] = (),
    baseline: TestReport,
    flaky: Iterable[str] = (),
) -> Targets:
    """The targets by the order in the module docstring. For source 6 the names are still empty: they are
    the added tests shown to fail on the base, which only the harness's run on the base can tell."""
    named = [n for n in named if n.strip()]
    if named:
        return Targets(source="--tests", names=named)
    kept = [n for n in in_force if n.strip() and resolve(n, baseline.outcomes)]
    if kept:
        asked = [n for n in requested if n.strip()]
        return Targets(source="follow-up", names=list(dict.fromkeys([*kept, *asked])))
    from_task = [n for n in task_ids if not passed_at(n, baseline)]
    if from_task:
        return Targets(source="task", names=from_task)
    claims = [n for n in claimed if n.strip()]
    if claims and not claim_problems(claims, baseline):
        return Targets(source="finish report", names=list(dict.fromkeys(claims)))
    flaky_set = set(flaky)
    failing = [t for t in baseline.failing if t not in flaky_set]
    if failing:
        return Targets(source="baseline failures", names=failing)
    return Targets(source="added tests")


def target_ids(targets: Targets, run: TestReport) -> list[str]:
    """The ids the targets stand for in `run`; a name with no id there stands for itself."""
    found: list[str] = []
    for name in targets.names:
        found += resolve(name, run.outcomes) or [name]
    return sorted(set(found))


def not_passing(targets: Targets, run: TestReport) -> list[str]:
    """Target ids that did not pass in `run` (failing, skipped or missing)."""
    return [t for t in target_ids(targets, run) if run.outcomes.get(t) != "passed"]


def already_failing(targets: Targets, baseline: TestReport, run: TestReport) -> list[str]:
    """Tests that failed at baseline, are not targets, and still do not pass: reported, never blocking."""
    covered = set(target_ids(targets, baseline)) | set(targets.names)
    still: list[str] = []
    for failed in baseline.failing:
        inside = any(c.startswith((failed + "::", failed + "[")) for c in covered)
        if failed in covered or inside or any(a in covered for a in _ancestors(failed)):
            continue
        ids = resolve(failed, run.outcomes)
        if not ids or any(run.outcomes[t] != "passed" for t in ids):
            still.append(failed)
    return sorted(still)


def describe(targets: Targets) -> str:
    """Where the targets came from, for sentences: "named with --tests", "from the task", ..."""
    return {
        "--tests": "named with --tests",
        "follow-up": "fixed by the earlier runs on this branch, or named in the comments",
        "task": "named in the task",
        "finish report": "named in the finish report's fixes_tests",
        "baseline failures": "failing at baseline",
        "added tests": "added by the change",
    }[targets.source]
