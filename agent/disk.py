"""A run's disk quota: what the model's commands add to the run directory (the checkout, and the scratch
space that is the sandbox's /tmp) may take at most `--disk-limit` bytes (default 2 GiB) more than the run
directory took when the model started (the copy of the repository and the baseline test run are not
counted, so a large repository is no reason to stop).

The harness checks after every tool call (`DiskQuota.exceeded`); over the limit, the call's result says so
and the run ends `not_fixed` with the reason, before the run copies anything more. Usage is what the files
take on disk (allocated blocks, so a sparse file counts what it holds), links never followed, other file
systems mounted inside never entered, a file with several hard links counted once.

Measuring walks the places the model's commands can write (`within`: the checkout and the scratch space);
the harness's own files beside them (the toolchain's bytecode the baseline wrote, read-only from then on,
the logs) are not walked at every step. When a walk is slow (20 ms: a checkout of some thousand files), the next checks first ask
the file system how much its free space shrank since the last walk: the run cannot have grown by more than
that unless something else freed space meanwhile, so no walk is needed while the last usage plus that
shrink stays under the limit.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DISK_LIMIT = 2 * 1024**3
SLOW_WALK_S = 0.02  # a walk slower than this (a checkout of some thousand files) makes the next checks use the file system's free space first
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`2G`, `500MiB`, `1.5g`, `1048576`: a number of bytes (units are powers of 1024). ValueError if not."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"must be a size such as 2G, 500M or 1048576 (bytes), not {text!r}")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 1:
        raise ValueError(f"must be at least 1 byte, not {text!r}")
    return size


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


def disk_usage(root: Path) -> int:
    """Bytes the files under `root` take on disk (see the module's docstring for what counts)."""
    try:
        top = os.lstat(root)
    except OSError:
        return 0
    total = top.st_blocks * 512
    seen: set[tuple[int, int]] = set()
    pending = [os.fspath(root)] if stat.S_ISDIR(top.st_mode) else []
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue  # gone meanwhile, or unreadable: nothing of it can be counted
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_dev != top.st_dev:
                    continue
                if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += info.st_blocks * 512
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
    return total


def _free_bytes(root: Path) -> int:
    info = os.statvfs(root)
    return info.f_bavail * info.f_frsize


class DiskQuota:
    """The quota of one run directory: of `within` (names of its subdirectories), or of all of it."""

    def __init__(self, root: Path, limit: int = DEFAULT_DISK_LIMIT, *, within: Sequence[str] = ()):
        self.root = root
        self.places = [root / name for name in within] if within else [root]
        self.limit = limit
        self.used = 0  # the run directory, at the last walk
        self._free_at_walk = 0
        self._slow = False
        self._walk()
        self.start = self.used

    @property
    def added(self) -> int:
        return max(0, self.used - self.start)

    def exceeded(self) -> str | None:
        """None while the run is within its quota; otherwise what the run's files take, as a sentence."""
        if self._slow:
            shrink = self._free_at_walk - _free_bytes(self.root)
            if self.added + max(0, shrink) < self.limit:
                return None
        self._walk()
        if self.added <= self.limit:
            return None
        return (
            f"the run's commands added {format_size(self.added)} of files, over the disk limit of "
            f"{format_size(self.limit)} (--disk-limit)"
        )

    def _walk(self) -> None:
        started = time.monotonic()
        self._free_at_walk = _free_bytes(self.root)
        self.used = sum(disk_usage(place) for place in self.places)
        self._slow = time.monotonic() - started > SLOW_WALK_S
