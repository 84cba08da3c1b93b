"""bench/overhead.py runs end to end on a short recording and prints both tables (numbers are not judged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.demo import RECORDING
from tests.sandbox_fixtures import needs_bwrap

ROOT = Path(__file__).resolve().parent.parent


@needs_bwrap
@pytest.mark.bwrap
def test_overhead_bench_replays_a_short_recording_and_prints_the_tables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "bench/overhead.py", "--trajectory", str(RECORDING), "--sandbox-runs", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
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
