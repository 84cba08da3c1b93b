"""bench/overhead.py runs end to end on a short recording and prints its tables (numbers are not judged), and
the shell form of a recording does what the recorded tool calls did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.demo import RECORDING, make_demo_repo
from agent.trajectory import read_records
from bench.mini_side import default_environment_dir
from bench.shell_steps import shell_steps
from tests.sandbox_fixtures import needs_bwrap
from tools.editor import EditorTool

ROOT = Path(__file__).resolve().parent.parent
SMALL_SIDE_BY_SIDE = ("--rounds", "1", "--extra-files", "200")
MINI_INSTALLED = (default_environment_dir() / ".installed").is_file()


@needs_bwrap
@pytest.mark.bwrap
@pytest.mark.timeout(300)
def test_overhead_bench_replays_a_short_recording_and_prints_the_tables(tmp_path: Path) -> None:
    """One run of the whole bench: the replay and cache tables, and the side by side, with mini-swe-agent when
    its environment is installed (both harnesses give the same exit codes) and `--no-mini` otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "bench/overhead.py",
            "--trajectory",
            str(RECORDING),
            "--sandbox-runs",
            "3",
            *SMALL_SIDE_BY_SIDE,
            *([] if MINI_INSTALLED else ["--no-mini"]),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    side_rows = [line.split() for line in out.splitlines() if line.startswith("demo ")]
    assert [row[:2] for row in side_rows] == [["demo", "6"], ["demo", "+"]]  # small, then 200 more files
    if MINI_INSTALLED:
        assert all(row[-1] == "8/8" for row in side_rows)  # both harnesses: the same exit codes
        assert "vs mini-swe-agent 2.4.6 (LocalEnvironment.execute)" in out
        assert "be-agent / mini-swe-agent, worst size:" in out
    else:
        assert (
            "be-agent (bwrap sandbox; run_task with an in-process scripted model) vs mini-swe-agent: "
            "not measured" in out
        )
    assert "be-agent demo + 200 files / demo:" in out and "(target <= 1.3x)" in out
    assert "8 steps x 1 rounds per repository, interleaved" in out
    assert "8 steps replayed through the stand-in API with the bwrap sandbox: fixed" in out
    assert "replay matches the recording (8 tool results compared)" in out
    for kind in ("editor view", "editor edit", "bash", "run_tests", "finish"):
        assert any(line.startswith(kind + " ") for line in out.splitlines()), f"no {kind!r} row in:\n{out}"
    assert "median < 50 ms:" in out
    assert "sandbox start (`true` in bwrap, 3 runs): median" in out
    request_rows = [line.split() for line in out.splitlines() if line[:3].strip().isdigit()]
    assert [int(row[0]) for row in request_rows] == list(range(1, 9))  # one row per model request
    assert "requests 3-8: cacheable share" in out and "target >= 90%:" in out
    assert list(tmp_path.iterdir()) == []  # the bench cleans up its working directories


def test_the_shell_form_of_a_recording_edits_the_files_as_the_editor_did(tmp_path: Path) -> None:
    tools = [r for r in read_records(ROOT / "bench" / "overhead_trajectory.jsonl") if r.get("type") == "tool"]
    by_editor, by_shell = tmp_path / "editor", tmp_path / "shell"
    make_demo_repo(by_editor)
    make_demo_repo(by_shell)
    editor = EditorTool(by_editor, str(by_editor))
    for record in tools:
        if record["name"] == "str_replace_based_edit_tool" and record["input"]["command"] != "view":
            assert not editor(record["input"]).is_error
    for command in shell_steps(tools, test_command="true"):
        done = subprocess.run(["bash", "-c", command], cwd=by_shell, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr)
    for rel in ("ledger/accounts.py", "tests/test_unknown_account.py"):
        assert (by_shell / rel).read_text() == (by_editor / rel).read_text()
