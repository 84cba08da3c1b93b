"""Replay: the recorded demo run re-executed through the real loop, tools and sandbox, with no API key."""

from __future__ import annotations

from pathlib import Path

from agent.demo import RECORDING, make_demo_repo
from tests.conftest import git, run_cli


def test_replay_of_the_recording_matches_and_makes_the_branch(tmp_path: Path):
    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    run = run_cli(
        "replay",
        str(RECORDING),
        "--repo",
        str(repo),
        "--state-dir",
        str(tmp_path / "state"),
        "--sandbox",
        "bwrap",
        "--json",
    )
    assert run.code == 0, run.stderr
    result = run.json
    assert result["status"] == "fixed"
    assert result["replay"] == {"matches": True, "compared": 8, "differences": []}
    assert git(repo, "rev-parse", result["branch"]).strip() == result["commit"]
    assert "replay matches the recording (8 tool results compared)" in run.stderr


def test_replay_reports_where_the_recording_and_the_replay_differ(tmp_path: Path):
    import json

    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    records = [json.loads(line) for line in RECORDING.read_text().splitlines()]
    for record in records:
        if record["type"] == "tool" and record["name"] == "bash":
            record["content"] = "something the replay will not print"
    altered = tmp_path / "altered.jsonl"
    altered.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = run_cli(
        "replay",
        str(altered),
        "--repo",
        str(repo),
        "--state-dir",
        str(tmp_path / "state"),
        "--sandbox",
        "bwrap",
        "--json",
    )
    assert run.code == 1, run.stderr
    assert run.json["replay"]["matches"] is False
    assert run.json["replay"]["differences"] == ["step 2 bash: result text differs"]
    assert "replay differs from the recording in 1 place(s)" in run.stderr


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path: Path):
    run = run_cli("replay", str(tmp_path / "nope.jsonl"), "--state-dir", str(tmp_path / "state"))
    assert run.code == 2
    assert "trajectory not found" in run.stderr
