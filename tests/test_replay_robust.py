"""Replay of trajectories that are not quite what a finished run writes: files that are not trajectories at
all, a run killed mid-write, and a recording that runs out of model turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.demo import RECORDING, make_demo_repo
from tests.conftest import CliRun, git, run_cli


def recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDING.read_text().splitlines()]


def write_records(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


def replay(trajectory: Path, tmp_path: Path, *extra: str) -> CliRun:
    """A whole replay, in its own process as a user runs it."""
    return run_cli(
        "replay",
        str(trajectory),
        "--state-dir",
        str(tmp_path / "state"),
        "--sandbox",
        "bwrap",
        "--json",
        *extra,
    )


def refused_replay(trajectory: Path, tmp_path: Path, *extra: str) -> CliRun:
    """A replay refused before it starts: the same command, in process (faster)."""
    done = CliRunner().invoke(
        app,
        [
            "replay",
            str(trajectory),
            "--state-dir",
            str(tmp_path / "state"),
            "--sandbox",
            "bwrap",
            "--json",
            *extra,
        ],
    )
    assert not (tmp_path / "state").exists()
    return CliRun(done.exit_code, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (["[1, 2]"], "line 1 is a JSON list, not an object"),
        (['{"type": "start"}', '"just a string"'], "line 2 is a JSON str, not an object"),
        (
            ['{"type": "start", "repo": "/r", "task": "t", "base": "abc"}', "{not json", "{}"],
            "line 2 is not JSON",
        ),
        (['{"type": "start", "task": "t", "base": "abc"}'], "the start record (line 1) has no 'repo'"),
        (['{"type": "start", "repo": "/r", "base": "abc"}'], "the start record (line 1) has no 'task'"),
        (['{"type": "start", "repo": "/r", "task": "t"}'], "the start record (line 1) has no 'base'"),
        (['{"type": "note"}'], "has no start record"),
        ([], "has no start record"),
    ],
)
def test_files_that_are_not_trajectories_are_usage_errors(tmp_path: Path, lines: list[str], why: str):
    trajectory = tmp_path / "t.jsonl"
    trajectory.write_text("".join(line + "\n" for line in lines))
    run = refused_replay(trajectory, tmp_path)
    assert run.code == 2, run.stderr
    assert run.stderr.startswith("be-agent: error: not a be-agent trajectory: ")
    assert why in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert run.json["exit_code"] == 2


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: without(r, "content"), "the model record on line 3 has no content"),
        (lambda r: {**r, "content": "text"}, "the model record on line 3 has no content"),
        (
            lambda r: {**r, "content": [{"type": "tool_use", "input": {}}]},
            "the model record on line 3 has a tool call without an id and a name",
        ),
        (
            lambda r: {**r, "usage": {"input": "many"}},
            "the model record on line 3 has usage that is not token counts",
        ),
    ],
)
def test_a_broken_model_record_is_named_by_its_line(tmp_path: Path, change, why: str):
    records = recorded()
    records[2] = change(records[2])
    run = refused_replay(write_records(tmp_path / "t.jsonl", records), tmp_path)
    assert run.code == 2, run.stderr
    assert f"not a be-agent trajectory: {why}" in run.stderr


def test_a_binary_file_is_not_a_trajectory(tmp_path: Path):
    trajectory = tmp_path / "t.jsonl"
    trajectory.write_bytes(b"\xff\xfe\x00\x01")
    run = refused_replay(trajectory, tmp_path)
    assert run.code == 2 and "not a be-agent trajectory" in run.stderr and "not UTF-8" in run.stderr


def test_a_directory_is_not_a_trajectory(tmp_path: Path):
    run = refused_replay(tmp_path, tmp_path)
    assert run.code == 2 and "is a directory" in run.stderr


def test_a_bad_sandbox_value_is_a_usage_error(tmp_path: Path):
    run = refused_replay(RECORDING, tmp_path, "--sandbox", "chroot")
    assert run.code == 2 and "--sandbox must be auto, bwrap or none, not 'chroot'" in run.stderr


def test_a_trajectory_cut_off_mid_line_replays_its_complete_lines(tmp_path: Path):
    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    text = RECORDING.read_text()
    cut = tmp_path / "killed.jsonl"
    cut.write_text(text[: len(text) - 50])  # as after kill -9 while the last record was being written
    run = replay(cut, tmp_path, "--repo", str(repo))
    assert run.code == 0, run.stderr
    assert f"line {len(text.splitlines())} of {cut} is incomplete" in run.stderr
    assert run.json["status"] == "fixed" and run.json["replay"]["matches"] is True


def test_a_cut_off_line_in_the_middle_is_still_refused(tmp_path: Path):
    lines = RECORDING.read_text().splitlines()
    lines[4] = lines[4][:40]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    run = refused_replay(broken, tmp_path)
    assert run.code == 2 and "not a be-agent trajectory" in run.stderr and "line 5 is not JSON" in run.stderr


def test_a_recording_that_runs_out_of_turns_ends_not_fixed_with_no_branch(tmp_path: Path):
    repo = tmp_path / "ledger"
    make_demo_repo(repo)
    records = recorded()
    last_model = max(i for i, r in enumerate(records) if r["type"] == "model")
    short = write_records(tmp_path / "short.jsonl", records[:last_model])  # the finish turn never recorded
    run = replay(short, tmp_path, "--repo", str(repo))
    assert run.code == 1, run.stderr
    result = run.json
    diverged = "replay diverged: the run asked for model turn 8, but the recording has only 7"
    assert result["status"] == "not_fixed" and result["branch"] is None
    assert result["reason"].startswith(diverged)
    assert result["replay"]["matches"] is False and result["replay"]["differences"][0] == diverged
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
