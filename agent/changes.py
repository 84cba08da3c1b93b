"""Did the run's checkout change? Asked after every tool call, answered at a cost that follows what changed.

A change is what `git status` would show: a tracked file's content, type or executable bit, or a file that
is not ignored appearing, disappearing or changing content. Ignored files never count (build output,
`__pycache__`, what the baseline run wrote and the harness excluded). The finish gate relies on this to
know the model edited after its last test run, through the editor or through bash: an edit is never missed.

How: inotify watches every directory of the checkout but `.git`. After a tool call the queued events name
the entries that may have changed, and only those are looked at: each is compared with its last seen state
(a git blob id), or the first time, with the index for a tracked file and "absent" for the rest. When
nothing happened this costs one system call; git runs only to ask whether new untracked paths are ignored.

Why nothing is missed:
- the kernel reports writes at the directory, whichever process made them (sandboxed or not);
- a new directory is watched when its creation is read, then walked, so what was written in it before
  that is seen too;
- a hard link makes a second name for a file, and writing through one name raises no event at the other:
  a file known to share its inode with another name in the checkout is re-read at every check;
- when the kernel's queue overflowed, or the checkout itself moved, what changed is unknown: the check says
  "changed" and forgets every remembered state, so later writes count again;
- where inotify is missing or the watch limit is reached, every check asks git about the whole tree.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import os
import stat
from pathlib import Path

from agent import workspace as ws
from agent.errors import AgentError
from agent.git import output_bytes as git_output
from agent.git import paths as git_paths
from agent.inotify import (
    CHANGES,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_EXCL_UNLINK,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_ONLYDIR,
    IN_Q_OVERFLOW,
    Inotify,
)

Signature = tuple[object, ...] | None  # None: no file there
UNKNOWN: Signature = ("unknown",)  # never equal to a real state
_MASK = CHANGES | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
_READ_CHUNK = 1 << 20


def git_fingerprint(checkout: Path) -> str:
    """The whole tree's state as one digest, from git: the slow way, cost with the size of the tree."""
    digest = hashlib.sha256()
    digest.update(git_output(checkout, "diff", "--binary", "HEAD"))
    for rel in ws.untracked_paths(checkout):
        name = os.fsencode(rel)  # a name that is not UTF-8 is still a name
        try:
            st = (checkout / rel).stat()
            digest.update(name + f":{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            digest.update(name)
    return digest.hexdigest()


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class _Unwatchable(Exception):
    """inotify cannot cover the tree (the watch limit, most often): fall back to git."""


class TreeWatch:
    """`fingerprint()` returns a token that changes exactly when the checkout changed since the last call."""

    def __init__(self, checkout: Path):
        self.root = checkout.resolve()
        self.generation = 0
        self.fallback_reason: str | None = None
        self._last_git: str | None = None
        self._inotify: Inotify | None = None
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory, relative to the root ("" is it)
        self._watched: set[str] = set()  # the directories in _dirs
        self._signatures: dict[str, Signature] = {}  # last seen state of paths looked at
        self._ignored: dict[str, bool] = {}  # git's answer for untracked paths, until a .gitignore changes
        self._inodes: dict[tuple[int, int], str] = {}  # a name in the checkout for each file seen
        self._linked: set[str] = set()  # names sharing their file with another name: re-read at every check
        self._unknown = False  # after an overflow: no remembered state can be trusted
        try:
            self._inotify = Inotify()
            self._load_index()
            self._snapshot_dirty()
            self._watch_tree("", initial=True)
        except (OSError, AgentError, UnicodeError, _Unwatchable) as exc:
            self._give_up(f"{type(exc).__name__}: {exc}")

    # --- the interface the loop uses -------------------------------------------------------------

    def fingerprint(self) -> str:
        if self.check():
            self.generation += 1
        return str(self.generation)

    def check(self) -> bool:
        """True when the tree changed since the previous check (or since the watch began)."""
        if self._inotify is None:
            return self._git_check()
        try:
            return self._inotify_check()
        except (OSError, AgentError, UnicodeError, _Unwatchable) as exc:
            self._give_up(f"{type(exc).__name__}: {exc}")
            return True

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    # --- set-up ----------------------------------------------------------------------------------

    def _load_index(self) -> None:
        self._hash = ws.git(self.root, "rev-parse", "--show-object-format").stdout.strip() or "sha1"
        hashlib.new(self._hash)  # an unknown object format fails here, at set-up
        self._tracked: dict[str, tuple[str, str]] = {}
        for entry in git_paths(self.root, "ls-files", "-s", "-z"):
            meta, path = entry.split("\t", 1)
            mode, sha, _stage = meta.split(" ")
            if mode != "160000":  # a submodule is a nested repository, not a file
                self._tracked[path] = (mode, sha)
        self._tracked_sorted = sorted(self._tracked)

    def _snapshot_dirty(self) -> None:
        """What already differs from the index when the watch begins is remembered as it is now."""
        dirty = git_paths(self.root, "diff", "--name-only", "-z")
        for rel in dirty + ws.untracked_paths(self.root):
            self._signatures[rel] = self._signature(rel)

    def _give_up(self, why: str) -> None:
        self.close()
        self.fallback_reason = why
        self._last_git = git_fingerprint(self.root)

    # --- checks ----------------------------------------------------------------------------------

    def _git_check(self) -> bool:
        now = git_fingerprint(self.root)
        changed = now != self._last_git
        self._last_git = now
        return changed

    def _inotify_check(self) -> bool:
        assert self._inotify is not None
        candidates: set[str] = set()
        detached: set[int] = set()
        overflow = False
        for event in self._inotify.read():
            if event.mask & IN_Q_OVERFLOW:
                overflow = True
                continue
            base = self._dirs.get(event.wd)
            if base is None:
                continue  # a directory that moved out of the checkout
            if event.mask & IN_IGNORED:
                self._unwatch(event.wd)
                overflow = overflow or base == ""
                continue
            if not event.name:
                if base == "" and event.mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                    overflow = True  # the checkout itself was moved or removed
                continue  # its parent's watch reports the same thing with a name
            if event.name == ".git":
                continue
            rel = _join(base, event.name)
            candidates.add(rel)
            if event.mask & IN_ISDIR and event.mask & IN_MOVED_FROM:
                detached |= self._forget_dirs_under(rel)
        if overflow:
            self._forget_everything()
            return True
        changed = self._compare(candidates) if candidates or self._linked else False
        for wd in detached - set(self._dirs):
            self._inotify.remove_watch(wd)
        return changed

    def _compare(self, candidates: set[str]) -> bool:
        files: set[str] = set(self._linked)
        new_dirs: list[str] = []
        for rel in candidates:
            try:
                is_dir = stat.S_ISDIR(os.lstat(self.root / rel).st_mode)
            except OSError:
                is_dir = False
            if not is_dir:
                files.add(rel)
            elif rel not in self._watched:
                new_dirs.append(rel)
            files.update(self._known_under(rel))
        for rel in new_dirs:
            files.update(self._watch_tree(rel))
        if any(Path(rel).name == ".gitignore" for rel in files):
            self._ignored.clear()
        # a new directory git ignores (__pycache__, build output) spares looking at each file in it
        self._ask_ignored([d for d in new_dirs if d not in self._tracked and not self._holds_tracked(d)])
        differing: list[str] = []
        for rel in files:
            if self._known_ignored(rel):
                self._note_links(rel)
                continue
            now = self._signature(rel)
            if now != self._previous(rel):
                differing.append(rel)
            self._signatures[rel] = now
        # git is asked only about untracked paths that differ: most steps change nothing, or tracked files
        self._ask_ignored([rel for rel in differing if rel not in self._tracked])
        return any(not self._known_ignored(rel) for rel in differing)

    # --- state of one path -----------------------------------------------------------------------

    def _previous(self, rel: str) -> Signature:
        if rel in self._signatures:
            return self._signatures[rel]
        if self._unknown:
            return UNKNOWN
        entry = self._tracked.get(rel)
        if entry is None:
            return None
        mode, sha = entry
        if mode == "120000":
            return ("link", sha)
        return ("file", mode == "100755", sha)

    def _signature(self, rel: str) -> Signature:
        path = self.root / rel
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            try:
                return ("link", self._blob_id(os.fsencode(os.readlink(path))))
            except OSError:
                return None
        if stat.S_ISDIR(st.st_mode):
            return None  # no file here; what the directory holds is looked at file by file
        if not stat.S_ISREG(st.st_mode):
            return ("special", stat.S_IFMT(st.st_mode))
        self._note_inode(rel, st)
        try:
            return ("file", bool(st.st_mode & stat.S_IXUSR), self._file_blob_id(path))
        except OSError:
            return UNKNOWN  # unreadable: say it changed rather than guess

    def _note_links(self, rel: str) -> None:
        with contextlib.suppress(OSError):
            st = os.lstat(self.root / rel)
            if stat.S_ISREG(st.st_mode):
                self._note_inode(rel, st)

    def _note_inode(self, rel: str, st: os.stat_result) -> None:
        """Remember a name for the file; a second name for a file already seen links both for good."""
        key = (st.st_dev, st.st_ino)
        other = self._inodes.setdefault(key, rel)
        if st.st_nlink > 1 and other != rel:
            self._linked.update((rel, other))

    def _file_blob_id(self, path: Path) -> str:
        """The id git would give the file's bytes (so a tracked file can be compared with the index)."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            digest = hashlib.new(self._hash)
            digest.update(b"blob %d\0" % size)
            while chunk := os.read(fd, _READ_CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
        finally:
            os.close(fd)

    def _blob_id(self, data: bytes) -> str:
        return hashlib.new(self._hash, b"blob %d\0" % len(data) + data).hexdigest()

    # --- directories -----------------------------------------------------------------------------

    def _watch_tree(self, top: str, *, initial: bool = False) -> list[str]:
        """Watch `top` and every directory under it but `.git`; returns the files found. At the start, the
        name of every file is noted, to recognise a hard link made later."""
        assert self._inotify is not None
        files: list[str] = []
        stack = [top]
        while stack:
            rel = stack.pop()
            try:
                wd = self._inotify.add_watch(str(self.root / rel) if rel else str(self.root), _MASK)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    continue  # gone again already
                raise _Unwatchable(str(exc)) from exc
            self._dirs[wd] = rel
            self._watched.add(rel)
            try:
                entries = list(os.scandir(self.root / rel if rel else self.root))
            except OSError:
                continue
            for entry in entries:
                child = _join(rel, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        stack.append(child)
                    continue
                files.append(child)
                if initial and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        self._note_inode(child, entry.stat(follow_symlinks=False))
        return files

    def _unwatch(self, wd: int) -> None:
        rel = self._dirs.pop(wd, None)
        if rel is not None and rel not in self._dirs.values():
            self._watched.discard(rel)

    def _forget_dirs_under(self, rel: str) -> set[int]:
        gone = {wd for wd, path in self._dirs.items() if _under(path, rel)}
        for wd in gone:
            self._watched.discard(self._dirs.pop(wd))
        return gone

    def _forget_everything(self) -> None:
        self._signatures.clear()
        self._ignored.clear()
        self._unknown = True
        self._watch_tree("")

    def _holds_tracked(self, rel: str) -> bool:
        prefix = rel + "/"
        i = bisect.bisect_left(self._tracked_sorted, prefix)
        return i < len(self._tracked_sorted) and self._tracked_sorted[i].startswith(prefix)

    def _known_under(self, rel: str) -> list[str]:
        """Files under `rel` as a directory that were tracked or seen before: if it was removed or moved
        away, they are gone."""
        prefix = rel + "/"
        i = bisect.bisect_left(self._tracked_sorted, prefix)
        found = []
        while i < len(self._tracked_sorted) and self._tracked_sorted[i].startswith(prefix):
            found.append(self._tracked_sorted[i])
            i += 1
        found += [p for p in self._signatures if p.startswith(prefix)]
        return found

    # --- ignore rules ----------------------------------------------------------------------------

    def _known_ignored(self, rel: str) -> bool:
        """Git said this untracked path, or a directory it is in, is ignored."""
        if rel in self._tracked:
            return False
        parts = rel.split("/")
        return any(self._ignored.get("/".join(parts[:i]), False) for i in range(len(parts), 0, -1))

    def _ask_ignored(self, paths: list[str]) -> None:
        """Ask git, once for all of them, whether these untracked paths are ignored."""
        unknown = [p for p in paths if p not in self._ignored and not self._known_ignored(p)]
        if not unknown:
            return
        answer = ws.git(
            self.root,
            "check-ignore",
            "--no-index",
            "-z",
            "--stdin",
            input_text="\0".join(unknown) + "\0",
            check=False,
        )
        if answer.returncode not in (0, 1):
            raise OSError(errno.EIO, f"git check-ignore failed: {answer.stderr.strip()}")
        said = set(answer.stdout.split("\0"))
        for p in unknown:
            self._ignored[p] = p in said
