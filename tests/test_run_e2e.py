"""`be-agent run` end to end: the real command, the real SDK over HTTP to the stand-in, real git, bwrap and
pytest. A scripted model fixes the demo ledger; the branch comes back; the user's work is untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, repo_snapshot, run_cli
from tests.scripts import REPORT, ledger_fix
from tests.standin import StandinServer, reply, text, tool_use
from tests.test_verdict_attacks import TARGETS, UNRELATED

TASK = "Make a failed Ledger.transfer change nothing and reject non-positive amounts."


def _env(srv: StandinServer) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789", "ANTHROPIC_BASE_URL": srv.base_url}


def test_run_fixes_and_hands_back_a_tested_branch(busy_demo_repo: Path, state_dir: Path, tmp_path: Path):
    repo = busy_demo_repo
    before = repo_snapshot(repo)
    with StandinServer(ledger_fix()) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--base",
            "main",
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
    assert run.code == 0, run.stderr
    result = run.json
    assert result["status"] == "fixed"
    assert result["branch"].startswith("be-agent/make-a-failed-ledger-transfer")
    assert result["tests_before"]["failed"] == 3 and result["tests_after"]["failed"] == 0
    assert result["tests_after"]["failing"] == []
    assert result["verification"]["added_tests_fail_on_base"] is True
    assert result["steps"] == 8 and result["tokens"]["cache_read"] > 0 and result["tokens"]["output"] > 0
    assert result["cost_usd"] > 0 and result["price_source"].startswith("genai-prices ")
    assert Path(result["trajectory"]).is_file()
    assert result["report"]["summary"] == REPORT["summary"]

    # the user's repository: same branch, index, working tree and stash; one new branch
    assert repo_snapshot(repo) == before
    assert git(repo, "rev-parse", result["branch"]).strip() == result["commit"]
    log = git(repo, "log", "-1", "--format=%an%n%s%n%b", result["branch"])
    assert log.startswith("be-agent\nMake a failed Ledger.transfer")
    assert "Be-Agent-Run:" in log

    # the branch's tests pass on a fresh clone
    clone = tmp_path / "verify"
    subprocess.run(["git", "clone", "-q", "-b", result["branch"], str(repo), str(clone)], check=True)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
    assert "5 passed" in tests.stdout


def test_not_fixed_leaves_no_branch_but_keeps_diff_and_trajectory(busy_demo_repo: Path, state_dir: Path):
    repo = busy_demo_repo
    before = repo_snapshot(repo)
    branches_before = git(repo, "branch", "--list")
    give_up = {"summary": "could not do it", "gave_up": True, "reason": "the ledger is beyond me"}
    script = [
        reply(
            tool_use(
                "str_replace_based_edit_tool",
                {"command": "create", "path": "ledger/extra.py", "file_text": "X = 1\n"},
            )
        ),
        reply(tool_use("run_tests", {})),
        reply(tool_use("finish", give_up)),
    ]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--base",
            "main",
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
    assert run.code == 1, run.stderr
    result = run.json
    assert result["status"] == "not_fixed"
    assert "gave up" in result["reason"]
    assert result["branch"] is None and result["commit"] is None
    assert git(repo, "branch", "--list") == branches_before
    assert repo_snapshot(repo) == before
    assert "ledger/extra.py" in Path(result["diff"]).read_text()
    assert Path(result["trajectory"]).is_file()
    assert not (Path(result["run_dir"]) / "checkout").exists()


def test_a_change_that_breaks_a_passing_test_is_not_fixed_and_names_it(demo_repo: Path, state_dir: Path):
    breaking = tool_use(
        "str_replace_based_edit_tool",
        {
            "command": "str_replace",
            "path": "ledger/accounts.py",
            "old_str": "        self._balances[target] += amount_cents\n",
            "new_str": "        self._balances[target] += 0  # lost money\n",
        },
    )
    script = [reply(breaking), reply(tool_use("run_tests", {})), reply(text("Done, I believe."))]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
    assert run.code == 1
    result = run.json
    assert result["status"] == "not_fixed"
    assert result["verification"]["regressions"] == ["tests/test_accounts.py::test_transfer_moves_money"]
    assert "tests/test_accounts.py::test_transfer_moves_money" in result["reason"]
    assert result["branch"] is None


def test_a_secret_value_never_reaches_the_model_and_a_model_that_stops_calling_tools_is_judged(
    demo_repo: Path, state_dir: Path
):
    secret = "sk-ant-test-key-0123456789"  # the API key this run uses, committed by mistake
    (demo_repo / "settings.py").write_text(f"API_KEY = '{secret}'\nFIXTURE = 'ghp_notarealtoken1234'\n")
    git(demo_repo, "add", "settings.py")
    git(demo_repo, "commit", "-qm", "oops")
    script = [
        reply(tool_use("str_replace_based_edit_tool", {"command": "view", "path": "settings.py"})),
        reply(tool_use("bash", {"command": "cat settings.py"})),
        reply(text("done")),
    ]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
        bodies = [json.dumps(r.body) for r in srv.requests]
    # the model stops calling tools without changing anything: the harness judges, not the model
    assert run.code == 1
    assert run.json["status"] == "not_fixed" and run.json["tests_after"]["failed"] == 3
    assert all(secret not in body for body in bodies)
    assert "ghp_notarealtoken1234" in bodies[-1]  # a token-shaped fixture is still shown as it is
    assert "[REDACTED]" in bodies[-1]
    assert secret not in Path(run.json["trajectory"]).read_text()


def test_a_fix_judged_by_the_tests_its_task_names_caches_prompts_and_leaves_out_what_the_suite_writes(
    demo_repo: Path, state_dir: Path
):
    """One fixed run, four guarantees: the tests named in the task are the targets, so a known unrelated
    failure does not block the fix; every request uses prompt caching and sends the key only as its header;
    what the model reads first carries AGENTS.md and the baseline; files the test suite writes are not part
    of the change."""
    (demo_repo / "tests" / "conftest.py").write_text(
        "import pathlib, time\n\n\ndef pytest_sessionfinish(session):\n"
        "    out = pathlib.Path('reports')\n    out.mkdir(exist_ok=True)\n"
        "    (out / 'last run [ci].txt').write_text(str(time.time()))\n"
    )
    (demo_repo / "tests" / "test_env.py").write_text(UNRELATED)
    git(demo_repo, "add", "tests/conftest.py", "tests/test_env.py")
    git(demo_repo, "commit", "-qm", "tests write a report; one needs the network")
    task = (
        TASK + " See tests/test_accounts.py::test_rejects_non_positive_amount and "
        "tests/test_accounts.py::test_failed_transfer_changes_nothing."
    )
    with StandinServer(ledger_fix()) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            task,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
        requests = srv.requests
    assert run.code == 0, run.stderr
    result = run.json
    assert result["status"] == "fixed" and result["branch"]
    verification = result["verification"]
    assert verification["targets"] == TARGETS and verification["targets_source"] == "task"
    assert verification["already_failing"] == ["tests/test_env.py::test_needs_the_network"]
    body = git(demo_repo, "log", "-1", "--format=%b", result["branch"])
    assert "Still failing (already failing before): `tests/test_env.py::test_needs_the_network`" in body

    assert len(requests) == 8
    for req in requests:
        body_ = req.body
        assert body_["tools"][-1].get("cache_control") == {"type": "ephemeral"}
        assert body_["system"][-1].get("cache_control") == {"type": "ephemeral"}
        assert body_["messages"][-1]["content"][-1].get("cache_control") == {"type": "ephemeral"}
        assert req.api_key == "sk-ant-test-key-0123456789"
        assert "sk-ant-test-key" not in req.raw.decode().replace(req.headers.get("x-api-key", ""), "")
    tool_types = {t.get("type", "custom") for t in requests[0].body["tools"]}
    assert {"text_editor_20250728", "bash_20250124"} <= tool_types
    first = requests[0].body["messages"][0]["content"][0]["text"]
    assert "Amounts are integer cents" in first  # AGENTS.md reached the model
    assert "test_rejects_non_positive_amount[-5]" in first  # so did the baseline
    assert requests[-1].usage.get("cache_read_input_tokens", 0) > 0

    files = git(demo_repo, "show", "--name-only", "--format=", result["branch"]).split()
    assert sorted(files) == ["ledger/accounts.py", "tests/test_unknown_account.py"]
    assert "reports/" not in Path(result["diff"]).read_text()


def test_a_fix_that_only_works_with_an_ignored_file_is_not_fixed(demo_repo: Path, state_dir: Path):
    (demo_repo / ".gitignore").write_text("local_settings.py\n")
    git(demo_repo, "add", ".gitignore")
    git(demo_repo, "commit", "-qm", "ignore local settings")
    turns = ledger_fix()
    hidden = reply(
        tool_use(
            "str_replace_based_edit_tool",
            {"command": "create", "path": "local_settings.py", "file_text": "STRICT = True\n"},
        )
    )
    uses_it = reply(
        tool_use(
            "str_replace_based_edit_tool",
            {
                "command": "insert",
                "path": "ledger/accounts.py",
                "insert_line": 0,
                "insert_text": "import local_settings  # noqa: F401\n",
            },
        )
    )
    script = [*turns[:5], hidden, uses_it, *turns[5:]]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
    # the model's own test run passes in its checkout, where the ignored file exists; the branch would not
    assert run.code == 1, run.stderr
    assert run.json["status"] == "not_fixed"
    assert run.json["branch"] is None


def test_rewriting_the_failing_test_instead_of_the_code_is_refused_and_not_fixed(
    demo_repo: Path, state_dir: Path
):
    cheat = tool_use(
        "str_replace_based_edit_tool",
        {
            "command": "str_replace",
            "path": "tests/test_accounts.py",
            "old_str": '    with pytest.raises(InsufficientFunds):\n        ledger.transfer("alice", "bob", 150)\n'
            '    assert (ledger.balance("alice"), ledger.balance("bob")) == (100, 0)\n',
            "new_str": '    with pytest.raises(InsufficientFunds):\n        ledger.transfer("alice", "bob", 150)\n',
        },
    )
    finish = tool_use("finish", {"summary": "done"})
    script = [
        reply(cheat),
        reply(tool_use("run_tests", {"tests": ["tests/test_accounts.py"]})),
        reply(tool_use("run_tests", {})),
        reply(finish),
        reply(text("I am done.")),
    ]
    with StandinServer(script) as srv:
        run = run_cli(
            "run",
            "--repo",
            str(demo_repo),
            "--task",
            TASK,
            "--state-dir",
            str(state_dir),
            "--sandbox",
            "bwrap",
            "--json",
            env=_env(srv),
        )
        refusal = srv.requests[4].body["messages"][-1]["content"][0]
    assert refusal["is_error"] is True
    assert "You changed the test(s) the task is judged by" in json.dumps(refusal["content"])
    assert run.code == 1
    result = run.json
    assert result["verification"]["edited_targets"] == [
        "tests/test_accounts.py::test_failed_transfer_changes_nothing"
    ]
    assert "edits the test(s) it is judged by" in result["reason"]
