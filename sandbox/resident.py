"""The harness's side of a resident sandbox: talks to the keeper (sandbox/keeper.py, PID 1 inside) over a
Unix socket, and gives `pump` a running command to drive, as a subprocess would."""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

HEADER = struct.Struct(">I")  # the keeper's framing (sandbox/keeper.py): a length, then JSON
SAID_LIMIT = 8192
SAID_WAIT_S = 0.5


@cache
def keeper_source() -> str:
    return (Path(__file__).parent / "keeper.py").read_text(encoding="utf-8")


def send_request(sock: socket.socket, message: dict[str, object], fds: list[int]) -> None:
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], fds)
    if sent < len(data):
        sock.sendall(data[sent:])


def read_answer(sock: socket.socket, timeout: float | None) -> dict[str, object] | None:
    """The keeper's next answer; None when it is gone (or says nothing within `timeout`)."""
    data = b""
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack(data[: HEADER.size])[0]:
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return None
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        data += chunk
    size = HEADER.unpack(data[: HEADER.size])[0]
    answer: dict[str, object] = json.loads(data[HEADER.size : HEADER.size + size])
    return answer


@dataclass
class Resident:
    """A bubblewrap sandbox kept for many commands: bwrap's process and the socket to its keeper."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    keeper_pid: int | None
    alive: bool = True

    def destroy(self) -> str:
        """End the sandbox at once (the keeper, every command, bwrap); returns what bwrap said."""
        self.alive = False
        self.sock.close()
        self.proc.kill()  # the keeper dies with bwrap (--die-with-parent), and the namespace with it
        self.proc.wait()
        said = b""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            fd = self.proc.stdout.fileno()
            while len(said) < SAID_LIMIT and select.select([fd], [], [], SAID_WAIT_S)[0]:
                chunk = os.read(fd, SAID_LIMIT)
                if not chunk:
                    break
                said += chunk
            self.proc.stdout.close()
        return said.decode("utf-8", "replace").strip()


class KeptCommand:
    """One command running in a resident sandbox, with what `pump` needs of a process."""

    def __init__(self, resident: Resident, output: int):
        self.resident = resident
        self.stdout: IO[bytes] | None = os.fdopen(output, "rb", buffering=0)
        self.pid = -1  # no host process of its own: `exit_fd` says when it ended
        self._code: int | None = None
        self._answered = False
        self._kill_sent = False

    @property
    def exit_fd(self) -> int:
        return self.resident.sock.fileno()

    def poll(self) -> int | None:
        return self.wait(timeout=0) if self._ready() else None

    def _ready(self) -> bool:
        if self._answered or not self.resident.alive:
            return True
        ready, _, _ = select.select([self.resident.sock], [], [], 0)
        return bool(ready)

    def wait(self, timeout: float | None = None) -> int:
        if not self._answered:
            answer = read_answer(self.resident.sock, timeout) if self.resident.alive else None
            if answer is None:
                if self.resident.alive and timeout is not None and not self._ready():
                    raise subprocess.TimeoutExpired("sandboxed command", timeout)
                self.resident.destroy()  # the keeper is gone or broken: nothing of this sandbox is kept
            else:
                self._code = int(answer["exit"])  # type: ignore[call-overload]
            self._answered = True
        return -9 if self._code is None else self._code

    def kill(self) -> None:
        """The first time, ask the keeper to kill the command; after that, end the whole sandbox."""
        if not self.resident.alive or self._answered:
            return
        if self._kill_sent:
            self.resident.destroy()
            return
        self._kill_sent = True
        try:
            send_request(self.resident.sock, {"kill": True}, [])
        except OSError:
            self.resident.destroy()
