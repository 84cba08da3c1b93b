"""Where the model's paths may point: inside the checkout, never through a symlink, never into `.git`.

The editor runs on the host, outside the sandbox, so a symlink planted by a sandboxed command must never lead
it elsewhere. Paths are checked lexically and with `lstat`, and files are then opened one directory at a
time with `O_NOFOLLOW`, so a link swapped in between the check and the open is refused too.

Names are bytes: a name read from the file system is a str as `os.fsdecode` gives it, where bytes that are
not UTF-8 are kept as surrogates (U+DC80..U+DCFF), so it opens the same file again. Text for a reader (the
model, a log) shows such bytes as `\\xNN` (`shown_name`): surrogates cannot be encoded, and a name may also
hold a newline or an escape character.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from tools.base import ToolInputError

GIT_REFUSED = "git metadata is managed by the harness; edit the working tree instead"
MAX_FILE_BYTES = 20 * 1024 * 1024

Kind = Literal["file", "dir", "missing", "other"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def is_utf8_name(name: str) -> bool:
    """Whether a name (as `os.fsdecode` gives it) is valid UTF-8."""
    return _SURROGATE.search(name) is None


def without_surrogates(text: str) -> str:
    """`text` with every surrogate shown as the byte it stands for (`\\xff`) or as `<U+D800>`, so that any
    encoder accepts it."""
    return _SURROGATE.sub(_surrogate_mark, text)


def shown_name(name: str) -> str:
    """A name for a reader: bytes that are not UTF-8 and control characters shown as `\\xNN`."""
    return _NAME_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", without_surrogates(name))


def _surrogate_mark(match: re.Match[str]) -> str:
    cp = ord(match.group())
    return f"\\x{cp - 0xDC00:02x}" if 0xDC80 <= cp <= 0xDCFF else f"<U+{cp:04X}>"


def resolve_in_checkout(root: Path, path: str, *, workdir: str) -> Path:
    """The host path for `path`, or ToolInputError if it would leave the checkout.

    Relative paths resolve against `root`. Absolute paths are accepted inside `root` or inside `workdir` (the
    checkout as the sandbox sees it, e.g. `/workspace/app.py` is `root/app.py`).
    """
    root = root.resolve()
    parts = _checkout_parts(root, path, workdir)
    target = root.joinpath(*parts)
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        except NotADirectoryError:
            raise ToolInputError(f"{display_path(root, current.parent)} is not a directory") from None
        if stat.S_ISLNK(mode):
            raise ToolInputError(
                f"{display_path(root, current)} is a symbolic link; the editor does not follow links. "
                "Work on the file it points to, if that file is inside the checkout."
            )
    return target


def display_path(root: Path, path: Path) -> str:
    """`path` relative to the checkout root, with forward slashes; "." for the root itself."""
    try:
        rel = path.relative_to(root.resolve())
    except ValueError:
        rel = path.relative_to(root)
    text = rel.as_posix()
    return text if text else "."


def _checkout_parts(root: Path, path: str, workdir: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path.strip():
        raise ToolInputError("`path` is required: a path relative to the checkout root, e.g. src/app.py")
    if "\x00" in path:
        raise ToolInputError("`path` contains a NUL character")
    normal = posixpath.normpath(path)
    if posixpath.isabs(normal):
        rel = _relative_to_any(normal, [posixpath.normpath(workdir), root.as_posix()])
        if rel is None:
            raise ToolInputError(
                f"{path} is outside the checkout; use a path relative to the checkout root "
                f"or one under {workdir}"
            )
    else:
        rel = normal
    parts = tuple(p for p in rel.split("/") if p not in ("", "."))
    if parts and parts[0] == "..":
        raise ToolInputError(f"{path} resolves outside the checkout; use a path inside it")
    if any(p.lower() == ".git" for p in parts):
        raise ToolInputError(f"{path}: {GIT_REFUSED}")
    return parts


def _relative_to_any(path: str, bases: list[str]) -> str | None:
    for base in bases:
        if path == base:
            return "."
        prefix = base.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def _parts_under(root: Path, target: Path) -> tuple[str, ...]:
    root = root.resolve()
    try:
        return target.relative_to(root).parts
    except ValueError:
        raise ToolInputError(f"{target} is outside the checkout") from None


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _open_dir(root: Path, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
    """A descriptor for root/parts, opened one component at a time without following links."""
    fd = os.open(root.resolve(), _DIR_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refusal(exc, part) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _refusal(exc: OSError, name: str) -> Exception:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return ToolInputError(
            f"{name} is a symbolic link or not a directory; the editor does not follow links"
        )
    return exc


def kind(target: Path) -> Kind:
    """What is at `target`, without following a link."""
    try:
        mode = os.lstat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def read_bytes(root: Path, target: Path) -> bytes:
    """The content of a regular file inside the checkout; refuses links, devices, FIFOs and huge files."""
    parts = _parts_under(root, target)
    if not parts:
        raise ToolInputError("the checkout root is a directory, not a file")
    with _open_dir(root, parts[:-1]) as dir_fd:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            raise _refusal(exc, parts[-1]) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ToolInputError(f"{'/'.join(parts)} is not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise ToolInputError(
                    f"{'/'.join(parts)} is {info.st_size} bytes, too large for the editor; use bash "
                    "(head, sed -n, grep) to look at parts of it"
                )
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)


def write_bytes(root: Path, target: Path, data: bytes, *, make_parents: bool = False) -> None:
    """Write a regular file inside the checkout in place (keeping its mode), creating it if missing."""
    parts = _parts_under(root, target)
    if not parts:
        raise ToolInputError("the checkout root is a directory, not a file")
    with _open_dir(root, parts[:-1], create=make_parents) as dir_fd:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(parts[-1], flags, 0o644, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise ToolInputError(f"{'/'.join(parts)} is a directory, not a file") from None
            raise _refusal(exc, parts[-1]) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ToolInputError(f"{'/'.join(parts)} is not a regular file")
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)


def list_dir(
    root: Path, target: Path, *, depth: int = 2, skip_contents: frozenset[str] = frozenset()
) -> list[str]:
    """Entries under a checkout directory up to `depth` levels, hidden ones skipped, paths relative to root.

    Directories end with "/"; symlinks are shown with "@" and never entered.
    """
    parts = _parts_under(root, target)
    prefix = "/".join(parts)
    entries: list[str] = []
    with _open_dir(root, parts) as fd:
        _walk(fd, prefix, depth, skip_contents, entries)
    return entries


def _walk(fd: int, prefix: str, depth: int, skip_contents: frozenset[str], out: list[str]) -> None:
    with os.scandir(fd) as it:
        children = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in children:
        rel = f"{prefix}/{entry.name}" if prefix else entry.name
        if entry.is_symlink():
            out.append(rel + "@")
        elif entry.is_dir(follow_symlinks=False):
            out.append(rel + "/")
            if depth > 1 and entry.name not in skip_contents:
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                try:
                    _walk(child, rel, depth - 1, skip_contents, out)
                finally:
                    os.close(child)
        else:
            out.append(rel)
