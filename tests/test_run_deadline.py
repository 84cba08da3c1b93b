"""`--max-time` bounds the whole run, model API retries included; a host that does not resolve is not retried
for long; a repository owned by another user gets git's own advice. Real SDK, real HTTP to the stand-in,
the real CLI."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.anthropic_model import RESOLVE_ATTEMPTS, AnthropicModel
from agent.errors import ModelAPIError
from agent.retry import DeadlineReached, RetryEvent, RetryPolicy
from tests.conftest import git, run_cli
from tests.sandbox_fixtures import needs_bwrap
from tests.standin import StandinServer, error

KEY = "sk-ant-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Fix the failing test."}]}]


def test_the_deadline_cuts_retries_that_the_budget_would_allow() -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(budget=600, base=0.05, cap=0.2)
    with StandinServer(when_exhausted=error(529)) as srv:
        model = AnthropicModel(
            "m", api_key=KEY, base_url=srv.base_url, retry_policy=policy, on_retry=events.append
        )
        deadline = time.monotonic() + 1.0
        with pytest.raises(DeadlineReached) as info:
            model.query(system=[], tools=[], messages=MESSAGES, deadline=deadline)
        attempts = srv.attempts
    assert "the run's --max-time came first" in str(info.value)
    assert attempts == len(events) + 1
    # no wait was started that would end after the deadline
    assert all(e.elapsed_s + e.wait_s < 1.0 + 0.05 for e in events)


def test_an_unresolvable_host_is_tried_a_few_times_then_named() -> None:
    events: list[RetryEvent] = []
    model = AnthropicModel(
        "m",
        api_key=KEY,
        base_url="http://api.host-that-does-not-exist.invalid",
        retry_policy=RetryPolicy(budget=600, base=0.01, cap=0.02),
        on_retry=events.append,
        request_timeout=10,
    )
    with pytest.raises(ModelAPIError) as info:
        model.query(system=[], tools=[], messages=MESSAGES)
    assert not isinstance(info.value, DeadlineReached)
    assert len(events) == RESOLVE_ATTEMPTS - 1
    said = str(info.value)
    assert said.startswith("model API host not found")
    assert "api.host-that-does-not-exist.invalid cannot be resolved" in said and "ANTHROPIC_BASE_URL" in said
    assert f"at most {RESOLVE_ATTEMPTS} attempts" in said


@needs_bwrap
@pytest.mark.slow  # through the real CLI
def test_max_time_ends_a_run_whose_model_api_keeps_failing(demo_repo: Path, state_dir: Path) -> None:
    # a retry budget of ten minutes, a run limit of 15 s: the run limit wins, and the run ends as a limit
    with StandinServer(when_exhausted=error(529)) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            "Make a failed Ledger.transfer change nothing.",
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            "--max-time",
            "15",
            "--retry-budget",
            "600",
            env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": srv.base_url},
        )
    assert run.code == 1, run.stderr
    assert run.json["status"] == "not_fixed"
    assert run.json["reason"].startswith("time limit 15 s reached"), run.json["reason"]
    assert run.json["branch"] is None and "be-agent/" not in git(demo_repo, "branch", "--list")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a repository to another user needs root")
@pytest.mark.slow  # through the real CLI
def test_a_repository_owned_by_another_user_gets_gits_safe_directory_advice(
    demo_repo: Path, state_dir: Path
) -> None:
    for top, dirs, files in os.walk(demo_repo):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(top, name), 65534, 65534)
    os.lchown(demo_repo, 65534, 65534)
    run = run_cli("run", "--repo", str(demo_repo), "--task", "anything", "--state-dir", str(state_dir))
    assert run.code == 2
    line = run.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "dubious ownership" in line and f"git config --global --add safe.directory {demo_repo}" in line
    assert "not a git repository" not in line
