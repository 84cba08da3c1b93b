"""The editor as the model uses it: every command, each error it can get back, and the paths it may touch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tools.base import ToolResult
from tools.editor import EditorTool

APP = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    (checkout / "src" / "pkg").mkdir(parents=True)
    (checkout / "src" / "app.py").write_text(APP)
    (checkout / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (checkout / ".git").mkdir()
    (checkout / ".git" / "config").write_text("[core]\n")
    return checkout


@pytest.fixture
def editor(root: Path) -> EditorTool:
    return EditorTool(root, "/workspace", view_cap=2000)


def call(editor: EditorTool, **params: Any) -> ToolResult:
    return editor(params)


def test_spec_is_the_anthropic_text_editor(editor: EditorTool) -> None:
    assert editor.spec() == {
        "type": "text_editor_20250728",
        "name": "str_replace_based_edit_tool",
        "max_characters": 2000,
    }


# view


def test_view_numbers_lines_like_cat_n(editor: EditorTool) -> None:
    result = call(editor, command="view", path="src/app.py")
    assert not result.is_error
    assert result.content.splitlines()[:2] == ["     1\tdef add(a, b):", "     2\t    return a + b"]
    assert result.data == {"path": "src/app.py", "changed": False}


def test_view_range_selects_lines_and_minus_one_means_to_the_end(editor: EditorTool) -> None:
    assert call(editor, command="view", path="src/app.py", view_range=[5, 6]).content == (
        "     5\tdef sub(a, b):\n     6\t    return a - b"
    )
    assert call(editor, command="view", path="/workspace/src/app.py", view_range=[6, -1]).content == (
        "     6\t    return a - b"
    )
    clamped = call(editor, command="view", path="src/app.py", view_range=[6, 99])
    assert not clamped.is_error and "the file ends at line 6" in clamped.content


@pytest.mark.parametrize(
    "view_range, expected",
    [
        ([0, 2], "out of range: the file has 6 lines"),
        ([9, 12], "out of range: the file has 6 lines"),
        ([4, 2], "before start"),
        ("1-3", "two integers"),
    ],
)
def test_bad_view_ranges_say_what_is_valid(editor: EditorTool, view_range: Any, expected: str) -> None:
    result = call(editor, command="view", path="src/app.py", view_range=view_range)
    assert result.is_error and expected in result.content


def test_view_of_a_directory_lists_two_levels_without_hidden_entries(editor: EditorTool, root: Path) -> None:
    (root / "src" / "pkg" / "deeper").mkdir()
    (root / "src" / "pkg" / "deeper" / "too_deep.py").write_text("")
    (root / "src" / ".hidden").write_text("")
    result = call(editor, command="view", path="src")
    listed = result.content.splitlines()[1:]
    assert listed == ["src/app.py", "src/pkg/", "src/pkg/deeper/", "src/pkg/mod.py"]
    root_listing = call(editor, command="view", path=".").content
    assert ".git" not in root_listing and "src/app.py" in root_listing
    assert call(editor, command="view", path="src", view_range=[1, 2]).is_error


def test_binary_files_are_described_not_dumped(editor: EditorTool, root: Path) -> None:
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 500)
    result = call(editor, command="view", path="logo.png")
    assert not result.is_error
    assert "binary file (1008 bytes, PNG image)" in result.content
    assert "\x00" not in result.content and len(result.content) < 300


def test_long_files_are_cut_with_a_hint_to_use_view_range(editor: EditorTool, root: Path) -> None:
    (root / "big.txt").write_text("".join(f"line {n}\n" for n in range(1, 1001)))
    result = call(editor, command="view", path="big.txt")
    assert len(result.content) <= 2000 + 200
    last_shown = int(result.content.splitlines()[-2].split("\t")[0])
    assert f"output cut at line {last_shown} of 1000" in result.content
    assert f"use view_range, e.g. [{last_shown + 1}," in result.content


def test_view_of_a_missing_file_says_so(editor: EditorTool) -> None:
    result = call(editor, command="view", path="src/nope.py")
    assert result.is_error and "does not exist" in result.content


def test_non_utf8_files_are_shown_with_a_warning(editor: EditorTool, root: Path) -> None:
    (root / "latin.txt").write_bytes("café\n".encode("latin-1"))
    result = call(editor, command="view", path="latin.txt")
    assert not result.is_error and "not valid UTF-8" in result.content and "caf\ufffd" in result.content


# create


def test_create_makes_parent_directories_and_reports_a_change(editor: EditorTool, root: Path) -> None:
    result = call(editor, command="create", path="src/new/feature.py", file_text="A = 1\nB = 2\n")
    assert not result.is_error and result.content == "Created src/new/feature.py (2 lines)."
    assert (root / "src" / "new" / "feature.py").read_text() == "A = 1\nB = 2\n"
    assert result.data == {"path": "src/new/feature.py", "changed": True}


def test_create_overwrites_and_keeps_crlf_line_endings(editor: EditorTool, root: Path) -> None:
    (root / "win.txt").write_bytes(b"old\r\ntext\r\n")
    result = call(editor, command="create", path="win.txt", file_text="new\ntext\n")
    assert result.content.startswith("Overwrote win.txt")
    assert (root / "win.txt").read_bytes() == b"new\r\ntext\r\n"
    same = call(editor, command="create", path="win.txt", file_text="new\ntext\n")
    assert same.data["changed"] is False


def test_create_needs_file_text_and_a_file_path(editor: EditorTool) -> None:
    assert "file_text" in call(editor, command="create", path="a.py").content
    assert "is a directory" in call(editor, command="create", path="src", file_text="x").content


# str_replace


def test_str_replace_edits_once_and_shows_the_region(editor: EditorTool, root: Path) -> None:
    result = call(
        editor,
        command="str_replace",
        path="src/app.py",
        old_str="    return a - b",
        new_str="    if b is None:\n        raise ValueError('b')\n    return a - b",
    )
    assert not result.is_error
    assert (root / "src" / "app.py").read_text() == APP.replace(
        "    return a - b", "    if b is None:\n        raise ValueError('b')\n    return a - b"
    )
    assert "     6\t    if b is None:" in result.content and "     8\t    return a - b" in result.content
    assert result.data == {"path": "src/app.py", "changed": True}


def test_str_replace_with_several_matches_names_their_lines(editor: EditorTool, root: Path) -> None:
    (root / "dup.py").write_text("x = 1\ny = 2\nx = 1\n\nx = 1\n")
    result = call(editor, command="str_replace", path="dup.py", old_str="x = 1", new_str="x = 3")
    assert result.is_error
    assert result.content == (
        "found 3 matches for old_str in dup.py at lines 1, 3, 5; add context to make it unique"
    )
    assert (root / "dup.py").read_text() == "x = 1\ny = 2\nx = 1\n\nx = 1\n"


def test_overlapping_matches_count_as_several(editor: EditorTool, root: Path) -> None:
    (root / "a.txt").write_text("aaa\n")
    assert (
        "found 2 matches"
        in call(editor, command="str_replace", path="a.txt", old_str="aa", new_str="b").content
    )


def test_no_match_points_at_a_whitespace_difference(editor: EditorTool) -> None:
    result = call(
        editor, command="str_replace", path="src/app.py", old_str="def add(a, b):\n\treturn a + b", new_str=""
    )
    assert result.is_error
    assert "no match for old_str in src/app.py" in result.content
    assert "Line 2 has the text 'return a + b' with different whitespace" in result.content


def test_no_match_shows_the_most_similar_line(editor: EditorTool) -> None:
    result = call(editor, command="str_replace", path="src/app.py", old_str="def subtract(a, b):", new_str="")
    assert result.is_error and "most similar line is 5: 'def sub(a, b):'" in result.content


def test_str_replace_keeps_crlf_and_bom(editor: EditorTool, root: Path) -> None:
    (root / "win.py").write_bytes(b"\xef\xbb\xbfa = 1\r\nb = 2\r\n")
    result = call(
        editor, command="str_replace", path="win.py", old_str="a = 1\nb = 2", new_str="a = 1\nb = 3"
    )
    assert not result.is_error, result.content
    assert (root / "win.py").read_bytes() == b"\xef\xbb\xbfa = 1\r\nb = 3\r\n"


def test_str_replace_refuses_non_utf8_files(editor: EditorTool, root: Path) -> None:
    (root / "latin.txt").write_bytes("café\n".encode("latin-1"))
    result = call(editor, command="str_replace", path="latin.txt", old_str="caf", new_str="tea")
    assert result.is_error and "not valid UTF-8" in result.content and "bash" in result.content
    assert (root / "latin.txt").read_bytes() == "café\n".encode("latin-1")


def test_str_replace_needs_old_str(editor: EditorTool) -> None:
    result = call(editor, command="str_replace", path="src/app.py", new_str="x")
    assert result.is_error and "old_str" in result.content


def test_identical_replacement_changes_nothing(editor: EditorTool) -> None:
    result = call(editor, command="str_replace", path="src/app.py", old_str="a + b", new_str="a + b")
    assert not result.is_error and result.data["changed"] is False


# insert


def test_insert_after_a_line_at_the_top_and_at_the_end(editor: EditorTool, root: Path) -> None:
    path = root / "src" / "pkg" / "mod.py"
    assert not call(
        editor, command="insert", path="src/pkg/mod.py", insert_line=0, insert_text="import os"
    ).is_error
    assert not call(
        editor, command="insert", path="src/pkg/mod.py", insert_line=2, insert_text="y = 2\n"
    ).is_error
    result = call(editor, command="insert", path="src/pkg/mod.py", insert_line=1, insert_text="\n")
    assert path.read_text() == "import os\n\nx = 1\ny = 2\n"
    assert "     2\t" in result.content and result.data == {"path": "src/pkg/mod.py", "changed": True}


def test_insert_into_a_file_without_final_newline(editor: EditorTool, root: Path) -> None:
    (root / "n.txt").write_text("a\nb")
    call(editor, command="insert", path="n.txt", insert_line=2, insert_text="c")
    assert (root / "n.txt").read_text() == "a\nb\nc"


def test_insert_line_out_of_range_gives_the_valid_range(editor: EditorTool) -> None:
    result = call(editor, command="insert", path="src/pkg/mod.py", insert_line=5, insert_text="z = 0")
    assert result.is_error and "has 1 lines, so use 0 to 1" in result.content
    assert call(editor, command="insert", path="src/pkg/mod.py", insert_text="z").is_error


# commands and paths


def test_unknown_commands_list_the_valid_ones(editor: EditorTool) -> None:
    result = call(editor, command="undo_edit", path="src/app.py")
    assert result.is_error
    assert result.content == "unknown command 'undo_edit'; valid commands: view, create, str_replace, insert"


@pytest.mark.parametrize("path", ["../escape.py", "src/../../escape.py", "/etc/passwd", "/tmp/x.py"])
def test_paths_outside_the_checkout_are_refused(editor: EditorTool, root: Path, path: str) -> None:
    for params in ({"command": "view"}, {"command": "create", "file_text": "pwned"}):
        result = call(editor, path=path, **params)
        assert result.is_error and "outside the checkout" in result.content
    assert not (root.parent / "escape.py").exists()


def test_a_symlink_planted_to_the_outside_is_never_followed(
    editor: EditorTool, root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token = 1\n")
    os.symlink(secret, root / "src" / "config.py")
    os.symlink(tmp_path, root / "escape_dir")
    attempts: list[dict[str, Any]] = [
        {"command": "view", "path": "src/config.py"},
        {"command": "str_replace", "path": "src/config.py", "old_str": "token = 1", "new_str": "token = 2"},
        {"command": "insert", "path": "src/config.py", "insert_line": 0, "insert_text": "x"},
        {"command": "create", "path": "src/config.py", "file_text": "overwritten"},
        {"command": "create", "path": "escape_dir/new.txt", "file_text": "x"},
    ]
    for params in attempts:
        result = editor(params)
        assert result.is_error and "symbolic link" in result.content, params
        assert result.data["changed"] is False
    assert secret.read_text() == "token = 1\n"
    assert not (tmp_path / "new.txt").exists()


def test_git_metadata_cannot_be_viewed_or_edited(editor: EditorTool, root: Path) -> None:
    for params in (
        {"command": "view", "path": ".git/config"},
        {"command": "create", "path": "/workspace/.git/hooks/pre-commit", "file_text": "evil"},
    ):
        result = editor(params)
        assert result.is_error and "git metadata is managed by the harness" in result.content
    assert not (root / ".git" / "hooks").exists()


def test_no_match_when_lines_exist_but_not_together(editor: EditorTool) -> None:
    result = call(
        editor,
        command="str_replace",
        path="src/app.py",
        old_str="def add(a, b):\n    return a - b",
        new_str="",
    )
    assert result.is_error and "not in this order" in result.content
