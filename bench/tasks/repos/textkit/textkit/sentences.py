"""Sentence splitting for search snippets."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences at '.', '!' or '?' followed by whitespace."""
    parts = _BOUNDARY.split(text.strip())
    return [part.strip() for part in parts if part.strip()]
