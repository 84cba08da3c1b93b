"""Interruption: real signals sent to a real `be-agent` process in the middle of a sandboxed command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, agent_env, repo_snapshot, run_cli
from tests.standin import StandinServer, reply, text, tool_use

TASK = "Fix the ledger."
MARKER = "agent-command-started"


def _start(repo: Path, state_dir: Path, srv: StandinServer) -> subprocess.Popen[str]:
    env = agent_env({"ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL": srv.base_url})
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
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
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_marker(state_dir: Path, proc: subprocess.Popen[str], deadline_s: float = 60) -> Path:
    """The long command is running once its marker exists in the run's checkout."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = list(state_dir.glob(f"runs/*/checkout/{MARKER}"))
        if found:
            return found[0].parent.parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the long-running command never started")


def _long_command_script(seconds: int) -> list:
    """A command that would run for `seconds` (a number unique to the test, to find its process)."""
    command = f"touch {MARKER}; exec sleep {seconds}"
    return [reply(tool_use("bash", {"command": command}))]


def _sleep_gone(seconds: int) -> bool:
    needle = f"sleep\x00{seconds}\x00".encode()
    for proc_dir in Path("/proc").iterdir():
        try:
            if proc_dir.name.isdigit() and needle in (proc_dir / "cmdline").read_bytes():
                return False
        except OSError:
            continue
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_run_cleanly(busy_demo_repo: Path, state_dir: Path, sig: signal.Signals):
    before = repo_snapshot(busy_demo_repo)
    seconds = 4000 + int(sig)
    with StandinServer(_long_command_script(seconds)) as srv:
        proc = _start(busy_demo_repo, state_dir, srv)
        run_dir = _wait_for_marker(state_dir, proc)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "be-agent: error: interrupted" in stderr
    assert json.loads(stdout.strip().splitlines()[-1])["exit_code"] == 130
    assert repo_snapshot(busy_demo_repo) == before
    assert not (run_dir / "checkout").exists()
    records = [json.loads(line) for line in (run_dir / "trajectory.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "end" and records[-1]["exit_code"] == 130
    deadline = time.monotonic() + 10
    while not _sleep_gone(seconds) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleep_gone(seconds)


def test_kill_9_leaves_a_run_directory_that_the_next_run_cleans(demo_repo: Path, state_dir: Path):
    before = repo_snapshot(demo_repo)
    with StandinServer(_long_command_script(4099)) as srv:
        proc = _start(demo_repo, state_dir, srv)
        run_dir = _wait_for_marker(state_dir, proc)
        proc.kill()
        proc.communicate(timeout=30)
    assert (run_dir / "checkout").exists()  # what kill -9 leaves behind
    deadline = time.monotonic() + 10
    while not _sleep_gone(4099) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleep_gone(4099), "the sandboxed command outlived the killed agent"
    assert repo_snapshot(demo_repo) == before
    with StandinServer([reply(text("nothing to do"))]) as srv:
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
            env={"ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL": srv.base_url},
        )
    assert run.code == 1
    assert "cleaned_abandoned_run" in run.stderr and run_dir.name in run.stderr
    assert not (run_dir / "checkout").exists()
    assert json.loads((run_dir / "result.json").read_text())["reason"].startswith("abandoned")
    assert (run_dir / "trajectory.jsonl").exists()
