"""Change detection after each tool call: every edit counts, whichever way it was made; reads, ignored files
and writes that leave the content as it was do not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.changes import TreeWatch
from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox
from tests.sandbox_fixtures import git, needs_bwrap


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "core.py").write_text("VALUE = 1\n")
    (root / "src" / "app.py").write_text("from pkg.core import VALUE\n")
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("notes\n")
    (root / ".gitignore").write_text("build/\n*.log\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_text("artefact\n")
    return root


@pytest.fixture
def watch(repo: Path):
    tree = TreeWatch(repo)
    assert tree.fallback_reason is None, tree.fallback_reason
    yield tree
    tree.close()


def sh(repo: Path, command: str) -> None:
    subprocess.run(["bash", "-c", command], cwd=repo, check=True)


def test_reads_change_nothing(repo: Path, watch: TreeWatch) -> None:
    sh(
        repo,
        "cat -n src/app.py | sed -n '1,5p' >/dev/null && grep -rn VALUE . >/dev/null && ls -R >/dev/null",
    )
    assert watch.check() is False


def test_an_edit_through_bash_counts_once(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "sed -i 's/VALUE = 1/VALUE = 2/' src/pkg/core.py")
    assert watch.check() is True
    assert watch.check() is False  # nothing new since


def test_a_write_that_keeps_the_content_is_no_edit(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "sed -i 's/no such text/other/' src/pkg/core.py && touch src/app.py && cp src/app.py /tmp/x.$$")
    assert watch.check() is False


def test_putting_the_original_back_is_an_edit_too(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "echo 'VALUE = 3' > src/pkg/core.py")
    assert watch.check() is True
    sh(repo, "echo 'VALUE = 1' > src/pkg/core.py")
    assert watch.check() is True


def test_ignored_files_never_count(repo: Path, watch: TreeWatch) -> None:
    sh(
        repo,
        "echo x >> build/out.bin && mkdir -p src/pkg/__pycache__ && echo c > src/pkg/__pycache__/core.pyc",
    )
    sh(repo, "echo log > run.log && mkdir -p build/deep/er && echo y > build/deep/er/z")
    assert watch.check() is False


def test_new_deleted_renamed_and_executable_files_count(repo: Path, watch: TreeWatch) -> None:
    for command in (
        "echo new > src/new.py",
        "rm docs/notes.md",
        "mv src/app.py src/main.py",
        "chmod +x src/main.py",
        "ln -s main.py src/link.py",
    ):
        sh(repo, command)
        assert watch.check() is True, command


def test_a_new_directory_is_seen_with_what_was_written_in_it_at_once(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "mkdir -p lib/a/b && echo one > lib/a/b/c.py")
    assert watch.check() is True
    sh(repo, "echo two > lib/a/b/c.py")  # now watched: a later edit inside counts
    assert watch.check() is True
    sh(repo, "mkdir -p empty/dirs/only")  # git sees no file: no change
    assert watch.check() is False


def test_moved_and_removed_directories_count_and_stay_watched(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "mv src/pkg src/core")
    assert watch.check() is True
    sh(repo, "echo 'VALUE = 9' > src/core/core.py")
    assert watch.check() is True
    sh(repo, "rm -rf src/core")
    assert watch.check() is True
    sh(repo, "mv docs /tmp/moved-out-$$ && mkdir docs && echo notes > docs/notes.md")
    assert watch.check() is False  # the same content at the same path


def test_an_edit_through_a_hard_link_in_an_ignored_directory_counts(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "ln src/app.py build/app.py")
    watch.check()
    sh(repo, "echo 'import os' >> build/app.py")  # no event in any watched directory
    assert watch.check() is True


def test_a_directory_no_longer_ignored_is_watched(repo: Path, watch: TreeWatch) -> None:
    sh(repo, "echo '*.log' > .gitignore")
    assert watch.check() is True
    sh(repo, "echo more >> build/out.bin")  # build/ is no longer ignored
    assert watch.check() is True


def test_the_fingerprint_changes_exactly_when_the_tree_does(repo: Path, watch: TreeWatch) -> None:
    first = watch.fingerprint()
    assert watch.fingerprint() == first
    sh(repo, "printf 'x\\n' >> docs/notes.md")
    second = watch.fingerprint()
    assert second != first
    assert watch.fingerprint() == second


@needs_bwrap
@pytest.mark.bwrap
def test_edits_made_inside_the_sandbox_are_seen(repo: Path, watch: TreeWatch, tmp_path: Path) -> None:
    box = BwrapSandbox(repo, tmp_path / "scratch", SandboxConfig())
    try:
        assert box.run("grep -rn VALUE . && cat src/app.py").exit_code == 0
        assert watch.check() is False
        assert box.run("sed -i 's/1/2/' src/pkg/core.py").exit_code == 0
        assert watch.check() is True
        assert box.run("(sleep 0.2; echo late >> docs/notes.md) & disown; exit 0").exit_code == 0
        # the sandbox kills what a command left behind: nothing is written after it ends
        assert watch.check() is False
    finally:
        box.close()
