"""Which paths the editor may touch: only inside the checkout, never through a link, never `.git`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.base import ToolInputError
from tools.paths import display_path, list_dir, read_bytes, resolve_in_checkout, write_bytes

WORKDIR = "/workspace"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "app.py").write_text("print('hi')\n")
    (checkout / ".git").mkdir()
    return checkout


def test_relative_and_sandbox_absolute_paths_map_to_the_same_file(root: Path) -> None:
    expected = root.resolve() / "src" / "app.py"
    assert resolve_in_checkout(root, "src/app.py", workdir=WORKDIR) == expected
    assert resolve_in_checkout(root, "./src/../src/app.py", workdir=WORKDIR) == expected
    assert resolve_in_checkout(root, "/workspace/src/app.py", workdir=WORKDIR) == expected
    assert resolve_in_checkout(root, str(root / "src" / "app.py"), workdir=WORKDIR) == expected
    assert resolve_in_checkout(root, "/workspace", workdir=WORKDIR) == root.resolve()


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "src/../../outside.txt",
        "/etc/passwd",
        "/workspace/../etc/passwd",
        "/workspacex/app.py",
        "",
    ],
)
def test_paths_leaving_the_checkout_are_refused(root: Path, path: str) -> None:
    with pytest.raises(ToolInputError):
        resolve_in_checkout(root, path, workdir=WORKDIR)


@pytest.mark.parametrize(
    "path", [".git/config", "/workspace/.git/hooks/pre-commit", "sub/.git/HEAD", ".GIT/x"]
)
def test_git_metadata_is_refused(root: Path, path: str) -> None:
    with pytest.raises(ToolInputError, match="managed by the harness"):
        resolve_in_checkout(root, path, workdir=WORKDIR)


def test_symlinks_anywhere_on_the_path_are_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    os.symlink(outside, root / "linkdir")
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink("app.py", root / "src" / "inner_link.py")  # even a link that stays inside
    for path in ("linkdir/secret.txt", "link.txt", "src/inner_link.py", "linkdir/new.txt"):
        with pytest.raises(ToolInputError, match="symbolic link"):
            resolve_in_checkout(root, path, workdir=WORKDIR)


def test_reads_and_writes_refuse_a_link_swapped_in_after_the_check(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = resolve_in_checkout(root, "late/file.txt", workdir=WORKDIR)
    os.symlink(outside, root / "late")  # planted between resolving and writing
    with pytest.raises(ToolInputError):
        write_bytes(root, target, b"x", make_parents=True)
    with pytest.raises(ToolInputError):
        read_bytes(root, target)
    assert list(outside.iterdir()) == []


def test_write_creates_parents_and_keeps_the_file_mode(root: Path) -> None:
    script = root / "bin" / "run.sh"
    write_bytes(root, script, b"#!/bin/sh\n", make_parents=True)
    script.chmod(0o755)
    write_bytes(root, script, b"#!/bin/sh\necho hi\n")
    assert script.read_bytes() == b"#!/bin/sh\necho hi\n"
    assert script.stat().st_mode & 0o777 == 0o755


def test_listing_skips_hidden_entries_and_marks_links(root: Path) -> None:
    (root / "src" / "pkg").mkdir()
    (root / "src" / "pkg" / "deep.py").write_text("")
    (root / ".env").write_text("")
    os.symlink("/etc", root / "etc_link")
    assert list_dir(root, root.resolve()) == ["etc_link@", "src/", "src/app.py", "src/pkg/"]


def test_display_path_is_relative_to_the_root(root: Path) -> None:
    assert display_path(root, root.resolve() / "src" / "app.py") == "src/app.py"
    assert display_path(root, root.resolve()) == "."
