"""The keeper: PID 1 of a resident bubblewrap sandbox. Runs each command it is sent, one at a time, and when
the command ends (or the harness says kill) kills every other process in the sandbox before it answers.

It runs inside the sandbox, from source passed on its command line, with the standard library only. The
harness talks to it over one Unix socket: a request is a length-prefixed JSON object `{"script": str}` with
two file descriptors attached (the command's output and its side channel, which become fds 1+2 and 3); a
`{"kill": true}` request ends the running command. HOME is emptied before each command. Each command gets one answer, `{"exit": int}` (128+N
when killed by signal N). EOF on the socket ends the keeper, and with it the sandbox.

Why it holds: as PID 1 of its PID namespace it cannot be signalled from inside (the kernel drops such
signals to an init), it is not dumpable (no ptrace, no /proc/1/mem without CAP_SYS_PTRACE, which every
process here lacks), and orphans are re-parented to it, so after each command `/proc` lists exactly what
is left, and all of it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import time

PR_SET_DUMPABLE = 4
HEADER = struct.Struct(">I")
SIDE_FD = 3
FIRST_OWN_FD = 10  # the keeper's own descriptors live from here up, clear of the command's
STUCK_AFTER_S = 5.0  # a process that survives SIGKILL this long (stuck in the kernel) is reported


def receive(sock: socket.socket) -> tuple[dict[str, object] | None, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 2, socket.MSG_CMSG_CLOEXEC)
    fds = [high(fd) for fd in fds]
    if not data:
        return None, fds
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        more = sock.recv(1 << 16)
        if not more:
            return None, fds
        data += more
    size = HEADER.unpack_from(data)[0]
    return json.loads(data[HEADER.size : HEADER.size + size]), fds


def send(sock: socket.socket, message: dict[str, object]) -> None:
    body = json.dumps(message).encode()
    sock.sendall(HEADER.pack(len(body)) + body)


def others() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]


def reap() -> dict[int, int]:
    found: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        found[pid] = status


def kill_all() -> dict[int, int]:
    """SIGKILL everything but ourselves until nothing is left; the statuses reaped on the way."""
    reaped: dict[int, int] = {}
    deadline = time.monotonic() + STUCK_AFTER_S
    while True:
        left = others()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reaped.update(reap())
        left = others()
        if not left or time.monotonic() > deadline:
            return reaped
        time.sleep(0.001)


def exit_code(status: int) -> int:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def empty_home() -> None:
    """Every command starts with an empty HOME, as if in a sandbox of its own."""
    home = os.environ.get("HOME", "")
    if not home.startswith("/home/"):
        return
    for entry in os.scandir(home):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def start(script: str, out: int, side: int) -> int:
    """Start `bash -c script` in a session of its own, its output on fds 1 and 2 and the side channel on 3.

    posix_spawn rather than fork: the keeper is a Python process, and copying it for every command cost more
    than the command itself. Every other descriptor the keeper holds is close-on-exec (see `main`), so the
    command inherits nothing but stdin and these three."""
    return os.posix_spawnp(
        "bash",
        ["bash", "-c", script],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, out, 2),
            (os.POSIX_SPAWN_DUP2, side, SIDE_FD),
        ],
        setsid=True,
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores them; a command must not
    )


def high(fd: int) -> int:
    """`fd` moved above the numbers a command gets (0-3), close-on-exec."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FIRST_OWN_FD)
    os.close(fd)
    return moved


def close_on_exec_all() -> None:
    """Whatever bubblewrap left open in the keeper beyond stdin, stdout and stderr never reaches a command."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if int(name) > 2:
                os.set_inheritable(int(name), False)


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return 1
    close_on_exec_all()
    sock = socket.socket(fileno=high(int(sys.argv[1])))
    send(sock, {"ready": True})
    while True:
        request, fds = receive(sock)
        if request is None or len(fds) != 2:
            kill_all()
            return 0
        out, side = fds
        empty_home()
        pid = start(str(request["script"]), out, side)
        os.close(out)
        os.close(side)
        status = None
        watch = os.pidfd_open(pid)
        try:
            while status is None:
                ready, _, _ = select.select([sock.fileno(), watch], [], [])
                if watch in ready:
                    status = os.waitpid(pid, 0)[1]
                elif sock.fileno() in ready:
                    order, extra = receive(sock)
                    for fd in extra:
                        os.close(fd)
                    if order is None:
                        kill_all()
                        return 0
                    status = kill_all().get(pid)
                    if status is None:
                        status = os.waitpid(pid, 0)[1]
        finally:
            os.close(watch)
        kill_all()
        send(sock, {"exit": exit_code(status)})


if __name__ == "__main__":
    raise SystemExit(main())
