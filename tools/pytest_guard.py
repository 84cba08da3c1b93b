"""The harness's side of the runtime check in its own pytest runs (the plugin is tools/pytest_guard_plugin.py).

`install_guard` copies the plugin under a random module name into a directory of the run (outside every
checkout), which the sandbox mounts read-only; `run_prefix` is the shell text that puts it on the path and
keeps bytecode in the run's private temporary directory; `GuardChannel` is the FIFO the plugin streams its
records into while the tests run, emptied by the harness as they arrive, and `parse_stream` turns them into
the run's `GuardRecord`. The plugin's processes share the sandbox with code under test, so the stream is
hostile input: bounded in size, each line validated, and every record that the plugin itself would never
have written in that place (a repeated or skipped sequence number, a record after the end, a second main
process, a line in another format) is named in `tampered` instead of being believed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import select
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PLUGIN_SOURCE = Path(__file__).with_name("pytest_guard_plugin.py")
OUT_DIR_NAME = ".be-agent-guard"  # the channel (a FIFO) in the run's private temporary directory
PYCACHE_DIR_NAME = ".be-agent-pycache"
MAX_STREAM_BYTES = 16 * 1024 * 1024  # of records, for one harness run
MAX_PROBLEMS = 20  # distinct phrases kept in `tampered`

CallOutcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class GuardPlugin:
    directory: Path  # holds only the plugin module; mounted read-only
    module: str


def install_guard(directory: Path) -> GuardPlugin:
    directory.mkdir(parents=True, exist_ok=True)
    module = f"be_agent_guard_{secrets.token_hex(6)}"
    target = directory / f"{module}.py"
    target.write_bytes(PLUGIN_SOURCE.read_bytes())
    target.chmod(0o444)
    return GuardPlugin(directory.resolve(), module)


def run_prefix(guard: GuardPlugin | None, pycache: Path | None = None, channel: Path | None = None) -> str:
    """Shell text before a harness test command: bytecode is read from and written to `pycache` (default: a
    directory in the run's private /tmp), never the tree's `__pycache__`; the guard's directory goes first
    on PYTHONPATH, and it writes into `channel` (a GuardChannel's path)."""
    prefix = shlex.quote(str(pycache)) if pycache is not None else f'"$TMPDIR/{PYCACHE_DIR_NAME}"'
    exports = [f"PYTHONPYCACHEPREFIX={prefix}"]
    if guard is not None:
        out = shlex.quote(str(channel)) if channel is not None else f'"$TMPDIR/{OUT_DIR_NAME}"'
        exports += [
            f"BE_AGENT_GUARD_OUT={out}",
            f'PYTHONPATH={shlex.quote(str(guard.directory))}"${{PYTHONPATH:+:$PYTHONPATH}}"',
        ]
    # bytecode goes to the private prefix only, so writing it is safe, and it is what makes the prefix useful
    return "unset PYTHONDONTWRITEBYTECODE; export " + " ".join(exports) + "; "


class GuardRecord(BaseModel):
    """What the plugin said, merged over the run's pytest processes, and what was wrong with how it arrived."""

    calls: dict[str, CallOutcome] = Field(default_factory=dict)  # test id (or "sha256:<hex>") -> outcome
    failed: list[str] = Field(default_factory=list)  # ids (or "sha256:<hex>") pytest logged as failed
    replaced: list[str] = Field(default_factory=list)
    late_plugins: list[str] = Field(default_factory=list)
    processes: int = 0
    ended: bool = False  # the main process reached the end of its session
    exit_status: int | None = None  # what pytest decided at that end
    junit_sha256: str | None = None  # the JUnit report as pytest wrote it
    tampered: list[str] = Field(default_factory=list)  # each a phrase: what in the stream cannot be honest

    def call(self, test_id: str) -> CallOutcome | None:
        return self.calls.get(test_id) or self.calls.get(hashed_id(test_id))


def hashed_id(test_id: str) -> str:
    """How a test id too long for one record is named in the stream."""
    return "sha256:" + hashlib.sha256(test_id.encode("utf-8", "surrogatepass")).hexdigest()


class _Line(BaseModel):
    """One record as the plugin writes it; anything else on the pipe is not the plugin's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pid: int
    seq: int
    kind: Literal["start", "call", "failed", "replaced", "late_plugin", "end"]
    id: str | None = None
    id_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    outcome: CallOutcome | None = None
    when: str | None = None
    name: str | None = None
    role: Literal["main", "worker"] | None = None
    exit_status: int | None = None
    junit_sha256: str | None = None

    def test_id(self) -> str | None:
        return self.id if self.id is not None else f"sha256:{self.id_sha256}" if self.id_sha256 else None


_ENDING = frozenset({"replaced", "late_plugin", "end"})  # what a process sends at the end of its session


def parse_stream(data: bytes, *, overflowed: bool = False) -> GuardRecord | None:
    """The record of a run from the bytes the plugin's processes wrote into the channel, in arrival order;
    None when nothing arrived. Each process's records must count up from its `start` at 0 and stop at its
    `end`; exactly one process is the main one, and once it has ended nothing may start and the others
    may only end (an xdist worker's end can arrive after its controller's: the controller goes on as soon
    as the worker reports its tests done). Whatever breaks that is named in `tampered`: the plugin never
    breaks it, so someone else wrote into the channel."""
    if not data and not overflowed:
        return None
    record = GuardRecord()
    problems: list[str] = ["more records than the harness reads"] if overflowed else []
    next_seq: dict[int, int] = {}
    ended: set[int] = set()
    main_ended = False
    lines = data.split(b"\n")
    if lines and lines[-1]:
        problems.append("a record cut short")
    for raw in lines[:-1]:
        try:
            line = _Line.model_validate_json(raw)
        except ValidationError:
            problems.append("a line the runtime check never writes")
            continue
        if line.pid in ended:
            problems.append(f"a record ({line.kind}) after process {line.pid} ended its session")
            continue
        if main_ended and (line.pid not in next_seq or line.kind not in _ENDING or line.role == "main"):
            problems.append(f"a record ({line.kind}) after the main process ended its session")
            continue
        expected = next_seq.get(line.pid, 0)
        if line.seq != expected or (expected == 0) != (line.kind == "start"):
            problems.append(
                f"process {line.pid}'s records out of order or repeated ({line.kind} #{line.seq})"
            )
            continue
        next_seq[line.pid] = expected + 1
        _merge(record, line)
        if line.kind == "end":
            ended.add(line.pid)
            if line.role == "main":
                main_ended = record.ended = True
                record.exit_status, record.junit_sha256 = line.exit_status, line.junit_sha256
    record.processes = len(next_seq)
    record.tampered = sorted(set(problems))[:MAX_PROBLEMS]
    return record


def _merge(record: GuardRecord, line: _Line) -> None:
    test_id = line.test_id()
    if line.kind == "call" and test_id is not None and line.outcome is not None:
        # a test seen by several processes (a controller and its worker): the worse outcome wins
        if record.calls.get(test_id) != "failed":
            record.calls[test_id] = line.outcome
    elif line.kind == "failed" and test_id is not None and test_id not in record.failed:
        record.failed.append(test_id)
    elif line.kind == "replaced" and line.name and line.name not in record.replaced:
        record.replaced = sorted([*record.replaced, line.name])
    elif line.kind == "late_plugin" and line.name and line.name not in record.late_plugins:
        record.late_plugins = sorted([*record.late_plugins, line.name])


class GuardChannel:
    """The FIFO the plugin writes into, and a thread that empties it while the tests run, so a record is out
    of the sandbox's reach as soon as it is written and a full pipe never blocks a test. Use as a context
    manager around the test command; `record()` then parses what arrived. Reading is bounded: past
    MAX_STREAM_BYTES the rest is drained and dropped.

    The FIFO is write-only (mode 0200) once the harness holds its reading end; in a directory the sandbox
    mounts read-only (`directory`, not the run's /tmp), nothing inside can open it for reading (to take
    records out before the harness sees them), change its mode, or put something else in its place."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / OUT_DIR_NAME
        os.mkfifo(self.path, 0o600)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # our own writer keeps the pipe from reading as ended before the first test process opens it
        self._keep = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.chmod(self.path, 0o200)
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._chunks: list[bytes] = []
        self._size = 0
        self._overflowed = False
        self._thread = threading.Thread(target=self._drain, name="be-agent-guard-channel", daemon=True)
        self._thread.start()

    def __enter__(self) -> GuardChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self, chunk: bytes) -> None:
        if self._size + len(chunk) > MAX_STREAM_BYTES:
            self._overflowed = True
            return
        self._chunks.append(chunk)
        self._size += len(chunk)

    def _drain(self) -> None:
        poller = select.poll()  # not select(): a busy process may hold descriptors past FD_SETSIZE
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._fd in ready and not self._read_available():
                return
            if self._stop_r in ready:
                self._read_available(limit=MAX_STREAM_BYTES)
                return

    def _read_available(self, limit: int | None = None) -> bool:
        """Read what the pipe holds now; False once no writer is left."""
        taken = 0
        while limit is None or taken < limit:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            taken += len(chunk)
            self._take(chunk)
            if limit is None:
                return True
        return True

    def close(self) -> None:
        """Stop reading (whatever a leftover process writes later is never read) and remove the FIFO."""
        if self._keep < 0:
            return
        os.close(self._keep)
        self._keep = -1
        os.write(self._stop_w, b"x")
        self._thread.join()
        for fd in (self._fd, self._stop_r, self._stop_w):
            os.close(fd)
        with contextlib.suppress(OSError):
            self.path.unlink()

    def record(self) -> GuardRecord | None:
        self.close()
        return parse_stream(b"".join(self._chunks), overflowed=self._overflowed)
