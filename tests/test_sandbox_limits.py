"""Every command is bounded: wall clock, memory, processes and output, in the bwrap sandbox and (where the
opt-out can) in the unconfined one. After each limit bites, the next command works."""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.base import SandboxConfig
from sandbox.limits import _remove_abandoned, cgroup_places
from sandbox.output import OutputCapture, cut_middle
from tests.sandbox_fixtures import (
    BWRAP_PROBLEM,
    MakeSandbox,
    make_repo,
    processes_mentioning,
    sandbox_factory,
    wait_until,
)

KINDS = [
    *(
        pytest.param(
            kind,
            marks=pytest.mark.skipif(
                BWRAP_PROBLEM is not None, reason=f"bubblewrap cannot run: {BWRAP_PROBLEM}"
            ),
        )
        for kind in ("bwrap", "bwrap-fresh")
    ),
    "none",
]
CONTROLLERS = {c for place in cgroup_places() for c in place.controllers}
needs_pids_cgroup = pytest.mark.skipif(
    "pids" not in CONTROLLERS or BWRAP_PROBLEM is not None,
    reason="no writable pids cgroup (or no bwrap) on this machine",
)
needs_memory_cgroup = pytest.mark.skipif(
    "memory" not in CONTROLLERS or BWRAP_PROBLEM is not None,
    reason="no writable memory cgroup (or no bwrap) on this machine",
)
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap cannot run: {BWRAP_PROBLEM}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "checkout")


@pytest.fixture
def make_sandbox(tmp_path: Path, repo: Path) -> Iterator[MakeSandbox]:
    with sandbox_factory(tmp_path, repo) as make:
        yield make


# --- output ----------------------------------------------------------------------------------------------


def test_cut_middle_keeps_head_and_tail_and_says_how_much_went() -> None:
    assert cut_middle("short", 10, 10) == "short"
    text = "H" * 100 + "~" * 123_456 + "T" * 50
    cut = cut_middle(text, 100, 50)
    assert cut.startswith("H" * 100 + "\n") and cut.endswith("\n" + "T" * 50)
    assert "[... 123,456 characters cut from the middle ...]" in cut
    assert "~" not in cut


def test_capture_keeps_only_head_and_tail_bytes_of_a_stream() -> None:
    capture = OutputCapture(head=1000, tail=1000)
    capture.feed(b"START\n")
    for _ in range(600):
        capture.feed(b"x" * 65536)
    capture.feed(b"\nEND\n")
    assert capture.total == 6 + 600 * 65536 + 5
    assert capture.cut_bytes == capture.total - 2000
    text = capture.text()
    assert text.startswith("START\n") and text.endswith("\nEND\n")
    assert f"[... {capture.cut_bytes:,} bytes cut from the middle ...]" in text
    assert len(text) < 2100


def test_capture_never_splits_a_character_at_the_cut() -> None:
    capture = OutputCapture(head=5, tail=5)
    capture.feed("ééééé".encode() * 10)  # two bytes each: both cut edges fall inside a character
    text = capture.text()
    assert "\ufffd" not in text
    assert text.startswith("éé\n") and text.endswith("\néé")


@pytest.mark.parametrize("kind", KINDS)
def test_a_40_megabyte_flood_is_bounded_in_the_result_and_in_memory(
    make_sandbox: MakeSandbox, kind: str
) -> None:
    box = make_sandbox(kind, output_head=8000, output_tail=8000)
    tracemalloc.start()
    try:
        result = box.run("echo FIRST-LINE; head -c 40000000 /dev/zero | tr '\\0' 'x'; echo; echo LAST-LINE")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert result.output.startswith("FIRST-LINE\n")
    assert result.output.rstrip().endswith("LAST-LINE")
    assert result.cut_bytes > 39_000_000
    assert f"[... {result.cut_bytes:,} bytes cut from the middle ...]" in result.output
    assert len(result.output) < 16_200
    assert peak < 4 * 1024 * 1024, f"capturing the flood peaked at {peak:,} bytes of Python memory"


# --- wall clock ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_command_that_never_ends_is_killed_at_its_timeout_and_the_next_one_works(
    make_sandbox: MakeSandbox, kind: str
) -> None:
    token = f"forever-{uuid.uuid4().hex}"
    box = make_sandbox(kind)
    started = time.monotonic()
    result = box.run(f"echo begun; sleep 1000 & bash -c 'sleep 1000' {token}", timeout=2)
    assert result.timed_out and result.exit_code is None
    assert 2 <= time.monotonic() - started < 6
    assert result.output.startswith("begun\n")
    assert result.output.endswith("[timed out after 2 s; the command and everything it started were killed]")
    assert wait_until(lambda: not processes_mentioning(token), deadline_s=5)
    after = box.run("echo still-here")
    assert after.exit_code == 0 and after.output == "still-here\n" and not after.timed_out


@pytest.mark.parametrize("kind", KINDS)
def test_exit_codes_and_stderr_come_back(make_sandbox: MakeSandbox, kind: str) -> None:
    box = make_sandbox(kind)
    result = box.run("echo out; echo err >&2; exit 3")
    assert result.exit_code == 3 and not result.timed_out
    assert result.output == "out\nerr\n"


# --- working directory -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_cd_carries_over_to_the_next_command_until_reset(
    make_sandbox: MakeSandbox, repo: Path, kind: str
) -> None:
    box = make_sandbox(kind)
    root = box.workdir
    first = box.run("mkdir -p sub/deeper && cd sub/deeper")
    assert first.cwd == f"{root}/sub/deeper"
    assert box.run("pwd").output.strip() == f"{root}/sub/deeper"
    assert box.run("pwd", cwd=root).output.strip() == root  # an explicit cwd wins...
    box.run("cd sub")
    box.reset()  # ...and reset forgets the carried-over one
    assert box.run("pwd").output.strip() == root
    missing = box.run("pwd", cwd=f"{root}/no-such-dir")
    assert missing.exit_code == 1 and "no-such-dir" in missing.output


@needs_bwrap
def test_a_removed_working_directory_falls_back_to_the_checkout_root(
    make_sandbox: MakeSandbox, repo: Path
) -> None:
    box = make_sandbox("bwrap")
    box.run("mkdir gone && cd gone")
    (repo / "gone").rmdir()
    result = box.run("pwd")
    assert result.output == "[/workspace/gone no longer exists; starting in /workspace]\n/workspace\n"
    assert result.cwd == "/workspace"


# --- file size -------------------------------------------------------------------------------------------


def test_every_command_gets_a_file_size_limit_by_default() -> None:
    assert SandboxConfig().max_file_bytes == 1024**3


@pytest.mark.parametrize("kind", KINDS)
def test_a_write_past_the_file_size_limit_is_stopped_and_the_next_command_works(
    make_sandbox: MakeSandbox, repo: Path, kind: str
) -> None:
    box = make_sandbox(kind, max_file_bytes=8 * 1024**2)
    result = box.run("head -c 2G /dev/zero > big; echo after")
    assert (repo / "big").stat().st_size == 8 * 1024**2
    assert "File size limit exceeded" in result.output and "after" in result.output
    assert result.output.endswith("[a file write was stopped: the file size limit of 8 MiB was reached]")
    python = box.run("python3 -c \"open('big2', 'wb').write(b'x' * (16 << 20))\"")  # ignores SIGXFSZ: EFBIG
    assert "File too large" in python.output and python.exit_code == 1
    assert "[a file write was stopped: the file size limit of 8 MiB was reached]" in python.output
    assert (repo / "big2").stat().st_size <= 8 * 1024**2
    after = box.run("echo fine > small && cat small")
    assert after.exit_code == 0 and after.output == "fine\n"


def test_the_file_size_marker_is_seen_across_chunks_and_in_the_cut_middle() -> None:
    capture = OutputCapture(head=10, tail=10, watch=(b"File too large",))
    capture.feed(b"x" * 100 + b"OSError: File to")
    assert not capture.watched_seen
    capture.feed(b"o large" + b"y" * 100)
    assert capture.watched_seen and "File" not in capture.text()


# --- processes -------------------------------------------------------------------------------------------


@needs_pids_cgroup
def test_forks_beyond_the_process_limit_fail(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap", max_processes=64)
    script = (
        "import os, signal\n"
        "n = 0\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        signal.pause()\n"
        "    n += 1\n"
        "print('forked', n)\n"
    )
    result = box.run(f'python3 -c "{script}"', timeout=30)
    forked = int(result.output.split("forked ")[1].split()[0])
    assert 10 < forked < 64
    assert "[the process limit of 64 per command was reached; some forks failed]" in result.output


@needs_pids_cgroup  # without a pids cgroup, root's fork bomb would have the machine for the whole timeout
def test_a_fork_bomb_ends_promptly_and_leaves_nothing_behind(make_sandbox: MakeSandbox) -> None:
    token = f"bomb-{uuid.uuid4().hex}"
    box = make_sandbox("bwrap", max_processes=128)
    started = time.monotonic()
    result = box.run(f": {token}; bomb() {{ bomb | bomb & }}; bomb; sleep 1000", timeout=3)
    assert result.timed_out
    assert time.monotonic() - started < 8
    assert wait_until(lambda: not processes_mentioning(token), deadline_s=5)
    assert box.run("echo calm").output == "calm\n"


@needs_memory_cgroup
def test_a_memory_hog_is_killed_at_the_memory_limit(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap", memory_bytes=256 * 1024**2)
    started = time.monotonic()
    result = box.run("python3 -c \"b = b'x' * (8 << 30); print('SUR' + 'VIVED')\"", timeout=60)
    assert "SURVIVED" not in result.output
    assert result.exit_code not in (0, None)
    assert "[a process was killed: the memory limit of 256 MiB per command was reached]" in result.output
    assert time.monotonic() - started < 20
    assert box.run("echo fine").output == "fine\n"


@needs_bwrap
def test_without_cgroups_memory_is_capped_by_rlimit(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap", memory_bytes=512 * 1024**2, use_cgroups=False)
    result = box.run("python3 -c \"b = b'x' * (8 << 30); print('SUR' + 'VIVED')\"")
    assert "MemoryError" in result.output and "SURVIVED" not in result.output
    assert result.exit_code == 1


@needs_bwrap
def test_per_command_cgroups_are_gone_once_the_sandbox_is_closed(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    for _ in range(3):
        assert box.run("cat /proc/self/cgroup").exit_code == 0
    box.close()
    mine = f"be-agent-{os.getpid()}-"
    leftovers = [p for place in cgroup_places() for p in place.parent.iterdir() if p.name.startswith(mine)]
    assert leftovers == []


def test_cgroups_abandoned_by_a_dead_process_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / "be-agent-999999999-4"  # above any pid_max: that process cannot be alive
    alive = tmp_path / f"be-agent-{os.getpid()}-4"
    other = tmp_path / "someone-else"
    for path in (dead, alive, other):
        path.mkdir()
    _remove_abandoned(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()


@needs_bwrap
def test_when_bwrap_itself_fails_its_error_comes_back_promptly(make_sandbox: MakeSandbox) -> None:
    box = make_sandbox("bwrap")
    box.scratch.rmdir()  # the mount source is gone: bwrap refuses to start
    result = box.run("echo never", timeout=20)
    assert "never" not in result.output
    assert result.output.startswith("bwrap: ") and result.exit_code not in (0, None)
    assert result.duration_s < 5
