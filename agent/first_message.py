"""What the model is told at the start of a run, in this order: the task (marked untrusted when it came from
an issue or a CI log), the repository's guidance, the tests the run is judged by, how the harness set the
tests up, and the baseline test run (untrusted: the repository's tests print it).

The text passes through the secret redaction before it leaves, like every message to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agent import targets as tg
from agent.guidance import load_guidance
from agent.logs import redact_secret_values
from agent.untrusted import untrusted_section, untrusted_task


@dataclass(frozen=True)
class Briefing:
    """Everything the first message is made of."""

    task: str
    task_untrusted: bool
    checkout: Path  # where the repository's guidance files are read
    test_command: str
    baseline_summary: str  # the baseline run as the tests tool summarises it
    targets: tg.Targets
    notes: list[str] = field(default_factory=list)  # what the harness did so the tests import the checkout


def targets_note(targets: tg.Targets) -> str:
    """What the model is told about the tests the run is judged by (the gate holds it to the same)."""
    if targets.source in ("--tests", "task"):
        return "# Tests that must pass when you are done\n" + "\n".join(targets.names)
    if targets.source == "follow-up":
        return (
            "# Tests that must pass when you are done\nThe tests the earlier runs on this branch fixed, and "
            "those the comments name; no test that passes now may break.\n" + "\n".join(targets.names)
        )
    if targets.source == "baseline failures":
        return (
            "# Tests that must pass when you are done\nThe tests failing in the baseline run below. If some of "
            "them fail for reasons unrelated to the task, list the ones your change fixes in the finish "
            "report's `fixes_tests`; the others are then reported as already failing."
        )
    return (
        "# Tests that must pass when you are done\nNo test fails at baseline, so the run is judged by the "
        "tests your change adds: add at least one that fails on the original code and passes with your change."
    )


def first_message(brief: Briefing) -> str:
    parts = []
    if brief.task_untrusted:
        parts.append(untrusted_task(brief.task))
    else:
        parts.append("# Task\n" + brief.task.strip())
    for rel, text in load_guidance(brief.checkout):
        parts.append(f"# Repository guidance: {rel}\n{text.strip()}")
    parts.append(targets_note(brief.targets))
    if brief.notes:
        parts.append("# How the tests are set up here\n" + "\n".join(f"- {n}" for n in brief.notes))
    heading = f"# Baseline test run (before any change): `{brief.test_command}`"
    parts.append(untrusted_section(heading, "output of the repository's tests", brief.baseline_summary))
    return redact_secret_values("\n\n".join(parts))
