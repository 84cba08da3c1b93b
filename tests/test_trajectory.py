"""Trajectories say which format they are in and which harness wrote them; replay refuses formats it does
not know instead of misreading them."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from agent import __version__
from agent.errors import UsageError
from agent.replay import load_recording
from agent.trajectory import FORMAT_VERSION, Trajectory
from tests.conftest import run_cli


def _write(path: Path, start: dict[str, object]) -> Path:
    path.write_text(json.dumps({"type": "start", **start}) + "\n")
    return path


def test_the_first_record_names_the_format_and_the_harness(tmp_path: Path) -> None:
    trajectory = Trajectory(tmp_path / "t.jsonl")
    trajectory.write("start", repo="/r", task="t", base="abc")
    trajectory.write("note", text="hello")
    trajectory.close()
    first = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert first["type"] == "start"
    assert first["format"] == FORMAT_VERSION and first["harness_version"] == __version__


def test_replay_refuses_a_format_it_does_not_know(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.jsonl",
        {"format": 99, "harness_version": "9.0.0", "repo": "/r", "task": "t", "base": "abc"},
    )
    with pytest.raises(UsageError) as info:
        load_recording(path)
    assert str(info.value) == (
        f"trajectory format 99 (written by be-agent 9.0.0) is not one be-agent "
        f"{__version__} can read (it reads format {FORMAT_VERSION})"
    )


def test_a_start_record_from_before_formats_were_numbered_reads_as_format_1(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", {"repo": "/r", "task": "t", "base": "abc"})
    assert load_recording(path).start["task"] == "t"


def test_replay_of_an_unknown_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", {"format": "v2", "repo": "/r", "task": "t", "base": "abc"})
    run = run_cli("replay", str(path), "--state-dir", str(tmp_path / "state"))
    assert run.code == 2
    assert run.stderr.strip().splitlines() == [
        f"be-agent: error: trajectory format 'v2' is not one be-agent {__version__} can read "
        f"(it reads format {FORMAT_VERSION})"
    ]


def test_version_has_one_source() -> None:
    run = run_cli("--version")
    assert run.code == 0
    assert run.stdout.strip() == f"be-agent {__version__}" == f"be-agent {version('backend-engineer-agent')}"
