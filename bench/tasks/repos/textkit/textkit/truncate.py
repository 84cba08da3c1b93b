"""Previews: shorten text for list views and notifications."""

from __future__ import annotations


def truncate(text: str, width: int, placeholder: str = "...") -> str:
    """Shorten `text` for display in at most `width` characters, marking the cut with `placeholder`."""
    if len(text) <= width:
        return text
    return text[:width] + placeholder
