"""The verify stage: from a committed change to the `Evidence` the verdict is decided from.

Test runs, each in its own fresh copy (agent/harness_tests.py): the change's own test modules (narrowed to
them), ONE verdict run of the whole suite with the original tests, a re-run of the tests that broke (to tell
flaky from broken), and the change's test modules on the base code. Then the change's static check and the
runtime check's findings (agent/change_check.py). The decision itself is `agent.verdict.decide`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent import targets as tg
from agent import workspace as ws
from agent.change_check import ChangeFacts, inspect_change, runtime_findings
from agent.harness_tests import HarnessTests, planted_finding
from agent.test_files import is_test_module
from agent.verdict import Evidence, added_tests_result, disagreements, edited_definitions
from agent.verification import AddedTests
from agent.workspace import git
from tools.paths import read_bytes
from tools.test_report import TestReport


@dataclass
class Verified:
    evidence: Evidence
    facts: ChangeFacts = field(default_factory=ChangeFacts)


def verify(
    harness: HarnessTests,
    checkout: Path,
    *,
    base: str,
    commit: str | None,
    baseline: TestReport,
    flaky: list[str],
    targets: tg.Targets,
    structured_runner: bool,
) -> Verified:
    if commit is None:
        return Verified(Evidence(baseline=baseline, final=None, targets=targets, flaky=flaky))
    entries = ws.changed_entries(checkout, base, commit)
    harness.changed = sorted(p for _, _, p in entries)
    regular = [p for status, mode, p in entries if status != "D" and mode in ("100644", "100755")]
    facts = inspect_change(checkout, base, commit)
    own = sorted(p for p in regular if is_test_module(p))
    findings = list(facts.findings)

    change_run = harness.change_tests(commit, own) if own else None
    final_run = harness.verdict(commit)
    final = final_run.report
    broke = [t for t in final.failing if baseline.outcomes.get(t) == "passed"]
    again = harness.verdict(commit, broke).report if broke and final.structured else None
    flaky = sorted({*flaky, *disagreements(final, again, broke)})

    added: AddedTests | None = None
    if change_run is not None:
        on_base = harness.added_on_base(commit, own).report
        added = added_tests_result(own, change_run.report, on_base, structured_runner=structured_runner)
    if targets.source == "added tests":
        names = added.failing_on_base if added is not None and added.fail_on_base else []
        targets = tg.Targets(source="added tests", names=names)

    for run in (change_run, final_run):
        if run is not None and (sentence := planted_finding(run)):
            findings.append(sentence)
    if structured_runner:
        if targets.source != "added tests":
            findings += runtime_findings(baseline, final, tg.target_ids(targets, final), "the verdict run")
        if change_run is not None:
            must_run = targets.names if targets.source == "added tests" else []
            findings += runtime_findings(
                baseline, change_run.report, must_run, "the run of the change's own tests"
            )
        if again is not None:  # a test it shows passing counts as flaky, not broken: it must have passed
            findings += runtime_findings(baseline, again, broke, "the verdict's re-run")
    evidence = Evidence(
        baseline=baseline,
        final=final,
        targets=targets,
        flaky=flaky,
        change_tests=change_run.report if change_run is not None else None,
        added=added,
        edited_targets=edited_targets(checkout, base, targets.names)
        if targets.source != "added tests"
        else [],
        findings=findings,
        structured_runner=structured_runner,
    )
    return Verified(evidence, facts)


def edited_targets(checkout: Path, base_commit: str, names: Iterable[str]) -> list[str]:
    """Target tests whose own definition the change edits in the checkout. A fix makes the original test
    pass; a test rewritten to pass proves nothing. Only Python test functions are checked."""
    edited = []
    for target in names:
        path = target.partition("::")[0]
        if "::" not in target or not path.endswith(".py"):
            continue
        base = git(checkout, "show", f"{base_commit}:{path}", check=False)
        if base.returncode != 0:
            continue  # not in the base commit: not an original test
        try:  # never follow a link the model planted: read it as the editor would
            now: str | None = read_bytes(checkout, checkout / path).decode("utf-8", "replace")
        except Exception:
            now = None
        if edited_definitions(base.stdout, now, target):
            edited.append(target)
    return sorted(edited)
