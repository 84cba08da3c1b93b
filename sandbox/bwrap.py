"""`--sandbox bwrap`: commands run in a bubblewrap container, one kept for all of a sandbox's commands.

What a command sees: the checkout read-write at `config.workdir` (for a run, the path of the user's own
repository, so that editable installs and other absolute paths recorded in the user's virtualenv lead to the
checkout; `/workspace` by default), its `.git` re-mounted read-only on top (so hooks, config and refs cannot
change and `.git` cannot be moved away), the system directories and the Python in use read-only (minus what
only root may read in /etc, such as /etc/shadow and host keys), the run's scratch directory as /tmp, an empty
tmpfs HOME, fresh /proc and /dev, and nothing else: no home directory, no other repository, not the user's
working tree (the checkout hides it). The root itself is read-only. All namespaces are new (user, pid,
ipc, uts, cgroup, and network unless `config.network`), every capability is dropped and further user
namespaces are refused, so the mounts cannot be undone from inside.

Lifetime: one bubblewrap for all of a sandbox's commands, started at the first. Its PID 1 is the keeper
(sandbox/keeper.py), which runs each command as `bash -c` and, when it ends or times out, kills everything
else in the PID namespace before it answers, so `setsid`, double forks and background jobs cannot outlive
the command; no command can signal, trace or read the keeper, and HOME is emptied between commands.
Starting bubblewrap costs 5-20 ms (namespaces, mounts), more than most commands; the keeper makes that a
cost per run. bwrap is held (`--block-fd`) until the keeper has been put under the limits (see
sandbox.limits). If the keeper dies, the sandbox is dropped whole and the next command starts a new one.
Where our interpreter is not visible inside, each command gets a bubblewrap of its own instead, with bwrap's
init as PID 1 (on timeout we SIGKILL it and the kernel kills the namespace). The final working directory
comes back on a separate pipe, so `cd sub` carries over to the next call.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import posixpath
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox.base import DEFAULT_WORKDIR, CommandResult, SandboxConfig, SandboxUnavailable
from sandbox.env import SANDBOX_HOME, SANDBOX_TMP, sandbox_environment
from sandbox.inner import usable_inner_mounts
from sandbox.limits import FILE_LIMIT_MARKERS, CommandLimits, file_size_notes, remove_pending
from sandbox.output import OutputCapture
from sandbox.process import Pumped, command_result, pump
from sandbox.resident import KeptCommand, Resident, keeper_source, read_answer, send_request

WORKDIR = DEFAULT_WORKDIR
KEPT_SIDE_FD = 3  # where the keeper puts a command's side channel (sandbox/keeper.py)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
# The sandbox's own mount points: the checkout may be shown below them, never at or above them.
_RESERVED = (*SYSTEM_DIRS, SANDBOX_TMP, SANDBOX_HOME, "/proc", "/dev")
INSTALL_HINT = "install it with: apt-get install -y bubblewrap"


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def bwrap_help(bwrap: str) -> str:
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def interpreter_dirs() -> list[str]:
    """The installation prefixes of the running Python that the system mounts do not already cover.

    Only these exact directories are mounted: a pyenv Python under /root brings its version directory,
    never the rest of /root."""
    home = str(Path.home().resolve())
    found: list[str] = []
    for prefix in {sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix}:
        real = str(Path(prefix).resolve())
        system = any(_under(real, str(Path(d).resolve())) for d in SYSTEM_DIRS if os.path.exists(d))
        too_wide = real == "/" or _under(home, real)  # a prefix that would expose the whole home
        if not system and not too_wide and real not in found:
            found.append(real)
    return sorted(found)


@functools.cache
def unreadable_config(root: str = "/etc") -> tuple[str, ...]:
    """Files and directories under `root` that other users may not read (shadow, host keys, TLS keys).

    The sandbox runs as the host user, root more often than not, so it could read them; it sees them
    empty instead: what an unprivileged user cannot read, neither can a command."""
    found: list[str] = []
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs):
            with contextlib.suppress(OSError):
                mode = os.lstat(os.path.join(top, name)).st_mode
                if stat.S_ISDIR(mode) and not mode & stat.S_IROTH:
                    found.append(os.path.join(top, name) + "/")
                    dirs.remove(name)
        for name in files:
            with contextlib.suppress(OSError):
                mode = os.lstat(os.path.join(top, name)).st_mode
                if stat.S_ISREG(mode) and not mode & stat.S_IROTH:
                    found.append(os.path.join(top, name))
    return tuple(sorted(found))


def system_mount_args() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for hidden in unreadable_config():
        args += (
            ["--tmpfs", hidden.rstrip("/")] if hidden.endswith("/") else ["--ro-bind", "/dev/null", hidden]
        )
    return args + ["--proc", "/proc", "--dev", "/dev"]


def toolchain_mount_args(extra_ro_paths: tuple[str, ...] = ()) -> list[str]:
    """Read-only mounts of the Python in use and of `extra_ro_paths`, at their own paths. They go after the
    /tmp mount so that one under /tmp is not hidden by it."""
    args: list[str] = []
    for path in [*interpreter_dirs(), *extra_ro_paths]:
        args += ["--ro-bind-try", path, path]
    return args


def checkout_mount_args(
    checkout: Path,
    workdir: str,
    extra_ro_paths: tuple[str, ...] = (),
    inner_ro_mounts: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    """The checkout read-write at `workdir` with its `.git` read-only, and the read-only toolchain mounts.

    Order matters: a toolchain mount inside the workdir (the user's `.venv` in their repository) goes on top
    of the checkout, so the checkout shows it where the user has it; every other one goes before. The
    mounts at places inside the checkout (`inner_ro_mounts`, see sandbox.inner) go last, on top of it all;
    one whose place is a link, or lies behind one, is left out."""
    toolchain = toolchain_mount_args(extra_ro_paths)
    pairs = [toolchain[i : i + 3] for i in range(0, len(toolchain), 3)]
    inside = [a for pair in pairs if _under(pair[2], workdir) for a in pair]
    outside = [a for pair in pairs if not _under(pair[2], workdir) for a in pair]
    args = [*outside, "--bind", str(checkout), workdir]
    git = checkout / ".git"
    if git.exists() and not git.is_symlink():
        args += ["--ro-bind", str(git), posixpath.join(workdir, ".git")]
    args += inside
    for source, rel, _place in usable_inner_mounts(checkout, inner_ro_mounts):
        args += ["--ro-bind-try", source, posixpath.join(workdir, rel)]
    return args


def checkout_path_inside(user_repo: str) -> str:
    """Where a run's sandbox shows the checkout: at the user's repository path, so everything the user's
    environment recorded about that path (editable installs, `.pth` files, scripts' `#!` lines) leads to
    the checkout; `/workspace` when that path cannot be a mount point of its own (the root, a path at or
    above one of the sandbox's own mounts, or a name bwrap or the shell cannot carry)."""
    path = user_repo
    if (
        not posixpath.isabs(path)
        or posixpath.normpath(path) != path
        or path.startswith("//")
        or not path.isprintable()
    ):
        return WORKDIR
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return WORKDIR
    if path == "/" or any(_under(reserved, path) for reserved in _RESERVED):
        return WORKDIR
    if _under(path, "/proc") or _under(path, "/dev"):
        return WORKDIR
    return path


def isolation_args(bwrap: str, *, network: bool) -> list[str]:
    args = [
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
    ]
    if network:
        args.append("--share-net")
    if "--disable-userns" in bwrap_help(bwrap):
        args.append("--disable-userns")
    return args


def _cwd_script(command: str, start: str, report_fd: int, strict: bool, workdir: str = WORKDIR) -> str:
    """`command` preceded, on its first line so bash's line numbers stay the model's, by a trap that reports
    the final directory and a `cd` to `start` (if `start` vanished and was not asked for explicitly, the
    checkout root)."""
    report = f"trap 'printf %s \"$PWD\" >&{report_fd}' EXIT; "
    if strict:
        enter = f"cd -- {shlex.quote(start)} || exit 1; "
    else:
        enter = (
            f"cd -- {shlex.quote(start)} 2>/dev/null || {{ cd -- {shlex.quote(workdir)} && "
            f"echo {shlex.quote(f'[{start} no longer exists; starting in {workdir}]')}; }}; "
        )
    return report + enter + command


class BwrapSandbox:
    def __init__(
        self,
        checkout: Path,
        scratch: Path,
        config: SandboxConfig | None = None,
        *,
        use_cgroups: bool = True,
        resident: bool = True,
    ):
        self.checkout = checkout.resolve()
        if not self.checkout.is_dir():
            raise FileNotFoundError(f"checkout {self.checkout} is not a directory")
        self.scratch = scratch.resolve()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.config = config or SandboxConfig()
        if checkout_path_inside(self.config.workdir) != self.config.workdir:
            raise ValueError(f"{self.config.workdir!r} cannot be the checkout's path in the sandbox")
        self.workdir = self.config.workdir
        self.scratch_inner = SANDBOX_TMP
        self.use_cgroups = use_cgroups
        bwrap = find_bwrap()
        if bwrap is None:
            raise SandboxUnavailable(
                f"sandbox unavailable: bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
            )
        self.bwrap = bwrap
        self._env = sandbox_environment(self.config.extra_env, home=SANDBOX_HOME, tmpdir=SANDBOX_TMP)
        self._cwd: str | None = None
        self._lock = threading.Lock()
        self._kill_active: Callable[[], None] | None = None
        self.resident = resident
        self._resident: Resident | None = None
        self._limits: CommandLimits | None = None  # made at the first command, kept until close()
        self._launcher: ThreadPoolExecutor | None = None  # a thread inside the cgroups (v1), see limits

    def _command_limits(self) -> CommandLimits:
        if self._limits is None:
            self._limits = CommandLimits(
                self.config.memory_bytes,
                self.config.max_processes,
                self.use_cgroups,
                file_bytes=self.config.max_file_bytes,
            )
            self._limits.prepare()
            if self._limits.thread_can_hold:
                launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="be-agent-sandbox")
                try:
                    launcher.submit(self._limits.hold_this_thread).result()
                    self._launcher = launcher
                except OSError:
                    launcher.shutdown()  # the thread leaves with its cgroups; commands are moved in instead
        return self._limits

    def _start(self, argv: list[str], fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=fds,
            )

        return start() if self._launcher is None else self._launcher.submit(start).result()

    def _argv(self, script: str, *, info_fd: int, block_fd: int) -> list[str]:
        return self._mounts_and_fds(info_fd=info_fd, block_fd=block_fd) + ["--", "bash", "-c", script]

    def _mounts_and_fds(self, *, info_fd: int, block_fd: int) -> list[str]:
        args = [
            self.bwrap,
            *isolation_args(self.bwrap, network=self.config.network),
            *system_mount_args(),
            "--bind",
            str(self.scratch),
            SANDBOX_TMP,
            "--tmpfs",
            SANDBOX_HOME,
            # after /tmp and HOME, so a repository path below either is not hidden by them
            *checkout_mount_args(
                self.checkout, self.workdir, self.config.extra_ro_paths, self.config.inner_ro_mounts
            ),
            "--remount-ro",
            "/",
            "--chdir",
            self.workdir,
            "--info-fd",
            str(info_fd),
            "--block-fd",
            str(block_fd),
        ]
        return args

    def run(self, command: str, *, timeout: float | None = None, cwd: str | None = None) -> CommandResult:
        limit = self.config.command_timeout if timeout is None else timeout
        with self._lock:
            return self._run(command, limit, cwd)

    def _run(self, command: str, limit: float, cwd: str | None) -> CommandResult:
        if self.resident and self._keeper_python is not None:
            return self._run_kept(command, limit, cwd)
        return self._run_fresh(command, limit, cwd)

    # --- a resident sandbox: one bubblewrap for many commands, the keeper as its PID 1 ---------------

    @functools.cached_property
    def _keeper_python(self) -> str | None:
        """The interpreter the keeper runs with: ours, when the sandbox's mounts make it visible inside."""
        real = os.path.realpath(sys.executable)
        visible = [*SYSTEM_DIRS, *interpreter_dirs(), *self.config.extra_ro_paths]
        return sys.executable if any(_under(real, os.path.realpath(d)) for d in visible) else None

    def _resident_sandbox(self, deadline: float) -> Resident | str:
        """The running resident sandbox, started if need be; or why it could not start (bwrap's words)."""
        if self._resident is not None and self._resident.alive:
            return self._resident
        limits = self._command_limits()
        python = self._keeper_python
        assert python is not None
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        ours, theirs = socket.socketpair()
        argv = self._mounts_and_fds(info_fd=info_w, block_fd=block_r) + [
            "--as-pid-1",
            "--",
            python,
            "-I",
            "-S",
            "-c",
            keeper_source(),
            str(theirs.fileno()),
        ]
        try:
            proc = self._start(argv, (info_w, block_r, theirs.fileno()))
        except BaseException:
            for fd in (info_r, info_w, block_r, block_w):
                os.close(fd)
            ours.close()
            raise
        finally:
            theirs.close()
        os.close(info_w)
        os.close(block_r)
        resident = Resident(proc, ours, None)
        problem: str | None = None
        try:
            keeper_pid = _read_child_pid(info_r, deadline)
            if keeper_pid is None:
                problem = "bubblewrap did not start"
            else:
                resident.keeper_pid = keeper_pid
                try:
                    limits.enter(keeper_pid, move=self._launcher is None)
                except OSError as exc:  # never run a command without its limits
                    problem = f"[sandbox error: could not apply the command's limits: {exc}]"
                else:
                    with contextlib.suppress(OSError):
                        os.write(block_w, b"x")
        finally:
            os.close(block_w)
            os.close(info_r)
        if problem is None and read_answer(ours, max(0.0, deadline - time.monotonic())) is not None:
            self._resident = resident
            return resident
        said = resident.destroy()
        return said if said or not problem else problem

    def _run_kept(self, command: str, limit: float, cwd: str | None) -> CommandResult:
        start = time.monotonic()
        deadline = start + limit
        resident = self._resident_sandbox(deadline)
        if isinstance(resident, str):
            failed = Pumped(timed_out=False, exit_code=1, side=b"")
            capture = OutputCapture(self.config.output_head, self.config.output_tail)
            capture.feed((resident + "\n").encode())
            return command_result(failed, capture, limit=limit, started=start, cwd=self._cwd or self.workdir)
        limits = self._command_limits()
        counted = limits.counters()
        out_r, out_w = os.pipe()
        side_r, side_w = os.pipe()
        script = _cwd_script(
            command,
            cwd or self._cwd or self.workdir,
            KEPT_SIDE_FD,
            strict=cwd is not None,
            workdir=self.workdir,
        )
        try:
            send_request(resident.sock, {"script": script}, [out_w, side_w])
        except OSError:
            resident.destroy()
            for fd in (out_r, side_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(side_w)
        running = KeptCommand(resident, out_r)
        self._kill_active = running.kill
        capture = OutputCapture(self.config.output_head, self.config.output_tail, watch=FILE_LIMIT_MARKERS)
        try:
            pumped = pump(
                running,
                deadline=deadline,
                capture=capture,
                kill=running.kill,
                side_fd=side_r,
                ended_fd=resident.sock.fileno() if resident.alive else None,
            )
        finally:
            self._kill_active = None
        notes = limits.notes(since=counted)
        if not resident.alive and not pumped.timed_out:
            notes.append("[sandbox error: the sandbox ended unexpectedly; the next command starts a new one]")
        notes += file_size_notes(self.config.max_file_bytes, pumped.exit_code, capture.watched_seen)
        final_cwd = pumped.side.decode("utf-8", "replace") or None
        if final_cwd:
            self._cwd = final_cwd
        return command_result(
            pumped,
            capture,
            limit=limit,
            started=start,
            notes=notes,
            cwd=final_cwd or self._cwd or self.workdir,
        )

    # --- a fresh bubblewrap for one command ----------------------------------------------------------

    def _run_fresh(self, command: str, limit: float, cwd: str | None) -> CommandResult:
        start = time.monotonic()
        deadline = start + limit
        limits = self._command_limits()
        counted = limits.counters()
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        side_r, side_w = os.pipe()
        script = _cwd_script(
            command, cwd or self._cwd or self.workdir, side_w, strict=cwd is not None, workdir=self.workdir
        )
        child_fd: int | None = None
        limit_error: str | None = None
        try:
            proc = self._start(
                self._argv(script, info_fd=info_w, block_fd=block_r), (info_w, block_r, side_w)
            )
        except BaseException:
            for fd in (info_r, info_w, block_r, block_w, side_r, side_w):
                os.close(fd)
            raise
        for fd in (info_w, block_r, side_w):
            os.close(fd)
        try:
            child = _read_child_pid(info_r, deadline)
            if child is None:  # bwrap failed (its error is in the output) or did not start in time
                _kill_quietly(None, proc)
            else:
                with contextlib.suppress(OSError):
                    child_fd = os.pidfd_open(child)
                try:
                    limits.enter(child, move=self._launcher is None)
                except OSError as exc:  # never run a command without its limits
                    limit_error = f"[sandbox error: could not apply the command's limits: {exc}]"
                    _kill_quietly(child_fd, proc)
                    proc.wait()  # bwrap's init is dead before closing the pipe could release it
                else:
                    with contextlib.suppress(OSError):  # bwrap already gone: its output says why
                        os.write(block_w, b"x")
        finally:
            os.close(block_w)
            os.close(info_r)

        def kill() -> None:
            _kill_quietly(child_fd, proc)

        self._kill_active = kill
        capture = OutputCapture(self.config.output_head, self.config.output_tail, watch=FILE_LIMIT_MARKERS)
        try:
            pumped = pump(proc, deadline=deadline, capture=capture, kill=kill, side_fd=side_r)
        finally:
            self._kill_active = None
            if child_fd is not None:
                os.close(child_fd)
            limits.kill_leftovers()
            notes = limits.notes(since=counted) + ([limit_error] if limit_error else [])
        notes += file_size_notes(self.config.max_file_bytes, pumped.exit_code, capture.watched_seen)
        final_cwd = pumped.side.decode("utf-8", "replace") or None
        if final_cwd:
            self._cwd = final_cwd
        return command_result(
            pumped,
            capture,
            limit=limit,
            started=start,
            notes=notes,
            cwd=final_cwd or self._cwd or self.workdir,
        )

    def reset(self) -> None:
        """Forget the working directory: the next command starts at the checkout root (bash `restart`)."""
        self._cwd = None

    def close(self) -> None:
        kill = self._kill_active
        if kill is not None:
            kill()
        if self._resident is not None:
            self._resident.destroy()
            self._resident = None
        if self._launcher is not None:
            self._launcher.shutdown()  # its thread leaves the cgroups, which can then be removed
            self._launcher = None
        if self._limits is not None:
            self._limits.remove()
            self._limits = None
        remove_pending(patience=1.0)


def _kill_quietly(child_fd: int | None, proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the PID-namespace init (the kernel then kills the whole namespace) and bwrap itself."""
    if child_fd is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(child_fd, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def _read_child_pid(info_fd: int, deadline: float) -> int | None:
    """bwrap's info JSON names its PID-namespace init; None if bwrap failed before starting it."""
    data = b""
    while b"}" not in data:
        ready, _, _ = select.select([info_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return None
        chunk = os.read(info_fd, 4096)
        if not chunk:
            return None
        data += chunk
    try:
        pid = json.loads(data).get("child-pid")
    except ValueError:
        return None
    return pid if isinstance(pid, int) else None
