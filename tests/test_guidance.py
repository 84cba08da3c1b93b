"""Repository guidance: AGENTS.md and CLAUDE.md with their `@path` imports, never outside the repository."""

from __future__ import annotations

from pathlib import Path

from agent.guidance import load_guidance


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_imports_are_followed_relative_to_the_importing_file_once_each(tmp_path: Path):
    repo = tmp_path / "repo"
    _write(
        repo,
        {
            "AGENTS.md": "Read @docs/style.md first. Mail owner@example.com.\n",
            "docs/style.md": "Style: small functions. See @./testing.md and again @testing.md\n",
            "docs/testing.md": "Tests: pytest. Back to @../AGENTS.md\n",
            "CLAUDE.md": "Also @docs/style.md\n",
        },
    )
    files = load_guidance(repo)
    assert [rel for rel, _ in files] == ["AGENTS.md", "docs/style.md", "docs/testing.md", "CLAUDE.md"]


def test_imports_outside_the_repository_and_in_code_blocks_are_ignored(tmp_path: Path):
    (tmp_path / "secret.md").write_text("TOP SECRET")
    repo = tmp_path / "repo"
    _write(repo, {"CLAUDE.md": "Use @../secret.md\n```\n@docs/in-code.md\n```\n", "docs/in-code.md": "no"})
    (repo / "link.md").symlink_to(tmp_path / "secret.md")
    (repo / "AGENTS.md").write_text("See @link.md\n")
    files = dict(load_guidance(repo))
    assert set(files) == {"AGENTS.md", "CLAUDE.md"}
    assert all("TOP SECRET" not in text for text in files.values())


def test_no_guidance_files_means_no_guidance(tmp_path: Path):
    assert load_guidance(tmp_path) == []
