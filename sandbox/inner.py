"""Read-only directories shown at a place inside the checkout (`SandboxConfig.inner_ro_mounts`): the user's
untracked `node_modules` or Go `vendor/`, what the setup step made.

The host path (the source) is chosen by the harness, never by the repository. The place is a path relative
to the checkout, and the checkout is the repository's (or the model's): a link there, or a link on the way
there, would send the mount elsewhere (inside bubblewrap only the sandbox's own view, but still not where the
tests look). So a place is used only when every directory on the way is a real directory of the tree and the
place itself is absent or of the source's own kind (a directory for a directory, a file for a file), never a
link; otherwise that one mount is left out.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

MAX_INNER_MOUNTS = 64


def plain_relative(rel: str) -> bool:
    """A normalised relative path with no `..`, not `.git` or below it."""
    if not rel or rel.startswith("/") or posixpath.normpath(rel) != rel or "\0" in rel:
        return False
    parts = rel.split("/")
    return ".." not in parts and "." not in parts and parts[0] != ".git" and rel.isprintable()


def inner_place(checkout: Path, source: str, rel: str) -> Path | None:
    """The host path inside `checkout` where `source` may be shown, or None when it must be left out."""
    if not plain_relative(rel) or not os.path.isabs(source):
        return None
    try:
        source_mode = os.stat(source).st_mode
    except OSError:
        return None
    here = checkout
    parts = rel.split("/")
    for part in parts[:-1]:
        here = here / part
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return None  # the tree has no such directory: nothing there to show it in
        except OSError:
            return None
        if not stat.S_ISDIR(mode):
            return None
    place = here / parts[-1]
    try:
        mode = os.lstat(place).st_mode
    except FileNotFoundError:
        return place
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return None
    if stat.S_ISDIR(source_mode) != stat.S_ISDIR(mode):
        return None
    return place


def usable_inner_mounts(checkout: Path, mounts: tuple[tuple[str, str], ...]) -> list[tuple[str, str, Path]]:
    """(source, rel, place) for each mount that can be placed, in order, at most MAX_INNER_MOUNTS."""
    found: list[tuple[str, str, Path]] = []
    for source, rel in mounts[:MAX_INNER_MOUNTS]:
        place = inner_place(checkout, source, rel)
        if place is not None:
            found.append((source, rel, place))
    return found
