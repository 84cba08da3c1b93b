"""Memory, process and file size limits for one sandboxed command.

Why cgroups first: we usually run as root, and RLIMIT_NPROC never applies to host uid 0 (the kernel exempts
the root user, even inside a user namespace whose uid 0 maps to it), so only a cgroup `pids.max` stops a
fork storm. A cgroup `memory` limit also counts what RLIMIT_AS cannot see (tmpfs pages, page cache) and does
not break runtimes that reserve large virtual ranges.

How: for each controller (memory, pids) we look for a writable place to make a child cgroup, per command:
- cgroup v1 (found on this project's VMs: `/sys/fs/cgroup/{memory,pids}` hierarchies): a child of the
  cgroup this process already sits in, so any limit the host placed on us still applies above ours. Files:
  `memory.limit_in_bytes` (+ `memory.memsw.limit_in_bytes`, no swap escape), `pids.max`.
- cgroup v2: the nearest cgroup, from ours upwards, whose `cgroup.subtree_control` enables the controller
  (a v2 cgroup holding processes cannot enable controllers for its children). Files: `memory.max`,
  `memory.swap.max`, `pids.max`.
The cgroups are made once per sandbox and each command in turn uses them (one command runs at a time, and
nothing of it survives its end). Moving a process into a cgroup waits for a kernel grace period: 1-2 ms,
over 10 on a loaded machine. So on v1, where a single thread may sit in a cgroup, a thread of ours is put
in them once and starts every command: each is born inside, nothing is moved. On v2 the sandbox moves its
command's first process (bubblewrap's PID-namespace init, held before it runs anything) into them, so every
descendant is inside. The counters in `memory.oom_control`/`memory.events` and `pids.events`, read before
and after a command, tell whether it hit a limit.

File size: RLIMIT_FSIZE on that first process, always (no cgroup bounds the size of a file), so one write
cannot fill the host disk. A process past it gets SIGXFSZ (bash reports "File size limit exceeded"), or EFBIG
("File too large") if it ignores that signal, as Python does; either tells the model which limit it hit.

Fallback, when no cgroup is writable (an unprivileged user, a read-only /sys/fs/cgroup): setrlimit on that
same first process: RLIMIT_AS for memory and RLIMIT_NPROC for processes. RLIMIT_NPROC is ineffective for
root; then a fork storm is bounded only by the PID namespace dying at the timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_counter = itertools.count()


@dataclass(frozen=True)
class _Place:
    """Where per-command cgroups for some controllers are created."""

    parent: Path
    v2: bool
    controllers: frozenset[str]


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as lines:
        for line in lines:
            left, _, right = line.partition(" - ")
            fstype, _source, *rest = right.split()
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split()[4], fstype, set(rest[0].split(",")) if rest else set()))
    return found


def _own_paths() -> dict[str, str]:
    """Controller name (or "" for v2) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="utf-8") as lines:
        for line in lines:
            _id, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                paths[name] = path
    return paths


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _v2_parent(mount: Path, own: str, controller: str) -> Path | None:
    here = mount / own.lstrip("/")
    for candidate in [here, *here.parents]:
        if controller in _read(candidate / "cgroup.subtree_control").split():
            return candidate if os.access(candidate, os.W_OK) else None
        if candidate == mount:
            break
    return None


@functools.cache
def cgroup_places() -> tuple[_Place, ...]:
    """Where this process can create limiting cgroups; empty when nowhere (then rlimits are used)."""
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError:
        return ()
    places: dict[tuple[Path, bool], set[str]] = {}
    for controller in ("memory", "pids"):
        v1 = next((m for m, t, opts in mounts if t == "cgroup" and controller in opts), None)
        if v1 is not None and controller in own:
            parent = Path(v1) / own[controller].lstrip("/")
            if os.access(parent, os.W_OK):
                places.setdefault((parent, False), set()).add(controller)
                continue
        v2 = next((m for m, t, _ in mounts if t == "cgroup2"), None)
        if v2 is not None and "" in own:
            parent_v2 = _v2_parent(Path(v2), own[""], controller)
            if parent_v2 is not None:
                places.setdefault((parent_v2, True), set()).add(controller)
    for parent, _v2 in places:
        _remove_abandoned(parent)
    return tuple(_Place(p, v2, frozenset(c)) for (p, v2), c in places.items())


def _remove_abandoned(parent: Path) -> None:
    """Remove empty cgroups left by a be-agent process that was killed before it could clean up."""
    for path in parent.glob("be-agent-*-*"):
        owner = path.name.split("-")[2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


def _settings(place: _Place, memory_bytes: int, max_processes: int) -> dict[str, str]:
    wanted: dict[str, str] = {}
    if "memory" in place.controllers:
        if place.v2:
            wanted |= {"memory.max": str(memory_bytes), "memory.swap.max": "0"}
        else:
            # memsw must stay >= the plain limit, so the plain one goes first
            wanted |= {
                "memory.limit_in_bytes": str(memory_bytes),
                "memory.memsw.limit_in_bytes": str(memory_bytes),
            }
    if "pids" in place.controllers:
        wanted["pids.max"] = str(max_processes)
    return wanted


def _counter_in(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


@dataclass
class CommandLimits:
    """The limits of one command: its cgroups, or rlimits when there are none."""

    memory_bytes: int
    max_processes: int
    use_cgroups: bool = True
    file_bytes: int = 0  # the largest file a command may write; 0: no limit of ours
    dirs: list[tuple[_Place, Path]] = field(default_factory=list)

    def prepare(self) -> None:
        """Create this command's cgroups. Call before the command starts; on failure rlimits are used."""
        if not self.use_cgroups:
            return
        remove_pending()
        name = f"be-agent-{os.getpid()}-{next(_counter)}"
        try:
            for place in cgroup_places():
                path = place.parent / name
                path.mkdir()
                self.dirs.append((place, path))
                for key, value in _settings(place, self.memory_bytes, self.max_processes).items():
                    if (path / key).exists():
                        (path / key).write_text(value)
        except OSError:
            self.remove()

    @property
    def limits_memory(self) -> bool:
        return any("memory" in place.controllers for place, _ in self.dirs)

    @property
    def limits_processes(self) -> bool:
        return any("pids" in place.controllers for place, _ in self.dirs)

    @property
    def thread_can_hold(self) -> bool:
        """cgroup v1 only: a single thread of ours may sit in these cgroups, so that the processes it starts
        are born inside them (v2 keeps all threads of a process in one cgroup)."""
        return bool(self.dirs) and not any(place.v2 for place, _ in self.dirs)

    def hold_this_thread(self) -> None:
        """Put the calling thread (not its process) in these cgroups: every process it starts from now on
        is limited from its first instruction, and no command pays for being moved in (a kernel grace
        period, milliseconds on a loaded machine)."""
        for _place, path in self.dirs:
            (path / "tasks").write_text(str(threading.get_native_id()))

    def enter(self, pid: int, *, move: bool = True) -> None:
        """Put process `pid` (not yet running the command) under these limits; its children inherit them.
        `move=False` when it was born inside the cgroups already (see `hold_this_thread`)."""
        for _place, path in self.dirs if move else ():
            (path / "cgroup.procs").write_text(str(pid))
        if not self.limits_memory:
            resource.prlimit(pid, resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        if not self.limits_processes:
            resource.prlimit(pid, resource.RLIMIT_NPROC, (self.max_processes, self.max_processes))
        if self.file_bytes:
            size = file_size_limit(self.file_bytes)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, size))

    def counters(self) -> tuple[int, int]:
        """How often the memory limit killed and the process limit refused a fork in these cgroups so far."""
        kills = refusals = 0
        for place, path in self.dirs:
            if "memory" in place.controllers:
                events = _read(path / ("memory.events" if place.v2 else "memory.oom_control"))
                kills += _counter_in(events, "oom_kill")
            if "pids" in place.controllers:
                refusals += _counter_in(_read(path / "pids.events"), "max")
        return kills, refusals

    def notes(self, since: tuple[int, int] = (0, 0)) -> list[str]:
        """Sentences for the model when a limit was hit (after `since`, counters taken before a command)."""
        kills, refusals = self.counters()
        found = []
        if kills > since[0]:
            found.append(
                f"[a process was killed: the memory limit of {_size(self.memory_bytes)} per command was reached]"
            )
        if refusals > since[1]:
            found.append(
                f"[the process limit of {self.max_processes} per command was reached; some forks failed]"
            )
        return found

    def kill_leftovers(self) -> None:
        """SIGKILL every process left in the cgroups but our own (whose launcher thread may sit in them)."""
        for _place, path in self.dirs:
            for pid in _pids_in(path):
                if pid != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Kill anything left in the cgroups and remove them. A cgroup whose last tasks are still being torn
        down cannot be removed yet; it is retried before the next command and at exit."""
        self.kill_leftovers()
        for _place, path in reversed(self.dirs):
            if not _try_rmdir(path):
                _pending.add(path)
        self.dirs.clear()


FILE_LIMIT_MARKERS = (b"File size limit exceeded", b"File too large")  # SIGXFSZ, EFBIG in a message
_XFSZ_EXIT = 128 + signal.SIGXFSZ


def file_size_limit(wanted: int) -> int:
    """`wanted`, or this process's own hard limit if lower: a command never gets more than we have."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def file_size_notes(file_bytes: int, exit_code: int | None, markers_seen: bool) -> list[str]:
    """The note for a command that (by its exit status or its output) ran into the file size limit."""
    if not file_bytes or not (markers_seen or exit_code == _XFSZ_EXIT):
        return []
    return [
        f"[a file write was stopped: the file size limit of {_size(file_size_limit(file_bytes))} was reached]"
    ]


_pending: set[Path] = set()
_pending_lock = threading.Lock()


def _pids_in(path: Path) -> list[int]:
    return [int(p) for p in _read(path / "cgroup.procs").split()]


def _try_rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def remove_pending(patience: float = 0.0) -> None:
    """Retry removing cgroups that were still busy, for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    with _pending_lock:
        while _pending:
            for path in list(_pending):
                if _try_rmdir(path):
                    _pending.discard(path)
            if not _pending or time.monotonic() >= deadline:
                return
            time.sleep(0.005)


atexit.register(remove_pending, 2.0)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
