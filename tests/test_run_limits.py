"""A run ends in a known state: API faults (exit 3, nothing committed), a cost limit (not_fixed with the
reason), and the finish gate seeing an edit made through bash. How the loop ends on each limit, a stuck
model and a refused finish is tested on the loop alone (test_loop.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git, repo_snapshot, run_cli
from tests.scripts import ledger_fix, quick_ledger_fix
from tests.standin import StandinServer, drop, error, reply, tool_use

TASK = "Make a failed Ledger.transfer change nothing."
KEY = "sk-ant-test-key-0123456789"


def _run(repo: Path, state_dir: Path, srv: StandinServer, *extra: str):
    return run_cli(
        "run",
        "--repo",
        str(repo),
        "--task",
        TASK,
        "--state-dir",
        str(state_dir),
        "--sandbox",
        "bwrap",
        "--json",
        *extra,
        env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": srv.base_url},
    )


def test_persistent_overload_gives_up_within_the_budget_with_exit_3(demo_repo: Path, state_dir: Path):
    before = repo_snapshot(demo_repo)
    branches = git(demo_repo, "branch", "--list")
    with StandinServer(when_exhausted=error(529)) as srv:
        run = _run(demo_repo, state_dir, srv, "--retry-budget", "3")
        attempts = len(srv.requests)
    assert run.code == 3, run.stderr
    assert "model API overloaded (529)" in run.stderr and "gave up" in run.stderr
    assert run.json["status"] == "error" and run.json["exit_code"] == 3
    assert 2 <= attempts <= 6
    assert KEY not in run.stderr + run.stdout
    assert repo_snapshot(demo_repo) == before and git(demo_repo, "branch", "--list") == branches


def test_an_invalid_key_fails_at_once_with_what_the_api_said(demo_repo: Path, state_dir: Path):
    with StandinServer([error(401)]) as srv:
        run = _run(demo_repo, state_dir, srv)
        attempts = len(srv.requests)
    assert run.code == 3
    assert attempts == 1
    assert "401 authentication_error" in run.stderr


def test_transient_faults_are_retried_and_the_run_still_fixes_with_an_unknown_model_s_cost_unknown(
    demo_repo: Path, state_dir: Path
):
    turns = quick_ledger_fix()
    script = [error(529, count=2), turns[0], error(429, retry_after=0.2), turns[1], drop(), *turns[2:]]
    with StandinServer(script) as srv:
        run = _run(demo_repo, state_dir, srv, "--model", "claude-imaginary-9")
        attempts = len(srv.requests)
    assert run.code == 0, run.stderr
    assert run.json["status"] == "fixed"
    assert attempts == len(turns) + 4
    # a model without a known price still runs; its cost is reported as unknown, never as a made-up number
    assert run.json["cost_usd"] is None and run.json["price_source"] is None
    assert "cost ?" in run.stderr


def test_a_cost_limit_on_a_model_without_a_price_is_refused_at_the_start(demo_repo: Path, state_dir: Path):
    with StandinServer(ledger_fix()) as srv:
        run = _run(demo_repo, state_dir, srv, "--model", "claude-imaginary-9", "--max-cost", "0.0001")
        attempts = len(srv.requests)
    assert run.code == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("be-agent: error: ")]
    assert len(errors) == 1
    assert errors[0].startswith("be-agent: error: --max-cost needs a price for claude-imaginary-9")
    assert "--price 'claude-imaginary-9=INPUT,OUTPUT'" in errors[0]
    assert run.json["status"] == "error" and run.json["exit_code"] == 2
    assert attempts == 0 and not (state_dir / "runs").exists()


def test_with_the_users_price_the_cost_limit_applies_to_any_model(demo_repo: Path, state_dir: Path):
    with StandinServer(ledger_fix()) as srv:
        run = _run(
            demo_repo, state_dir, srv,
            "--model", "claude-imaginary-9", "--price", "claude-imaginary-9=1,5", "--max-cost", "0.0001",
        )  # fmt: skip
    assert run.code == 1, run.stderr
    assert run.json["reason"].startswith("cost limit $0.00 reached") and run.json["steps"] == 1
    assert run.json["price_source"] == "your prices, from --price" and run.json["cost_usd"] > 0


def test_an_edit_through_bash_after_the_last_test_run_is_seen_by_the_finish_gate(
    demo_repo: Path, state_dir: Path
):
    turns = ledger_fix()  # ... edits, run_tests (step 7), finish
    finish = turns[-1]
    comment = "sed -i '1a # balances are integer cents' ledger/accounts.py"
    script = [*turns[:7], reply(tool_use("bash", {"command": comment})), finish, turns[6], finish]
    with StandinServer(script) as srv:
        run = _run(demo_repo, state_dir, srv)
        requests = srv.requests
    assert run.code == 0, run.stderr
    refusal = requests[9].body["messages"][-1]["content"][0]
    assert refusal["is_error"] is True
    assert "No full test run since your last edit at step 8" in json.dumps(refusal["content"])
    assert run.json["steps"] == 11
