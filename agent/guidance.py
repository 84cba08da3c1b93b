"""Repository guidance for the model: AGENTS.md and CLAUDE.md, with the files they import by `@path`."""

from __future__ import annotations

import re
from pathlib import Path

GUIDANCE_FILES = ("AGENTS.md", "CLAUDE.md")
MAX_DEPTH = 4
MAX_TOTAL_CHARS = 40_000
_IMPORT = re.compile(r"(?<![\w`])@((?:\.{1,2}/|[\w-])[\w./-]*\.?\w*)")


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _expand(root: Path, path: Path, seen: set[Path], depth: int) -> list[tuple[str, str]]:
    resolved = path.resolve()
    if resolved in seen or depth > MAX_DEPTH or not _inside(root, path) or not path.is_file():
        return []
    seen.add(resolved)
    text = path.read_text(encoding="utf-8", errors="replace")
    found = [(str(path.relative_to(root)), text)]
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        for ref in _IMPORT.findall(line):
            found += _expand(root, (path.parent / ref), seen, depth + 1)
    return found


def load_guidance(root: Path) -> list[tuple[str, str]]:
    """(relative path, text) for each guidance file and its imports, in reading order.

    Imports resolve relative to the importing file, never outside the repository, at most MAX_DEPTH deep,
    each file once.
    """
    seen: set[Path] = set()
    files: list[tuple[str, str]] = []
    for name in GUIDANCE_FILES:
        files += _expand(root, root / name, seen, 0)
    total = 0
    kept = []
    for rel, text in files:
        if total + len(text) > MAX_TOTAL_CHARS:
            text = text[: max(0, MAX_TOTAL_CHARS - total)] + "\n[... guidance cut: too long ...]"
        kept.append((rel, text))
        total += len(text)
        if total >= MAX_TOTAL_CHARS:
            break
    return kept


def system_prompt() -> str:
    return (Path(__file__).parent / "prompts" / "system.md").read_text(encoding="utf-8")
