"""Word statistics for the search index."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends."""
    return _SPACE.sub(" ", text).strip()


def word_counts(text: str, *, stopwords: Iterable[str] = ()) -> Counter[str]:
    """Count words case-insensitively, keeping apostrophes inside words ("don't")."""
    stop = {word.casefold() for word in stopwords}
    words = (match.group(0).casefold() for match in _WORD.finditer(text))
    return Counter(word for word in words if word not in stop)
