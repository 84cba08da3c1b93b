"""The host side handles files chosen by an attacker (issue 17): names that are not UTF-8 round-trip as bytes
through real git and are reported, never a crash; host-side git starts no background maintenance; a failed
copy is an internal error with its cause; the editor's work and answers stay bounded on hostile files; a
host-side tool call that would run forever is cut by the harness; the disk quota sees what a run adds."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agent import disk
from agent import workspace as ws
from agent.demo import make_demo_repo
from agent.disk import DiskQuota, format_size, parse_size
from agent.errors import ExitCode, failure_of
from agent.finish_gate import FinishGate
from agent.git import SAFE_GIT, GitError
from agent.loop import AgentLoop, Limits
from agent.model import ModelTurn
from agent.trajectory import Trajectory, read_records
from agent.view_diff import split_diff
from tools.base import ToolResult
from tools.editor import MATCH_LINES_SHOWN, QUICK_BYTES, EditorTool
from tools.test_report import TestReport

NAME = os.fsdecode(b"\xff\xfe")  # the bytes of a name that is not UTF-8, as os.fsdecode keeps them
SHOWN = "\\xff\\xfe"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    make_demo_repo(path)
    return path


# --- names are bytes -----------------------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_round_trips_through_every_listing(repo: Path, tmp_path: Path):
    base = ws.resolve_commit(repo, "HEAD")
    (repo / NAME).write_bytes(b"data\n")
    (repo / "ledger" / NAME).mkdir()
    (repo / "ledger" / NAME / "test_x.py").write_bytes(b"def test_y():\n    pass\n")
    names = sorted([NAME, f"ledger/{NAME}/test_x.py"])
    assert ws.untracked_paths(repo) == names
    assert ws.changed_paths(repo, base) == names
    assert all((repo / name).is_file() for name in ws.changed_paths(repo, base))

    ws.write_diff(repo, base, tmp_path / "change.diff")
    diff = (tmp_path / "change.diff").read_bytes().decode("utf-8", "replace")
    assert sorted(f.path for f in split_diff(diff)) == sorted([SHOWN, f"ledger/{SHOWN}/test_x.py"])

    commit = ws.commit_all(repo, base, "subject", "body", {})
    assert [path for _status, _mode, path in ws.changed_entries(repo, base, commit)] == names
    assert set(names) <= set(ws.git_paths(repo, "ls-tree", "-r", "--name-only", "-z", commit))
    assert f"ledger/{NAME}/test_x.py" in ws.grep_paths(repo, commit, "def test_", "*.py")
    assert ws.attributes_at(repo, commit, ["text"], names) == {
        name: {"text": "unspecified"} for name in names
    }


def test_such_a_name_is_reported_and_finish_is_refused_while_the_change_holds_it(repo: Path):
    base = ws.resolve_commit(repo, "HEAD")
    (repo / NAME).write_bytes(b"x")
    assert ws.unrepresentable_names(ws.changed_paths(repo, base)) == (
        f"1 changed file name(s) are not valid UTF-8 ('{SHOWN}'); a change cannot hold such names"
    )
    gate = FinishGate(
        TestReport(command="pytest", exit_code=0), changed_paths=lambda: ws.changed_paths(repo, base)
    )
    refusal = gate.check({"summary": "done"}, step=2)
    assert refusal is not None and f"('{SHOWN}')" in refusal and "rename or remove those files" in refusal
    (repo / NAME).rename(repo / "renamed.txt")
    assert ws.unrepresentable_names(ws.changed_paths(repo, base)) is None


def test_names_written_by_the_test_suite_are_excluded_whatever_their_bytes(repo: Path):
    for name in (NAME, "trailing space ", "keep.py"):
        (repo / name).write_text("x")
    ws.exclude_from_change(repo, [p for p in ws.untracked_paths(repo) if p != "keep.py"])
    assert ws.untracked_paths(repo) == ["keep.py"]


def test_the_editor_lists_such_a_name_visibly_and_says_what_to_do(tmp_path: Path):
    (tmp_path / NAME).write_text("x")
    (tmp_path / "line\nbreak").write_text("y")
    listing = EditorTool(tmp_path, "/workspace")({"command": "view", "path": "."}).content
    assert f"{SHOWN}  [name is not valid UTF-8: shown as \\xNN bytes]" in listing
    assert "line\\x0abreak" in listing
    assert "Rename or remove it with bash" in listing
    listing.encode("utf-8")  # what the model reads is valid text


def test_a_trajectory_record_holding_such_a_name_is_written_and_read_back(tmp_path: Path):
    trajectory = Trajectory(tmp_path / "t.jsonl")
    trajectory.write("tool", content=f"created {NAME}\u2028")
    trajectory.close()
    [record] = list(read_records(tmp_path / "t.jsonl"))
    assert record["content"] == f"created {NAME}\u2028"


# --- git on the host -----------------------------------------------------------------------------------------


def test_host_side_git_never_starts_background_maintenance():
    pairs = dict(zip(SAFE_GIT[1::2], SAFE_GIT[::2], strict=True))
    assert {"gc.auto=0", "maintenance.auto=false"} <= set(pairs)


def test_a_commit_of_many_new_files_leaves_the_objects_as_they_are(repo: Path):
    # more loose objects than gc.auto (6,700 by default, 1 here to keep the test quick; git estimates from
    # objects/17/, where these 600 blobs put 3); in the foreground (autoDetach=false) a gc started by the
    # commit would have packed them before commit_all returns
    ws.git(repo, "config", "gc.auto", "1")
    ws.git(repo, "config", "gc.autoDetach", "false")
    ws.git(repo, "config", "maintenance.autoDetach", "false")
    for i in range(600):
        (repo / f"gen{i:05}.txt").write_text(f"{i}\n")
    base = ws.resolve_commit(repo, "HEAD")
    ws.commit_all(repo, base, "many files", "body", {})
    assert list((repo / ".git" / "objects" / "pack").glob("*.pack")) == []
    assert not (repo / ".git" / "gc.log").exists()


def test_a_failed_copy_is_an_internal_error_with_its_cause(repo: Path, tmp_path: Path):
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "already-here").write_text("x")
    with pytest.raises(GitError) as raised:
        ws.clone_for_run(repo, ws.resolve_commit(repo, "HEAD"), "be-agent/x", dest)
    failure = failure_of(raised.value)
    assert failure.exit_code == ExitCode.INTERNAL
    assert failure.message.startswith("could not copy the repository into the run directory: ")
    assert "already exists and is not an empty directory" in failure.message


# --- the editor's work is linear, its answers bounded ------------------------------------------------------


@pytest.mark.parametrize(
    "content, old_str, count",
    [
        ("x = 1\n" * 200_000, "x = 1", 200_000),  # 200k matches: was 21 s and a 1.5 MB answer
        ("a\n" * 1_000_000, "a", 1_000_000),  # 2 MB of one-letter lines
        ("a" * 2_000_000, "a" * 1_000_000, 2),  # overlapping matches on one line
    ],
)
def test_many_matches_are_a_count_and_the_first_lines(tmp_path: Path, content: str, old_str: str, count: int):
    (tmp_path / "f.txt").write_text(content)
    editor = EditorTool(tmp_path, "/workspace")
    result = editor({"command": "str_replace", "path": "f.txt", "old_str": old_str, "new_str": "b"})
    assert result.is_error
    assert result.content.startswith(f"found {count} matches for old_str in f.txt at lines 1")
    assert result.content.endswith("; add context to make it unique")
    assert len(result.content) < 200  # however many matches: at most MATCH_LINES_SHOWN line numbers
    if content.startswith("x = 1"):
        assert f"at lines 1, 2, 3, 4, 5 and {count - MATCH_LINES_SHOWN} more;" in result.content
    assert (tmp_path / "f.txt").read_text() == content


def test_a_missing_old_str_of_many_lines_gets_a_bounded_hint(tmp_path: Path):
    (tmp_path / "f.txt").write_text("".join(f"line {i}\n" for i in range(100_000)))
    old_str = "".join(f"other {i}\n" for i in range(100_000))
    result = EditorTool(tmp_path, "/workspace")(
        {"command": "str_replace", "path": "f.txt", "old_str": old_str, "new_str": ""}
    )
    assert result.is_error and result.content.startswith("no match for old_str in f.txt")
    assert len(result.content) < 400


# --- a host-side tool call is bounded in time ------------------------------------------------------------------


class _Forever:
    """A host-side tool whose call never returns."""

    name = "forever"
    runs_on_host = True

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": "never returns", "input_schema": {"type": "object"}}

    def __call__(self, params: dict[str, Any]) -> ToolResult:
        threading.Event().wait()
        return ToolResult("unreachable")


class _Scripted:
    name = "scripted"

    def __init__(self, turns: list[list[dict[str, Any]]]):
        self.turns = turns
        self.requests: list[list[dict[str, Any]]] = []

    def query(
        self, *, system: Any, tools: Any, messages: list[dict[str, Any]], deadline: float | None = None
    ) -> ModelTurn:
        self.requests.append(messages)
        return ModelTurn(self.turns.pop(0), "tool_use")


def _call(name: str, call_id: str, **params: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": params}


def _loop(tmp_path: Path, model: _Scripted, limits: Limits, disk_check: Any = None) -> AgentLoop:
    return AgentLoop(
        model,
        [_Forever()],
        "system",
        gate=FinishGate(TestReport(command="pytest", exit_code=0)),
        finish_spec={"name": "finish", "input_schema": {"type": "object"}},
        limits=limits,
        trajectory=Trajectory(tmp_path / "trajectory.jsonl"),
        worktree_fingerprint=lambda: "same",
        disk_check=disk_check,
    )


@pytest.mark.parametrize(
    "limits, why",
    [
        (Limits(host_tool_time=0.3), "one tool call may take at most 0.3 s"),
        (Limits(max_time=0.3), "the run's time limit of 0.3 s was reached"),
    ],
)
def test_a_host_tool_call_that_would_run_forever_is_cut(tmp_path: Path, limits: Limits, why: str):
    give_up = _call("finish", "2", gave_up=True, reason="it hung")
    model = _Scripted([[_call("forever", "1")], [give_up]])
    outcome = _loop(tmp_path, model, limits).run("task")
    assert outcome.ending == ("max_time" if limits.max_time is not None else "gave_up")
    [result] = model.requests[1][-1]["content"] if len(model.requests) > 1 else [None]
    if limits.max_time is not None:  # the run's time is up: the loop stops before asking the model again
        [record] = [r for r in read_records(tmp_path / "trajectory.jsonl") if r["type"] == "tool"]
        result = {"content": record["content"], "is_error": record["is_error"]}
    assert result["is_error"] is True
    assert result["content"].startswith(f"[harness] this forever call was stopped after 0.3 s: {why}.")


class _WhereRun:
    """A host-side tool that answers with the process it ran in; `quick` is what the call says."""

    name = "where"
    runs_on_host = True

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": "pid", "input_schema": {"type": "object"}}

    def quick(self, params: dict[str, Any]) -> bool:
        return bool(params["quick"])

    def __call__(self, params: dict[str, Any]) -> ToolResult:
        return ToolResult(str(os.getpid()))


def test_only_a_call_the_tool_calls_quick_runs_without_a_child_to_cut_it(tmp_path: Path):
    calls = [_call("where", "1", quick=True), _call("where", "2", quick=False)]
    model = _Scripted([calls, [_call("finish", "3", gave_up=True, reason="done")]])
    loop = AgentLoop(
        model,
        [_WhereRun()],
        "system",
        gate=FinishGate(TestReport(command="pytest", exit_code=0)),
        finish_spec={"name": "finish", "input_schema": {"type": "object"}},
        limits=Limits(host_tool_time=30),
        trajectory=Trajectory(tmp_path / "trajectory.jsonl"),
        worktree_fingerprint=lambda: "same",
    )
    assert loop.run("task").ending == "gave_up"
    quick, other = (int(block["content"]) for block in model.requests[1][-1]["content"])
    assert quick == os.getpid()
    assert other != os.getpid()  # a child the harness could have killed


@pytest.mark.parametrize(
    "make, params, quick",
    [
        (
            lambda root: (root / "a.py").write_text("x = 1\n" * 1000),
            {"command": "view", "path": "a.py"},
            True,
        ),
        (lambda root: None, {"command": "create", "path": "new.py", "file_text": "x = 1\n"}, True),
        (lambda root: None, {"command": "view", "path": "../outside"}, True),  # refused at once
        (
            lambda root: (root / "big.txt").write_bytes(b"x" * (QUICK_BYTES + 1)),
            {"command": "view", "path": "big.txt"},
            False,
        ),
        (lambda root: (root / "d").mkdir(), {"command": "view", "path": "d"}, False),  # a listing can be long
        (lambda root: os.mkfifo(root / "pipe"), {"command": "view", "path": "pipe"}, False),
        (
            lambda root: (root / "a.py").write_text("x = 1\n"),
            {"command": "str_replace", "path": "a.py", "old_str": "y" * QUICK_BYTES, "new_str": "z"},
            False,
        ),
    ],
)
def test_the_editor_is_quick_only_on_a_small_regular_file_with_little_text(
    tmp_path: Path, make: Any, params: dict[str, Any], quick: bool
):
    make(tmp_path)
    assert EditorTool(tmp_path, "/workspace").quick(params) is quick


# --- the disk quota ------------------------------------------------------------------------------------------


def test_the_quota_counts_what_the_run_adds_not_the_copy_it_started_with(tmp_path: Path):
    run_dir = tmp_path / "run"
    (run_dir / "checkout").mkdir(parents=True)
    (run_dir / "checkout" / "big-repo.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    quota = DiskQuota(run_dir, limit=1024 * 1024)
    assert quota.exceeded() is None
    (run_dir / "checkout" / "small.bin").write_bytes(os.urandom(512 * 1024))
    assert quota.exceeded() is None
    payload = os.urandom(1024 * 1024)
    (run_dir / "checkout" / "more.bin").write_bytes(payload)
    os.link(run_dir / "checkout" / "more.bin", run_dir / "checkout" / "hardlink.bin")  # counted once
    problem = quota.exceeded()
    assert problem is not None and problem.startswith("the run's commands added 1.5 MiB of files")
    assert problem.endswith("over the disk limit of 1.0 MiB (--disk-limit)")


def test_the_quota_walks_only_where_the_models_commands_write(tmp_path: Path):
    run_dir = tmp_path / "run"
    for name in ("checkout", "scratch", "pycache"):
        (run_dir / name).mkdir(parents=True)
    quota = DiskQuota(run_dir, limit=1024 * 1024, within=("checkout", "scratch"))
    # the harness's own files (the baseline's bytecode) are no part of what the commands add
    (run_dir / "pycache" / "toolchain.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    assert quota.exceeded() is None
    (run_dir / "scratch" / "tmp.bin").write_bytes(os.urandom(2 * 1024 * 1024))  # the sandbox's /tmp
    problem = quota.exceeded()
    assert problem is not None and problem.startswith("the run's commands added 2.0 MiB of files")


def test_a_large_checkout_is_not_walked_at_every_step_yet_what_the_run_adds_is_still_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # every walk counts as slow here, as it does for a checkout of some thousand files
    monkeypatch.setattr(disk, "SLOW_WALK_S", 0.0)
    run_dir = tmp_path / "run"
    (run_dir / "checkout").mkdir(parents=True)
    quota = DiskQuota(run_dir, limit=1024 * 1024)
    walked = quota.used
    (run_dir / "checkout" / "small.txt").write_text("a few bytes")
    for _ in range(5):
        assert quota.exceeded() is None
    assert (
        quota.used == walked
    )  # free space shrank by far less than the limit: the small file was not walked to
    with open(run_dir / "checkout" / "big.bin", "wb") as out:
        out.write(os.urandom(3 * 1024 * 1024))
        os.fsync(out.fileno())  # the blocks are allocated, so the free space shows it
    problem = quota.exceeded()
    assert problem is not None and problem.startswith("the run's commands added 3.0 MiB")


def test_over_the_quota_the_result_says_so_and_the_run_ends_unjudged(tmp_path: Path):
    model = _Scripted([[_call("forever", "1"), _call("forever", "2")]])
    loop = _loop(
        tmp_path, model, Limits(host_tool_time=0.1), disk_check=lambda: "the run's commands added 3 GiB"
    )
    outcome = loop.run("task")
    assert outcome.ending == "disk_limit" and outcome.judged is False
    assert outcome.reason == "disk limit exceeded: the run's commands added 3 GiB"
    first, second = loop.messages[-1]["content"]
    assert first["content"].endswith(
        "[harness: the run's commands added 3 GiB. The run ends now, not fixed.]"
    )
    assert second["content"].startswith("not run: the run is ending")


@pytest.mark.parametrize(
    "text, size", [("2G", 2 * 1024**3), ("500MiB", 500 * 1024**2), ("1.5k", 1536), ("1048576", 1048576)]
)
def test_disk_limit_values(text: str, size: int):
    assert parse_size(text) == size
    assert format_size(2 * 1024**3) == "2.0 GiB"


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "2 GB of it"])
def test_disk_limit_values_that_make_no_sense(text: str):
    with pytest.raises(ValueError, match="must be"):
        parse_size(text)
