"""URL slugs for titles."""

from __future__ import annotations

import re

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, separator: str = "-", max_length: int | None = None) -> str:
    """Lower-case `text` and join its runs of letters and digits with `separator`.

    >>> slugify("Hello, World!")
    'hello-world'
    """
    slug = _NOT_SLUG.sub(separator, text.lower()).strip(separator)
    if max_length is not None:
        slug = slug[:max_length].rstrip(separator)
    return slug
